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
	var out []invoices.Document
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		var err error
		if out, err = s.documentHeaders(ctx, tx, p, false); err != nil || len(out) == 0 {
			return err
		}
		i := 0
		return s.eachLineSet(ctx, tx, p, out, func(id int64, lines []rating.Line) error {
			for i < len(out) && out[i].ID != id { // both in id order
				i++
			}
			if i == len(out) {
				return fmt.Errorf("lines of document %d, not of the period", id)
			}
			out[i].Lines = lines
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: documents %s: %w", p, err)
	}
	return out, nil
}

// DocumentHeaders returns the documents of period p as Documents does but without their lines: each
// has its LineCount instead. A report streams the period's lines after them with EachDocumentLines,
// so that its memory grows with the period's documents, not with their lines.
func (s *Store) DocumentHeaders(ctx context.Context, p rating.Period) ([]invoices.Document, error) {
	var out []invoices.Document
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		var err error
		out, err = s.documentHeaders(ctx, tx, p, true)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: document headers %s: %w", p, err)
	}
	return out, nil
}

// EachDocumentLines calls fn with the id and lines of each document of period p that has lines, in
// issue order (id), as it reads them: no more than one document's lines are held at a time. The lines'
// texts are shared between documents as in Documents. fn runs inside the store's read transaction
// and must not use the store; an error from it stops the read and is returned.
func (s *Store) EachDocumentLines(ctx context.Context, p rating.Period, fn func(id int64, lines []rating.Line) error) error {
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		var docs []invoices.Document
		if s.dialect == dialectPostgres { // periodOf names them by id
			var ids []int64
			if err := tx.SelectContext(ctx, &ids, s.q(`SELECT id FROM documents WHERE period = ? ORDER BY id`), p.String()); err != nil {
				return err
			}
			docs = make([]invoices.Document, len(ids))
			for i, id := range ids {
				docs[i].ID = id
			}
		}
		return s.eachLineSet(ctx, tx, p, docs, fn)
	})
	if err != nil {
		return fmt.Errorf("store: document lines %s: %w", p, err)
	}
	return nil
}

// documentHeaders reads the documents of period p with their consumptions but not their lines, in id
// order; with counts, each with its LineCount.
func (s *Store) documentHeaders(ctx context.Context, tx *sqlx.Tx, p rating.Period, counts bool) ([]invoices.Document, error) {
	var docs []docRow
	if err := tx.SelectContext(ctx, &docs, s.q(`SELECT `+docColumns+` FROM documents WHERE period = ? ORDER BY id`),
		p.String()); err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, nil
	}
	out := make([]invoices.Document, len(docs))
	index := make(map[int64]*invoices.Document, len(docs))
	for i, r := range docs {
		d, err := r.document()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Number, err)
		}
		out[i] = d
		index[r.ID] = &out[i]
	}
	of, arg := s.periodOf(p, out)
	var cons []consumptionRow
	if err := tx.SelectContext(ctx, &cons, s.q(`SELECT t.document_id, t.position, t.grant_id, t.amount_cents
		FROM consumptions t `+of+` ORDER BY t.document_id, t.position`), arg); err != nil {
		return nil, err
	}
	for _, r := range cons {
		d := index[r.DocumentID]
		d.Consumptions = append(d.Consumptions, invoices.Consumption{GrantID: r.GrantID, Amount: rating.Cents(r.Amount)})
	}
	if !counts {
		return out, nil
	}
	lines := `t.lines`
	if s.dialect == dialectPostgres {
		lines = `t.lines::json` // stored as text (migration 5)
	}
	var n []struct {
		DocumentID int64 `db:"document_id"`
		Lines      int   `db:"n"`
	}
	if err := tx.SelectContext(ctx, &n, s.q(`SELECT t.document_id, json_array_length(`+lines+`) AS n
		FROM document_line_sets t `+of), arg); err != nil {
		return nil, err
	}
	for _, r := range n {
		index[r.DocumentID].LineCount = r.Lines
	}
	return out, nil
}

// periodOf returns the condition that selects, from a table t with a document_id column, the rows of
// period p's documents docs, and its argument. SQLite joins on the period through documents_period and
// each table's primary key. PostgreSQL is given the documents' ids instead: joined on the period, with
// a freshly written table and no statistics yet, it scanned every line of every period (in parallel
// workers whose start-up alone cost ~30 ms) where the primary key finds the period's lines directly.
func (s *Store) periodOf(p rating.Period, docs []invoices.Document) (string, any) {
	if s.dialect != dialectPostgres {
		return `JOIN documents d ON d.id = t.document_id WHERE d.period = ?`, p.String()
	}
	ids := make([]int64, len(docs))
	for i := range docs {
		ids[i] = docs[i].ID
	}
	return `WHERE t.document_id = ANY(?)`, ids
}

// maxSharedTexts is how many texts the lines read by eachLineSet share at most: a period's lines
// repeat a few hundred texts (models, meters, units, their descriptions) hundreds of thousands of
// times, but GPU deployments and fine-tuning jobs are texts of their own, as many as the period has,
// and a streamed export must not keep them all. Past the bound the texts start afresh, and the
// frequent ones are shared again from their next line on.
const maxSharedTexts = 4096

// eachLineSet reads the line sets of period p's documents docs (on PostgreSQL, periodOf needs their
// ids) in id order, one row at a time, and calls fn with each document's lines; the lines of the
// documents share their texts.
func (s *Store) eachLineSet(ctx context.Context, tx *sqlx.Tx, p rating.Period, docs []invoices.Document, fn func(id int64, lines []rating.Line) error) error {
	if s.dialect == dialectPostgres && len(docs) == 0 {
		return nil
	}
	of, arg := s.periodOf(p, docs)
	rows, err := tx.QueryContext(ctx, s.q(`SELECT t.document_id, t.lines FROM document_line_sets t `+of+` ORDER BY t.document_id`), arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	texts := map[string]string{} // the lines' texts, one copy of each while it holds few enough
	for rows.Next() {
		if len(texts) > maxSharedTexts {
			clear(texts)
		}
		var id int64
		var raw sql.RawBytes // parsed before the next row: the lines copy what they keep
		if err := rows.Scan(&id, &raw); err != nil {
			return err
		}
		lines, err := parseLinesJSONShared(raw, texts)
		if err != nil {
			return fmt.Errorf("document %d lines: %w", id, err)
		}
		if err := fn(id, lines); err != nil {
			return err
		}
	}
	return rows.Err()
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
