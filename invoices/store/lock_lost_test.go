package store_test

import (
	"errors"
	"path/filepath"
	"testing"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
)

// TestCheckLockAfterSessionEnded: on PostgreSQL a run lock lives as long as the session that took it.
// When that session ends under a running close (a terminated backend, a dropped connection, a database
// restart) the lock is gone — another close takes it and marks the first abandoned — while the first
// one's other queries go on over fresh pooled connections. CheckLock must say so, so that the first
// close stops before its next batch instead of issuing beside the second.
func TestCheckLockAfterSessionEnded(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := t.Context()
	open := func() *store.Store {
		t.Helper()
		s, err := store.Open(ctx, dsn, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s := open()
	const key = "period:2026-10"
	if err := s.CheckLock(ctx, key); !errors.Is(err, invoices.ErrLockLost) {
		t.Errorf("CheckLock of a lock never taken = %v, want ErrLockLost", err)
	}
	release, err := s.Lock(ctx, key, false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := s.CheckLock(ctx, key); err != nil {
		t.Fatalf("CheckLock of a held lock = %v, want nil", err)
	}
	id, err := store.AdvisoryKey(s, key)
	if err != nil {
		t.Fatal(err)
	}
	var ended bool
	if err := store.DB(s).QueryRowContext(ctx, `SELECT bool_and(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1`, id).Scan(&ended); err != nil || !ended {
		t.Fatalf("terminate the lock's session: %v, %v", ended, err)
	}
	if err := s.CheckLock(ctx, key); !errors.Is(err, invoices.ErrLockLost) {
		t.Errorf("CheckLock after the session ended = %v, want ErrLockLost", err)
	}
	// Another run can take the lock now; the first must keep seeing it lost.
	other := open()
	again, err := other.Lock(ctx, key, false)
	if err != nil {
		t.Fatalf("lock after the holder's session ended: %v", err)
	}
	defer again()
	if err := s.CheckLock(ctx, key); !errors.Is(err, invoices.ErrLockLost) {
		t.Errorf("CheckLock with another session holding it = %v, want ErrLockLost", err)
	}
	if err := other.CheckLock(ctx, key); err != nil {
		t.Errorf("CheckLock of the new holder = %v, want nil", err)
	}
}

// TestCheckLockOfATakenOverLease: a SQLite lease that expired and was taken by another run is lost
// to its first holder.
func TestCheckLockOfATakenOverLease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := store.Open(t.Context(), "sqlite:"+path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	const key = "period:2026-10"
	release, err := s.Lock(ctx, key, false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := s.CheckLock(ctx, key); err != nil {
		t.Fatalf("CheckLock of a held lease = %v, want nil", err)
	}
	if _, err := store.DB(s).ExecContext(ctx, `UPDATE run_locks SET holder = 'elsewhere/1/takenovr' WHERE key = ?`, key); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckLock(ctx, key); !errors.Is(err, invoices.ErrLockLost) {
		t.Errorf("CheckLock of a lease taken over = %v, want ErrLockLost", err)
	}
}
