package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"billrun/invoices"
	"billrun/invoices/accountsfile"
	"billrun/jobs"
	"billrun/rating"
)

func runClose(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("close", "close --period YYYY-MM|prev|current [flags]", &c,
		flagSpec{db: true, usage: true, prices: true, accounts: true, out: true, at: true, rejects: true, wait: true})
	period := fs.String("period", e.getenv("BILLRUN_PERIOD"), "the month to close: YYYY-MM, prev or current (env BILLRUN_PERIOD)")
	prof := profileFlags(fs)
	if err := e.parse(fs, &c, args); err != nil {
		return err
	}
	stopProfiles, err := prof.start()
	if err != nil {
		return err
	}
	defer stopProfiles()
	at, p, err := c.atAndPeriod(*period)
	if err != nil {
		return err
	}
	started := time.Now()
	if err := c.resolveDefaults(true, true); err != nil {
		return err
	}
	// The accounts file is parsed while the store opens (connecting, migrating): the YAML of 5,000
	// accounts is ~50 ms of CPU that need not wait for the database.
	loaded := loadAccountsFile(c.accounts)
	j, done, err := e.openJobs(ctx, &c)
	imp, lerr := loaded()
	if err != nil {
		return err
	}
	defer done()
	if lerr != nil {
		return lerr
	}
	// The usage is read while the accounts are imported and the close takes its lock and starts its
	// run, unless the close is to wait for the lock: it then reads once it holds it, the usage as it
	// is by then.
	var ahead *jobs.ReadAhead
	if !c.wait {
		if ahead, err = j.StartReadAhead(ctx, p, imp); err != nil {
			return err
		}
		defer ahead.Stop()
	}
	if imp != nil {
		// The import is a run of its own (DESIGN §8, §11): it stays, recorded, even when the close after
		// it fails or finds its period held.
		if _, _, err := j.ImportAccountsRun(ctx, imp, at, c.accounts); err != nil {
			return err
		}
	}
	sum, err := j.Close(ctx, p, jobs.CloseOptions{At: at, MaxRejects: c.maxRejects, Wait: c.wait, ReadAhead: ahead})
	if sum != nil {
		printCloseSummary(e, p, sum, time.Since(started), err)
	}
	return err
}

// loadAccountsFile starts parsing the accounts file at path on a goroutine of its own; the function
// it returns waits for the result. An empty path gives a nil import and no error.
func loadAccountsFile(path string) func() (*invoices.Import, error) {
	if path == "" {
		return func() (*invoices.Import, error) { return nil, nil }
	}
	var imp *invoices.Import
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		imp, err = accountsfile.Load(path)
	}()
	return func() (*invoices.Import, error) {
		<-done
		return imp, err
	}
}

func printCloseSummary(e *environment, p rating.Period, sum *jobs.CloseSummary, took time.Duration, err error) {
	w := e.stdout
	r := sum.Run
	status := outcome(err, "done", "nothing issued")
	fmt.Fprintf(w, "billrun close %s — %s\n", p, status)
	if r != nil {
		fmt.Fprintf(w, "  run              %s (at %s)\n", r.ID, r.At.Format(time.RFC3339))
		fmt.Fprintf(w, "  usage            %d objects, %s, %d lines, %d events taken, %d accepted, %d duplicates\n",
			r.Counts.Objects, humanBytes(r.Counts.Bytes), r.Counts.Lines, r.Counts.EventsTaken, r.Counts.Accepted, r.Counts.Duplicates)
	}
	fmt.Fprintf(w, "  rejects          %d\n", len(sum.Rejects))
	if r != nil {
		fmt.Fprintf(w, "  invoices issued  %d (accounts already invoiced for %s: %d)\n", len(sum.Issued), p, sum.Existing)
		fmt.Fprintf(w, "  total billed     %s USD (discounts %s)\n", r.Totals.Subtotal, r.Totals.Discount)
		fmt.Fprintf(w, "  credits applied  %s USD\n", r.Totals.CreditsApplied)
		fmt.Fprintf(w, "  amount due       %s USD\n", r.Totals.AmountDue)
	}
	if len(sum.Standing) > 0 {
		counts := map[invoices.StandingStatus]int{}
		for _, s := range sum.Standing {
			counts[s.Status]++
		}
		fmt.Fprintf(w, "  standing         %d accounts: %d active, %d limit_exceeded, %d suspended\n", len(sum.Standing),
			counts[invoices.StandingActive], counts[invoices.StandingLimitExceeded], counts[invoices.StandingSuspended])
	}
	for _, f := range sum.Files {
		fmt.Fprintf(w, "  wrote            %s\n", f)
	}
	fmt.Fprintf(w, "  duration         %s\n", took.Round(time.Millisecond))
}

// outcome is the headline word of a close's or rerun's summary: done when err is nil, else why it
// stopped (too many rejects: then nothing, as the caller says; the period's lock held) or FAILED.
func outcome(err error, done, nothing string) string {
	switch {
	case err == nil:
		return done
	case errors.Is(err, jobs.ErrTooManyRejects):
		return "STOPPED: too many rejects, " + nothing
	case errors.Is(err, invoices.ErrLocked):
		return "STOPPED: another run holds the period"
	}
	return "FAILED"
}
