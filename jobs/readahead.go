package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"

	"billrun/invoices"
	"billrun/rating"
)

// ReadAhead is a close's read of its period's usage started before the close itself, while the
// command still imports the accounts file and the close takes its lock and starts its run record:
// on PostgreSQL those are ~0.15 s of round trips and server work that the read, which needs only the
// set of known accounts, need not wait for. The close takes the read's result only when the
// accounts it finds once it holds the period's lock are exactly those the read was started with;
// otherwise it stops the read and reads again. A read changes nothing, so one that is not taken is
// only wasted work.
type ReadAhead struct {
	window rating.Window
	known  map[string]bool
	cancel context.CancelFunc
	done   chan struct{}
	res    *UsageResult
	err    error
}

// StartReadAhead starts reading period p's usage for the accounts the store will hold once imp (nil:
// no accounts file) is imported: those it holds now and imp's, since an import never deletes. Stop
// must be called once the close is done with it. It starts nothing, and returns nil, when another run
// holds the period now.
func (j *Jobs) StartReadAhead(ctx context.Context, p rating.Period, imp *invoices.Import) (*ReadAhead, error) {
	// A close that will find its period held exits 5 at once: no read for it, which on S3 would
	// download the month first. The lock is only tried here, not kept; the close takes it itself.
	release, err := j.Store.LockReading(ctx, invoices.PeriodLock(p), false)
	switch {
	case errors.Is(err, invoices.ErrLocked):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("lock period:%s: %w", p, err)
	}
	release()
	ids, err := j.Store.AccountIDs(ctx)
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(ids))
	for _, id := range ids {
		known[id] = true
	}
	if imp != nil {
		for i := range imp.Accounts {
			known[imp.Accounts[i].ID] = true
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &ReadAhead{window: rating.PeriodWindow(p), known: known, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.res, r.err = j.Usage.Read(ctx, r.window, known)
	}()
	return r, nil
}

// Stop cancels the read if it is still running and waits for it to end. It may be called more than
// once, and after the close took the result.
func (r *ReadAhead) Stop() {
	if r == nil {
		return
	}
	r.cancel()
	<-r.done
}

// take waits for the read and returns its result, with ok true, when it read window w for exactly
// the accounts known; otherwise it stops the read and returns ok false.
func (r *ReadAhead) take(w rating.Window, known map[string]bool) (res *UsageResult, ok bool, err error) {
	if r == nil {
		return nil, false, nil
	}
	if !w.From.Equal(r.window.From) || !w.To.Equal(r.window.To) || !maps.Equal(known, r.known) {
		r.Stop()
		r.res, r.err = nil, nil // the read is discarded: let its aggregate go before the close reads again
		return nil, false, nil
	}
	<-r.done
	res, err = r.res, r.err
	r.res, r.err = nil, nil // the close owns the result now; Stop must not keep it alive
	return res, true, err
}

// readUsage reads window w for the accounts known, taking ahead's read when it matches.
func (j *Jobs) readUsage(ctx context.Context, log *slog.Logger, ahead *ReadAhead, w rating.Window, known map[string]bool) (*UsageResult, error) {
	if res, ok, err := ahead.take(w, known); ok {
		return res, err
	} else if ahead != nil {
		log.Info("the accounts changed since the read started ahead of the close: reading usage again")
	}
	return j.Usage.Read(ctx, w, known)
}
