// Package storetest opens fresh billrun stores for tests of other packages: SQLite in a temp dir
// always, PostgreSQL in a schema of its own when BILLRUN_TEST_POSTGRES holds a DSN.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"billrun/invoices/store"
)

// Backend names a database kind and opens a fresh, migrated store of it for a test.
type Backend struct {
	Name string
	Open func(t testing.TB) *store.Store
}

// Backends are SQLite and PostgreSQL; the PostgreSQL one skips the test when BILLRUN_TEST_POSTGRES is
// not set.
var Backends = []Backend{{"sqlite", OpenSQLite}, {"postgres", OpenPostgres}}

func logger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// OpenSQLite opens a store on a new SQLite file in a temp dir, closed when the test ends.
func OpenSQLite(t testing.TB) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "billrun.db"), logger())
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenPostgres opens a store in a new schema of the BILLRUN_TEST_POSTGRES database, dropped when the
// test ends. It skips the test when the variable is empty.
func OpenPostgres(t testing.TB) *store.Store {
	t.Helper()
	dsn := PostgresDSN(t)
	s, err := store.Open(context.Background(), dsn, logger())
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// PostgresDSN creates a fresh schema and returns a DSN whose search_path points at it; the schema is
// dropped when the test ends. It skips the test when BILLRUN_TEST_POSTGRES is not set.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("BILLRUN_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("BILLRUN_TEST_POSTGRES not set in CI: PostgreSQL tests must run there (.ci/run sets it)")
		}
		t.Skip("BILLRUN_TEST_POSTGRES not set: skipping PostgreSQL")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open admin connection to %s: %v", store.Redacted(dsn), err)
	}
	t.Cleanup(func() { admin.Close() })
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	schema := fmt.Sprintf("billrun_test_%x", n)
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("BILLRUN_TEST_POSTGRES is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
