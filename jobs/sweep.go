package jobs

import (
	"context"
	"fmt"
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
// It takes the sweep lock (one sweep at a time: standing is every account's) and then the lock of its
// period, the month of `at` (DESIGN §8: runs on the same period are serialized), so it never runs
// while a close or rerun of that month changes it. A close's own standing pass runs under the
// close's lock.
func (j *Jobs) Sweep(ctx context.Context, at time.Time, wait bool) (*SweepSummary, error) {
	at = at.UTC()
	release, err := j.lock(ctx, "sweep", wait)
	if err != nil {
		return nil, err
	}
	defer release()
	releasePeriod, err := j.lock(ctx, "period:"+rating.PeriodOf(at).String(), wait)
	if err != nil {
		return nil, err
	}
	defer releasePeriod()
	j.abandonRuns(ctx, rating.PeriodOf(at))
	run, events, rows, err := j.sweepRun(ctx, at, "")
	return &SweepSummary{Run: run, Standing: rows, Changes: events}, err
}

// sweep is the standing pass of a close or rerun, the run decidedBy. It reads as a sweep run of its own
// (its rejects belong to the month of `at`, not to the period being closed), but the standing rows
// and events it writes name decidedBy: DESIGN §7's "the run that decided it" is the close or rerun.
func (j *Jobs) sweep(ctx context.Context, at time.Time, decidedBy string) ([]invoices.Standing, error) {
	_, _, rows, err := j.sweepRun(ctx, at, decidedBy)
	return rows, err
}

// sweepRun evaluates and stores standing at `at` as a sweep run; its rows and events name decidedBy,
// or the sweep run itself when that is "".
func (j *Jobs) sweepRun(ctx context.Context, at time.Time, decidedBy string) (*invoices.Run, []invoices.StandingEvent, []invoices.Standing, error) {
	pass, err := j.evaluatePass(ctx, at, decidedBy)
	if pass == nil {
		return nil, nil, nil, err
	}
	return pass.run, pass.events, pass.rows, j.savePass(ctx, pass, err)
}

// standingPass is a sweep's evaluation, before it is stored: its run (running), the standing rows of
// every account and the changes from the stored ones.
type standingPass struct {
	run    *invoices.Run
	events []invoices.StandingEvent
	rows   []invoices.Standing
}

// evaluatePass starts a sweep run at `at` and evaluates standing, as sweepRun does, without storing
// it: savePass does. A nil pass means the run could not be started; with a pass and an error the
// evaluation failed, and savePass records the run as failed.
func (j *Jobs) evaluatePass(ctx context.Context, at time.Time, decidedBy string) (*standingPass, error) {
	month := rating.PeriodOf(at)
	id := newRunID(invoices.RunSweep, at)
	if decidedBy != "" {
		id = invoices.StandingPassPrefix + decidedBy // found with it if it is killed (Store.AbandonRuns)
	}
	run := &invoices.Run{ID: id, Kind: invoices.RunSweep, Period: month, Scope: "all",
		At: at, StartedAt: j.now(), Status: invoices.RunRunning, PriceBookHash: j.PriceBookHash}
	if err := j.Store.StartRun(ctx, run); err != nil {
		return nil, fmt.Errorf("sweep: start run: %w", err)
	}
	if decidedBy == "" {
		decidedBy = run.ID
	}
	pass := &standingPass{run: run}
	err := j.evaluate(ctx, at, pass, decidedBy)
	return pass, err
}

// savePass stores the standing pass evaluated (evalErr nil) in one transaction and records its run as
// finished: succeeded, or failed with evalErr or the store's error.
func (j *Jobs) savePass(ctx context.Context, pass *standingPass, evalErr error) error {
	err := evalErr
	if err == nil {
		if serr := j.Store.SaveStanding(ctx, pass.rows, pass.events); serr != nil {
			err = fmt.Errorf("sweep: save standing: %w", serr)
		}
	}
	run := pass.run
	end := j.now()
	run.FinishedAt = &end
	run.Status = invoices.RunSucceeded
	if err != nil {
		run.Status, run.Error = invoices.RunFailed, err.Error()
	}
	if ferr := j.Store.FinishRun(context.WithoutCancel(ctx), run); ferr != nil && err == nil {
		err = fmt.Errorf("sweep: finish run: %w", ferr)
	}
	return err
}

// evaluate fills pass with the standing of every account at `at`, decided by decidedBy.
func (j *Jobs) evaluate(ctx context.Context, at time.Time, pass *standingPass, decidedBy string) error {
	run := pass.run
	month := rating.PeriodOf(at)
	// The open documents — after a close's issuing, thousands of rows, the longest of these reads —
	// are read while the rest is: one more database connection, not one per read (on PostgreSQL
	// opening one is a fork and an authentication).
	var open []invoices.Document
	openRead := make(chan error, 1)
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		var err error
		// Standing at `at` sees the ledger as it stood then (DESIGN §10: any run can be reproduced
		// exactly): documents issued by then and not voided by then, the credits they had consumed, and
		// (EvaluateStanding) payments made before then — whatever was issued, voided or paid after.
		if open, err = j.Store.OpenDocumentsAt(octx, at); err != nil {
			err = fmt.Errorf("sweep: open documents: %w", err)
		}
		openRead <- err
	}()
	l, err := j.ledgerAt(ctx, at, run)
	if err != nil {
		cancel()
		<-openRead
		return err
	}
	if err := <-openRead; err != nil {
		return err
	}
	accts, usage, payments, consumed, monthDocs, stored := l.accounts, l.usage, l.payments, l.consumed, l.monthDocs, l.stored
	byID, _ := knownAccounts(accts)
	for i := range accts {
		for k := range accts[i].Grants {
			accts[i].Grants[k].Consumed = consumed[accts[i].Grants[k].ID]
		}
	}
	monthDocs = slices.DeleteFunc(monthDocs, func(d invoices.Document) bool {
		return d.IssuedAt.After(at) || d.VoidedAt != nil && !d.VoidedAt.After(at)
	})
	old := make(map[string]*invoices.Standing, len(stored))
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
	rows := make([]invoices.Standing, 0, len(accts))
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
	pass.rows, pass.events = rows, events
	return nil
}

// ledger is what a standing pass reads besides the open documents.
type ledger struct {
	accounts  []invoices.Account
	usage     *rating.Aggregate // the month's usage up to the pass's time; nil at the month's start
	payments  []invoices.Payment
	consumed  map[string]rating.Cents // by grant, by the pass's time
	monthDocs []invoices.Document     // the documents of the pass's month
	stored    []invoices.Standing
}

// ledgerAt reads the ledger of a standing pass at `at`, recording its usage read on run.
func (j *Jobs) ledgerAt(ctx context.Context, at time.Time, run *invoices.Run) (*ledger, error) {
	month := rating.PeriodOf(at)
	l := &ledger{}
	var err error
	if l.accounts, err = j.Store.Accounts(ctx); err != nil {
		return nil, fmt.Errorf("sweep: accounts: %w", err)
	}
	if at.After(month.Start()) {
		_, known := knownAccounts(l.accounts)
		res, err := j.Usage.Read(ctx, rating.Window{From: month.Start(), To: at}, known)
		if err != nil {
			return nil, fmt.Errorf("sweep at %s: %w", at.Format(time.RFC3339), err)
		}
		run.Manifest, run.Counts = res.Manifest, res.Counts
		if err := j.Store.SaveRead(ctx, run, res.Rejects); err != nil {
			return nil, fmt.Errorf("sweep: record the read: %w", err)
		}
		l.usage = res.Aggregate
	}
	if l.payments, err = j.Store.Payments(ctx); err != nil {
		return nil, fmt.Errorf("sweep: payments: %w", err)
	}
	if l.consumed, err = j.Store.ConsumedAt(ctx, at); err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	if l.monthDocs, err = j.Store.Documents(ctx, month); err != nil {
		return nil, fmt.Errorf("sweep: documents of %s: %w", month, err)
	}
	if l.stored, err = j.Store.Standing(ctx); err != nil {
		return nil, fmt.Errorf("sweep: stored standing: %w", err)
	}
	return l, nil
}
