package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// Reconcile checks period p (DESIGN §8): usage objects added, changed or removed since the latest
// close or rerun; raw usage re-rated against the effective documents per (account, line); ledger checks
// (lines sum to subtotals, credits never overdrawn, numbering gapless, one effective invoice per
// account); and payments (open, overdue, overpaid). It writes nothing; rec.Clean() is false when
// anything disagrees (exit 4).
func (j *Jobs) Reconcile(ctx context.Context, p rating.Period, at time.Time) (*invoices.Reconciliation, error) {
	at = at.UTC()
	rec := &invoices.Reconciliation{Period: p, At: at}
	accts, err := j.Store.Accounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: accounts: %w", p, err)
	}
	byID, known := knownAccounts(accts)
	run, err := j.Store.LatestRun(ctx, p)
	switch {
	case errors.Is(err, invoices.ErrNotFound):
		run = nil
	case err != nil:
		return nil, fmt.Errorf("reconcile %s: latest run: %w", p, err)
	}
	res, err := j.Usage.Read(ctx, rating.PeriodWindow(p), known)
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: %w", p, err)
	}
	var recorded []rating.Reject
	if run != nil {
		rec.RunID = run.ID
		rec.Objects = periodDrift(p, invoices.DiffManifests(run.Manifest, res.Manifest), res)
		if recorded, err = j.Store.Rejects(ctx, run.ID); err != nil {
			return nil, fmt.Errorf("reconcile %s: rejects of run %s: %w", p, run.ID, err)
		}
	}
	rec.Rejects = invoices.DiffRejects(recorded, res.Rejects)
	res.Rejects = nil
	docs, err := j.Store.Documents(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: documents: %w", p, err)
	}
	docsBy := map[string][]invoices.Document{}
	for _, d := range docs {
		docsBy[d.Account] = append(docsBy[d.Account], d)
	}
	// Rate and compare one account at a time, in account order (as DiffUsage orders its drift), so
	// that only one account's fresh lines are live at once.
	ids := res.Aggregate.Accounts()
	used := make(map[string]bool, len(ids))
	for _, id := range ids {
		used[id] = true
	}
	for id := range docsBy {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		var rated []rating.Line
		if used[id] {
			rated = j.rateAccount(byID[id], res.Aggregate.BuildAccountLines(id), p.Start())
			if err := invoices.CheckLineAmounts(rated); err != nil {
				return nil, fmt.Errorf("reconcile %s: account %s: %w", p, id, err)
			}
		}
		rec.Usage = append(rec.Usage, invoices.DiffAccountUsage(id, docsBy[id], rated)...)
	}
	res.Aggregate = nil

	numbers, err := j.Store.DocumentNumbers(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: %w", p, err)
	}
	rec.Ledger = invoices.CheckLedger(docs, accts, numbers)

	payments, err := j.Store.Payments(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: payments: %w", p, err)
	}
	for i := range docs {
		d := &docs[i]
		if d.Kind == invoices.KindCreditNote {
			continue
		}
		paid := d.PaidBy(payments, at)
		if !d.Effective() {
			// A void invoice is owed nothing, but a customer may still pay it (the number on the
			// document they received before a rerun replaced it): that money is listed as an
			// overpayment, or no report would show it.
			if paid > 0 {
				rec.Overpaid = append(rec.Overpaid, invoices.PaymentState{Number: d.Number, Account: d.Account, AmountPaid: paid})
			}
			continue
		}
		ps := invoices.PaymentState{Number: d.Number, Account: d.Account, AmountDue: d.AmountDue, AmountPaid: paid, DueAt: d.DueAt}
		switch {
		case paid > d.AmountDue:
			rec.Overpaid = append(rec.Overpaid, ps)
		case paid < d.AmountDue:
			rec.Open = append(rec.Open, ps)
			if d.PastDue(paid, at) {
				rec.Overdue = append(rec.Overdue, ps)
			}
		}
	}
	return rec, nil
}

// periodDrift keeps the object drift that concerns period p. The partition of the day after p is the
// next month's first day, written all day long: its objects added or changed since the close hold the
// next period's events (§11: not validated, not counted, not rejected by p), so one from which p's
// read took nothing is not p's drift — else the daily reconcile after each close would report drift
// until the next month ends. One that holds a GPU interval overlapping p is reported, as is every
// removed object.
func periodDrift(p rating.Period, drift []invoices.ObjectDrift, res *UsageResult) []invoices.ObjectDrift {
	if len(res.Taken) != len(res.Manifest) {
		return drift
	}
	taken := make(map[string]int64, len(res.Manifest))
	for i, o := range res.Manifest {
		taken[o.Key] = res.Taken[i]
	}
	dayAfter := "dt=" + p.End().Format(time.DateOnly) + "/"
	out := drift[:0]
	for _, d := range drift {
		inDayAfter := strings.HasPrefix(d.Key, dayAfter) || strings.Contains(d.Key, "/"+dayAfter)
		if inDayAfter && d.Change != "removed" && taken[d.Key] == 0 {
			continue
		}
		out = append(out, d)
	}
	return out
}

// ReconcileLocked is Reconcile under the period's run lock, which a close or rerun of p holds while it
// changes p, so that a reconciliation never reads a period half issued and reports the half as
// differences: while one runs it fails with an error wrapping invoices.ErrLocked (exit 5), or, with
// wait, waits for it to finish.
func (j *Jobs) ReconcileLocked(ctx context.Context, p rating.Period, at time.Time, wait bool) (*invoices.Reconciliation, error) {
	release, err := j.lockReading(ctx, invoices.PeriodLock(p), wait)
	if err != nil {
		return nil, err
	}
	defer release()
	return j.Reconcile(ctx, p, at)
}

// ErrDifferences is returned when a reconciliation finds differences (exit code 4).
var ErrDifferences = errors.New("reconcile found differences")

// ScheduledReconcile returns the scheduler's reconcile job: each firing reconciles the month before its
// scheduled time at that time, under the period's run lock (so it never reads a period a close or
// rerun is changing), hands the reconciliation to report (billrun writes DIR/P/reconciliation.json
// and its workbook, as `billrun reconcile` does; nil: none), and fails with an error wrapping
// ErrDifferences when anything disagrees, so the scheduler's metrics and /healthz show it.
func (j *Jobs) ScheduledReconcile(spec string, timeout time.Duration, report func(*invoices.Reconciliation) error) ScheduledJob {
	return ScheduledJob{Name: "reconcile", Spec: spec, Timeout: timeout,
		Run: func(ctx context.Context, f Firing) (*invoices.Run, error) {
			p := PreviousPeriod(f.ScheduledAt)
			rec, err := j.ReconcileLocked(ctx, p, f.ScheduledAt, false)
			if err != nil {
				return nil, err
			}
			if report != nil {
				if err := report(rec); err != nil {
					return nil, fmt.Errorf("reconcile %s: report: %w", p, err)
				}
			}
			j.Logger.Info("reconcile finished", "period", p.String(), "clean", rec.Clean(), "objects", len(rec.Objects),
				"usage", len(rec.Usage), "ledger", len(rec.Ledger), "open", len(rec.Open), "overdue", len(rec.Overdue),
				"overpaid", len(rec.Overpaid))
			if !rec.Clean() {
				return nil, fmt.Errorf("reconcile %s: %d object, %d usage and %d ledger differences: %w", p,
					len(rec.Objects), len(rec.Usage), len(rec.Ledger), ErrDifferences)
			}
			return nil, nil
		},
	}
}
