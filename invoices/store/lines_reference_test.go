package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"billrun/invoices"
	"billrun/invoices/store"
)

// planted is a store with account a1 and one document, id 1, that has one line (position 0).
func planted(t *testing.T, s *store.Store) {
	t.Helper()
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1"}}})
	db := store.DB(s)
	for _, q := range []string{
		`INSERT INTO documents (id, number, account_id, period, kind, issued_at, subtotal_cents, discount_cents,
			credits_applied_cents, amount_due_cents) VALUES (1, 'INV-2026-000001', 'a1', '2026-10', 'invoice',
			'2026-11-01T02:00:00.000000000Z', 2000, 0, 0, 2000)`,
		lineInsert(1, 0),
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// lineInsert is an INSERT of one line of document doc at position pos; lineValues is its row.
func lineInsert(doc, pos int) string {
	return "INSERT INTO document_lines VALUES " + lineValues(doc, pos)
}

func lineValues(doc, pos int) string {
	return fmt.Sprintf(`(%d, %d, 'serverless', 'm', '', '', 'input_tokens', 'm, input tokens', '1000', '1M tokens', '2', '2000', 200000)`, doc, pos)
}

func countLines(t *testing.T, s *store.Store) int {
	t.Helper()
	var n int
	if err := store.DB(s).GetContext(t.Context(), &n, `SELECT count(*) FROM document_lines`); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLinesNeedTheirDocument: on every backend a line whose document does not exist is refused, and
// a document that has lines cannot be deleted; voiding a document (an UPDATE that keeps its id) is
// allowed. SQLite holds this with a foreign key; PostgreSQL (migration 3) with one check per statement
// and documents that cannot be deleted, renumbered or truncated at all — the refusals must carry the
// foreign key's SQLSTATE, 23503, and leave nothing of the statement behind.
func TestLinesNeedTheirDocument(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			planted(t, s)
			db := store.DB(s)
			ctx := t.Context()
			refused := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Errorf("%s: accepted, want it refused", what)
					return
				}
				if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code != "23503" {
					t.Errorf("%s: SQLSTATE %s (%v), want 23503", what, pe.Code, err)
				}
			}
			// A second line of document 1 is fine.
			if _, err := db.ExecContext(ctx, lineInsert(1, 1)); err != nil {
				t.Fatalf("a line of document 1: %v", err)
			}
			refused("a line of document 2, which does not exist", exec(ctx, s, lineInsert(2, 0)))
			// One orphan among good lines fails the whole statement.
			refused("two lines, the second of document 3", exec(ctx, s, lineInsert(1, 2)+", "+lineValues(3, 0)))
			refused("moving a line to document 4", exec(ctx, s, `UPDATE document_lines SET document_id = 4 WHERE position = 1`))
			refused("deleting document 1", exec(ctx, s, `DELETE FROM documents WHERE id = 1`))
			if n := countLines(t, s); n != 2 {
				t.Errorf("%d lines after the refusals, want 2 (positions 0 and 1 of document 1)", n)
			}
			if err := exec(ctx, s, `UPDATE documents SET voided_at = '2026-11-02T00:00:00.000000000Z' WHERE id = 1`); err != nil {
				t.Errorf("voiding document 1: %v", err)
			}
			if b.name != "postgres" {
				return
			}
			refused("renumbering document 1", exec(ctx, s, `UPDATE documents SET id = 5 WHERE id = 1`))
			refused("truncating documents", exec(ctx, s, `TRUNCATE documents CASCADE`))
			// COPY, which issuing uses, is checked the same way.
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			copyLines := func(doc int64) error {
				return conn.Raw(func(dc any) error {
					rows := [][]any{
						{int64(1), int32(7), "serverless", "m", "", "", "input_tokens", "m", "1", "1M tokens", "2", "2", int64(2)},
						{doc, int32(8), "serverless", "m", "", "", "input_tokens", "m", "1", "1M tokens", "2", "2", int64(2)},
					}
					_, err := dc.(*stdlib.Conn).Conn().CopyFrom(ctx, pgx.Identifier{"document_lines"},
						[]string{"document_id", "position", "kind", "product", "base_model", "deployment", "meter",
							"description", "quantity", "unit", "unit_price", "unrounded", "amount_cents"},
						pgx.CopyFromRows(rows))
					return err
				})
			}
			refused("a COPY of two lines, the second of document 6", copyLines(6))
			// The check reads this store's documents whatever the session's search_path.
			var schema string
			if err := db.GetContext(ctx, &schema, `SELECT current_schema()`); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, `SET search_path TO pg_catalog`); err != nil {
				t.Fatal(err)
			}
			_, err = conn.ExecContext(ctx, strings.Replace(lineInsert(7, 0), "document_lines", schema+".document_lines", 1))
			refused("a line of document 7 with another search_path", err)
			if _, err := conn.ExecContext(ctx, `RESET search_path`); err != nil {
				t.Fatal(err)
			}
			if n := countLines(t, s); n != 2 {
				t.Errorf("%d lines after the refused COPY, want 2", n)
			}
			if err := copyLines(1); err != nil {
				t.Errorf("a COPY of two lines of document 1: %v", err)
			}
			if n := countLines(t, s); n != 4 {
				t.Errorf("%d lines after a good COPY, want 4", n)
			}
		})
	}
}

func exec(ctx context.Context, s *store.Store, q string) error {
	_, err := store.DB(s).ExecContext(ctx, q)
	return err
}

// TestPostgresLinesMigration: migrating PostgreSQL down from 3 gives document_lines its foreign key
// back and removes the checks; migrating up again, over stored documents and lines, swaps them once
// more and keeps the lines.
func TestPostgresLinesMigration(t *testing.T) {
	s := openPostgres(t)
	ctx := t.Context()
	fsys, err := store.PostgresMigrations()
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, store.DB(s).DB, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	state := func() (fk, triggers int) {
		t.Helper()
		db := store.DB(s)
		if err := db.GetContext(ctx, &fk, `SELECT count(*) FROM pg_constraint
			WHERE conrelid = 'document_lines'::regclass AND contype = 'f'`); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(ctx, &triggers, `SELECT count(*) FROM pg_trigger
			WHERE tgrelid IN ('document_lines'::regclass, 'documents'::regclass) AND NOT tgisinternal`); err != nil {
			t.Fatal(err)
		}
		return fk, triggers
	}
	if fk, tr := state(); fk != 0 || tr != 4 {
		t.Errorf("migrated: %d foreign keys on document_lines, %d triggers; want 0 and 4", fk, tr)
	}
	if _, err := p.DownTo(ctx, 2); err != nil {
		t.Fatalf("down to 2: %v", err)
	}
	if fk, tr := state(); fk != 1 || tr != 0 {
		t.Errorf("at version 2: %d foreign keys on document_lines, %d triggers; want 1 and 0", fk, tr)
	}
	// A database that already holds documents and lines keeps them through the migration, and its
	// lines are checked from then on.
	planted(t, s)
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if fk, tr := state(); fk != 0 || tr != 4 {
		t.Errorf("migrated again: %d foreign keys on document_lines, %d triggers; want 0 and 4", fk, tr)
	}
	if n := countLines(t, s); n != 1 {
		t.Errorf("%d lines after migrating, want the 1 stored before", n)
	}
	if err := exec(ctx, s, lineInsert(2, 0)); err == nil {
		t.Errorf("a line of document 2, which does not exist, was accepted after migrating")
	}
}
