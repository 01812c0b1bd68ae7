package jobs

import (
	"context"
	"fmt"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// RateOptions are the flags of `billrun rate`.
type RateOptions struct {
	At         time.Time
	MaxRejects int64
	// Accounts, when set, are used instead of the store's (rate --accounts FILE).
	Accounts []invoices.Account
}

// Rate reads and rates period p exactly as Close would and returns draft documents (no numbers, status
// draft) with the read's counts, writing nothing. Credits apply as a close at opts.At would; documents
// already issued are ignored. It returns the report together with an error wrapping ErrTooManyRejects
// when rejects exceed opts.MaxRejects, so the caller can still print the drafts.
func (j *Jobs) Rate(ctx context.Context, p rating.Period, opts RateOptions) (*invoices.Report, error) {
	at := opts.At.UTC()
	accts := opts.Accounts
	if accts == nil {
		var err error
		if accts, err = j.Store.Accounts(ctx); err != nil {
			return nil, fmt.Errorf("rate %s: accounts: %w", p, err)
		}
	}
	byID, known := knownAccounts(accts)
	res, err := j.Usage.Read(ctx, rating.PeriodWindow(p), known)
	if err != nil {
		return nil, fmt.Errorf("rate %s: %w", p, err)
	}
	rep := &invoices.Report{Period: p, Currency: j.PriceBook.Currency, At: at, Drafts: true, Accounts: byID,
		Rejects: res.Rejects, Run: &invoices.Run{Kind: "rate", Period: p, At: at, Status: invoices.RunSucceeded,
			PriceBookHash: j.PriceBookHash, Manifest: res.Manifest, Counts: res.Counts}}
	byAccount := res.Aggregate.ByAccount()
	terms := invoices.Terms{PaymentTermsDays: j.PriceBook.Policy.PaymentTermsDays}
	for _, id := range res.Aggregate.Accounts() {
		acct := byID[id]
		lines := j.rateAccount(acct, byAccount[id], p.Start())
		doc, ok := invoices.DraftInvoice(id, p, lines, acct.Grants, at, terms)
		if !ok {
			continue
		}
		rep.Docs = append(rep.Docs, invoices.DocView{Document: doc, Status: invoices.StatusDraft})
		rep.Run.Totals.Add(&doc)
	}
	rep.Standing = []invoices.Standing{}
	if int64(len(res.Rejects)) > opts.MaxRejects {
		return rep, fmt.Errorf("rate %s: %d rejects, --max-rejects is %d: %w", p, len(res.Rejects), opts.MaxRejects, ErrTooManyRejects)
	}
	return rep, nil
}

// AccountsFromImport turns an accounts file into accounts as a fresh database would hold them, for
// rate --accounts.
func AccountsFromImport(imp *invoices.Import) []invoices.Account {
	var out []invoices.Account
	for _, r := range imp.Accounts {
		a := invoices.Account{ID: r.ID, SpendLimitOverride: r.SpendLimitOverride, Contracts: r.Contracts, Grants: r.Grants}
		if r.Name != nil {
			a.Name = *r.Name
		}
		if r.Email != nil {
			a.Email = *r.Email
		}
		if r.PaymentMethod != nil {
			a.PaymentMethod = *r.PaymentMethod
		}
		out = append(out, a)
	}
	sortAccounts(out)
	return out
}
