package invoices

import (
	"time"

	"billrun/rating"
)

// DocKind is the kind of an issued document.
type DocKind string

// The document kinds of DESIGN §11.
const (
	KindInvoice       DocKind = "invoice"
	KindSupplementary DocKind = "supplementary"
	KindCreditNote    DocKind = "credit_note"
)

// Status is a document's status as seen at some time.
type Status string

// Document statuses.
const (
	StatusDraft  Status = "draft"
	StatusOpen   Status = "open"
	StatusPaid   Status = "paid"
	StatusVoid   Status = "void"
	StatusIssued Status = "issued" // credit notes
)

// Document is an invoice, supplementary invoice or credit note for one account and period. Issued
// documents are immutable; only VoidedAt is ever set later, by a replacement.
type Document struct {
	ID       int64
	Number   string // empty for a draft
	Account  string
	Period   rating.Period
	Kind     DocKind
	Replaces string // the voided invoice a replacement stands for
	Corrects string // the original a supplementary invoice or credit note corrects
	IssuedAt time.Time
	DueAt    *time.Time // nil for credit notes and drafts
	VoidedAt *time.Time
	RunID    string
	Lines    []rating.Line
	// LineCount is how many lines the document has when Lines was left unread: a report that
	// streams a period's lines reads its documents without them first. See NumLines.
	LineCount      int
	Subtotal       rating.Cents // sum of lines, discount included
	Discount       rating.Cents // sum of discount lines (≤ 0)
	CreditsApplied rating.Cents
	AmountDue      rating.Cents // subtotal − credits applied, fixed at issue
	Consumptions   []Consumption
}

// Consumption is the part of one grant a document consumed.
type Consumption struct {
	GrantID string
	Amount  rating.Cents
}

// NumLines returns how many lines the document has: those in Lines, or LineCount when they were
// left unread.
func (d *Document) NumLines() int {
	if d.Lines == nil {
		return d.LineCount
	}
	return len(d.Lines)
}

// Effective reports whether the document counts (is not void).
func (d *Document) Effective() bool { return d.VoidedAt == nil }

// PaidBy returns the sum of payments naming the document with paid_at before at (uncapped).
func (d *Document) PaidBy(payments []Payment, at time.Time) rating.Cents {
	var sum rating.Cents
	for _, p := range payments {
		// Only the account's own payments: one that names another account's invoice pays nothing.
		if p.Invoice != "" && p.Invoice == d.Number && p.Account == d.Account && p.PaidAt.Before(at) {
			sum += p.Amount
		}
	}
	return sum
}

// StatusAt returns the document's status at `at` given the payments it has received by then.
func (d *Document) StatusAt(paid rating.Cents) Status {
	switch {
	case d.Number == "":
		return StatusDraft
	case d.VoidedAt != nil:
		return StatusVoid
	case d.Kind == KindCreditNote:
		return StatusIssued
	case paid >= d.AmountDue:
		return StatusPaid
	}
	return StatusOpen
}

// PastDue reports whether the document still has an amount due after its due date at `at`.
func (d *Document) PastDue(paid rating.Cents, at time.Time) bool {
	return d.Effective() && d.Kind != KindCreditNote && d.DueAt != nil && at.After(*d.DueAt) && paid < d.AmountDue
}
