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

// reportOf is Report for the period's documents docs, in issue order, when the caller already holds
// them (a close has just issued them: no need to read every line back).
func (j *Jobs) reportOf(ctx context.Context, p rating.Period, at time.Time, docs []invoices.Document) (*invoices.Report, error) {
	return j.reportWith(ctx, p, at, docs, nil)
}

// reportWith is reportOf; with a standing pass, the report shows the standing the pass evaluated
// rather than reading it back, and leaves its run and rejects to the caller, whose they are: a close
// builds its report while the pass is stored, and shows itself as its run.
func (j *Jobs) reportWith(ctx context.Context, p rating.Period, at time.Time, docs []invoices.Document,
	pass *standingPass) (*invoices.Report, error) {
	payments, err := j.Store.Payments(ctx)
	if err != nil {
		return nil, fmt.Errorf("report %s: payments: %w", p, err)
	}
	var standing []invoices.Standing
	if pass != nil {
		standing = pass.rows
	} else if standing, err = j.Store.Standing(ctx); err != nil {
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
	if pass == nil {
		if rep.Run, rep.Rejects, err = j.latestRun(ctx, p); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// latestRun returns the run a report of period p shows, with its rejects: nil when there is none.
func (j *Jobs) latestRun(ctx context.Context, p rating.Period) (*invoices.Run, []rating.Reject, error) {
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
		return nil, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("report %s: latest run: %w", p, err)
	}
	rejects, err := j.Store.Rejects(ctx, run.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("report %s: rejects: %w", p, err)
	}
	return run, rejects, nil
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
