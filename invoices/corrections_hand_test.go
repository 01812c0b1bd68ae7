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

// A correction's lines are described "correction: " and the line's own description, once, also for a
// key that left the usage and whose line on the documents is itself a correction's: a volume discount
// that first appeared on a supplementary and goes away again.
//
//	INV-2026-000001 (paid): A100 900 GPUs × 1 h = 3,240,000 GPU-s × 2.90 / 3600 = 2610.00; no discount
//	INV-2026-000002 supplementary: +720,000 GPU-s = +580.00; 1100 GPU-h ≥ 1000 → 5 % of 3190.00 = −159.50
//	re-rated (the late 200 GPU-hours withdrawn): 3,240,000 GPU-s = 2610.00, no discount
//	→ credit note: GPU −720,000 = −580.00; discount +159.50, described "correction: bulk …" (not twice)
func TestHandCorrectionDescribedOnce(t *testing.T) {
	p, err := rating.ParsePeriod("2026-10")
	if err != nil {
		t.Fatal(err)
	}
	gpu := func(qty string, amount rating.Cents, desc string) rating.Line {
		l := handLine(rating.KindGPU, "A100-80GB", amount)
		l.Deployment, l.Quantity, l.UnitPrice, l.Description = "dep-k", handDecimal(qty), handDecimal("2.90"), desc
		return l
	}
	disc := handLine(rating.KindDiscount, "", -15950)
	disc.Description = "correction: bulk on-demand discount 5% of GPU usage 3190.00"
	due := handTime("2026-11-16T02:00:00Z")
	inv := Document{Number: "INV-2026-000001", Account: "a1", Period: p, Kind: KindInvoice, IssuedAt: handTime("2026-11-01T02:00:00Z"),
		DueAt: &due, Lines: []rating.Line{gpu("3240000", 261000, "A100-80GB on deployment dep-k, GPU-seconds")}, Subtotal: 261000, AmountDue: 261000}
	sup := Document{Number: "INV-2026-000002", Account: "a1", Period: p, Kind: KindSupplementary, Corrects: inv.Number,
		IssuedAt: handTime("2026-11-03T00:00:00Z"), DueAt: &due,
		Lines:    []rating.Line{gpu("720000", 58000, "correction: A100-80GB on deployment dep-k, GPU-seconds"), disc},
		Subtotal: 42050, Discount: -15950, AmountDue: 42050}
	paid := []Payment{{ID: "p1", Account: "a1", Amount: 261000, PaidAt: handTime("2026-11-02T00:00:00Z"), Invoice: inv.Number}}
	rated := []rating.Line{gpu("3240000", 261000, "A100-80GB on deployment dep-k, GPU-seconds")}
	c := PlanCorrection("a1", p, []Document{inv, sup}, rated, nil, paid, handTime("2026-11-04T00:00:00Z"), Terms{PaymentTermsDays: 15})
	if c.Action != ActionCreditNote || c.Doc == nil || c.Doc.Subtotal != -42050 || len(c.Doc.Lines) != 2 {
		t.Fatalf("PlanCorrection = %s, %+v; want a credit note of −420.50 with 2 lines", c.Action, c.Doc)
	}
	for _, l := range c.Doc.Lines {
		want := map[rating.Kind]string{
			rating.KindGPU:      "correction: A100-80GB on deployment dep-k, GPU-seconds",
			rating.KindDiscount: "correction: bulk on-demand discount 5% of GPU usage 3190.00",
		}[l.Kind]
		if l.Description != want {
			t.Errorf("%s line described %q, want %q", l.Kind, l.Description, want)
		}
	}
}
