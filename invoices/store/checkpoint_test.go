package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store"
)

// TestSQLiteCheckpoint: billrun's SQLite connections checkpoint on their own only once the WAL holds
// 4,096 pages (256 MB), so a close does not stop mid-issue for it; Checkpoint copies the WAL into the
// database file at once. A few hundred accounts stay in the WAL until then: the database file keeps
// the size creating it gave it.
func TestSQLiteCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := store.Open(t.Context(), "sqlite:"+path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var pages int
	if err := store.DB(s).QueryRowContext(t.Context(), "PRAGMA wal_autocheckpoint").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if pages != 4096 {
		t.Errorf("PRAGMA wal_autocheckpoint = %d, want 4096", pages)
	}
	size := func() int64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	created := size()
	mustImport(t, s, accountsImport(300))
	if got := size(); got != created {
		t.Fatalf("database file %d bytes after an import, %d when created: it was checkpointed already", got, created)
	}
	if err := s.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := size(); got <= created {
		t.Errorf("database file %d bytes after Checkpoint, %d before: the WAL was not copied into it", got, created)
	}
	// What the checkpoint copied reads back.
	if n := len(accountsByID(t, s)); n != 300 {
		t.Errorf("%d accounts after Checkpoint, want 300", n)
	}
}

// TestPostgresCheckpoint: Checkpoint does nothing on PostgreSQL, and says so without an error.
func TestPostgresCheckpoint(t *testing.T) {
	s := openPostgres(t)
	if err := s.Checkpoint(t.Context()); err != nil {
		t.Errorf("Checkpoint on PostgreSQL: %v", err)
	}
}

// TestSQLiteTruncateWAL: TruncateWAL copies the WAL into the database file and leaves the WAL empty,
// and the connection it used goes back to the pool with billrun's busy timeout.
func TestSQLiteTruncateWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := store.Open(t.Context(), "sqlite:"+path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	store.DB(s).SetMaxOpenConns(1) // so the connection checked afterwards is the one TruncateWAL used
	mustImport(t, s, accountsImport(300))
	if got := fileSize(t, path+"-wal"); got == 0 {
		t.Fatal("the WAL is empty after an import: nothing to truncate")
	}
	if err := s.TruncateWAL(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, path+"-wal"); got != 0 {
		t.Errorf("the WAL holds %d bytes after TruncateWAL, want 0", got)
	}
	if n := len(accountsByID(t, s)); n != 300 {
		t.Errorf("%d accounts after TruncateWAL, want 300", n)
	}
	var ms int
	if err := store.DB(s).QueryRowContext(t.Context(), "PRAGMA busy_timeout").Scan(&ms); err != nil {
		t.Fatal(err)
	}
	if ms != 30000 {
		t.Errorf("PRAGMA busy_timeout = %d after TruncateWAL, want 30000", ms)
	}
}

// TestSQLiteTruncateWALDoesNotWait: while another connection (another billrun, say) reads from the
// WAL, TruncateWAL does not wait for it — with the busy timeout of 30 s it would, and the deadline of
// its context would interrupt it with an error — but copies what it can and returns nil, leaving the
// WAL for a later checkpoint; once the reader is done, it truncates.
func TestSQLiteTruncateWALDoesNotWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := store.Open(t.Context(), "sqlite:"+path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustImport(t, s, accountsImport(300))
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.BeginTx(t.Context(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRowContext(t.Context(), "SELECT count(*) FROM accounts").Scan(&n); err != nil || n != 300 {
		t.Fatalf("the reader sees %d accounts (%v), want 300", n, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.TruncateWAL(ctx); err != nil {
		t.Fatalf("TruncateWAL with a reader on the WAL: %v", err)
	}
	if got := fileSize(t, path+"-wal"); got == 0 {
		t.Error("the WAL was truncated under a reader")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := s.TruncateWAL(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := fileSize(t, path+"-wal"); got != 0 {
		t.Errorf("the WAL holds %d bytes once the reader is done, want 0", got)
	}
	if n := len(accountsByID(t, s)); n != 300 {
		t.Errorf("%d accounts after TruncateWAL, want 300", n)
	}
}

// TestPostgresTruncateWAL: TruncateWAL does nothing on PostgreSQL, and says so without an error.
func TestPostgresTruncateWAL(t *testing.T) {
	s := openPostgres(t)
	if err := s.TruncateWAL(t.Context()); err != nil {
		t.Errorf("TruncateWAL on PostgreSQL: %v", err)
	}
}

// accountsImport returns an import of n accounts with names long enough to fill a few pages.
func accountsImport(n int) *invoices.Import {
	imp := &invoices.Import{}
	for i := range n {
		name := fmt.Sprintf("Account %d, with a name long enough to fill a few pages", i)
		imp.Accounts = append(imp.Accounts, invoices.AccountRecord{ID: fmt.Sprintf("acct_%04d", i), Name: &name})
	}
	return imp
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
