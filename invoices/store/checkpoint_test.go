package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
	imp := &invoices.Import{}
	for i := range 300 {
		name := fmt.Sprintf("Account %d, with a name long enough to fill a few pages", i)
		imp.Accounts = append(imp.Accounts, invoices.AccountRecord{ID: fmt.Sprintf("acct_%04d", i), Name: &name})
	}
	mustImport(t, s, imp)
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
