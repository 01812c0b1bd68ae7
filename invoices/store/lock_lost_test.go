package store_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
	"billrun/rating"
)

// TestCheckLockAfterSessionEnded: on PostgreSQL a run lock lives as long as the session that took it.
// When that session ends under a running close (a terminated backend, a dropped connection, a database
// restart) the lock is gone — another close takes it and marks the first abandoned — while the first
// one's other queries go on over fresh pooled connections. CheckLock must say so, so that the first
// close stops before its next batch instead of issuing beside the second.
func TestCheckLockAfterSessionEnded(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := t.Context()
	s := openDSN(t, dsn)
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
	terminateLockSession(t, s, key)
	if err := s.CheckLock(ctx, key); !errors.Is(err, invoices.ErrLockLost) {
		t.Errorf("CheckLock after the session ended = %v, want ErrLockLost", err)
	}
	// Another run can take the lock now; the first must keep seeing it lost.
	other := openDSN(t, dsn)
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

// openDSN opens a store on dsn, closed when the test ends: several stores on one database are
// several runs' processes.
func openDSN(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dsn, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// terminateLockSession ends the PostgreSQL backend that holds s's advisory lock key, as a database
// restart or a dropped connection would.
func terminateLockSession(t *testing.T, s *store.Store, key string) {
	t.Helper()
	id, err := store.AdvisoryKey(s, key)
	if err != nil {
		t.Fatal(err)
	}
	var ended bool
	if err := store.DB(s).QueryRowContext(t.Context(), `SELECT bool_and(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1`, id).Scan(&ended); err != nil || !ended {
		t.Fatalf("terminate the lock's session: %v, %v", ended, err)
	}
	// pg_terminate_backend only signals the backend: wait until it has gone, and its lock with it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		if err := store.DB(s).QueryRowContext(t.Context(), `SELECT count(*) FROM pg_locks
			WHERE locktype = 'advisory' AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lock's session still holds it 10 s after it was terminated")
		}
	}
}

// lingeringWriter takes key with s, opens a transaction that reads the lock's fence FOR SHARE, as an
// issuing transaction does, and ends the lock's session: a run whose lock went while it was writing.
// It returns the open transaction (rolled back at the end of the test unless committed) and the
// holder the fence named.
func lingeringWriter(t *testing.T, s *store.Store, key string) (*sqlx.Tx, string) {
	t.Helper()
	ctx := t.Context()
	release, err := s.Lock(ctx, key, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	tx, err := store.DB(s).BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	var holder string
	if err := tx.QueryRowContext(ctx, `SELECT holder FROM run_fences WHERE key = $1 FOR SHARE`, key).Scan(&holder); err != nil {
		t.Fatal(err)
	}
	terminateLockSession(t, s, key)
	return tx, holder
}

// documentCount is the number of documents stored, void ones included.
func documentCount(t *testing.T, s *store.Store) int {
	t.Helper()
	var n int
	if err := store.DB(s).QueryRowContext(t.Context(), `SELECT count(*) FROM documents`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestIssueFencedAfterLockLost: a close whose PostgreSQL lock session ended passed CheckLock just
// before another close took the lock. Its next batch must still not be written: the issuing
// transaction checks the lock's fence, which the new holder rewrote as it took the lock. Nor may it
// void a document of the period. The new holder issues as usual, and a period whose lock the store
// never took is not fenced.
func TestIssueFencedAfterLockLost(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := t.Context()
	first, second := openDSN(t, dsn), openDSN(t, dsn)
	importAccounts(t, first, "a1", "a2")
	key := invoices.PeriodLock(oct)
	release, err := first.Lock(ctx, key, false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := first.IssueBatch(ctx, []*invoices.Document{invoice("a1", oct, tm("2026-11-01T02:00:00Z"), 100)}); err != nil {
		t.Fatalf("IssueBatch while holding the lock: %v", err)
	}
	terminateLockSession(t, first, key)
	again, err := second.Lock(ctx, key, false)
	if err != nil {
		t.Fatalf("lock after the first holder's session ended: %v", err)
	}
	defer again()

	late := invoice("a2", oct, tm("2026-11-01T02:00:01Z"), 200)
	if err := first.IssueBatch(ctx, []*invoices.Document{late}); !errors.Is(err, invoices.ErrLockLost) {
		t.Fatalf("IssueBatch after the lock went to another run = %v, want ErrLockLost", err)
	}
	if late.Number != "" {
		t.Errorf("a refused document got number %q", late.Number)
	}
	if err := first.Issue(ctx, invoice("a2", oct, tm("2026-11-01T02:00:01Z"), 200)); !errors.Is(err, invoices.ErrLockLost) {
		t.Errorf("Issue after the lock went to another run = %v, want ErrLockLost", err)
	}
	if err := first.Void(ctx, "INV-2026-000001", tm("2026-11-01T02:00:02Z")); !errors.Is(err, invoices.ErrLockLost) {
		t.Errorf("Void after the lock went to another run = %v, want ErrLockLost", err)
	}
	if n := documentCount(t, second); n != 1 {
		t.Fatalf("%d documents stored, want the 1 issued while the lock was held", n)
	}
	// The new holder writes; the first store, which never took November's lock, is not fenced there.
	if err := second.IssueBatch(ctx, []*invoices.Document{invoice("a2", oct, tm("2026-11-01T02:00:03Z"), 200)}); err != nil {
		t.Fatalf("IssueBatch of the new holder: %v", err)
	}
	nov := rating.Period{Year: 2026, Month: time.November}
	if err := first.Issue(ctx, invoice("a1", nov, tm("2026-12-01T02:00:00Z"), 300)); err != nil {
		t.Errorf("Issue for a period whose lock the store never took: %v", err)
	}
}

// TestLockWaitsForFencedWriter: a holder's issuing transaction reads the fence FOR SHARE, so a run
// taking the lock after the holder's session ended waits for that transaction to commit before it
// can go on (and then reads what it wrote) — the write cannot land after the new holder has read the
// period's documents.
func TestLockWaitsForFencedWriter(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := t.Context()
	first, second := openDSN(t, dsn), openDSN(t, dsn)
	key := invoices.PeriodLock(oct)
	tx, holder := lingeringWriter(t, first, key)
	locked := make(chan error, 1)
	go func() {
		release, err := second.Lock(ctx, key, false)
		if err == nil {
			t.Cleanup(release)
		}
		locked <- err
	}()
	select {
	case err := <-locked:
		t.Fatalf("Lock returned (%v) while the old holder's fenced transaction was open", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-locked; err != nil {
		t.Fatalf("Lock once the fenced transaction ended: %v", err)
	}
	var now string
	if err := store.DB(second).QueryRowContext(ctx, `SELECT holder FROM run_fences WHERE key = $1`, key).Scan(&now); err != nil {
		t.Fatal(err)
	}
	if now == holder {
		t.Errorf("the fence still names the first holder %q after the second took the lock", holder)
	}
}

// TestIssueFencedOnSQLite: a SQLite lease that expired, or that another run took over, fences the
// issuing transaction of its first holder, which the lease row tells inside the write transaction.
func TestIssueFencedOnSQLite(t *testing.T) {
	s, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "f.db"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	importAccounts(t, s, "a1", "a2", "a3")
	key := invoices.PeriodLock(oct)
	release, err := s.Lock(ctx, key, false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	mustIssue(t, s, invoice("a1", oct, tm("2026-11-01T02:00:00Z"), 100))
	if _, err := store.DB(s).ExecContext(ctx, `UPDATE run_locks SET expires_at = '2000-01-01T00:00:00.000000000Z' WHERE key = ?`, key); err != nil {
		t.Fatal(err)
	}
	if err := s.IssueBatch(ctx, []*invoices.Document{invoice("a2", oct, tm("2026-11-01T02:00:01Z"), 200)}); !errors.Is(err, invoices.ErrLockLost) {
		t.Errorf("IssueBatch with the lease expired = %v, want ErrLockLost", err)
	}
	if _, err := store.DB(s).ExecContext(ctx, `UPDATE run_locks SET holder = 'elsewhere/1/takenovr', expires_at = '2999-01-01T00:00:00.000000000Z' WHERE key = ?`, key); err != nil {
		t.Fatal(err)
	}
	if err := s.Issue(ctx, invoice("a3", oct, tm("2026-11-01T02:00:02Z"), 300)); !errors.Is(err, invoices.ErrLockLost) {
		t.Errorf("Issue with the lease taken over = %v, want ErrLockLost", err)
	}
	if err := s.Void(ctx, "INV-2026-000001", tm("2026-11-01T02:00:03Z")); !errors.Is(err, invoices.ErrLockLost) {
		t.Errorf("Void with the lease taken over = %v, want ErrLockLost", err)
	}
	if n := documentCount(t, s); n != 1 {
		t.Errorf("%d documents stored, want the 1 issued while the lease was held", n)
	}
}

// TestLockBusyWhileOldFencedWriterLingers: a run whose PostgreSQL lock session ended may still have an
// issuing transaction open under its fence (a paused process, a slow batch). Whoever takes the lock
// then must not give up with an error that kills its own session — the lock session also holds the
// store's other locks (a scheduler's close and sweep share it) — nor exit 1 where exit 5 is meant:
// the period is still being written, so the lock is busy. Without wait Lock fails with ErrLocked,
// with wait it waits, and once the old transaction ends it takes the lock; the store's other lock
// stays held throughout.
//
// Timing: the fence write waits at most 200 ms here (SetFenceWait) for the old transaction, which
// stays open 1.5 s, so the first Lock is refused after ~200 ms and the waiting one succeeds at
// ~1.5 s, both below the 10 s after which a statement on the session would have cut it.
func TestLockBusyWhileOldFencedWriterLingers(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := t.Context()
	first, second := openDSN(t, dsn), openDSN(t, dsn)
	store.SetFenceWait(second, 200*time.Millisecond)
	key := invoices.PeriodLock(oct)
	tx, holder := lingeringWriter(t, first, key)
	// The second store already holds another lock on its session, as a scheduler does.
	other, err := second.Lock(ctx, "sweep", false)
	if err != nil {
		t.Fatal(err)
	}
	defer other()

	if _, err := second.Lock(ctx, key, false); !errors.Is(err, invoices.ErrLocked) {
		t.Fatalf("Lock while the old holder's fenced transaction is open = %v, want ErrLocked", err)
	}
	if err := second.CheckLock(ctx, "sweep"); err != nil {
		t.Fatalf("the store's other lock after a refused Lock: %v", err)
	}
	time.AfterFunc(1500*time.Millisecond, func() { tx.Commit() })
	again, err := second.Lock(ctx, key, true)
	if err != nil {
		t.Fatalf("Lock with wait once the old transaction ends: %v", err)
	}
	defer again()
	if err := second.CheckLock(ctx, key); err != nil {
		t.Errorf("CheckLock of the lock taken: %v", err)
	}
	if err := second.CheckLock(ctx, "sweep"); err != nil {
		t.Errorf("the store's other lock after the wait: %v", err)
	}
	var now string
	if err := store.DB(second).QueryRowContext(ctx, `SELECT holder FROM run_fences WHERE key = $1`, key).Scan(&now); err != nil {
		t.Fatal(err)
	}
	if now == holder {
		t.Errorf("the fence still names the first holder %q", holder)
	}
}

// TestLockReadingWritesNoFence: reconcile and export take their period's lock only to read, so on
// PostgreSQL LockReading writes no run_fences row (a read-only connection can take it), while it
// excludes Lock and Lock excludes it, as before.
func TestLockReadingWritesNoFence(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := t.Context()
	reader, writer := openDSN(t, dsn), openDSN(t, dsn)
	key := invoices.PeriodLock(oct)
	fences := func() int {
		t.Helper()
		var n int
		if err := store.DB(reader).QueryRowContext(ctx, `SELECT count(*) FROM run_fences WHERE key = $1`, key).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	release, err := reader.LockReading(ctx, key, false)
	if err != nil {
		t.Fatal(err)
	}
	if n := fences(); n != 0 {
		t.Errorf("LockReading wrote %d fence rows, want none", n)
	}
	if _, err := writer.Lock(ctx, key, false); !errors.Is(err, invoices.ErrLocked) {
		t.Errorf("Lock while another store holds a reading lock = %v, want ErrLocked", err)
	}
	release()
	again, err := writer.Lock(ctx, key, false)
	if err != nil {
		t.Fatal(err)
	}
	defer again()
	if n := fences(); n != 1 {
		t.Errorf("Lock wrote %d fence rows, want 1", n)
	}
	if _, err := reader.LockReading(ctx, key, false); !errors.Is(err, invoices.ErrLocked) {
		t.Errorf("LockReading while another store holds the lock = %v, want ErrLocked", err)
	}
}

// TestPaymentImportWaitsForAVoidInProgress: on PostgreSQL a void locks its invoice's row FOR UPDATE
// and then looks for payments of it; an import recording a payment of that invoice reads the row FOR
// SHARE, so it waits for the void's transaction to end instead of committing in the middle of it,
// where the void would miss it and leave the payment on a void invoice. The other order is
// Void's own check (TestStore/*/VoidRefusesPaid).
func TestPaymentImportWaitsForAVoidInProgress(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := t.Context()
	s := openDSN(t, dsn)
	importAccounts(t, s, "a1")
	doc := invoice("a1", oct, tm("2026-11-01T02:00:00Z"), 100)
	mustIssue(t, s, doc)
	// A void in progress: the invoice's row locked FOR UPDATE, not committed yet.
	tx, err := store.DB(s).BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT id FROM documents WHERE number = $1 FOR UPDATE`, doc.Number); err != nil {
		t.Fatal(err)
	}
	imported := make(chan error, 1)
	go func() {
		_, err := s.ImportAccounts(ctx, &invoices.Import{Payments: []invoices.Payment{{ID: "pay_1", Account: "a1",
			Amount: 100, PaidAt: tm("2026-11-02T00:00:00Z"), Invoice: doc.Number}}})
		imported <- err
	}()
	select {
	case err := <-imported:
		t.Fatalf("the import of a payment of %s returned (%v) while a void of it was in progress", doc.Number, err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-imported; err != nil {
		t.Fatalf("import once the void's transaction ended: %v", err)
	}
}
