package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/rating"
)

const plantedDocument = `INSERT INTO documents (id, number, account_id, period, kind, issued_at, subtotal_cents,
	discount_cents, credits_applied_cents, amount_due_cents) VALUES (%d, 'INV-2026-%06d', '%s', '2026-10', 'invoice',
	'2026-11-01T02:00:00.000000000Z', 2000, 0, 0, 2000)`

// plantedLines is the stored form of one line (linesjson.go).
const plantedLines = `[["serverless","m","","","input_tokens","m, input tokens","1000","1M tokens","2","2000",200000]]`

// planted is a store with account a1 and one document, id 1, whose lines are plantedLines.
func planted(t *testing.T, s *store.Store) {
	t.Helper()
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1"}, {ID: "a5"}}})
	for _, q := range []string{fmt.Sprintf(plantedDocument, 1, 1, "a1"), lineSetInsert(1)} {
		if err := exec(t.Context(), s, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func lineSetInsert(doc int) string {
	return fmt.Sprintf(`INSERT INTO document_line_sets (document_id, lines) VALUES (%d, '%s')`, doc, plantedLines)
}

func countLines(t *testing.T, s *store.Store) int {
	t.Helper()
	var n int
	if err := store.DB(s).GetContext(t.Context(), &n, `SELECT count(*) FROM document_lines`); err != nil {
		t.Fatal(err)
	}
	return n
}

func exec(ctx context.Context, s *store.Store, q string) error {
	_, err := store.DB(s).ExecContext(ctx, q)
	return err
}

// TestLinesNeedTheirDocument: on every backend the lines of a document that does not exist are
// refused (the foreign key of document_line_sets; on PostgreSQL with SQLSTATE 23503), a document has
// one set of lines, a document that has lines cannot be deleted, and voiding a document (an UPDATE
// that keeps its id) is allowed. PostgreSQL also keeps migration 3's rule that documents are never
// deleted, renumbered or truncated.
func TestLinesNeedTheirDocument(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			planted(t, s)
			ctx := t.Context()
			refused := func(what string, err error, code string) {
				t.Helper()
				if err == nil {
					t.Errorf("%s: accepted, want it refused", what)
					return
				}
				if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code != code {
					t.Errorf("%s: SQLSTATE %s (%v), want %s", what, pe.Code, err, code)
				}
			}
			refused("the lines of document 2, which does not exist", exec(ctx, s, lineSetInsert(2)), "23503")
			refused("a second set of lines of document 1", exec(ctx, s, lineSetInsert(1)), "23505")
			refused("moving the lines to document 4", exec(ctx, s, `UPDATE document_line_sets SET document_id = 4`), "23503")
			refused("deleting document 1", exec(ctx, s, `DELETE FROM documents WHERE id = 1`), "23503")
			if n := countLines(t, s); n != 1 {
				t.Errorf("%d lines after the refusals, want 1", n)
			}
			if err := exec(ctx, s, `UPDATE documents SET voided_at = '2026-11-02T00:00:00.000000000Z' WHERE id = 1`); err != nil {
				t.Errorf("voiding document 1: %v", err)
			}
			if b.name != "postgres" {
				return
			}
			if err := exec(ctx, s, fmt.Sprintf(plantedDocument, 5, 5, "a5")); err != nil {
				t.Fatal(err)
			}
			refused("deleting document 5, which has no lines", exec(ctx, s, `DELETE FROM documents WHERE id = 5`), "23503")
			refused("renumbering document 5", exec(ctx, s, `UPDATE documents SET id = 6 WHERE id = 5`), "23503")
			refused("truncating documents", exec(ctx, s, `TRUNCATE documents CASCADE`), "23503")
		})
	}
}

// oldLine is a row of the document_lines table of migrations 1–3; nil is NULL.
type oldLine struct {
	doc, pos                                                 int64
	kind, product, baseModel, deployment, meter, description string
	quantity                                                 *string
	unit                                                     string
	unitPrice                                                *string
	unrounded                                                string
	amount                                                   int64
}

// oldLines are lines as migration 3 stored them, with texts that JSON must escape and a discount
// line's NULLs; document 2's are inserted out of order.
var oldLines = []oldLine{
	{1, 0, "serverless", "llama \"3\"", "", "", "input_tokens", "tab\there, line\nbreak, back\\slash, ünïcødé 😀, \x01",
		ptr("1000.5"), "1M tokens", ptr("0.20"), "200.1", 20010},
	{2, 1, "discount", "on_demand", "", "", "discount", "bulk on-demand discount 5%", nil, "", nil, "-1.005", -101},
	{2, 0, "gpu", "h100", "", "dep/1", "gpu_seconds", "h100 on dep/1", ptr("3600"), "GPU-hour", ptr("5.8"), "5.8", 580},
}

// plantOld stores documents 1 and 2 with oldLines in the document_lines table of migration 3.
func plantOld(t *testing.T, s *store.Store) {
	t.Helper()
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1"}, {ID: "a2"}}})
	db := store.DB(s)
	for _, id := range []int{1, 2} {
		if err := exec(t.Context(), s, fmt.Sprintf(plantedDocument, id, id, fmt.Sprintf("a%d", id))); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range oldLines {
		if _, err := db.ExecContext(t.Context(), db.Rebind(`INSERT INTO document_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			l.doc, l.pos, l.kind, l.product, l.baseModel, l.deployment, l.meter, l.description, l.quantity, l.unit,
			l.unitPrice, l.unrounded, l.amount); err != nil {
			t.Fatalf("line %d/%d: %v", l.doc, l.pos, err)
		}
	}
}

// linesTable reads document_lines (the table, or migration 4's view) in order.
func linesTable(t *testing.T, s *store.Store) []oldLine {
	t.Helper()
	rows, err := store.DB(s).QueryContext(t.Context(), `SELECT document_id, position, kind, product, base_model,
		deployment, meter, description, quantity, unit, unit_price, unrounded, amount_cents
		FROM document_lines ORDER BY document_id, position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []oldLine
	for rows.Next() {
		var l oldLine
		if err := rows.Scan(&l.doc, &l.pos, &l.kind, &l.product, &l.baseModel, &l.deployment, &l.meter, &l.description,
			&l.quantity, &l.unit, &l.unitPrice, &l.unrounded, &l.amount); err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func fmtOld(ls []oldLine) string {
	var b strings.Builder
	for _, l := range ls {
		q, p := "NULL", "NULL"
		if l.quantity != nil {
			q = *l.quantity
		}
		if l.unitPrice != nil {
			p = *l.unitPrice
		}
		fmt.Fprintf(&b, "%d/%d %q %q %q %q %q %q %s %q %s %s %d\n", l.doc, l.pos, l.kind, l.product, l.baseModel,
			l.deployment, l.meter, l.description, q, l.unit, p, l.unrounded, l.amount)
	}
	return b.String()
}

// TestLineSetsMigration: migration 4 turns the lines of a database at version 3 into one JSON array
// per document that Documents reads as they were stored, and the document_lines view shows exactly
// the rows the table held; migrating down gives the table back with the same rows, and up again the
// same arrays.
func TestLineSetsMigration(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			ctx := t.Context()
			p, err := store.Migrations(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DownTo(ctx, 3); err != nil {
				t.Fatalf("down to 3: %v", err)
			}
			plantOld(t, s)
			want := []oldLine{oldLines[0], oldLines[2], oldLines[1]} // in (document, position) order
			for round := range 2 {
				if _, err := p.UpTo(ctx, 4); err != nil {
					t.Fatalf("round %d: up to 4: %v", round, err)
				}
				if got := fmtOld(linesTable(t, s)); got != fmtOld(want) {
					t.Errorf("round %d: the document_lines view shows\n%swant\n%s", round, got, fmtOld(want))
				}
				docs, err := s.Documents(ctx, oct)
				if err != nil {
					t.Fatalf("round %d: Documents: %v", round, err)
				}
				if len(docs) != 2 || len(docs[0].Lines) != 1 || len(docs[1].Lines) != 2 {
					t.Fatalf("round %d: Documents = %+v, want documents 1 and 2 with 1 and 2 lines", round, docs)
				}
				for k, l := range []rating.Line{docs[0].Lines[0], docs[1].Lines[0], docs[1].Lines[1]} {
					w := want[k]
					q, pr := decimal.Zero, decimal.Zero
					if w.quantity != nil {
						q, pr = decimal.RequireFromString(*w.quantity), decimal.RequireFromString(*w.unitPrice)
					}
					if string(l.Kind) != w.kind || l.Product != w.product || l.Deployment != w.deployment ||
						string(l.Meter) != w.meter || l.Description != w.description || !l.Quantity.Equal(q) ||
						l.Unit != w.unit || !l.UnitPrice.Equal(pr) || l.Unrounded.String() != w.unrounded || int64(l.Amount) != w.amount {
						t.Errorf("round %d: line %d = %+v, want %s", round, k, l, fmtOld([]oldLine{w}))
					}
				}
				if _, err := p.DownTo(ctx, 3); err != nil {
					t.Fatalf("round %d: down to 3: %v", round, err)
				}
				if got := fmtOld(linesTable(t, s)); got != fmtOld(want) {
					t.Errorf("round %d: after migrating down, document_lines holds\n%swant\n%s", round, got, fmtOld(want))
				}
			}
			if _, err := p.Up(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPostgresLinesMigration: migration 3 on PostgreSQL — down from it gives document_lines its
// foreign key back and removes the checks; up again, over stored lines, swaps them once more and keeps
// the lines; and migration 4 then has a foreign key on document_line_sets and keeps the documents'
// triggers.
func TestPostgresLinesMigration(t *testing.T) {
	s := openPostgres(t)
	ctx := t.Context()
	p, err := store.Migrations(s)
	if err != nil {
		t.Fatal(err)
	}
	state := func(table string) (fk, triggers int) {
		t.Helper()
		db := store.DB(s)
		if err := db.GetContext(ctx, &fk, `SELECT count(*) FROM pg_constraint
			WHERE conrelid = $1::regclass AND contype = 'f'`, table); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(ctx, &triggers, `SELECT count(*) FROM pg_trigger
			WHERE tgrelid IN ($1::regclass, 'documents'::regclass) AND NOT tgisinternal`, table); err != nil {
			t.Fatal(err)
		}
		return fk, triggers
	}
	if fk, tr := state("document_line_sets"); fk != 1 || tr != 2 {
		t.Errorf("migrated: %d foreign keys on document_line_sets, %d triggers; want 1 and 2", fk, tr)
	}
	// This server has lz4 (Debian's PostgreSQL 15 is built with it): the lines use it.
	var compression string
	if err := store.DB(s).GetContext(ctx, &compression, `SELECT attcompression FROM pg_attribute
		WHERE attrelid = 'document_line_sets'::regclass AND attname = 'lines'`); err != nil || compression != "l" {
		t.Errorf("document_line_sets.lines compression = %q, %v; want l (lz4)", compression, err)
	}
	if _, err := p.DownTo(ctx, 3); err != nil {
		t.Fatalf("down to 3: %v", err)
	}
	if fk, tr := state("document_lines"); fk != 0 || tr != 4 {
		t.Errorf("at version 3: %d foreign keys on document_lines, %d triggers; want 0 and 4", fk, tr)
	}
	if _, err := p.DownTo(ctx, 2); err != nil {
		t.Fatalf("down to 2: %v", err)
	}
	if fk, tr := state("document_lines"); fk != 1 || tr != 0 {
		t.Errorf("at version 2: %d foreign keys on document_lines, %d triggers; want 1 and 0", fk, tr)
	}
	plantOld(t, s)
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatalf("up to 3: %v", err)
	}
	if fk, tr := state("document_lines"); fk != 0 || tr != 4 {
		t.Errorf("at version 3 again: %d foreign keys on document_lines, %d triggers; want 0 and 4", fk, tr)
	}
	if n := countLines(t, s); n != len(oldLines) {
		t.Errorf("%d lines after migrating, want the %d stored before", n, len(oldLines))
	}
	if err := exec(ctx, s, `INSERT INTO document_lines VALUES (9, 0, 'serverless', 'm', '', '', 'input_tokens', 'm',
		'1', '1M tokens', '2', '2', 2)`); err == nil {
		t.Errorf("a line of document 9, which does not exist, was accepted at version 3")
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	if n := countLines(t, s); n != len(oldLines) {
		t.Errorf("%d lines at version 4, want %d", n, len(oldLines))
	}
}

// TestLineSetCopyRefused: on PostgreSQL, a COPY of line sets of which one names a document that does
// not exist fails with the foreign key's SQLSTATE and stores none of them; the same COPY for existing
// documents stores them, and Documents reads them back.
func TestLineSetCopyRefused(t *testing.T) {
	s := openPostgres(t)
	ctx := t.Context()
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1"}, {ID: "a2"}}})
	for _, id := range []int{1, 2} {
		if err := exec(ctx, s, fmt.Sprintf(plantedDocument, id, id, fmt.Sprintf("a%d", id))); err != nil {
			t.Fatal(err)
		}
	}
	docs := []*invoices.Document{withLines(invoice("a1", oct, tm("2026-11-01T02:00:00Z"), 0), 3),
		withLines(invoice("a2", oct, tm("2026-11-01T02:00:00Z"), 0), 5)}
	err := store.CopyLineSets(ctx, s, []int64{1, 99}, docs)
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "23503" {
		t.Fatalf("COPY naming document 99: %v, want SQLSTATE 23503", err)
	}
	if n := countLines(t, s); n != 0 {
		t.Fatalf("%d lines stored after the refused COPY, want 0", n)
	}
	if err := store.CopyLineSets(ctx, s, []int64{1, 2}, docs); err != nil {
		t.Fatal(err)
	}
	got, err := s.Documents(ctx, oct)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0].Lines) != 3 || len(got[1].Lines) != 5 {
		t.Fatalf("Documents = %d documents, want 2 with 3 and 5 lines", len(got))
	}
	for i, d := range got {
		for k, l := range d.Lines {
			if w := docs[i].Lines[k]; l.Key() != w.Key() || l.Description != w.Description || !l.Quantity.Equal(w.Quantity) ||
				!l.Unrounded.Equal(w.Unrounded) || l.Amount != w.Amount {
				t.Errorf("document %d line %d = %+v, want %+v", i+1, k, l, w)
			}
		}
	}
}

// TestDerivedDescriptions: lines whose description is the one their other fields give are stored
// with a null description (migration 5), others with their text; the document_lines view, which
// builds the text in SQL, Documents, and — after migrating down to 4, which writes the texts into
// the stored lines — migration 4's view all show every line's description as issued.
func TestDerivedDescriptions(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			ctx := t.Context()
			mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1"}}})
			doc := invoice("a1", oct, time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC), 100)
			l := doc.Lines[0]
			line := func(kind rating.Kind, product, base, deployment string, meter rating.Meter, desc string) rating.Line {
				c := l
				c.Kind, c.Product, c.BaseModel, c.Deployment, c.Meter, c.Description = kind, product, base, deployment, meter, desc
				return c
			}
			doc.Lines = []rating.Line{
				line(rating.KindServerless, "accounts/fireworks/models/qwen3", "", "", rating.MeterOutput,
					"accounts/fireworks/models/qwen3, output tokens"),
				line(rating.KindServerless, "accounts/a1/models/ft", "accounts/fireworks/models/llama", "", rating.MeterBatchCachedInput,
					"accounts/a1/models/ft (priced as accounts/fireworks/models/llama), batch cached input tokens"),
				line(rating.KindServerless, "m", "m", "", rating.MeterCachedInput, "m, cached input tokens"),
				line(rating.KindServerless, `llama "3" ü 'q' \ 😀`, "", "", rating.MeterInput, `llama "3" ü 'q' \ 😀, input tokens`),
				line(rating.KindGPU, "H100-80GB", "", "dep-1", rating.MeterGPUSeconds, "H100-80GB on deployment dep-1, GPU-seconds"),
				line(rating.KindFineTuning, "ftj-1", "accounts/fireworks/models/llama", "", rating.MeterTrainingTokens,
					"fine-tuning job ftj-1 on accounts/fireworks/models/llama, training tokens"),
				line(rating.KindServerless, "m", "", "", rating.MeterInput, "m, input tokens (corrected)"), // not derived
				line(rating.KindDiscount, "on_demand", "", "", rating.MeterDiscount, "bulk on-demand discount 5% of GPU usage 1.00"),
			}
			const derived = 6
			doc.Lines[7].Quantity, doc.Lines[7].UnitPrice = decimal.Zero, decimal.Zero
			mustIssue(t, s, doc)

			nulls := func() int {
				t.Helper()
				var text string
				if err := store.DB(s).GetContext(ctx, &text, `SELECT lines FROM document_line_sets`); err != nil {
					t.Fatal(err)
				}
				var stored [][]any
				if err := json.Unmarshal([]byte(text), &stored); err != nil {
					t.Fatalf("stored lines %s: %v", text, err)
				}
				n := 0
				for _, f := range stored {
					if f[5] == nil {
						n++
					}
				}
				return n
			}
			check := func(when string) {
				t.Helper()
				view := linesTable(t, s)
				if len(view) != len(doc.Lines) {
					t.Fatalf("%s: document_lines has %d rows, want %d", when, len(view), len(doc.Lines))
				}
				docs, err := s.Documents(ctx, oct)
				if err != nil || len(docs) != 1 || len(docs[0].Lines) != len(doc.Lines) {
					t.Fatalf("%s: Documents = %+v, %v", when, docs, err)
				}
				for k, want := range doc.Lines {
					if view[k].description != want.Description {
						t.Errorf("%s: document_lines shows line %d's description as %q, want %q", when, k, view[k].description, want.Description)
					}
					if got := docs[0].Lines[k].Description; got != want.Description {
						t.Errorf("%s: Documents reads line %d's description as %q, want %q", when, k, got, want.Description)
					}
				}
			}
			if n := nulls(); n != derived {
				t.Errorf("%d lines stored without their description, want the %d derived ones", n, derived)
			}
			check("at the latest version")
			p, err := store.Migrations(s)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.DownTo(ctx, 4); err != nil {
				t.Fatalf("down to 4: %v", err)
			}
			if n := nulls(); n != 0 {
				t.Errorf("at version 4: %d lines stored without their description, want none", n)
			}
			check("at version 4")
			if _, err := p.Up(ctx); err != nil {
				t.Fatalf("up: %v", err)
			}
			check("up again")
		})
	}
}
