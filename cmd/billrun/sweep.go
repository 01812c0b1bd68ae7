package main

import (
	"context"
	"fmt"
	"time"

	"billrun/invoices"
)

func runSweep(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("sweep", "sweep [--at T] [flags]", &c, flagSpec{db: true, usage: true, prices: true, at: true, wait: true})
	fs.Lookup("wait").Usage = "wait for the lock of the month of --at, then the sweep lock, instead of exiting 5 (env BILLRUN_WAIT)"
	if err := e.parse(fs, &c, args); err != nil {
		return err
	}
	at, err := c.atTime()
	if err != nil {
		return err
	}
	j, done, err := e.openJobs(ctx, &c)
	if err != nil {
		return err
	}
	defer done()
	sum, err := j.Sweep(ctx, at, c.wait)
	if err != nil {
		return err
	}
	counts := map[invoices.StandingStatus]int{}
	for _, s := range sum.Standing {
		counts[s.Status]++
	}
	fmt.Fprintf(e.stdout, "billrun sweep at %s — %d accounts: %d active, %d limit_exceeded, %d suspended; %d changes, %d rejects\n",
		at.Format(time.RFC3339), len(sum.Standing), counts[invoices.StandingActive], counts[invoices.StandingLimitExceeded],
		counts[invoices.StandingSuspended], len(sum.Changes), sum.Run.Counts.Rejected)
	for _, ev := range sum.Changes {
		old := string(ev.OldStatus)
		if old == "" {
			old = "(new)"
		}
		fmt.Fprintf(e.stdout, "  %s: %s → %s %v\n", ev.Account, old, ev.NewStatus, ev.Reasons)
	}
	return nil
}
