package jobs

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
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
	started := time.Now()
	docs := j.draftInvoices(res.Aggregate, p, byID, at)
	j.Logger.Debug("rate: drafted", "documents", len(docs), "elapsed", time.Since(started))
	for _, d := range docs {
		rep.Docs = append(rep.Docs, invoices.DocView{Document: d, Status: invoices.StatusDraft})
		rep.Run.Totals.Add(&rep.Docs[len(rep.Docs)-1].Document)
	}
	rep.Standing = []invoices.Standing{}
	if int64(len(res.Rejects)) > opts.MaxRejects {
		return rep, fmt.Errorf("rate %s: %d rejects, --max-rejects is %d: %w", p, len(res.Rejects), opts.MaxRejects, ErrTooManyRejects)
	}
	return rep, nil
}

// draftInvoices rates every account of agg and returns its draft invoices, in ascending account order,
// for the accounts that get one: rateAccount and DraftInvoice per account, on all cores.
func (j *Jobs) draftInvoices(agg *rating.Aggregate, p rating.Period, byID map[string]*invoices.Account, at time.Time) []invoices.Document {
	ids := agg.Accounts()
	docs := make([]invoices.Document, len(ids))
	ok := make([]bool, len(ids))
	terms := invoices.Terms{PaymentTermsDays: j.PriceBook.Policy.PaymentTermsDays}
	// Chunks of accounts, handed out in order, keep the goroutines busy without a channel per account.
	const chunk = 64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(ids) {
					return
				}
				for i := lo; i < min(lo+chunk, len(ids)); i++ {
					id := ids[i]
					acct := byID[id]
					lines := j.rateAccount(acct, agg.BuildAccountLines(id), p.Start())
					var grants []invoices.Grant
					if acct != nil {
						grants = acct.Grants
					}
					docs[i], ok[i] = invoices.DraftInvoice(id, p, lines, grants, at, terms)
				}
			}
		}()
	}
	wg.Wait()
	out := docs[:0]
	for i := range docs {
		if ok[i] {
			out = append(out, docs[i])
		}
	}
	return out
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
