package jobs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
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

// TestConcurrentClose starts two closes of one period at once from two connections to the same
// database: while the first holds the period, the second fails with invoices.ErrLocked (exit code 5);
// in the end every account has exactly one invoice.
func TestConcurrentClose(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	p, at, log := fixturePeriod, fixtureAt, slog.New(slog.NewTextHandler(io.Discard, nil))
	dsns := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "billrun.db") },
		"postgres": func(t *testing.T) string { return storetest.PostgresDSN(t) },
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dsn := dsns[name](t)
			ctx := context.Background()
			open := func() *store.Store {
				s, err := store.Open(ctx, dsn, log)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
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
	dsns := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "billrun.db") },
		"postgres": func(t *testing.T) string { return storetest.PostgresDSN(t) },
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			dsn := dsns[name](t)
			holder, err := store.Open(ctx, dsn, log)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close()
			sweeper, err := store.Open(ctx, dsn, log)
			if err != nil {
				t.Fatal(err)
			}
			defer sweeper.Close()
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
