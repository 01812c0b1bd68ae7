package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store/storetest"
	"billrun/jobs"
)

// remoteStore is a store that says its statements are round trips to a server.
type remoteStore struct{ jobs.Store }

func (remoteStore) Remote() bool { return true }

// TestCloseRestoresGOMAXPROCS: a close on a remote store runs its issuing with more Ps than cores, and
// gives the setting back when it ends, whether it succeeded or failed.
func TestCloseRestoresGOMAXPROCS(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	before := runtime.GOMAXPROCS(0)
	for _, fail := range []bool{false, true} {
		st := storetest.OpenSQLite(t)
		if _, err := st.ImportAccounts(context.Background(), imp); err != nil {
			t.Fatal(err)
		}
		var s jobs.Store = remoteStore{st}
		if fail {
			s = remoteStore{&faultyStore{Store: st, failStanding: true}}
		}
		j := &jobs.Jobs{Store: s, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
			PriceBookHash: hash, OutDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
		_, err := j.Close(context.Background(), fixturePeriod, jobs.CloseOptions{At: fixtureAt})
		if (err != nil) != fail {
			t.Fatalf("close (failing: %v): %v", fail, err)
		}
		if got := runtime.GOMAXPROCS(0); got != before {
			t.Errorf("GOMAXPROCS after a close (failing: %v) = %d, want %d", fail, got, before)
		}
	}
}

// TestCloseWritesNoExportWhenStandingFails: no export is put in place before standing is saved, which
// on PostgreSQL is also the commit that makes the issuing's asynchronous commits durable; when saving
// standing fails, the close fails and leaves no export, not even a temporary file, in its output
// directory, whether the exports were streamed while issuing or written after it.
func TestCloseWritesNoExportWhenStandingFails(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	exps := map[string]jobs.Exporter{"written after issuing": fileExporter{},
		"streamed while issuing": streamingExporter{finished: &atomic.Int32{}}}
	for _, b := range storetest.Backends {
		for name, exp := range exps {
			t.Run(b.Name+"/"+name, func(t *testing.T) {
				st := b.Open(t)
				if _, err := st.ImportAccounts(context.Background(), imp); err != nil {
					t.Fatal(err)
				}
				out := t.TempDir()
				j := &jobs.Jobs{Store: &faultyStore{Store: st, failStanding: true}, Usage: localUsage{src: src, pb: pb},
					Exporter: exp, PriceBook: pb, PriceBookHash: hash, OutDir: out, Logger: slog.New(slog.DiscardHandler)}
				if _, err := j.Close(context.Background(), fixturePeriod, jobs.CloseOptions{At: fixtureAt}); !errors.Is(err, errInjected) {
					t.Fatalf("close: err = %v, want the injected fault", err)
				}
				entries, err := os.ReadDir(filepath.Join(out, fixturePeriod.String()))
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
				for _, e := range entries {
					t.Errorf("the failed close left %s", e.Name())
				}
			})
		}
	}
}

// TestCloseWarnsBeforePeriodEnd: a close whose --at falls before the period's end goes ahead (a replay
// or an early close) but logs a warning that later usage needs a rerun; one at or after the end does not.
func TestCloseWarnsBeforePeriodEnd(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	for _, tc := range []struct {
		at         time.Time
		warn       bool
		gpuWarning bool // with a report window of 2h (--max-gpu-interval 1h + 1h)
	}{
		{fixturePeriod.End().Add(-time.Hour), true, false},
		{fixturePeriod.End(), false, true},
		{fixturePeriod.End().Add(2*time.Hour - time.Nanosecond), false, true},
		{fixturePeriod.End().Add(2 * time.Hour), false, false}, // 02:00 on the 1st, the cron's time
		{fixtureAt, false, false},
	} {
		st := storetest.OpenSQLite(t)
		if _, err := st.ImportAccounts(context.Background(), imp); err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		j := &jobs.Jobs{Store: st, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
			PriceBookHash: hash, OutDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
			ReportWindow: 2 * time.Hour}
		if _, err := j.Close(context.Background(), fixturePeriod, jobs.CloseOptions{At: tc.at}); err != nil {
			t.Fatalf("close at %s: %v", tc.at, err)
		}
		if got := strings.Contains(logs.String(), "closing a period before it ends"); got != tc.warn {
			t.Errorf("close at %s: warned %v, want %v; logs:\n%s", tc.at, got, tc.warn, logs.String())
		}
		if got := strings.Contains(logs.String(), "before all of its GPU usage can have been reported"); got != tc.gpuWarning {
			t.Errorf("close at %s: warned of GPU reports %v, want %v; logs:\n%s", tc.at, got, tc.gpuWarning, logs.String())
		}
	}
}

// loseLockAfter is a store whose run lock is reported lost from the (n+1)th CheckLock on: a lock that
// went after the close issued (its PostgreSQL session ended, its SQLite lease was taken over).
type loseLockAfter struct {
	jobs.Store
	mu sync.Mutex
	n  int
}

func (l *loseLockAfter) CheckLock(ctx context.Context, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return fmt.Errorf("store: lock %s: %w", key, invoices.ErrLockLost)
	}
	l.n--
	return l.Store.CheckLock(ctx, key)
}

// TestCloseWritesNoExportsAfterItsLockWent: a close that issued its one batch (the fixtures' 17
// accounts) and then lost its lock may run beside a close that holds it now: it fails with
// ErrLockLost and writes no export that would overwrite that close's, leaving no temporary file.
// (With an exporter that does not stream, as here, the exports are written after issuing;
// TestCloseStreamsNoExportsAfterItsLockWent is the streaming close.)
func TestCloseWritesNoExportsAfterItsLockWent(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	st := storetest.OpenSQLite(t)
	if _, err := st.ImportAccounts(context.Background(), imp); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	j := &jobs.Jobs{Store: &loseLockAfter{Store: st, n: 1}, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{},
		PriceBook: pb, PriceBookHash: hash, OutDir: out, Logger: slog.New(slog.DiscardHandler)}
	_, err := j.Close(context.Background(), fixturePeriod, jobs.CloseOptions{At: fixtureAt})
	if !errors.Is(err, invoices.ErrLockLost) {
		t.Fatalf("close whose lock went after issuing: %v, want ErrLockLost", err)
	}
	docs, err := st.Documents(context.Background(), fixturePeriod)
	if err != nil || len(docs) != 17 {
		t.Errorf("documents issued before the lock went: %d (%v), want 17", len(docs), err)
	}
	var left []string
	filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, path)
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("files written after the lock went: %v, want none", left)
	}
}

// TestRerunWritesNoExportsAfterItsLockWent: a rerun of a closed period whose usage did not change
// corrects nothing; its lock went before it wrote the period's exports, so it writes none (another
// run may hold the lock and write them) and fails with ErrLockLost.
func TestRerunWritesNoExportsAfterItsLockWent(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	st := storetest.OpenSQLite(t)
	if _, err := st.ImportAccounts(context.Background(), imp); err != nil {
		t.Fatal(err)
	}
	j := &jobs.Jobs{Store: st, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
		PriceBookHash: hash, OutDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	if _, err := j.Close(context.Background(), fixturePeriod, jobs.CloseOptions{At: fixtureAt}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	j.Store, j.OutDir = &loseLockAfter{Store: st}, out
	if _, err := j.Rerun(context.Background(), fixturePeriod, jobs.RerunOptions{At: fixtureAt.Add(time.Hour)}); !errors.Is(err, invoices.ErrLockLost) {
		t.Fatalf("rerun whose lock went: %v, want ErrLockLost", err)
	}
	if entries, err := os.ReadDir(filepath.Join(out, fixturePeriod.String())); err == nil && len(entries) > 0 {
		t.Errorf("the rerun whose lock went wrote %d files, want none", len(entries))
	}
}
