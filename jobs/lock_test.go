package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
	"billrun/jobs"
	"billrun/rating"
)

// blockingUsage signals when a read starts and waits for release before reading.
type blockingUsage struct {
	jobs.UsageReader
	once    *sync.Once
	started chan struct{}
	release chan struct{}
}

func (b blockingUsage) Read(ctx context.Context, w rating.Window, accounts map[string]bool) (*jobs.UsageResult, error) {
	b.once.Do(func() {
		close(b.started)
		<-b.release
	})
	return b.UsageReader.Read(ctx, w, accounts)
}

// lockDSNs give a new database of each kind for the tests of locks, which need two stores on one.
var lockDSNs = map[string]func(t *testing.T) string{
	"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "billrun.db") },
	"postgres": func(t *testing.T) string { return storetest.PostgresDSN(t) },
}

// openDSN opens a store on dsn, closed when the test ends.
func openDSN(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConcurrentClose starts two closes of one period at once from two connections to the same
// database: while the first holds the period, the second fails with invoices.ErrLocked (exit code 5);
// in the end every account has exactly one invoice.
func TestConcurrentClose(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	p, at, log := fixturePeriod, fixtureAt, slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dsn := lockDSNs[name](t)
			ctx := context.Background()
			open := func() *store.Store { return openDSN(t, dsn) }
			first, second := open(), open()
			if _, err := first.ImportAccounts(ctx, imp); err != nil {
				t.Fatal(err)
			}
			reader := localUsage{src: src, pb: pb}
			started, release := make(chan struct{}), make(chan struct{})
			j1 := &jobs.Jobs{Store: first, Usage: blockingUsage{reader, &sync.Once{}, started, release}, Exporter: fileExporter{},
				PriceBook: pb, PriceBookHash: hash, OutDir: t.TempDir(), Logger: log}
			j2 := &jobs.Jobs{Store: second, Usage: reader, Exporter: fileExporter{}, PriceBook: pb, PriceBookHash: hash,
				OutDir: t.TempDir(), Logger: log}
			done := make(chan error, 1)
			go func() {
				_, err := j1.Close(ctx, p, jobs.CloseOptions{At: at})
				done <- err
			}()
			select { // the first close holds the period's lock and is reading usage
			case <-started:
			case err := <-done:
				t.Fatalf("first close ended before reading usage: %v", err)
			}
			_, err := j2.Close(ctx, p, jobs.CloseOptions{At: at})
			if !errors.Is(err, invoices.ErrLocked) {
				t.Errorf("second close: err = %v, want ErrLocked", err)
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatalf("first close: %v", err)
			}
			docs, err := second.Documents(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			per := map[string]int{}
			for _, d := range docs {
				per[d.Account]++
			}
			// 17 of the 20 fixture accounts have October usage (00009, 00016 and 00018 have none).
			if len(docs) != 17 {
				t.Errorf("%d documents, want 17", len(docs))
			}
			for a, n := range per {
				if n != 1 {
					t.Errorf("%s has %d invoices, want 1", a, n)
				}
			}
			// Once the first is done, a waiting close gets the lock and issues nothing new.
			sum, err := j2.Close(ctx, p, jobs.CloseOptions{At: at, Wait: true})
			if err != nil || len(sum.Issued) != 0 {
				t.Errorf("close after the first: issued %d, err %v; want 0, nil", len(sum.Issued), err)
			}
		})
	}
}

// TestSweepTakesItsPeriodLock: DESIGN §8 — runs on the same period are serialized. A sweep is a run of
// the month of its --at: while a close or rerun holds that month, a sweep at a time in it fails with
// ErrLocked (exit 5); a sweep of another month goes ahead.
func TestSweepTakesItsPeriodLock(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn := lockDSNs[name](t)
			holder, sweeper := openDSN(t, dsn), openDSN(t, dsn)
			if _, err := holder.ImportAccounts(ctx, imp); err != nil {
				t.Fatal(err)
			}
			j := &jobs.Jobs{Store: sweeper, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
				PriceBookHash: hash, OutDir: t.TempDir(), Logger: log}
			release, err := holder.Lock(ctx, "period:2026-11", false)
			if err != nil {
				t.Fatal(err)
			}
			inNov := fixtureAt.Add(19 * 24 * time.Hour) // 2026-11-20T02:00:00Z
			if _, err := j.Sweep(ctx, inNov, false); !errors.Is(err, invoices.ErrLocked) {
				t.Errorf("sweep at %s while 2026-11 is held: %v, want ErrLocked", inNov, err)
			}
			inDec := fixtureAt.Add(34 * 24 * time.Hour) // 2026-12-05T02:00:00Z
			if _, err := j.Sweep(ctx, inDec, false); err != nil {
				t.Errorf("sweep at %s while 2026-11 is held: %v, want it to run", inDec, err)
			}
			release()
			if _, err := j.Sweep(ctx, inNov, false); err != nil {
				t.Errorf("sweep at %s once 2026-11 is released: %v", inNov, err)
			}
		})
	}
}

// lockLog records the locks taken through it, in order, and signals waiting when a lock is asked for
// with wait set.
type lockLog struct {
	jobs.Store
	mu      sync.Mutex
	keys    []string
	waiting chan string // buffered; the keys waited for
}

func (l *lockLog) Lock(ctx context.Context, key string, wait bool) (func(), error) {
	l.record(key, wait)
	return l.Store.Lock(ctx, key, wait)
}

func (l *lockLog) LockReading(ctx context.Context, key string, wait bool) (func(), error) {
	l.record(key, wait)
	return l.Store.LockReading(ctx, key, wait)
}

func (l *lockLog) record(key string, wait bool) {
	l.mu.Lock()
	l.keys = append(l.keys, key)
	l.mu.Unlock()
	if wait && l.waiting != nil {
		l.waiting <- key
	}
}

func (l *lockLog) taken() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.keys)
}

// sweepWait is a close of the fixtures waiting for the sweep lock, which another store holds (a sweep in
// progress): both stores on a new database of one kind, the fixtures' accounts imported.
type sweepWait struct {
	holder  *store.Store // holds the sweep lock until release
	locks   *lockLog     // the closing store, recording the locks the close takes
	j       *jobs.Jobs   // the jobs the close runs with, on locks
	release func()
	done    <-chan error // the close's error
}

// startSweepWait starts a close of the fixtures under ctx while another store holds the sweep lock, on
// a new database of kind name, and returns once the close waits for the lock. The lock is released by
// release, at the latest when the test ends.
func startSweepWait(t *testing.T, ctx context.Context, name string) *sweepWait {
	t.Helper()
	pb, hash, src, imp := loadFixtures(t)
	dsn := lockDSNs[name](t)
	w := &sweepWait{holder: openDSN(t, dsn)}
	if _, err := w.holder.ImportAccounts(context.Background(), imp); err != nil {
		t.Fatal(err)
	}
	w.locks = &lockLog{Store: openDSN(t, dsn), waiting: make(chan string, 4)}
	w.j = &jobs.Jobs{Store: w.locks, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
		PriceBookHash: hash, OutDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	var err error
	if w.release, err = w.holder.Lock(context.Background(), "sweep", false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.release)
	done := make(chan error, 1)
	w.done = done
	go func() {
		_, err := w.j.Close(ctx, fixturePeriod, jobs.CloseOptions{At: fixtureAt})
		done <- err
	}()
	select {
	case key := <-w.locks.waiting:
		if key != "sweep" {
			t.Fatalf("close waits for %q, want the sweep lock", key)
		}
	case err := <-done:
		t.Fatalf("close ended while the sweep lock was held: %v", err)
	}
	return w
}

// TestStandingPassesTakeTheSweepLock: every standing pass holds the sweep lock, taken after its period's.
// A close's pass waits for a sweep in progress — the hourly sweep at 02:00 on the 1st is of another
// period than the close of the month before, so their period locks do not keep them apart — and stores
// standing only once it has the lock; a sweep takes its period first, so that it never holds the sweep
// lock while it waits for a period a close holds.
func TestStandingPassesTakeTheSweepLock(t *testing.T) {
	_, _, _, imp := loadFixtures(t)
	p, at := fixturePeriod, fixtureAt
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			w := startSweepWait(t, ctx, name)
			holder, locks, j, release, done := w.holder, w.locks, w.j, w.release, w.done
			// Waiting: its invoices are issued, its standing is not stored yet.
			if docs, err := holder.Documents(ctx, p); err != nil || len(docs) != 17 {
				t.Errorf("while the close waits: %d documents (%v), want 17", len(docs), err)
			}
			if rows, err := holder.Standing(ctx); err != nil || len(rows) != 0 {
				t.Errorf("while the close waits: %d standing rows (%v), want none", len(rows), err)
			}
			release()
			if err := <-done; err != nil {
				t.Fatalf("close once the sweep lock was released: %v", err)
			}
			rows, err := holder.Standing(ctx)
			if err != nil || len(rows) != len(imp.Accounts) {
				t.Errorf("after the close: %d standing rows (%v), want %d", len(rows), err, len(imp.Accounts))
			}
			if got, want := locks.taken(), []string{"period:2026-10", "sweep", "sweep"}; !slices.Equal(got, want) {
				t.Errorf("close took %v, want %v (the sweep lock tried, then waited for)", got, want)
			}

			locks.keys, locks.waiting = nil, nil
			inNov := at.Add(19 * 24 * time.Hour) // 2026-11-20T02:00:00Z
			if _, err := j.Sweep(ctx, inNov, false); err != nil {
				t.Fatal(err)
			}
			if got, want := locks.taken(), []string{"period:2026-11", "sweep"}; !slices.Equal(got, want) {
				t.Errorf("sweep took %v, want %v", got, want)
			}
		})
	}
}

// readsUnderPeriodLock closes the fixtures' October on each backend, then has another store hold the
// period's lock, as a rerun in progress would, and checks that read — given the jobs, and whether to
// wait for the lock — fails with ErrLocked while it is held, and with wait, waits for it (saying which
// lock it waits for) and runs once it is released; check is then given read's result.
func readsUnderPeriodLock[R any](t *testing.T, what string, read func(j *jobs.Jobs, wait bool) (R, error), check func(t *testing.T, r R)) {
	pb, hash, src, imp := loadFixtures(t)
	p, at := fixturePeriod, fixtureAt
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn := lockDSNs[name](t)
			holder, reader := openDSN(t, dsn), openDSN(t, dsn)
			if _, err := holder.ImportAccounts(ctx, imp); err != nil {
				t.Fatal(err)
			}
			locks := &lockLog{Store: reader, waiting: make(chan string, 1)}
			j := &jobs.Jobs{Store: locks, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
				PriceBookHash: hash, OutDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
			if _, err := j.Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
				t.Fatal(err)
			}
			release, err := holder.Lock(ctx, invoices.PeriodLock(p), false) // a rerun in progress
			if err != nil {
				t.Fatal(err)
			}
			if _, err := read(j, false); !errors.Is(err, invoices.ErrLocked) {
				release()
				t.Fatalf("%s while the period is held: %v, want ErrLocked", what, err)
			}
			done := make(chan error, 1)
			var r R
			go func() {
				var err error
				r, err = read(j, true)
				done <- err
			}()
			if key := <-locks.waiting; key != invoices.PeriodLock(p) {
				t.Errorf("%s waits for %q, want the period's lock", what, key)
			}
			select {
			case err := <-done:
				release()
				t.Fatalf("%s with wait returned while the period was held: %v", what, err)
			case <-time.After(200 * time.Millisecond):
			}
			release()
			if err := <-done; err != nil {
				t.Fatalf("%s once the period was released: %v", what, err)
			}
			check(t, r)
		})
	}
}

// TestReconcileTakesItsPeriodLock: a reconciliation reads the period under its run lock, so it never
// reports a close or rerun half-way through as differences: while another run holds the period it
// fails with ErrLocked (exit 5), or waits for it with wait, and then reconciles.
func TestReconcileTakesItsPeriodLock(t *testing.T) {
	readsUnderPeriodLock(t, "reconcile", func(j *jobs.Jobs, wait bool) (*invoices.Reconciliation, error) {
		return j.ReconcileLocked(context.Background(), fixturePeriod, fixtureAt, wait)
	}, func(t *testing.T, rec *invoices.Reconciliation) {
		if !rec.Clean() {
			t.Errorf("reconciliation of a closed period is not clean: %+v", rec)
		}
	})
}

// TestRerunDryRunTakesItsPeriodLock: a dry run writes nothing but reads the period under its run lock,
// as reconcile does, so its diff never mixes a close or rerun half-way through: while another run
// holds the period it fails with ErrLocked (exit 5), or waits for it with Wait, and then reports the
// closed period unchanged.
func TestRerunDryRunTakesItsPeriodLock(t *testing.T) {
	readsUnderPeriodLock(t, "dry run", func(j *jobs.Jobs, wait bool) (*jobs.RerunSummary, error) {
		return j.Rerun(context.Background(), fixturePeriod, jobs.RerunOptions{At: fixtureAt.Add(time.Hour), DryRun: true, Wait: wait})
	}, func(t *testing.T, sum *jobs.RerunSummary) {
		for _, c := range sum.Corrections {
			if c.Action != invoices.ActionNone {
				t.Errorf("dry run of the closed period: %s %s, want nothing to correct", c.Account, c.Action)
			}
		}
	})
}

// TestStandingLockWaitStoppedIsAFailure: a close stopped (its timeout, SIGTERM) while its standing pass
// waits for the sweep lock has issued its invoices: it failed, it was not kept out by another run of
// its period — no error wrapping invoices.ErrLocked (exit 5, a firing "skipped_locked"), but one
// wrapping why it was stopped, and its run recorded as failed.
func TestStandingLockWaitStoppedIsAFailure(t *testing.T) {
	p := fixturePeriod
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := startSweepWait(t, ctx, name)
			holder, done := w.holder, w.done
			cancel()
			err := <-done
			if err == nil || errors.Is(err, invoices.ErrLocked) || !errors.Is(err, context.Canceled) {
				t.Errorf("close stopped while waiting for the sweep lock = %v, want an error wrapping context.Canceled, not ErrLocked", err)
			}
			run, lerr := holder.LatestAttempt(context.Background(), p)
			if lerr != nil || run.Status != invoices.RunFailed {
				t.Errorf("the close's run = %+v (%v), want it recorded as failed", run, lerr)
			}
		})
	}
}
