package jobs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// ImportAccounts upserts an accounts file into the store in one transaction. Standing is not
// re-evaluated (only close, rerun and sweep do that).
func (j *Jobs) ImportAccounts(ctx context.Context, imp *invoices.Import) (invoices.ImportResult, error) {
	res, err := j.Store.ImportAccounts(ctx, imp)
	if err != nil {
		return res, fmt.Errorf("accounts import: %w", err)
	}
	j.Logger.Info("accounts imported", "accounts", res.Accounts, "grants", res.Grants, "payments", res.Payments)
	j.warnUnissued(res)
	return res, nil
}

// warnUnissued logs the import's payments that name an invoice no document has — a mistyped number,
// or a payment file prepared ahead of the invoice — the first ten one by one: they are stored, and
// pay nothing until that number is issued to their account.
func (j *Jobs) warnUnissued(res invoices.ImportResult) {
	const shown = 10
	for i, u := range res.Unissued {
		if i == shown {
			j.Logger.Warn("more payments name invoices not issued", "more", len(res.Unissued)-shown)
			return
		}
		j.Logger.Warn("payment names an invoice not issued: it pays nothing until that number is issued to its account",
			"payment", u.Payment, "account", u.Account, "invoice", u.Invoice)
	}
}

// ImportAccountsRun is `billrun accounts import`: ImportAccounts recorded as a run (DESIGN §8: every
// command that changes data is a run), of kind import, the month of at and scope "accounts file F",
// whose status says whether the import was applied. The run is recorded with the import, in its
// transaction (or, failed, once nothing was written), so a killed import never leaves it running.
func (j *Jobs) ImportAccountsRun(ctx context.Context, imp *invoices.Import, at time.Time, file string) (invoices.ImportResult, *invoices.Run, error) {
	at = at.UTC()
	run := &invoices.Run{ID: newRunID(invoices.RunImport, at), Kind: invoices.RunImport, Period: rating.PeriodOf(at),
		Scope: "accounts file " + file, At: at, StartedAt: j.now()}
	res, err := j.Store.ImportAccountsRun(ctx, imp, run, j.now)
	var missing *invoices.RequiredFieldError
	if errors.As(err, &missing) {
		// A new record without a field it requires: said as the file's other errors are.
		return res, run, fmt.Errorf("accounts import: accounts file %s: %w", file, missing)
	}
	var pe *invoices.RecordError
	if errors.As(err, &pe) {
		if at := imp.At(pe); at != "" {
			// An unknown account, another account's invoice, a consumed grant changed: at the file's
			// line, record and field.
			return res, run, fmt.Errorf("accounts import: accounts file %s: %s: %w", file, at, pe.Err)
		}
	}
	if err != nil {
		return res, run, fmt.Errorf("accounts import: %w", err)
	}
	j.Logger.Info("accounts imported", "accounts", res.Accounts, "grants", res.Grants, "payments", res.Payments)
	j.warnUnissued(res)
	return res, run, nil
}

func sortAccounts(a []invoices.Account) {
	sort.Slice(a, func(i, k int) bool { return a[i].ID < a[k].ID })
}
