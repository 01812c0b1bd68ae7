package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// Report assembles what the exports show of period p as seen at `at`: its documents with payments
// received before `at`, the stored standing of every account, and the latest close or rerun with
// its rejects.
func (j *Jobs) Report(ctx context.Context, p rating.Period, at time.Time) (*invoices.Report, error) {
	docs, err := j.Store.Documents(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("report %s: documents: %w", p, err)
	}
	return j.reportOf(ctx, p, at, docs)
}

// ReportLocked is Report under the period's run lock, as ReconcileLocked is Reconcile: while a close
// or rerun of p is issuing, an export would show the documents issued so far as if they were the
// period's, so it fails with an error wrapping invoices.ErrLocked (exit 5), or, with wait, waits for
// that run to finish.
func (j *Jobs) ReportLocked(ctx context.Context, p rating.Period, at time.Time, wait bool) (*invoices.Report, error) {
	release, err := j.lockReading(ctx, invoices.PeriodLock(p), wait)
	if err != nil {
		return nil, err
	}
	defer release()
	return j.Report(ctx, p, at)
}

// reportOf is Report for the period's documents docs, in issue order, when the caller already holds
// them (a close has just issued them: no need to read every line back).
func (j *Jobs) reportOf(ctx context.Context, p rating.Period, at time.Time, docs []invoices.Document) (*invoices.Report, error) {
	payments, err := j.Store.Payments(ctx)
	if err != nil {
		return nil, fmt.Errorf("report %s: payments: %w", p, err)
	}
	standing, err := j.Store.Standing(ctx)
	if err != nil {
		return nil, fmt.Errorf("report %s: standing: %w", p, err)
	}
	accts, err := j.Store.Accounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("report %s: accounts: %w", p, err)
	}
	byID, _ := knownAccounts(accts)
	rep := &invoices.Report{Period: p, Currency: j.currency(), At: at, Standing: standing, Accounts: byID}
	if len(docs) > 0 {
		rep.Docs = make([]invoices.DocView, 0, len(docs))
	}
	for _, d := range docs {
		rep.Docs = append(rep.Docs, docView(d, payments, at))
	}
	run, err := j.Store.LatestRun(ctx, p)
	if errors.Is(err, invoices.ErrNotFound) {
		// No close or rerun of the period succeeded. If the latest one failed — stopped by its
		// rejects, say — the report shows it, its counts and its rejects (DESIGN §3: rejects never
		// disappear, they are stored with the run and exported), rather than no run at all; not an
		// earlier failed one when a later one is still running or was killed running (its documents
		// would sit beside another run's record).
		if run, err = j.Store.LatestAttempt(ctx, p); err == nil && run.Status != invoices.RunFailed {
			run, err = nil, invoices.ErrNotFound
		}
	}
	switch {
	case errors.Is(err, invoices.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("report %s: latest run: %w", p, err)
	default:
		rep.Run = run
		if rep.Rejects, err = j.Store.Rejects(ctx, run.ID); err != nil {
			return nil, fmt.Errorf("report %s: rejects: %w", p, err)
		}
	}
	return rep, nil
}

// currency is the price book's currency, USD without one.
func (j *Jobs) currency() string {
	if j.PriceBook != nil {
		return j.PriceBook.Currency
	}
	return "USD"
}

// docView is d as a report at `at` shows it: what payments had paid of it by then, and its status.
func docView(d invoices.Document, payments []invoices.Payment, at time.Time) invoices.DocView {
	paid := d.PaidBy(payments, at)
	return invoices.DocView{Document: d, AmountPaid: paid, Status: d.StatusAt(paid)}
}
