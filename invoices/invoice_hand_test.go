package invoices

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"billrun/rating"
)

func handDecimal(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func handLine(kind rating.Kind, product string, amount rating.Cents) rating.Line {
	l := rating.Line{Kind: kind, Product: product, Amount: amount}
	switch kind {
	case rating.KindDiscount:
		l.Product, l.Meter = "on_demand", rating.MeterDiscount
	case rating.KindGPU:
		l.Meter = rating.MeterGPUSeconds
	default:
		l.Meter = rating.MeterInput
	}
	return l
}

// DESIGN §6 steps 3–5: subtotal = sum of lines (discount included); credits = min(subtotal, available);
// amount due = subtotal − credits; due = issue + payment_terms_days × 24 h; due 0 → paid.
func TestHandDraftInvoice(t *testing.T) {
	issued := "2026-11-01T02:00:00Z"
	tests := []struct {
		name                             string
		lines                            []rating.Line
		grants                           []Grant
		terms                            int
		subtotal, discount, credits, due rating.Cents
		dueAt                            string
		consumptions                     []string
		status                           Status // with Number set and nothing paid
	}{
		{
			name: "GPU, serverless and discount; partial credit",
			lines: []rating.Line{
				handLine(rating.KindGPU, "H100-80GB", 2400),
				handLine(rating.KindServerless, "m", 40),
				handLine(rating.KindDiscount, "", -360), // 15 % × 24.00 = 3.60
			},
			grants:       []Grant{handGrant("cg_1", 500, "2026-10-10T00:00:00Z", "")},
			terms:        15,
			subtotal:     2080, // 24.00 + 0.40 − 3.60 = 20.80
			discount:     -360,
			credits:      500,                    // min(20.80, 5.00)
			due:          1580,                   // 20.80 − 5.00
			dueAt:        "2026-11-16T02:00:00Z", // + 15 × 24 h
			consumptions: []string{"cg_1:500"},
			status:       StatusOpen,
		},
		{
			name:         "credits cover everything: amount due 0 → paid",
			lines:        []rating.Line{handLine(rating.KindServerless, "m", 20), handLine(rating.KindServerless, "m2", 20)},
			grants:       []Grant{handGrant("cg_1", 100, "2026-01-10T00:00:00Z", "")},
			terms:        15,
			subtotal:     40, // 0.20 + 0.20
			credits:      40, // min(0.40, 1.00)
			due:          0,
			dueAt:        "2026-11-16T02:00:00Z",
			consumptions: []string{"cg_1:40"},
			status:       StatusPaid,
		},
		{
			name:   "credit not eligible (granted after period end): nothing applied",
			lines:  []rating.Line{handLine(rating.KindGPU, "A100-80GB", 580)},
			grants: []Grant{handGrant("cg_purchased", 10000, "2026-11-01T01:00:00Z", "")},
			terms:  15, subtotal: 580, credits: 0, due: 580, // 5.80 − 0
			dueAt: "2026-11-16T02:00:00Z", consumptions: []string{}, status: StatusOpen,
		},
		{
			name:     "two grants in order, 30-day terms",
			lines:    []rating.Line{handLine(rating.KindGPU, "A100-80GB", 1818)},
			grants:   []Grant{handGrant("cg_never", 1000, "2026-01-10T00:00:00Z", ""), handGrant("cg_exp", 1000, "2026-09-10T00:00:00Z", "2026-12-01T00:00:00Z")},
			terms:    30,
			subtotal: 1818, credits: 1818, due: 0, // cg_exp 10.00 first (it expires), then 8.18 of cg_never
			dueAt:        "2026-12-01T02:00:00Z", // 2026-11-01T02:00 + 30 × 24 h
			consumptions: []string{"cg_exp:1000", "cg_never:818"},
			status:       StatusPaid,
		},
		{
			name:     "line rounding to 0.00 only: subtotal 0 → paid",
			lines:    []rating.Line{handLine(rating.KindServerless, "m", 0)},
			terms:    15,
			subtotal: 0, credits: 0, due: 0,
			dueAt: "2026-11-16T02:00:00Z", consumptions: []string{}, status: StatusPaid,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, ok := DraftInvoice("acct_1", handOct, tc.lines, tc.grants, handTime(issued), Terms{PaymentTermsDays: tc.terms})
			if !ok {
				t.Fatalf("DraftInvoice = no invoice, want one")
			}
			if doc.Subtotal != tc.subtotal || doc.Discount != tc.discount || doc.CreditsApplied != tc.credits || doc.AmountDue != tc.due {
				t.Errorf("DraftInvoice = subtotal %d discount %d credits %d due %d, want %d %d %d %d",
					doc.Subtotal, doc.Discount, doc.CreditsApplied, doc.AmountDue, tc.subtotal, tc.discount, tc.credits, tc.due)
			}
			if doc.DueAt == nil || !doc.DueAt.Equal(handTime(tc.dueAt)) {
				t.Errorf("DraftInvoice.DueAt = %v, want %s", doc.DueAt, tc.dueAt)
			}
			if !doc.IssuedAt.Equal(handTime(issued)) || doc.Kind != KindInvoice || doc.Account != "acct_1" || doc.Period != handOct {
				t.Errorf("DraftInvoice = issued %s kind %s account %s period %s", doc.IssuedAt, doc.Kind, doc.Account, doc.Period)
			}
			if got := handConsumptions(doc.Consumptions); !slices.Equal(got, tc.consumptions) {
				t.Errorf("DraftInvoice.Consumptions = %v, want %v", got, tc.consumptions)
			}
			if got := doc.StatusAt(0); got != StatusDraft {
				t.Errorf("StatusAt(draft) = %s, want draft", got)
			}
			doc.Number = "INV-2026-000001"
			if got := doc.StatusAt(0); got != tc.status {
				t.Errorf("StatusAt(0 paid) = %s, want %s", got, tc.status)
			}
		})
	}
	t.Run("no lines: no invoice", func(t *testing.T) {
		if _, ok := DraftInvoice("acct_1", handOct, nil, nil, handTime(issued), Terms{PaymentTermsDays: 15}); ok {
			t.Errorf("DraftInvoice(no lines) = invoice, want none")
		}
	})
	t.Run("issue time in another zone is stored in UTC", func(t *testing.T) {
		at := handTime("2026-11-01T04:00:00+02:00") // 02:00Z
		doc, _ := DraftInvoice("acct_1", handOct, []rating.Line{handLine(rating.KindGPU, "g", 1)}, nil, at, Terms{PaymentTermsDays: 15})
		if doc.IssuedAt.Location() != time.UTC || !doc.DueAt.Equal(handTime("2026-11-16T02:00:00Z")) {
			t.Errorf("IssuedAt = %s, DueAt = %s, want UTC and 2026-11-16T02:00Z", doc.IssuedAt, doc.DueAt)
		}
	})
}

// §11: status paid when amount_paid ≥ amount_due; past due when at > due_at (strictly) and amount_paid <
// amount_due; only payments with paid_at < at count.
func TestHandDocumentStatusAndPastDue(t *testing.T) {
	due := handTime("2026-10-16T02:00:00Z")
	inv := Document{Number: "INV-2026-000002", Account: "acct_s2", Kind: KindInvoice, IssuedAt: handTime("2026-10-01T02:00:00Z"),
		DueAt: &due, Subtotal: 400, AmountDue: 400}
	payments := []Payment{
		{ID: "p1", Account: "acct_s2", Amount: 300, PaidAt: handTime("2026-10-10T00:00:00Z"), Invoice: "INV-2026-000002"},
		{ID: "p2", Account: "acct_s2", Amount: 100, PaidAt: handTime("2026-11-03T10:00:00Z"), Invoice: "INV-2026-000002"},
		{ID: "p3", Account: "acct_s2", Amount: 5000, PaidAt: handTime("2026-10-02T00:00:00Z"), Invoice: "INV-2026-000099"}, // another invoice
		{ID: "p4", Account: "acct_s2", Amount: 10000, PaidAt: handTime("2026-10-02T00:00:00Z"), ForCredits: true},          // credits
		// another account's money naming this invoice pays nothing of it
		{ID: "p5", Account: "acct_other", Amount: 400, PaidAt: handTime("2026-10-02T00:00:00Z"), Invoice: "INV-2026-000002"},
	}
	tests := []struct {
		at      string
		paid    rating.Cents
		status  Status
		pastDue bool
	}{
		{"2026-10-09T00:00:00Z", 0, StatusOpen, false},            // before due, nothing paid
		{"2026-10-10T00:00:00Z", 0, StatusOpen, false},            // p1 paid exactly at `at`: not yet counted
		{"2026-10-16T02:00:00Z", 300, StatusOpen, false},          // at == due_at: not past due
		{"2026-10-16T02:00:00.000000001Z", 300, StatusOpen, true}, // 3.00 of 4.00 after due
		{"2026-11-03T10:00:00Z", 300, StatusOpen, true},           // p2 at `at` does not count yet
		{"2026-11-03T10:00:01Z", 400, StatusPaid, false},          // 3.00 + 1.00 = 4.00 ≥ 4.00
	}
	for _, tc := range tests {
		at := handTime(tc.at)
		paid := inv.PaidBy(payments, at)
		if paid != tc.paid {
			t.Errorf("PaidBy(at %s) = %d, want %d", tc.at, paid, tc.paid)
		}
		if got := inv.StatusAt(paid); got != tc.status {
			t.Errorf("StatusAt(%d) at %s = %s, want %s", paid, tc.at, got, tc.status)
		}
		if got := inv.PastDue(paid, at); got != tc.pastDue {
			t.Errorf("PastDue(%d, %s) = %v, want %v", paid, tc.at, got, tc.pastDue)
		}
	}
	late := handTime("2026-12-01T00:00:00Z")
	if got := inv.StatusAt(900); got != StatusPaid { // overpaid still paid
		t.Errorf("StatusAt(overpaid 9.00 of 4.00) = %s, want paid", got)
	}
	voided := inv
	voided.VoidedAt = &late
	if voided.StatusAt(0) != StatusVoid || voided.PastDue(0, late) {
		t.Errorf("voided: StatusAt = %s, PastDue = %v, want void, false", voided.StatusAt(0), voided.PastDue(0, late))
	}
	cn := Document{Number: "CN-2026-000001", Kind: KindCreditNote, Subtotal: -500}
	if cn.StatusAt(0) != StatusIssued || cn.PastDue(0, late) {
		t.Errorf("credit note: StatusAt = %s, PastDue = %v, want issued, false", cn.StatusAt(0), cn.PastDue(0, late))
	}
	if NumberPrefix(KindInvoice) != "INV" || NumberPrefix(KindSupplementary) != "INV" || NumberPrefix(KindCreditNote) != "CN" {
		t.Errorf("NumberPrefix = %s/%s/%s, want INV/INV/CN", NumberPrefix(KindInvoice), NumberPrefix(KindSupplementary), NumberPrefix(KindCreditNote))
	}
}

// A document whose amounts are beyond what cents hold is never issued nor shown as a draft: a line
// rating.RoundCents clamped, or lines whose sum would wrap around. Amounts up to the edge pass.
func TestHandCheckAmounts(t *testing.T) {
	line := func(c rating.Cents) rating.Line {
		return rating.Line{Kind: rating.KindGPU, Product: "H100-80GB", Meter: rating.MeterGPUSeconds, Amount: c}
	}
	for _, tc := range []struct {
		name  string
		lines []rating.Line
		bad   int // the line named, 0: none
	}{
		{"ordinary", []rating.Line{line(1200), line(-60)}, 0},
		{"just below the clamp", []rating.Line{line(rating.MaxCents - 1)}, 0},
		{"clamped", []rating.Line{line(100), line(rating.RoundCents(decimal.RequireFromString("1e30")))}, 2},
		{"clamped negative", []rating.Line{line(rating.RoundCents(decimal.RequireFromString("-1e30")))}, 1},
		{"a sum that wraps", []rating.Line{line(rating.MaxCents - 1), line(rating.MaxCents - 1)}, 2},
		{"a negative sum that wraps", []rating.Line{line(-rating.MaxCents + 1), line(-rating.MaxCents + 1)}, 2},
	} {
		d := &Document{Lines: tc.lines}
		err := d.CheckAmounts()
		switch {
		case tc.bad == 0 && err != nil:
			t.Errorf("%s: CheckAmounts = %v, want nil", tc.name, err)
		case tc.bad != 0 && (err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d ", tc.bad))):
			t.Errorf("%s: CheckAmounts = %v, want an error naming line %d", tc.name, err, tc.bad)
		}
	}
}
