package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"billrun/invoices"
	"billrun/rating"
)

type docRow struct {
	ID             int64          `db:"id"`
	Number         string         `db:"number"`
	AccountID      string         `db:"account_id"`
	Period         string         `db:"period"`
	Kind           string         `db:"kind"`
	Replaces       string         `db:"replaces"`
	Corrects       string         `db:"corrects"`
	IssuedAt       string         `db:"issued_at"`
	DueAt          sql.NullString `db:"due_at"`
	VoidedAt       sql.NullString `db:"voided_at"`
	RunID          string         `db:"run_id"`
	Subtotal       int64          `db:"subtotal_cents"`
	Discount       int64          `db:"discount_cents"`
	CreditsApplied int64          `db:"credits_applied_cents"`
	AmountDue      int64          `db:"amount_due_cents"`
}

const docColumns = `id, number, account_id, period, kind, replaces, corrects, issued_at, due_at, voided_at, run_id,
	subtotal_cents, discount_cents, credits_applied_cents, amount_due_cents`

type lineRow struct {
	DocumentID  int64          `db:"document_id"`
	Position    int            `db:"position"`
	Kind        string         `db:"kind"`
	Product     string         `db:"product"`
	BaseModel   string         `db:"base_model"`
	Deployment  string         `db:"deployment"`
	Meter       string         `db:"meter"`
	Description string         `db:"description"`
	Quantity    sql.NullString `db:"quantity"`
	Unit        string         `db:"unit"`
	UnitPrice   sql.NullString `db:"unit_price"`
	Unrounded   string         `db:"unrounded"`
	Amount      int64          `db:"amount_cents"`
}

type consumptionRow struct {
	DocumentID int64  `db:"document_id"`
	Position   int    `db:"position"`
	GrantID    string `db:"grant_id"`
	Amount     int64  `db:"amount_cents"`
}

// series returns the numbering prefix and year of a document.
func series(doc *invoices.Document) (string, int) {
	if doc.Kind == invoices.KindCreditNote {
		return "CN", doc.IssuedAt.UTC().Year()
	}
	return "INV", doc.IssuedAt.UTC().Year()
}

func validateIssue(doc *invoices.Document) error {
	switch {
	case doc.Number != "":
		return fmt.Errorf("document already has number %s", doc.Number)
	case doc.Account == "":
		return errors.New("document without account")
	case doc.Period.IsZero():
		return errors.New("document without period")
	case doc.IssuedAt.IsZero():
		return errors.New("document without issue time")
	case doc.Kind != invoices.KindInvoice && doc.Kind != invoices.KindSupplementary && doc.Kind != invoices.KindCreditNote:
		return fmt.Errorf("unknown document kind %q", doc.Kind)
	case doc.Replaces != "" && doc.Kind != invoices.KindInvoice:
		return fmt.Errorf("a %s cannot replace %s", doc.Kind, doc.Replaces)
	case doc.Kind == invoices.KindCreditNote && doc.Subtotal >= 0:
		return fmt.Errorf("credit note subtotal %s is not negative", doc.Subtotal)
	}
	var consumed rating.Cents
	for _, c := range doc.Consumptions {
		if c.Amount <= 0 {
			return fmt.Errorf("consumption of grant %s is %s", c.GrantID, c.Amount)
		}
		consumed += c.Amount
	}
	if consumed != doc.CreditsApplied {
		return fmt.Errorf("consumptions sum to %s, credits applied are %s", consumed, doc.CreditsApplied)
	}
	return nil
}

// Issue inserts doc in one transaction (committed asynchronously on PostgreSQL; see below): it voids doc.Replaces (voided_at = doc.IssuedAt) when set,
// takes the next number of the series (INV or CN, year of doc.IssuedAt in UTC) from its counter row,
// stores the document with its lines and consumptions and, for a credit note, creates its
// credit_note grant (id and source = the credit note's number, amount = −subtotal, granted at issue,
// never expiring). On success it sets doc.ID and doc.Number.
//
// Nothing is written when it fails. It returns an error wrapping invoices.ErrAlreadyIssued when the
// account already has an effective original invoice for the period (the database's unique index
// decides) or doc.Replaces is already void, one wrapping invoices.ErrNotFound when doc.Replaces does
// not exist, and an error when a consumption names another account's grant or would overdraw it.
func (s *Store) Issue(ctx context.Context, doc *invoices.Document) error {
	if err := validateIssue(doc); err != nil {
		return fmt.Errorf("store: issue %s for %s %s: %w", doc.Kind, doc.Account, doc.Period, err)
	}
	prefix, year := series(doc)
	var id int64
	var number string
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		if s.dialect == dialectPostgres {
			// A close issues thousands of documents, one transaction each; waiting for the WAL flush
			// of every one would dominate it. An asynchronous commit can only lose a suffix of the
			// latest transactions in a server crash (never half of one, never out of order), which a
			// rerun of the idempotent close reissues with the same numbers; and the run's next
			// synchronous commit (saving standing, before any export is written) flushes them all.
			if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit TO OFF`); err != nil {
				return err
			}
		}
		if doc.Replaces != "" {
			if err := s.voidReplaced(ctx, tx, doc); err != nil {
				return err
			}
		}
		var n int64
		if err := tx.GetContext(ctx, &n, s.q(`INSERT INTO counters (prefix, year, last_number) VALUES (?, ?, 1)
			ON CONFLICT (prefix, year) DO UPDATE SET last_number = counters.last_number + 1
			RETURNING last_number`), prefix, year); err != nil {
			return fmt.Errorf("counter %s-%04d: %w", prefix, year, err)
		}
		number = fmt.Sprintf("%s-%04d-%06d", prefix, year, n)
		err := tx.GetContext(ctx, &id, s.q(`INSERT INTO documents (number, account_id, period, kind, replaces, corrects,
				issued_at, due_at, voided_at, run_id, subtotal_cents, discount_cents, credits_applied_cents, amount_due_cents)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?) RETURNING id`),
			number, doc.Account, doc.Period.String(), string(doc.Kind), doc.Replaces, doc.Corrects,
			fmtTime(doc.IssuedAt), fmtTimePtr(doc.DueAt), doc.RunID,
			int64(doc.Subtotal), int64(doc.Discount), int64(doc.CreditsApplied), int64(doc.AmountDue))
		if isUniqueViolation(err) {
			return fmt.Errorf("effective invoice exists: %w", invoices.ErrAlreadyIssued)
		}
		if err != nil {
			return err
		}
		if err := s.insertLines(ctx, tx, id, doc.Lines); err != nil {
			return err
		}
		if err := s.insertConsumptions(ctx, tx, id, doc); err != nil {
			return err
		}
		if doc.Kind == invoices.KindCreditNote {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO grants (id, account_id, kind, amount_cents, granted_at, expires_at, source)
				VALUES (?, ?, ?, ?, ?, NULL, ?)`), number, doc.Account, string(invoices.GrantCreditNote),
				int64(-doc.Subtotal), fmtTime(doc.IssuedAt), number); err != nil {
				return fmt.Errorf("credit note grant: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: issue %s for %s %s: %w", doc.Kind, doc.Account, doc.Period, err)
	}
	doc.ID, doc.Number = id, number
	return nil
}

// voidReplaced voids the original invoice a replacement stands for, at the replacement's issue time.
func (s *Store) voidReplaced(ctx context.Context, tx *sqlx.Tx, doc *invoices.Document) error {
	old, err := s.lockDocument(ctx, tx, doc.Replaces)
	if err != nil {
		return fmt.Errorf("replaces %s: %w", doc.Replaces, err)
	}
	switch {
	case old.AccountID != doc.Account || old.Period != doc.Period.String():
		return fmt.Errorf("replaces %s of %s %s: another account or period", old.Number, old.AccountID, old.Period)
	case old.Kind != string(invoices.KindInvoice):
		return fmt.Errorf("replaces %s: a %s, not an invoice", old.Number, old.Kind)
	case old.VoidedAt.Valid:
		return fmt.Errorf("replaces %s: void since %s: %w", old.Number, old.VoidedAt.String, invoices.ErrAlreadyIssued)
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE documents SET voided_at = ? WHERE id = ?`), fmtTime(doc.IssuedAt), old.ID)
	return err
}

func (s *Store) lockDocument(ctx context.Context, tx *sqlx.Tx, number string) (docRow, error) {
	var r docRow
	err := tx.GetContext(ctx, &r, s.q(`SELECT `+docColumns+` FROM documents WHERE number = ?`+s.forUpdate()), number)
	return r, notFound(err)
}

// linesPerInsert is how many lines one INSERT statement carries (13 parameters each, well below
// SQLite's and PostgreSQL's parameter limits): a document's lines cost one round trip per batch, not
// one per line.
const linesPerInsert = 200

const lineInsertColumns = `INSERT INTO document_lines (document_id, position, kind, product, base_model, deployment,
	meter, description, quantity, unit, unit_price, unrounded, amount_cents) VALUES `

func (s *Store) insertLines(ctx context.Context, tx *sqlx.Tx, docID int64, lines []rating.Line) error {
	args := make([]any, 0, 13*min(len(lines), linesPerInsert))
	for start := 0; start < len(lines); start += linesPerInsert {
		chunk := lines[start:min(start+linesPerInsert, len(lines))]
		args = args[:0]
		for i, l := range chunk {
			qty, price := sql.NullString{String: l.Quantity.String(), Valid: true}, sql.NullString{String: l.UnitPrice.String(), Valid: true}
			if l.Kind == rating.KindDiscount {
				// A discount line has no quantity or unit price: NULL, read back as zero.
				qty.Valid = !l.Quantity.IsZero()
				price.Valid = !l.UnitPrice.IsZero()
			}
			args = append(args, docID, start+i, string(l.Kind), l.Product, l.BaseModel, l.Deployment,
				string(l.Meter), l.Description, qty, l.Unit, price, l.Unrounded.String(), int64(l.Amount))
		}
		if _, err := tx.ExecContext(ctx, s.q(lineInsertColumns+valuesList(len(chunk), 13)), args...); err != nil {
			return fmt.Errorf("lines %d–%d: %w", start+1, start+len(chunk), err)
		}
	}
	return nil
}

// valuesList returns "(?, …), (?, …)" for rows rows of cols placeholders each.
func valuesList(rows, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

func (s *Store) insertConsumptions(ctx context.Context, tx *sqlx.Tx, docID int64, doc *invoices.Document) error {
	for i, c := range doc.Consumptions {
		var g grantRow
		err := tx.GetContext(ctx, &g, s.q(`SELECT id, account_id, kind, amount_cents, granted_at, expires_at, source,
			0 AS consumed_cents FROM grants WHERE id = ?`+s.forUpdate()), c.GrantID)
		if err != nil {
			return fmt.Errorf("grant %s: %w", c.GrantID, notFound(err))
		}
		if g.AccountID != doc.Account {
			return fmt.Errorf("grant %s belongs to account %s", c.GrantID, g.AccountID)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO consumptions (document_id, position, grant_id, amount_cents)
			VALUES (?, ?, ?, ?)`), docID, i, c.GrantID, int64(c.Amount)); err != nil {
			return fmt.Errorf("grant %s: %w", c.GrantID, err)
		}
		used, err := s.consumed(ctx, tx, c.GrantID)
		if err != nil {
			return fmt.Errorf("grant %s: %w", c.GrantID, err)
		}
		if used > rating.Cents(g.Amount) {
			return fmt.Errorf("grant %s overdrawn: %s consumed of %s", c.GrantID, used, rating.Cents(g.Amount))
		}
	}
	return nil
}

// Void marks the effective document number void at voidedAt without a replacement, which returns
// the credits it consumed. It returns an error wrapping invoices.ErrNotFound when there is no such
// document, and an error when it is already void or is a credit note (whose grant may be spent).
func (s *Store) Void(ctx context.Context, number string, voidedAt time.Time) error {
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		d, err := s.lockDocument(ctx, tx, number)
		switch {
		case err != nil:
			return err
		case d.VoidedAt.Valid:
			return fmt.Errorf("already void since %s", d.VoidedAt.String)
		case d.Kind == string(invoices.KindCreditNote):
			return errors.New("a credit note cannot be voided")
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE documents SET voided_at = ? WHERE id = ?`), fmtTime(voidedAt), d.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: void %s: %w", number, err)
	}
	return nil
}

// Documents returns the documents of period p, void ones included, with their lines (in stored order)
// and consumptions, ordered by issue order (id).
func (s *Store) Documents(ctx context.Context, p rating.Period) ([]invoices.Document, error) {
	var docs []docRow
	var lines []lineRow
	var cons []consumptionRow
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &docs, s.q(`SELECT `+docColumns+` FROM documents WHERE period = ? ORDER BY id`),
			p.String()); err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &lines, s.q(`SELECT l.document_id, l.position, l.kind, l.product, l.base_model,
				l.deployment, l.meter, l.description, l.quantity, l.unit, l.unit_price, l.unrounded, l.amount_cents
			FROM document_lines l JOIN documents d ON d.id = l.document_id
			WHERE d.period = ? ORDER BY l.document_id, l.position`), p.String()); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &cons, s.q(`SELECT c.document_id, c.position, c.grant_id, c.amount_cents
			FROM consumptions c JOIN documents d ON d.id = c.document_id
			WHERE d.period = ? ORDER BY c.document_id, c.position`), p.String())
	})
	if err != nil {
		return nil, fmt.Errorf("store: documents %s: %w", p, err)
	}
	out := make([]invoices.Document, len(docs))
	index := make(map[int64]*invoices.Document, len(docs))
	for i, r := range docs {
		d, err := r.document()
		if err != nil {
			return nil, fmt.Errorf("store: documents %s: %s: %w", p, r.Number, err)
		}
		out[i] = d
		index[r.ID] = &out[i]
	}
	for _, r := range lines {
		l, err := r.line()
		if err != nil {
			return nil, fmt.Errorf("store: documents %s: document %d line %d: %w", p, r.DocumentID, r.Position+1, err)
		}
		d := index[r.DocumentID]
		d.Lines = append(d.Lines, l)
	}
	for _, r := range cons {
		d := index[r.DocumentID]
		d.Consumptions = append(d.Consumptions, invoices.Consumption{GrantID: r.GrantID, Amount: rating.Cents(r.Amount)})
	}
	return out, nil
}

// OpenDocuments returns every effective invoice or supplementary invoice of any period with an amount
// due above zero, without lines or consumptions, ordered by id.
func (s *Store) OpenDocuments(ctx context.Context) ([]invoices.Document, error) {
	var rows []docRow
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT `+docColumns+` FROM documents
		WHERE voided_at IS NULL AND kind IN (?, ?) AND amount_due_cents > 0 ORDER BY id`),
		string(invoices.KindInvoice), string(invoices.KindSupplementary)); err != nil {
		return nil, fmt.Errorf("store: open documents: %w", err)
	}
	out := make([]invoices.Document, len(rows))
	for i, r := range rows {
		d, err := r.document()
		if err != nil {
			return nil, fmt.Errorf("store: open documents: %s: %w", r.Number, err)
		}
		out[i] = d
	}
	return out, nil
}

func (r docRow) document() (invoices.Document, error) {
	p, err := rating.ParsePeriod(r.Period)
	if err != nil {
		return invoices.Document{}, err
	}
	issued, err := parseTime(r.IssuedAt)
	if err != nil {
		return invoices.Document{}, err
	}
	due, err := parseTimePtr(r.DueAt)
	if err != nil {
		return invoices.Document{}, err
	}
	voided, err := parseTimePtr(r.VoidedAt)
	if err != nil {
		return invoices.Document{}, err
	}
	return invoices.Document{ID: r.ID, Number: r.Number, Account: r.AccountID, Period: p,
		Kind: invoices.DocKind(r.Kind), Replaces: r.Replaces, Corrects: r.Corrects, IssuedAt: issued,
		DueAt: due, VoidedAt: voided, RunID: r.RunID, Subtotal: rating.Cents(r.Subtotal),
		Discount: rating.Cents(r.Discount), CreditsApplied: rating.Cents(r.CreditsApplied),
		AmountDue: rating.Cents(r.AmountDue)}, nil
}

func (r lineRow) line() (rating.Line, error) {
	qty, err := nullDecimal(r.Quantity)
	if err != nil {
		return rating.Line{}, fmt.Errorf("quantity: %w", err)
	}
	price, err := nullDecimal(r.UnitPrice)
	if err != nil {
		return rating.Line{}, fmt.Errorf("unit price: %w", err)
	}
	unrounded, err := decimal.NewFromString(r.Unrounded)
	if err != nil {
		return rating.Line{}, fmt.Errorf("unrounded: %w", err)
	}
	return rating.Line{Kind: rating.Kind(r.Kind), Product: r.Product, BaseModel: r.BaseModel,
		Deployment: r.Deployment, Meter: rating.Meter(r.Meter), Description: r.Description, Quantity: qty,
		Unit: r.Unit, UnitPrice: price, Unrounded: unrounded, Amount: rating.Cents(r.Amount)}, nil
}

func nullDecimal(s sql.NullString) (decimal.Decimal, error) {
	if !s.Valid {
		return decimal.Zero, nil
	}
	return decimal.NewFromString(s.String)
}
