package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// SweepSummary is what a sweep decided.
type SweepSummary struct {
	Run      *invoices.Run
	Standing []invoices.Standing
	Changes  []invoices.StandingEvent
}

// Sweep rates month-to-date usage at `at` and stores every account's standing (DESIGN §7): the hourly
// spend-limit pass. Bad usage lines never stop it; their rejects are recorded on its run.
//
// It takes the lock of its period, the month of `at` (DESIGN §8: runs on the same period are
// serialized), so it never runs while a close or rerun of that month changes it, and then the sweep
// lock, which every standing pass holds (standingLock).
func (j *Jobs) Sweep(ctx context.Context, at time.Time, wait bool) (*SweepSummary, error) {
	at = at.UTC()
	releasePeriod, err := j.lock(ctx, invoices.PeriodLock(rating.PeriodOf(at)), wait)
	if err != nil {
		return nil, err
	}
	defer releasePeriod()
	release, err := j.lock(ctx, sweepLock, wait)
	if err != nil {
		return nil, err
	}
	defer release()
	j.abandonRuns(ctx, rating.PeriodOf(at))
	run, events, rows, err := j.sweepRun(ctx, at, "")
	return &SweepSummary{Run: run, Standing: rows, Changes: events}, err
}

// sweepLock is the lock every standing pass holds while it evaluates and stores standing — a sweep,
// and a close's or rerun's own pass — taken after any period lock, never before one. Standing is
// every account's: a close's pass at 02:00 on the 1st and the hourly sweep of the same minute (another
// period, so another period lock) would otherwise both compare against the same stored rows, record
// each change twice, and the one stored last could be the sweep's, evaluated before the close's
// invoices had used up an account's credits, leaving the account active for another hour. Taken
// always after the period lock, it cannot close a cycle with one: nothing waits for a period's lock
// while it holds this one.
const sweepLock = "sweep"

// sweep is the standing pass of a close or rerun, the run decidedBy, which holds its period's lock. It
// waits for a sweep in progress (standingLock). It reads as a sweep run of its own (its rejects belong
// to the month of `at`, not to the period being closed), but the standing rows and events it writes
// name decidedBy: DESIGN §7's "the run that decided it" is the close or rerun.
func (j *Jobs) sweep(ctx context.Context, log *slog.Logger, at time.Time, decidedBy string) ([]invoices.Standing, error) {
	release, err := j.standingLock(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	_, _, rows, err := j.sweepRun(ctx, at, decidedBy)
	return rows, err
}

// standingLock takes the sweep lock for a close's or rerun's standing pass: at once when it is free,
// else after saying so and waiting for it, however the run was started — its invoices are issued by
// then, and its standing must follow them. A wait that ends with ctx is the run stopped part-way (its
// timeout, a signal), not kept out by another run of its period: the error wraps ctx's cause, not
// invoices.ErrLocked (exit 5, a firing skipped rather than failed).
func (j *Jobs) standingLock(ctx context.Context) (func(), error) {
	// j.lock tries it first, and says in the log that it waits when a sweep holds it.
	release, err := j.lock(ctx, sweepLock, true)
	if errors.Is(err, invoices.ErrLocked) {
		cause := context.Cause(ctx)
		if cause == nil {
			cause = errors.New("the wait ended")
		}
		return nil, fmt.Errorf("standing: stopped while waiting for the sweep lock (%v): %w", err, cause)
	}
	if err != nil {
		return nil, fmt.Errorf("standing: %w", err)
	}
	return release, nil
}

// sweepRun evaluates and stores standing at `at` as a sweep run; its rows and events name decidedBy,
// or the sweep run itself when that is "".
func (j *Jobs) sweepRun(ctx context.Context, at time.Time, decidedBy string) (*invoices.Run, []invoices.StandingEvent, []invoices.Standing, error) {
	month := rating.PeriodOf(at)
	id := newRunID(invoices.RunSweep, at)
	if decidedBy != "" {
		id = invoices.StandingPassPrefix + decidedBy // found with it if it is killed (Store.AbandonRuns)
	}
	run := &invoices.Run{ID: id, Kind: invoices.RunSweep, Period: month, Scope: "all",
		At: at, StartedAt: j.now(), Status: invoices.RunRunning, PriceBookHash: j.PriceBookHash}
	if err := j.Store.StartRun(ctx, run); err != nil {
		return nil, nil, nil, fmt.Errorf("sweep: start run: %w", err)
	}
	if decidedBy == "" {
		decidedBy = run.ID
	}
	events, rows, err := j.evaluate(ctx, at, run, decidedBy)
	end := j.now()
	run.FinishedAt = &end
	run.Status = invoices.RunSucceeded
	if err != nil {
		run.Status, run.Error = invoices.RunFailed, err.Error()
	}
	if ferr := j.Store.FinishRun(context.WithoutCancel(ctx), run); ferr != nil && err == nil {
		err = fmt.Errorf("sweep: finish run: %w", ferr)
	}
	return run, events, rows, err
}

func (j *Jobs) evaluate(ctx context.Context, at time.Time, run *invoices.Run, decidedBy string) ([]invoices.StandingEvent, []invoices.Standing, error) {
	month := rating.PeriodOf(at)
	accts, err := j.Store.Accounts(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: accounts: %w", err)
	}
	byID, known := knownAccounts(accts)
	var usage *rating.Aggregate
	if at.After(month.Start()) {
		res, err := j.Usage.Read(ctx, rating.Window{From: month.Start(), To: at}, known)
		if err != nil {
			return nil, nil, fmt.Errorf("sweep at %s: %w", at.Format(time.RFC3339), err)
		}
		run.Manifest, run.Counts = res.Manifest, res.Counts
		if err := j.Store.SaveRead(ctx, run, res.Rejects); err != nil {
			return nil, nil, fmt.Errorf("sweep: record the read: %w", err)
		}
		usage = res.Aggregate
	}
	payments, err := j.Store.Payments(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: payments: %w", err)
	}
	// Standing at `at` sees the ledger as it stood then (DESIGN §10: any run can be reproduced
	// exactly): documents issued by then and not voided by then, the credits they had consumed, and
	// (EvaluateStanding) payments made before then — whatever was issued, voided or paid after.
	open, err := j.Store.OpenDocumentsAt(ctx, at)
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: open documents: %w", err)
	}
	consumed, err := j.Store.ConsumedAt(ctx, at)
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: %w", err)
	}
	for i := range accts {
		for k := range accts[i].Grants {
			accts[i].Grants[k].Consumed = consumed[accts[i].Grants[k].ID]
		}
	}
	monthDocs, err := j.Store.Documents(ctx, month)
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: documents of %s: %w", month, err)
	}
	monthDocs = slices.DeleteFunc(monthDocs, func(d invoices.Document) bool {
		return d.IssuedAt.After(at) || d.VoidedAt != nil && !d.VoidedAt.After(at)
	})
	stored, err := j.Store.Standing(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("sweep: stored standing: %w", err)
	}
	old := map[string]*invoices.Standing{}
	for i := range stored {
		old[stored[i].Account] = &stored[i]
	}
	invoiced := map[string]bool{}
	for _, d := range monthDocs { // effective at `at`, whatever became of them since
		if d.Kind == invoices.KindInvoice {
			invoiced[d.Account] = true
		}
	}
	payBy := map[string][]invoices.Payment{}
	for _, p := range payments {
		payBy[p.Account] = append(payBy[p.Account], p)
	}
	docsBy := map[string][]invoices.Document{}
	for _, d := range open {
		docsBy[d.Account] = append(docsBy[d.Account], d)
	}
	var rows []invoices.Standing
	var events []invoices.StandingEvent
	for i := range accts {
		a := &accts[i]
		var lines []rating.Line
		if usage != nil {
			lines = usage.BuildAccountLines(a.ID)
		}
		u := rating.Sum(j.rateAccount(byID[a.ID], lines, month.Start()))
		s := invoices.EvaluateStanding(invoices.StandingInput{Account: a, At: at, Policy: j.PriceBook.Policy,
			Payments: payBy[a.ID], Documents: docsBy[a.ID], MonthUsage: u, MonthInvoiced: invoiced[a.ID]})
		s.RunID = decidedBy
		rows = append(rows, s)
		if o := old[a.ID]; invoices.StandingChanged(o, s) {
			ev := invoices.StandingEvent{Account: a.ID, At: at, NewStatus: s.Status, Reasons: s.Reasons, RunID: decidedBy}
			if o != nil {
				ev.OldStatus, ev.OldReasons = o.Status, o.Reasons
			}
			events = append(events, ev)
		}
	}
	if err := j.Store.SaveStanding(ctx, rows, events); err != nil {
		return nil, nil, fmt.Errorf("sweep: save standing: %w", err)
	}
	return events, rows, nil
}
