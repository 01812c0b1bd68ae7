package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store/storetest"
	"billrun/jobs"
	"billrun/rating"
)

// countingUsage counts the reads of a whole period (not the standing sweep's month-to-date reads).
type countingUsage struct {
	jobs.UsageReader
	reads atomic.Int32
}

func (u *countingUsage) Read(ctx context.Context, w rating.Window, accounts map[string]bool) (*jobs.UsageResult, error) {
	if w == rating.PeriodWindow(rating.PeriodOf(w.From)) {
		u.reads.Add(1)
	}
	return u.UsageReader.Read(ctx, w, accounts)
}

// TestCloseTakesReadAhead: a close handed the read started ahead of it, before the accounts file was
// imported, bills from that read — the usage is read once — and leaves the ledger, the run's counts
// and its rejects exactly as a close that reads by itself. When the accounts changed after the read
// started (here: it started on an empty store, without the file's accounts), the close reads again
// rather than bill a read that found every account unknown.
func TestCloseTakesReadAhead(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	p, at, log := fixturePeriod, fixtureAt, slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			newJobs := func(t *testing.T) (*jobs.Jobs, *countingUsage, jobs.Store) {
				u := &countingUsage{UsageReader: localUsage{src: src, pb: pb}}
				st := b.Open(t)
				return &jobs.Jobs{Store: st, Usage: u, Exporter: fileExporter{}, PriceBook: pb, PriceBookHash: hash,
					OutDir: t.TempDir(), Logger: log}, u, st
			}
			ref, _, refStore := newJobs(t)
			if _, err := ref.ImportAccounts(ctx, imp); err != nil {
				t.Fatal(err)
			}
			refSum, err := ref.Close(ctx, p, jobs.CloseOptions{At: at})
			if err != nil {
				t.Fatalf("close without a read ahead: %v", err)
			}
			want := ledger(t, refStore, p)

			for _, tc := range []struct {
				name      string
				aheadImp  *invoices.Import // the accounts file the read ahead is told of
				wantReads int32
			}{
				{"accounts as the read started", imp, 1},
				{"accounts imported after the read started", nil, 2},
			} {
				t.Run(tc.name, func(t *testing.T) {
					j, u, st := newJobs(t)
					ahead, err := j.StartReadAhead(ctx, p, tc.aheadImp)
					if err != nil {
						t.Fatal(err)
					}
					defer ahead.Stop()
					if _, err := j.ImportAccounts(ctx, imp); err != nil {
						t.Fatal(err)
					}
					sum, err := j.Close(ctx, p, jobs.CloseOptions{At: at, ReadAhead: ahead})
					if err != nil {
						t.Fatalf("close: %v", err)
					}
					if got := u.reads.Load(); got != tc.wantReads {
						t.Errorf("usage read %d times, want %d", got, tc.wantReads)
					}
					if got := ledger(t, st, p); got != want {
						t.Errorf("ledger differs from a close without a read ahead:\n got: %s\nwant: %s", got, want)
					}
					if !reflect.DeepEqual(sum.Run.Counts, refSum.Run.Counts) || len(sum.Rejects) != len(refSum.Rejects) {
						t.Errorf("counts %+v with %d rejects, want %+v with %d", sum.Run.Counts, len(sum.Rejects),
							refSum.Run.Counts, len(refSum.Rejects))
					}
				})
			}
		})
	}
}

// stuckUsage reads nothing until its context ends.
type stuckUsage struct{ started chan struct{} }

func (u stuckUsage) Read(ctx context.Context, _ rating.Window, _ map[string]bool) (*jobs.UsageResult, error) {
	close(u.started)
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestReadAheadStop: Stop ends a read ahead still running — a close that never came to take it, say
// because another run held the period — and may be called again.
func TestReadAheadStop(t *testing.T) {
	st := storetest.OpenSQLite(t)
	u := stuckUsage{started: make(chan struct{})}
	j := &jobs.Jobs{Store: st, Usage: u, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ahead, err := j.StartReadAhead(context.Background(), fixturePeriod, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-u.started
	stopped := make(chan struct{})
	go func() { ahead.Stop(); ahead.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not end the read")
	}
}

// TestReadAheadNotWhenLocked: while another run holds the period, StartReadAhead starts no read — the
// close will exit 5 at once, and on S3 the read would download the month first — and the lock is
// still the other run's afterwards.
func TestReadAheadNotWhenLocked(t *testing.T) {
	pb, _, src, _ := loadFixtures(t)
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			release, err := st.Lock(context.Background(), "period:"+fixturePeriod.String(), false)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			u := &countingUsage{UsageReader: localUsage{src: src, pb: pb}}
			j := &jobs.Jobs{Store: st, Usage: u, Logger: slog.New(slog.DiscardHandler)}
			ahead, err := j.StartReadAhead(context.Background(), fixturePeriod, nil)
			if err != nil || ahead != nil {
				t.Fatalf("StartReadAhead while the period is held = %v, %v; want nil, nil", ahead, err)
			}
			ahead.Stop() // a nil read ahead may be stopped
			if n := u.reads.Load(); n != 0 {
				t.Errorf("usage read %d times, want none", n)
			}
			if _, err := st.Lock(context.Background(), "period:"+fixturePeriod.String(), false); !errors.Is(err, invoices.ErrLocked) {
				t.Errorf("the period's lock after StartReadAhead: %v, want it still held", err)
			}
		})
	}
}
