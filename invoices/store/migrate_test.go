package store

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteAt opens a SQLite database at path with the store's pragmas and migrates it to version v.
func sqliteAt(t *testing.T, path string, v int64) (*sqlx.DB, *goose.Provider) {
	t.Helper()
	db, err := sqlx.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fsys, err := fs.Sub(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db.DB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), v); err != nil {
		t.Fatalf("migrate to %d: %v", v, err)
	}
	return db, p
}

// TestSQLiteLinesWithoutRowid: migration 3 rebuilds document_lines WITHOUT ROWID keeping the lines
// stored before it, and the rebuilt table refuses a duplicate (document, position) and a line of no
// document as the old one did; migrating down restores a rowid table with the same lines. (Migration
// 4 replaces the table: TestLineSetsMigration.)
func TestSQLiteLinesWithoutRowid(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "billrun.db")
	db, p := sqliteAt(t, path, 2)
	for _, q := range []string{
		`INSERT INTO accounts (id) VALUES ('a1')`,
		`INSERT INTO documents (number, account_id, period, kind, issued_at, subtotal_cents, discount_cents,
			credits_applied_cents, amount_due_cents) VALUES ('INV-2026-000001', 'a1', '2026-10', 'invoice',
			'2026-11-01T02:00:00.000000000Z', 1899, -101, 0, 1899)`,
		`INSERT INTO document_lines VALUES (1, 0, 'serverless', 'm', '', '', 'input_tokens', 'm, input tokens',
			'1000.5', '1M tokens', '0.20', '200.1', 2000)`,
		`INSERT INTO document_lines VALUES (1, 1, 'discount', 'on_demand', '', '', 'discount', 'bulk on-demand discount 5%',
			NULL, '', NULL, '-1.005', -101)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatalf("up to 3: %v", err)
	}
	var ddl string
	if err := db.GetContext(ctx, &ddl, `SELECT sql FROM sqlite_schema WHERE name = 'document_lines'`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ddl, "WITHOUT ROWID") {
		t.Errorf("document_lines after migrating:\n%s\nwant a WITHOUT ROWID table", ddl)
	}
	var kept []string
	if err := db.SelectContext(ctx, &kept, `SELECT position || ' ' || kind || ' ' || COALESCE(quantity, 'NULL') || ' ' ||
		unrounded || ' ' || amount_cents FROM document_lines ORDER BY position`); err != nil {
		t.Fatal(err)
	}
	if strings.Join(kept, "; ") != "0 serverless 1000.5 200.1 2000; 1 discount NULL -1.005 -101" {
		t.Errorf("lines after migrating: %q, want the two stored before", kept)
	}

	insert := func(doc, pos int) error {
		_, err := db.ExecContext(ctx, `INSERT INTO document_lines VALUES (?, ?, 'serverless', 'm', '', '', 'input_tokens',
			'm', '1', '1M tokens', '1', '1', 100)`, doc, pos)
		return err
	}
	if err := insert(1, 1); !isUniqueViolation(err) {
		t.Errorf("a second line 1 of document 1 = %v, want a primary key violation", err)
	}
	var liteErr *sqlite.Error
	if err := insert(999, 0); !errors.As(err, &liteErr) || liteErr.Code() != sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
		t.Errorf("a line of no document = %v, want a foreign key violation", err)
	}
	if err := insert(1, 2); err != nil {
		t.Errorf("a third line of document 1: %v", err)
	}
	var problems []string
	if err := db.SelectContext(ctx, &problems, `PRAGMA integrity_check`); err != nil || len(problems) != 1 || problems[0] != "ok" {
		t.Errorf("integrity_check = %v, %v; want ok", problems, err)
	}
	if _, err := p.DownTo(context.Background(), 2); err != nil {
		t.Fatalf("migrate down to 2: %v", err)
	}
	var n int
	if err := db.GetContext(ctx, &ddl, `SELECT sql FROM sqlite_schema WHERE name = 'document_lines'`); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &n, `SELECT COUNT(*) FROM document_lines`); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ddl, "WITHOUT ROWID") || n != 3 {
		t.Errorf("after migrating down: %d lines in\n%s\nwant 3 lines in a rowid table", n, ddl)
	}
}

// TestSQLiteMigrationAppliedOnce: openers that both find a migration pending — they list what is
// applied before either can take the write lock — apply and record it once. Before, goose's Up on
// SQLite (no lock serializes its openers) applied the migration a second time after the first had
// committed it, and recorded it twice, whenever its DDL did not fail on a second run: eight `billrun
// migrate` started together on a new file left migration 3 (or 5) twice in goose_db_version about one
// time in ten, and a migration that changes data would have changed it twice.
func TestSQLiteMigrationAppliedOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "billrun.db")
	db, p := sqliteAt(t, path, 4)
	sources := p.ListSources()
	if latest := sources[len(sources)-1].Version; latest != 5 {
		t.Fatalf("the SQLite migrations end at %d: pick a pending one that runs twice without failing, as 5 does", latest)
	}
	// Hold the write lock, so that both openers list migration 5 as pending and wait to apply it.
	blocker, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	if _, err := blocker.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	const openers = 2
	errs := make(chan error, openers)
	for range openers {
		go func() {
			s, err := Open(ctx, "sqlite:"+path, nil)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	time.Sleep(500 * time.Millisecond) // for both to wait on the lock; sooner, the test proves nothing
	if _, err := blocker.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	for range openers {
		if err := <-errs; err != nil {
			t.Errorf("an opener failed: %v", err)
		}
	}
	var twice []string
	if err := db.SelectContext(ctx, &twice, `SELECT version_id || ' x' || count(*) FROM goose_db_version
		GROUP BY version_id HAVING count(*) > 1`); err != nil {
		t.Fatal(err)
	}
	if len(twice) > 0 {
		t.Errorf("migrations recorded more than once (version x times): %v, want each once", twice)
	}
}
