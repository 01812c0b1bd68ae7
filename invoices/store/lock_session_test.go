package store_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
)

// TestAdvisoryLocksShareASession: on PostgreSQL a store holds all its run locks on one session — a
// close holds its period's lock and takes the sweep lock for its standing pass without opening another
// connection — and, advisory locks being reentrant per session, a key it holds is still busy to the
// process itself. Once it holds none, the session goes back to the pool.
func TestAdvisoryLocksShareASession(t *testing.T) {
	s := storetest.OpenPostgres(t)
	other := storetest.OpenPostgres(t) // another schema: other keys, its own session
	ctx := t.Context()
	keys := []string{"period:2026-10", "sweep"}
	ids := make([]int64, len(keys))
	for i, k := range keys {
		id, err := store.AdvisoryKey(s, k)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	// sessions returns the sessions holding the keys' advisory locks, and how many locks they hold.
	sessions := func() (pids, locks int) {
		t.Helper()
		err := store.DB(other).QueryRowContext(ctx, `SELECT count(DISTINCT pid), count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND objsubid = 1 AND granted
				AND ((classid::bigint << 32) | objid::bigint) = ANY($1)`, ids).Scan(&pids, &locks)
		if err != nil {
			t.Fatal(err)
		}
		return pids, locks
	}
	period, err := s.Lock(ctx, keys[0], false)
	if err != nil {
		t.Fatal(err)
	}
	sweep, err := s.Lock(ctx, keys[1], false)
	if err != nil {
		t.Fatal(err)
	}
	if pids, locks := sessions(); pids != 1 || locks != 2 {
		t.Errorf("two locks held by %d sessions (%d locks), want 1 session holding 2", pids, locks)
	}
	if _, err := s.Lock(ctx, keys[1], false); !errors.Is(err, invoices.ErrLocked) {
		t.Errorf("the sweep lock taken again by its holder's store = %v, want ErrLocked", err)
	}
	sweep()
	if pids, locks := sessions(); pids != 1 || locks != 1 {
		t.Errorf("after releasing one: %d sessions, %d locks, want the period's alone", pids, locks)
	}
	again, err := s.Lock(ctx, keys[1], false)
	if err != nil {
		t.Fatalf("the sweep lock once released: %v", err)
	}
	again()
	period()
	if pids, locks := sessions(); pids != 0 || locks != 0 {
		t.Errorf("after releasing both: %d sessions hold %d locks, want none", pids, locks)
	}
	if st := store.DB(s).Stats(); st.InUse != 0 {
		t.Errorf("%d connections in use once no lock is held, want 0: the session goes back to the pool", st.InUse)
	}
}

// TestAdvisoryLockCallerCancelKeepsSessionLocks: a caller whose context ends while its try of a lock is
// on the shared session (a waiter polling a key another process holds, cancelled by its timeout or a
// signal) must not take the session down with it: the locks other callers hold on that session are
// theirs, and another process must still find them held.
func TestAdvisoryLockCallerCancelKeepsSessionLocks(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	open := func() *store.Store {
		s, err := store.Open(context.Background(), dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s, other := open(), open() // one schema, two processes' stores
	ctx := t.Context()
	release, err := s.Lock(ctx, "period:2026-10", false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	releaseOther, err := other.Lock(ctx, "sweep", false)
	if err != nil {
		t.Fatal(err)
	}
	defer releaseOther()

	// How long one try takes, to cancel callers' contexts around it.
	start := time.Now()
	if _, err := s.Lock(ctx, "sweep", false); !errors.Is(err, invoices.ErrLocked) {
		t.Fatalf("the sweep lock held by the other store = %v, want ErrLocked", err)
	}
	try := time.Since(start)
	for i := range 400 {
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(time.Duration(i%40)*try/20, cancel)
		if rel, err := s.Lock(cctx, "sweep", true); err == nil {
			rel()
			t.Fatal("the sweep lock held by the other store was taken")
		}
		cancel()
		if rel, err := other.Lock(ctx, "period:2026-10", false); err == nil {
			rel()
			t.Fatalf("attempt %d: the period's lock, still held, was taken by another store once a caller's context ended during its try", i)
		} else if !errors.Is(err, invoices.ErrLocked) {
			t.Fatalf("attempt %d: another store's try of the held period lock = %v, want ErrLocked", i, err)
		}
	}
}
