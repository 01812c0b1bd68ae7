package invoices

import (
	"fmt"
	"strings"
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
	doc.ApplyCredits(grants)
	due := doc.IssuedAt.Add(time.Duration(terms.PaymentTermsDays) * 24 * time.Hour)
	doc.DueAt = &due
	return doc, true
}

// ApplyCredits applies credits from grants, the account's, to the invoice (DESIGN §6 steps 4 and 5):
// it sets Consumptions, CreditsApplied and AmountDue from the subtotal, recording the consumption on
// the grants. A close whose grants another run consumed meanwhile applies them again this way.
func (d *Document) ApplyCredits(grants []Grant) {
	d.Consumptions = ApplyCredits(grants, d.Period, d.Subtotal)
	d.CreditsApplied = 0
	for _, c := range d.Consumptions {
		d.CreditsApplied += c.Amount
	}
	d.AmountDue = d.Subtotal - d.CreditsApplied
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

// CreditNoteNumberLike reports whether id has the form of a credit note's number, CN-YYYY-NNNNNN: the
// id of the grant a credit note creates (DESIGN §8). Imported grants may not take such an id: they
// would take over a credit note's grant, or keep the credit note that needs the id from being issued.
func CreditNoteNumberLike(id string) bool {
	const form = "CN-YYYY-NNNNNN"
	if len(id) != len(form) || !strings.HasPrefix(id, "CN-") || id[7] != '-' {
		return false
	}
	for i := 3; i < len(id); i++ {
		if i != 7 && (id[i] < '0' || id[i] > '9') {
			return false
		}
	}
	return true
}

// CheckAmounts returns CheckLineAmounts of d's lines: a document that fails it is never issued.
func (d *Document) CheckAmounts() error { return CheckLineAmounts(d.Lines) }

// CheckLineAmounts returns an error naming the first line whose amount is beyond what Cents hold —
// one rating.RoundCents clamped — or at which the lines' sum would be (a unit price of 10^20 would
// otherwise bill a wrapped-around amount).
func CheckLineAmounts(lines []rating.Line) error {
	var sum rating.Cents
	for i := range lines {
		l := &lines[i]
		var ok bool
		if sum, ok = rating.AddCents(sum, l.Amount); !ok || !l.Amount.InRange() {
			return fmt.Errorf("line %d (%s %s %s): amounts more than billrun holds (at most %s): check the price book and the usage",
				i+1, l.Kind, l.Product, l.Meter, rating.MaxCents-1)
		}
	}
	return nil
}
