package invoices

import (
	"time"

	"billrun/rating"
)

// Terms is what issuing needs from the price book's policy.
type Terms struct {
	PaymentTermsDays int
}

// DraftInvoice assembles the invoice of one account and period (DESIGN §6): the rated usage lines, the
// discount line if any, subtotal, credits applied from grants (recorded on them), amount due and due
// date. It returns false when there are no lines (no usage, no invoice).
func DraftInvoice(account string, p rating.Period, lines []rating.Line, grants []Grant, issuedAt time.Time, terms Terms) (Document, bool) {
	if len(lines) == 0 {
		return Document{}, false
	}
	doc := Document{Account: account, Period: p, Kind: KindInvoice, IssuedAt: issuedAt.UTC(), Lines: lines}
	doc.total()
	doc.Consumptions = ApplyCredits(grants, p, doc.Subtotal)
	for _, c := range doc.Consumptions {
		doc.CreditsApplied += c.Amount
	}
	doc.AmountDue = doc.Subtotal - doc.CreditsApplied
	due := doc.IssuedAt.Add(time.Duration(terms.PaymentTermsDays) * 24 * time.Hour)
	doc.DueAt = &due
	return doc, true
}

// total sets Subtotal and Discount from the lines.
func (d *Document) total() {
	d.Subtotal, d.Discount = 0, 0
	for _, l := range d.Lines {
		d.Subtotal += l.Amount
		if l.Kind == rating.KindDiscount {
			d.Discount += l.Amount
		}
	}
}

// NumberPrefix returns the numbering series of a document kind: INV for invoices and supplementary
// invoices, CN for credit notes.
func NumberPrefix(k DocKind) string {
	if k == KindCreditNote {
		return "CN"
	}
	return "INV"
}
