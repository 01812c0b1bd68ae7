package store_test

import (
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/jobs"
)

var _ jobs.ScheduleStore = (*store.Store)(nil)

// TestScheduledClaims runs the claim contract of scheduled firings on every backend.
func TestScheduledClaims(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Run("ClaimOnce", func(t *testing.T) { testClaimOnce(t, b.open(t)) })
			t.Run("Reclaim", func(t *testing.T) { testReclaim(t, b.open(t)) })
			t.Run("ConcurrentClaims", func(t *testing.T) { testConcurrentClaims(t, b.open(t)) })
			t.Run("ReclaimAfterRestartWithSamePid", func(t *testing.T) { testReclaimSamePid(t, b.open(t)) })
		})
	}
}

var (
	firing   = tm("2026-11-01T02:00:00Z")
	claimAt  = tm("2026-11-01T02:00:01Z")
	leaseEnd = tm("2026-11-01T08:00:01Z")
)

func testClaimOnce(t *testing.T, s *store.Store) {
	ctx := t.Context()
	got, err := s.ClaimScheduled(ctx, "close", firing, "a", claimAt, leaseEnd)
	if err != nil || !got {
		t.Fatalf("first ClaimScheduled = %v, %v; want true", got, err)
	}
	// A second claim of the same firing loses, whoever asks and whatever became of the first.
	for _, holder := range []string{"b", "a"} {
		if got, err := s.ClaimScheduled(ctx, "close", firing, holder, claimAt, leaseEnd); err != nil || got {
			t.Errorf("ClaimScheduled by %s while running = %v, %v; want false", holder, got, err)
		}
	}
	if err := s.FinishScheduled(ctx, "close", firing, "a", "failed", "boom", claimAt.Add(time.Minute)); err != nil {
		t.Fatalf("FinishScheduled: %v", err)
	}
	if got, err := s.ClaimScheduled(ctx, "close", firing, "b", claimAt.Add(time.Hour), leaseEnd.Add(time.Hour)); err != nil || got {
		t.Errorf("ClaimScheduled after a failed attempt = %v, %v; want false (only a retry takes it)", got, err)
	}
	// Other jobs and other firings are separate claims.
	if got, err := s.ClaimScheduled(ctx, "sweep", firing, "b", claimAt, leaseEnd); err != nil || !got {
		t.Errorf("ClaimScheduled(sweep) = %v, %v; want true", got, err)
	}
	if got, err := s.ClaimScheduled(ctx, "close", firing.AddDate(0, 1, 0), "b", claimAt, leaseEnd); err != nil || !got {
		t.Errorf("ClaimScheduled(next month) = %v, %v; want true", got, err)
	}
	// Only the holder finishes its attempt, once.
	if err := s.FinishScheduled(ctx, "sweep", firing, "a", "succeeded", "", claimAt); !errors.Is(err, invoices.ErrNotFound) {
		t.Errorf("FinishScheduled by a non-holder = %v, want ErrNotFound", err)
	}
	if err := s.FinishScheduled(ctx, "sweep", firing, "b", "done", "", claimAt); err == nil {
		t.Errorf("FinishScheduled with status done = nil, want an error")
	}
	if err := s.FinishScheduled(ctx, "sweep", firing, "b", "succeeded", "", claimAt); err != nil {
		t.Errorf("FinishScheduled: %v", err)
	}
	if err := s.FinishScheduled(ctx, "sweep", firing, "b", "failed", "late", claimAt); !errors.Is(err, invoices.ErrNotFound) {
		t.Errorf("second FinishScheduled = %v, want ErrNotFound", err)
	}
}

func testReclaim(t *testing.T, s *store.Store) {
	ctx := t.Context()
	reclaim := func(holder string, now time.Time) bool {
		t.Helper()
		got, err := s.ReclaimScheduled(ctx, "close", firing, holder, now, now.Add(6*time.Hour))
		if err != nil {
			t.Fatalf("ReclaimScheduled(%s, %s): %v", holder, now.Format(time.RFC3339), err)
		}
		return got
	}
	finish := func(holder, status string) {
		t.Helper()
		if err := s.FinishScheduled(ctx, "close", firing, holder, status, "", claimAt); err != nil {
			t.Fatalf("FinishScheduled(%s, %s): %v", holder, status, err)
		}
	}
	// An unclaimed firing is claimed by a retry as by a first claim.
	if !reclaim("a", claimAt) {
		t.Fatal("ReclaimScheduled of an unclaimed firing = false, want true")
	}
	if reclaim("b", claimAt.Add(time.Hour)) {
		t.Error("ReclaimScheduled while a's attempt runs within its lease = true, want false")
	}
	finish("a", "failed")
	if !reclaim("b", claimAt.Add(2*time.Hour)) {
		t.Fatal("ReclaimScheduled after a failed attempt = false, want true")
	}
	finish("b", "skipped")
	if !reclaim("c", claimAt.Add(3*time.Hour)) {
		t.Fatal("ReclaimScheduled after a skipped attempt = false, want true")
	}
	// c dies without finishing: its claim is taken over once its lease has ended, not before.
	if reclaim("d", claimAt.Add(8*time.Hour)) {
		t.Error("ReclaimScheduled within c's lease = true, want false")
	}
	if !reclaim("d", claimAt.Add(9*time.Hour)) {
		t.Fatal("ReclaimScheduled after c's lease ended = false, want true")
	}
	if err := s.FinishScheduled(ctx, "close", firing, "c", "succeeded", "", claimAt); !errors.Is(err, invoices.ErrNotFound) {
		t.Errorf("FinishScheduled by c after the takeover = %v, want ErrNotFound", err)
	}
	finish("d", "succeeded")
	if reclaim("e", claimAt.Add(30*time.Hour)) {
		t.Error("ReclaimScheduled of a succeeded firing = true, want false")
	}

	// A holder killed within its lease is taken over at once when it was a process of this host that
	// no longer exists (a scheduler restarted right after a crash); a live one's, or another host's,
	// only once its lease has ended.
	ended := osexec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	for i, c := range []struct {
		holder string
		want   bool
	}{
		{fmt.Sprintf("%s/%d/dead0001", host, ended.ProcessState.Pid()), true},
		{fmt.Sprintf("%s/%d/live0001", host, os.Getppid()), false},
		{fmt.Sprintf("%s-other/%d/else0001", host, ended.ProcessState.Pid()), false},
	} {
		at := firing.Add(time.Duration(i+1) * 24 * time.Hour)
		if got, err := s.ClaimScheduled(ctx, "close", at, c.holder, claimAt, claimAt.Add(6*time.Hour)); err != nil || !got {
			t.Fatalf("ClaimScheduled(%s) = %v, %v", c.holder, got, err)
		}
		got, err := s.ReclaimScheduled(ctx, "close", at, "f", claimAt.Add(time.Hour), claimAt.Add(7*time.Hour))
		if err != nil || got != c.want {
			t.Errorf("ReclaimScheduled of a firing held within its lease by %s = %v, %v; want %v", c.holder, got, err, c.want)
		}
	}
}

// testReclaimSamePid: in Kubernetes the scheduler is its container's pid 1, and a container restarted
// in its pod (OOM-killed mid-close, say) keeps the pod's host name: the new process has the host and
// the pid of the one that died. Its claim, still marked running within its lease (the close timeout
// and 5 minutes: hours), names "host/<our pid>/<its nonce>". The restarted scheduler's catch-up must
// take it over at once, as README promises after a crash on the same host — it used to take the pid
// for its own, hence alive, skip the close as claimed and leave the month unclosed until a start after
// the lease. A claim this process made itself, though, is alive and is not taken over.
func testReclaimSamePid(t *testing.T, s *store.Store) {
	ctx := t.Context()
	host, _ := os.Hostname()
	earlier := fmt.Sprintf("%s/%d/before01", host, os.Getpid()) // written by the process before the restart
	db := store.DB(s)
	if _, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO scheduled_runs (job, scheduled_at, holder, attempts, claimed_at,
		lease_until, status) VALUES ('close', ?, ?, 1, ?, ?, 'running')`),
		store.FmtTime(firing), earlier, store.FmtTime(claimAt), store.FmtTime(claimAt.Add(6*time.Hour))); err != nil {
		t.Fatal(err)
	}
	restarted := fmt.Sprintf("%s/%d/after001", host, os.Getpid())
	if got, err := s.ReclaimScheduled(ctx, "close", firing, restarted, claimAt.Add(time.Minute), claimAt.Add(7*time.Hour)); err != nil || !got {
		t.Errorf("ReclaimScheduled of a firing held by an earlier process with our pid = %v, %v; want true", got, err)
	}
	// The restarted process's own claim, running within its lease, stays its own.
	if got, err := s.ReclaimScheduled(ctx, "close", firing, "elsewhere/1/other001", claimAt.Add(2*time.Minute), claimAt.Add(7*time.Hour)); err != nil || got {
		t.Errorf("ReclaimScheduled of a firing this process holds = %v, %v; want false", got, err)
	}
	if err := s.FinishScheduled(ctx, "close", firing, restarted, "succeeded", "", claimAt.Add(time.Hour)); err != nil {
		t.Errorf("FinishScheduled by the restarted process: %v", err)
	}
}

// testConcurrentClaims races claims and retries of one firing through separate connections.
func testConcurrentClaims(t *testing.T, s *store.Store) {
	const claimers = 8
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Go(func() {
			claim := s.ClaimScheduled
			if i%2 == 1 {
				claim = s.ReclaimScheduled
			}
			got, err := claim(t.Context(), "sweep", firing, fmt.Sprint("h", i), claimAt, leaseEnd)
			if err != nil {
				t.Errorf("claimer %d: %v", i, err)
			}
			if got {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("%d of %d concurrent claims won, want 1", n, claimers)
	}
}

// TestScheduledClaimsTwoHandles checks that two stores open on one SQLite file — two schedulers
// sharing a database — give each firing once.
func TestScheduledClaimsTwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "billrun.db")
	var stores []*store.Store
	for range 2 {
		s, err := store.Open(t.Context(), "sqlite:"+path, testLogger(t))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	for h := range 24 {
		at := firing.Add(time.Duration(h) * time.Hour)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() {
				got, err := s.ClaimScheduled(t.Context(), "sweep", at, fmt.Sprint("s", i), at, at.Add(time.Hour))
				if err != nil {
					t.Errorf("store %d: %v", i, err)
				}
				if got {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Errorf("firing %s: %d claims won, want 1", at.Format(time.RFC3339), n)
		}
	}
}
