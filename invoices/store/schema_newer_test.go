package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
)

// TestOpenRefusesNewerSchema: a database migrated by a newer billrun — its goose_db_version has a
// version past this billrun's last migration — is refused by Open with ErrSchemaNewer, naming both
// versions, and is left as it was. Before, Open found nothing to apply and went on: run against a
// database its current binary had migrated to version 5, the binary of 8495b65 (migrations 1-4)
// printed "database … is migrated" for `billrun migrate` and then failed `export --period 2026-10`
// with "INV-2026-000001 lines: line 1: description: at byte 53: want a string" (it cannot read
// migration 5's null descriptions), and the binary of 6a0e4b7 (1-3) read and rated November's usage
// and then failed its close with "cannot copy to view \"document_lines\"". The version planted here
// stands for such a newer migration.
func TestOpenRefusesNewerSchema(t *testing.T) {
	for _, b := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "billrun.db") }},
		{"postgres", func(t *testing.T) string { return storetest.PostgresDSN(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.dsn(t)
			s, err := store.Open(ctx, dsn, nil)
			if err != nil {
				t.Fatalf("Open a new database: %v", err)
			}
			p, err := store.Migrations(s)
			if err != nil {
				t.Fatal(err)
			}
			sources := p.ListSources()
			latest := sources[len(sources)-1].Version
			newer := latest + 1
			db := store.DB(s)
			if _, err := db.ExecContext(ctx, fmt.Sprintf(
				`INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, true)`, newer)); err != nil {
				t.Fatalf("plant version %d: %v", newer, err)
			}
			count := func() string {
				var n, max int64
				if err := db.QueryRowContext(ctx, `SELECT count(*), max(version_id) FROM goose_db_version`).Scan(&n, &max); err != nil {
					t.Fatalf("read goose_db_version: %v", err)
				}
				return fmt.Sprintf("%d rows, max %d", n, max)
			}
			before := count()

			again, err := store.Open(ctx, dsn, nil)
			if err == nil {
				again.Close()
				t.Fatalf("Open of a database at version %d, this billrun's last migration %d: accepted, want ErrSchemaNewer",
					newer, latest)
			}
			if !errors.Is(err, store.ErrSchemaNewer) {
				t.Fatalf("Open = %v, want ErrSchemaNewer", err)
			}
			for _, want := range []string{fmt.Sprintf("version %d", newer), fmt.Sprintf("end at %d", latest)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open = %q, want it to say %q", err, want)
				}
			}
			if after := count(); after != before {
				t.Errorf("goose_db_version after the refused Open: %s, want %s as before", after, before)
			}
			s.Close()
		})
	}
}
