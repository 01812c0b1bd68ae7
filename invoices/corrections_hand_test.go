package invoices

import (
	"testing"

	"billrun/rating"
)

// DESIGN §11 rerun decisions: "unchanged" means every line key has the same quantity and amount, so
// a quantity that changes while its amount rounds the same is a change, with a net change of 0:
// unpaid → void and replace; paid (amount_paid > 0) → no document, reported in the diff.
//
//	INV-2026-000001: 8B input 1,000,000 × 0.20 / 1M = 0.20
//	re-rated:        8B input 1,000,001 × 0.20 / 1M = 0.2000002 → 0.20 (net 0.00)
func TestHandPlanCorrectionNetZero(t *testing.T) {
	p, err := rating.ParsePeriod("2026-10")
	if err != nil {
		t.Fatal(err)
	}
	line := func(qty string) rating.Line {
		l := handLine(rating.KindServerless, "accounts/fireworks/models/llama-v3p1-8b-instruct", 20)
		l.Quantity, l.UnitPrice = handDecimal(qty), handDecimal("0.20")
		return l
	}
	due := handTime("2026-11-16T02:00:00Z")
	inv := Document{Number: "INV-2026-000001", Account: "a1", Period: p, Kind: KindInvoice,
		IssuedAt: handTime("2026-11-01T02:00:00Z"), DueAt: &due, Lines: []rating.Line{line("1000000")},
		Subtotal: 20, AmountDue: 20}
	paid := []Payment{{ID: "p1", Account: "a1", Amount: 20, PaidAt: handTime("2026-11-02T00:00:00Z"), Invoice: inv.Number}}
	at := handTime("2026-11-05T00:00:00Z")
	tests := []struct {
		name     string
		qty      string
		payments []Payment
		want     Action
		doc      bool
	}{
		{"same quantity and amount: unchanged", "1000000", nil, ActionNone, false},
		{"quantity changed, amount not, unpaid: void and replace", "1000001", nil, ActionReplace, true},
		{"quantity changed, amount not, paid: no document", "1000001", paid, ActionReportOnly, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := PlanCorrection("a1", p, []Document{inv}, []rating.Line{line(tc.qty)}, nil, tc.payments, at, Terms{PaymentTermsDays: 15})
			if c.Action != tc.want || (c.Doc != nil) != tc.doc {
				t.Errorf("PlanCorrection(qty %s) = %s (document %v), want %s (document %v)", tc.qty, c.Action, c.Doc != nil, tc.want, tc.doc)
			}
			if c.Old != 20 || c.New != 20 {
				t.Errorf("PlanCorrection(qty %s): old %d, new %d, want 20, 20", tc.qty, c.Old, c.New)
			}
		})
	}
}
