package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

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

// lineSetRow is a document's lines as stored: a JSON array (linesjson.go).
type lineSetRow struct {
	DocumentID int64  `db:"document_id"`
	Lines      []byte `db:"lines"`
}

type consumptionRow struct {
	DocumentID int64  `db:"document_id"`
	Position   int    `db:"position"`
	GrantID    string `db:"grant_id"`
	Amount     int64  `db:"amount_cents"`
}

// Void marks the effective document number void at voidedAt without a replacement, which returns
// the credits it consumed. It returns an error wrapping invoices.ErrNotFound when there is no such
// document, one wrapping invoices.ErrPaid when a payment paid before voidedAt names it (paidBefore),
// and an error when it is already void or is a credit note (whose grant may be spent).
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
		p, err := rating.ParsePeriod(d.Period)
		if err != nil {
			return err
		}
		if err := s.checkFences(ctx, tx, p); err != nil {
			return err
		}
		if err := s.paidBefore(ctx, tx, d, voidedAt); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE documents SET voided_at = ? WHERE id = ?`), fmtTime(voidedAt), d.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: void %s: %w", number, err)
	}
	return nil
}

// paidBefore returns an error wrapping invoices.ErrPaid when payments of d's account paid before at
// name d (invoices.Document.PaidBy's rule), read in tx, which voids d. Only a document without a
// payment is voided (DESIGN §8, §11); a rerun decides so from the payments it read before it began
// correcting, and one recorded since would stay on the void document while the replacement bills
// the full amount again.
func (s *Store) paidBefore(ctx context.Context, tx *sqlx.Tx, d docRow, at time.Time) error {
	var paid int64
	if err := tx.GetContext(ctx, &paid, s.q(`SELECT CAST(COALESCE(SUM(amount_cents), 0) AS BIGINT) FROM payments
		WHERE invoice = ? AND account_id = ? AND `+s.bytewise("paid_at")+` < ?`), d.Number, d.AccountID, fmtTime(at)); err != nil {
		return fmt.Errorf("payments of %s: %w", d.Number, err)
	}
	if paid > 0 {
		return fmt.Errorf("%s: %s paid before %s: %w", d.Number, rating.Cents(paid), fmtTime(at), invoices.ErrPaid)
	}
	return nil
}

// lockDocument reads the document numbered number, locking its row on PostgreSQL until the
// transaction ends. It returns invoices.ErrNotFound when there is none.
func (s *Store) lockDocument(ctx context.Context, tx *sqlx.Tx, number string) (docRow, error) {
	var r docRow
	err := tx.GetContext(ctx, &r, s.q(`SELECT `+docColumns+` FROM documents WHERE number = ?`+s.forUpdate()), number)
	return r, notFound(err)
}

// Documents returns the documents of period p, void ones included, with their lines (in stored order)
// and consumptions, ordered by issue order (id).
func (s *Store) Documents(ctx context.Context, p rating.Period) ([]invoices.Document, error) {
	var docs []docRow
	var lines []lineSetRow
	var cons []consumptionRow
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &docs, s.q(`SELECT `+docColumns+` FROM documents WHERE period = ? ORDER BY id`),
			p.String()); err != nil {
			return err
		}
		if len(docs) == 0 {
			return nil
		}
		// SQLite joins on the period through documents_period and each table's primary key.
		// PostgreSQL is given the documents' ids instead: joined on the period, with a freshly written
		// table and no statistics yet, it scanned every line of every period (in parallel workers whose
		// start-up alone cost ~30 ms) where the primary key finds the period's lines directly.
		of, arg := `JOIN documents d ON d.id = t.document_id WHERE d.period = ?`, any(p.String())
		if s.dialect == dialectPostgres {
			ids := make([]int64, len(docs))
			for i, d := range docs {
				ids[i] = d.ID
			}
			of, arg = `WHERE t.document_id = ANY(?)`, ids
		}
		if err := tx.SelectContext(ctx, &lines, s.q(`SELECT t.document_id, t.lines
			FROM document_line_sets t `+of+` ORDER BY t.document_id`), arg); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &cons, s.q(`SELECT t.document_id, t.position, t.grant_id, t.amount_cents
			FROM consumptions t `+of+` ORDER BY t.document_id, t.position`), arg)
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
	texts := map[string]string{} // the lines' texts, one copy of each for the period
	for _, r := range lines {
		d := index[r.DocumentID]
		if d.Lines, err = parseLinesJSONShared(r.Lines, texts); err != nil {
			return nil, fmt.Errorf("store: documents %s: %s lines: %w", p, d.Number, err)
		}
	}
	for _, r := range cons {
		d := index[r.DocumentID]
		d.Consumptions = append(d.Consumptions, invoices.Consumption{GrantID: r.GrantID, Amount: rating.Cents(r.Amount)})
	}
	return out, nil
}

// ConsumedAt returns, per grant id, the credits consumed at at: by the documents issued at or before it
// and not voided by then.
func (s *Store) ConsumedAt(ctx context.Context, at time.Time) (map[string]rating.Cents, error) {
	t := fmtTime(at)
	out, err := s.consumptionsWhere(ctx, `d.issued_at <= ? AND (d.voided_at IS NULL OR d.voided_at > ?)`, t, t)
	if err != nil {
		return nil, fmt.Errorf("store: consumptions at %s: %w", t, err)
	}
	return out, nil
}

// PeriodConsumptions returns, per grant id, the credits the effective documents of period p consumed.
func (s *Store) PeriodConsumptions(ctx context.Context, p rating.Period) (map[string]rating.Cents, error) {
	out, err := s.consumptionsWhere(ctx, `d.period = ? AND d.voided_at IS NULL`, p.String())
	if err != nil {
		return nil, fmt.Errorf("store: consumptions of %s: %w", p, err)
	}
	return out, nil
}

// consumptionsWhere sums, per grant id, the consumptions of the documents d that where selects.
func (s *Store) consumptionsWhere(ctx context.Context, where string, args ...any) (map[string]rating.Cents, error) {
	var rows []struct {
		GrantID string `db:"grant_id"`
		Amount  int64  `db:"amount_cents"`
	}
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		return tx.SelectContext(ctx, &rows, s.q(`SELECT c.grant_id, CAST(SUM(c.amount_cents) AS BIGINT) AS amount_cents
			FROM consumptions c JOIN documents d ON d.id = c.document_id
			WHERE `+where+` GROUP BY c.grant_id`), args...)
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]rating.Cents, len(rows))
	for _, r := range rows {
		out[r.GrantID] = rating.Cents(r.Amount)
	}
	return out, nil
}

// OpenDocumentsAt returns the invoices and supplementary invoices of any period with an amount due
// above zero that were effective at at — issued at or before it and not voided by then — as they
// stood at at (a document voided later comes back without its void), without lines or consumptions,
// ordered by id.
func (s *Store) OpenDocumentsAt(ctx context.Context, at time.Time) ([]invoices.Document, error) {
	var rows []docRow
	t := fmtTime(at)
	if err := s.db.SelectContext(ctx, &rows, s.q(`SELECT `+docColumns+` FROM documents
		WHERE kind IN (?, ?) AND amount_due_cents > 0 AND issued_at <= ? AND (voided_at IS NULL OR voided_at > ?)
		ORDER BY id`),
		string(invoices.KindInvoice), string(invoices.KindSupplementary), t, t); err != nil {
		return nil, fmt.Errorf("store: open documents: %w", err)
	}
	for i := range rows {
		rows[i].VoidedAt = sql.NullString{}
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
