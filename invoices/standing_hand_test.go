package invoices

import (
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"billrun/rating"
)

// handPolicy is DESIGN §7's policy, written out by hand (not rating.DefaultPolicy, which is under test
// elsewhere).
func handPolicy() rating.Policy {
	d := handDecimal
	return rating.Policy{PaymentTermsDays: 15, Tiers: []rating.Tier{
		{Tier: 1, MinHistoricalSpend: d("0"), SpendLimit: d("50")},
		{Tier: 2, MinHistoricalSpend: d("100"), SpendLimit: d("500")},
		{Tier: 3, MinHistoricalSpend: d("1000"), SpendLimit: d("5000")},
		{Tier: 4, MinHistoricalSpend: d("10000"), SpendLimit: d("50000")},
	}}
}

func handInvoice(number string, amountDue rating.Cents, issuedAt, dueAt string) Document {
	due := handTime(dueAt)
	return Document{Number: number, Account: "acct_1", Kind: KindInvoice, IssuedAt: handTime(issuedAt), DueAt: &due,
		Subtotal: amountDue, AmountDue: amountDue}
}

func handPay(id string, amount rating.Cents, paidAt, invoice string) Payment {
	return Payment{ID: id, Account: "acct_1", Amount: amount, PaidAt: handTime(paidAt), Invoice: invoice, ForCredits: invoice == ""}
}

func handOverride(s string) *decimal.Decimal {
	d := handDecimal(s)
	return &d
}

type handStandingWant struct {
	status     StandingStatus
	reasons    []Reason
	tier       int
	spendLimit rating.Cents
	usageLimit rating.Cents
	balance    rating.Cents
	spend      rating.Cents
}

type handStandingCase struct {
	name          string
	pm            bool
	override      *decimal.Decimal
	grants        []Grant
	payments      []Payment
	docs          []Document
	at            string // default 2026-11-01T02:00:00Z
	u             rating.Cents
	monthInvoiced bool
	want          handStandingWant
}

func handRunStanding(t *testing.T, tests []handStandingCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.at
			if at == "" {
				at = "2026-11-01T02:00:00Z"
			}
			acct := &Account{ID: "acct_1", PaymentMethod: tc.pm, SpendLimitOverride: tc.override, Grants: tc.grants}
			got := EvaluateStanding(StandingInput{Account: acct, At: handTime(at), Policy: handPolicy(),
				Payments: tc.payments, Documents: tc.docs, MonthUsage: tc.u, MonthInvoiced: tc.monthInvoiced})
			w := tc.want
			if w.reasons == nil {
				w.reasons = []Reason{}
			}
			if got.Status != w.status || !slices.Equal(got.Reasons, w.reasons) {
				t.Errorf("EvaluateStanding = %s %v, want %s %v", got.Status, got.Reasons, w.status, w.reasons)
			}
			if got.Tier != w.tier || got.SpendLimit != w.spendLimit || got.UsageLimit != w.usageLimit {
				t.Errorf("EvaluateStanding = tier %d spend limit %s usage limit %s, want tier %d %s %s",
					got.Tier, got.SpendLimit, got.UsageLimit, w.tier, w.spendLimit, w.usageLimit)
			}
			if got.CreditBalance != w.balance || got.HistoricalSpend != w.spend || got.MonthUsage != tc.u {
				t.Errorf("EvaluateStanding = balance %s spend %s U %s, want balance %s spend %s U %s",
					got.CreditBalance, got.HistoricalSpend, got.MonthUsage, w.balance, w.spend, tc.u)
			}
			if got.Account != "acct_1" || !got.EvaluatedAt.Equal(handTime(at)) {
				t.Errorf("EvaluateStanding = account %s at %s, want acct_1 at %s", got.Account, got.EvaluatedAt, at)
			}
			if got.Reasons == nil {
				t.Errorf("EvaluateStanding.Reasons = nil, want an empty list (exported as [])")
			}
		})
	}
}

// DESIGN §7 and §11, story by story. Tier limits: 1 → 50.00, 2 → 500.00, 3 → 5000.00, 4 → 50000.00.
func TestHandEvaluateStanding(t *testing.T) {
	pastDue := func() []Document { // INV-2026-000002 4.00 due 2026-10-16T02:00Z (example 12, acct_s2)
		return []Document{handInvoice("INV-2026-000002", 400, "2026-10-01T02:00:00Z", "2026-10-16T02:00:00Z")}
	}
	credits := func(amount rating.Cents) []Grant {
		return []Grant{handGrant("cg_1", amount, "2026-09-02T10:00:00Z", "")}
	}
	active, limited, suspended := StandingActive, StandingLimitExceeded, StandingSuspended
	pdi, npm, slr := ReasonPastDueInvoice, ReasonNoPaymentMethod, ReasonSpendLimitReached
	tests := []handStandingCase{
		{name: "payment method, nothing paid: tier 1", pm: true,
			want: handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000}},
		{name: "buying 100.00 of credits counts as historical spend: tier 2", pm: true, at: "2026-09-10T00:00:00Z",
			grants:   credits(10000),
			payments: []Payment{handPay("pay_1", 10000, "2026-09-02T10:00:00Z", "")},
			u:        2000,                                                                                                          // 20.00 of September usage, not yet invoiced
			want:     handStandingWant{status: active, tier: 2, spendLimit: 50000, usageLimit: 50000, balance: 8000, spend: 10000}}, // 100.00 − 20.00
		{name: "credit purchase paid exactly at `at` is not yet spend", pm: true, at: "2026-09-02T10:00:00Z",
			grants:   credits(10000), // granted_at ≤ at: in the balance
			payments: []Payment{handPay("pay_1", 10000, "2026-09-02T10:00:00Z", "")},
			want:     handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000, balance: 10000, spend: 0}},
		{name: "tier 1 with 60.00 of credits is limited at 50.00 of usage", pm: true, at: "2026-10-20T00:00:00Z",
			grants: credits(6000), u: 5000, // U 50.00 ≥ 50.00; credits don't raise the limit
			want: handStandingWant{status: limited, reasons: []Reason{slr}, tier: 1, spendLimit: 5000, usageLimit: 5000, balance: 1000}}, // 60 − 50
		{name: "tier 1 one cent below the limit", pm: true, at: "2026-10-20T00:00:00Z",
			grants: credits(6000), u: 4999,
			want: handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000, balance: 1001}}, // 60.00 − 49.99
		{name: "no payment method, credit used up: suspended, tier 0", pm: false,
			grants: credits(1000), u: 1000, // balance 10.00 − 10.00 = 0 ≤ 0
			want: handStandingWant{status: suspended, reasons: []Reason{npm}, tier: 0, spendLimit: 1000, usageLimit: 0, balance: 0}}, // U + max(0, 0) = 10.00
		{name: "no payment method, usage beyond credit: balance below zero", pm: false,
			grants: credits(1000), u: 1200, // balance 10.00 − 12.00 = −2.00
			want: handStandingWant{status: suspended, reasons: []Reason{npm}, tier: 0, spendLimit: 1200, usageLimit: 0, balance: -200}}, // 12.00 + max(−2.00, 0)
		{name: "no payment method, no credit, no usage", pm: false,
			want: handStandingWant{status: suspended, reasons: []Reason{npm}, tier: 0, spendLimit: 0, usageLimit: 0, balance: 0}},
		{name: "no payment method with credit left: active tier 0", pm: false,
			grants: credits(1000), u: 400, // balance 10.00 − 4.00 = 6.00
			want: handStandingWant{status: active, tier: 0, spendLimit: 1000, usageLimit: 1000, balance: 600}}, // 4.00 + 6.00
		{name: "no payment method: spend does not raise the tier", pm: false,
			grants:   credits(20000),
			payments: []Payment{handPay("pay_1", 20000, "2026-09-02T10:00:00Z", "")},
			want:     handStandingWant{status: active, tier: 0, spendLimit: 20000, usageLimit: 20000, balance: 20000, spend: 20000}}, // 0 + 200.00
		{name: "unpaid invoice past due: suspended", pm: true, docs: pastDue(),
			want: handStandingWant{status: suspended, reasons: []Reason{pdi}, tier: 1, spendLimit: 5000, usageLimit: 0}},
		{name: "at == due_at is not past due", pm: true, docs: pastDue(), at: "2026-10-16T02:00:00Z",
			want: handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000}},
		{name: "one nanosecond after due_at is past due", pm: true, docs: pastDue(), at: "2026-10-16T02:00:00.000000001Z",
			want: handStandingWant{status: suspended, reasons: []Reason{pdi}, tier: 1, spendLimit: 5000, usageLimit: 0}},
		{name: "payment with paid_at == at does not count yet", pm: true, docs: pastDue(),
			payments: []Payment{handPay("pay_2", 400, "2026-11-01T02:00:00Z", "INV-2026-000002")},
			want:     handStandingWant{status: suspended, reasons: []Reason{pdi}, tier: 1, spendLimit: 5000, usageLimit: 0, spend: 0}},
		{name: "partly paid: still past due", pm: true, docs: pastDue(),
			payments: []Payment{handPay("pay_2", 300, "2026-10-12T09:00:00Z", "INV-2026-000002")},
			want:     handStandingWant{status: suspended, reasons: []Reason{pdi}, tier: 1, spendLimit: 5000, usageLimit: 0, spend: 300}},
		{name: "paying the rest reinstates", pm: true, docs: pastDue(), at: "2026-11-04T00:00:00Z",
			payments: []Payment{handPay("pay_2", 300, "2026-10-12T09:00:00Z", "INV-2026-000002"), handPay("pay_3", 100, "2026-11-03T10:00:00Z", "INV-2026-000002")},
			want:     handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000, spend: 400}}, // 3.00 + 1.00
		{name: "a payment for another invoice does not pay this one", pm: true, docs: pastDue(),
			payments: []Payment{handPay("pay_x", 400, "2026-10-12T09:00:00Z", "INV-2026-000099")},
			want:     handStandingWant{status: suspended, reasons: []Reason{pdi}, tier: 1, spendLimit: 5000, usageLimit: 0, spend: 400}},
		{name: "past due and no payment method", pm: false, docs: pastDue(),
			want: handStandingWant{status: suspended, reasons: []Reason{pdi, npm}, tier: 0, spendLimit: 0, usageLimit: 0}},
		{name: "past due and spend limit reached: suspended, both listed", pm: true, docs: pastDue(), u: 6000,
			want: handStandingWant{status: suspended, reasons: []Reason{pdi, slr}, tier: 1, spendLimit: 5000, usageLimit: 0, balance: -6000}},
		{name: "all three reasons, in order", pm: false, override: handOverride("20"), docs: pastDue(), u: 2500,
			// balance 0 − 25.00 = −25.00 ≤ 0 → no_payment_method; override 20.00 ≤ U 25.00 → spend_limit_reached
			want: handStandingWant{status: suspended, reasons: []Reason{pdi, npm, slr}, tier: 0, spendLimit: 2000, usageLimit: 0, balance: -2500}},
		{name: "override wins over tier 3", pm: true, override: handOverride("200"), u: 15000,
			payments: []Payment{handPay("pay_1", 100000, "2026-10-01T00:00:00Z", "")}, // 1000.00 → tier 3 (5000.00)
			want:     handStandingWant{status: active, tier: 3, spendLimit: 20000, usageLimit: 20000, balance: -15000, spend: 100000}},
		{name: "override reached", pm: true, override: handOverride("200"), u: 20000,
			payments: []Payment{handPay("pay_1", 100000, "2026-10-01T00:00:00Z", "")},
			want:     handStandingWant{status: limited, reasons: []Reason{slr}, tier: 3, spendLimit: 20000, usageLimit: 20000, balance: -20000, spend: 100000}},
		{name: "override below tier 1 limit", pm: true, override: handOverride("10"), u: 1000,
			want: handStandingWant{status: limited, reasons: []Reason{slr}, tier: 1, spendLimit: 1000, usageLimit: 1000, balance: -1000}},
		{name: "override applies to tier 0: limit reached with credit left", pm: false, override: handOverride("25"),
			grants: credits(10000), u: 3000, // balance 100.00 − 30.00 = 70.00 > 0; U 30.00 ≥ 25.00
			want: handStandingWant{status: limited, reasons: []Reason{slr}, tier: 0, spendLimit: 2500, usageLimit: 2500, balance: 7000}},
		{name: "override applies to tier 0: below it", pm: false, override: handOverride("25"),
			grants: credits(10000), u: 2000, // balance 80.00; limit 25.00 instead of 20.00 + 80.00
			want: handStandingWant{status: active, tier: 0, spendLimit: 2500, usageLimit: 2500, balance: 8000}},
		{name: "month not invoiced: balance minus U", pm: true,
			grants: func() []Grant { g := credits(2000); g[0].Consumed = 500; return g }(), u: 500,
			want: handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000, balance: 1000}}, // 20 − 5 − 5
		{name: "month invoiced: U already consumed, not subtracted again", pm: true, monthInvoiced: true,
			grants: func() []Grant { g := credits(2000); g[0].Consumed = 500; return g }(), u: 500,
			want: handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000, balance: 1500}}, // 20 − 5
		{name: "expired grant not in balance", pm: false,
			grants: []Grant{handGrant("cg_x", 1000, "2026-09-01T00:00:00Z", "2026-11-01T02:00:00Z")}, // expires exactly at `at`
			want:   handStandingWant{status: suspended, reasons: []Reason{npm}, tier: 0}},
	}
	handRunStanding(t, tests)
}

// Tier thresholds are inclusive on historical spend (payments with paid_at < at).
func TestHandStandingTiers(t *testing.T) {
	tests := []struct {
		spend rating.Cents
		tier  int
		limit rating.Cents
	}{
		{0, 1, 5000},
		{9999, 1, 5000},
		{10000, 2, 50000}, // exactly 100.00
		{99999, 2, 50000},
		{100000, 3, 500000}, // exactly 1000.00
		{999999, 3, 500000},
		{1000000, 4, 5000000}, // exactly 10000.00
		{5000000, 4, 5000000},
	}
	var cases []handStandingCase
	for _, tc := range tests {
		var pays []Payment
		if tc.spend > 0 {
			pays = []Payment{handPay("p", tc.spend, "2026-10-01T00:00:00Z", "")}
		}
		cases = append(cases, handStandingCase{name: rating.Cents(tc.spend).String(), pm: true, payments: pays,
			want: handStandingWant{status: StandingActive, tier: tc.tier, spendLimit: tc.limit, usageLimit: tc.limit, spend: tc.spend}})
	}
	handRunStanding(t, cases)
}

// The standing rows of example 04 (GPU month boundary) and example 12 (two-month story).
func TestHandStandingExamples(t *testing.T) {
	// Example 04, acct_g1.
	g1Oct := handInvoice("INV-2026-000001", 2690, "2026-11-01T02:00:00Z", "2026-11-16T02:00:00Z") // 24.00 + 2.90
	g1Nov := handInvoice("INV-2026-000003", 1818, "2026-12-01T02:00:00Z", "2026-12-16T02:00:00Z") // 16.00 + 2.18
	g1Dec := handInvoice("INV-2027-000001", 24, "2027-01-01T02:00:00Z", "2027-01-16T02:00:00Z")
	g1Pay := []Payment{handPay("pay_g1_oct", 2690, "2026-11-10T09:00:00Z", "INV-2026-000001")}
	// Example 12.
	s1Sep := handInvoice("INV-2026-000001", 12000, "2026-10-01T02:00:00Z", "2026-10-16T02:00:00Z")
	s1Oct := handInvoice("INV-2026-000004", 40, "2026-11-01T02:00:00Z", "2026-11-16T02:00:00Z")
	s2Sep := handInvoice("INV-2026-000002", 400, "2026-10-01T02:00:00Z", "2026-10-16T02:00:00Z")
	s2Oct := handInvoice("INV-2026-000005", 40, "2026-11-01T02:00:00Z", "2026-11-16T02:00:00Z")
	s3Sep := handInvoice("INV-2026-000003", 1000, "2026-10-01T02:00:00Z", "2026-10-16T02:00:00Z")
	active, suspended := StandingActive, StandingSuspended
	pdi := ReasonPastDueInvoice
	tests := []handStandingCase{
		// at 2026-11-01T02:00Z: U = Nov usage before 02:00 = 7200 GPU-s × 8.00 / 3600 = 16.00; no grants → −16.00;
		// payment method, no payments → tier 1 (50.00); 16.00 < 50.00 → active
		{name: "04 acct_g1 at Nov 1", pm: true, u: 1600, docs: []Document{g1Oct},
			want: handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000, balance: -1600}},
		{name: "04 acct_g2 at Nov 1", pm: true, u: 0,
			want: handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000, balance: 0}},
		// at 2026-12-01T02:00Z: U = 300 GPU-s × 2.90 / 3600 = 0.2416… → 0.24; Oct invoice paid Nov 10; spend 26.90 → tier 1
		{name: "04 acct_g1 at Dec 1", pm: true, at: "2026-12-01T02:00:00Z", u: 24, payments: g1Pay, docs: []Document{g1Oct, g1Nov},
			want: handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000, balance: -24, spend: 2690}},
		// at 2027-01-01T02:00Z: INV-2026-000003 18.18 unpaid past 2026-12-16T02:00Z → suspended; U 0; balance 0
		{name: "04 acct_g1 at Jan 1 2027", pm: true, at: "2027-01-01T02:00:00Z", payments: g1Pay, docs: []Document{g1Oct, g1Nov, g1Dec},
			want: handStandingWant{status: suspended, reasons: []Reason{pdi}, tier: 1, spendLimit: 5000, usageLimit: 0, spend: 2690}},
		// Example 12 at 2026-11-01T02:00Z.
		{name: "12 acct_s1: invoice payment 120.00 → tier 2", pm: true, docs: []Document{s1Sep, s1Oct},
			payments: []Payment{handPay("pay_s1", 12000, "2026-10-10T09:00:00Z", "INV-2026-000001")},
			want:     handStandingWant{status: active, tier: 2, spendLimit: 50000, usageLimit: 50000, spend: 12000}},
		{name: "12 acct_s2: 4.00 due since Oct 16 → suspended", pm: true, docs: []Document{s2Sep, s2Oct},
			want: handStandingWant{status: suspended, reasons: []Reason{pdi}, tier: 1, spendLimit: 5000, usageLimit: 0}},
		{name: "12 acct_s3: 10.00 − 6.00 paid → suspended", pm: true, docs: []Document{s3Sep},
			payments: []Payment{handPay("pay_s3", 600, "2026-10-12T09:00:00Z", "INV-2026-000003")},
			want:     handStandingWant{status: suspended, reasons: []Reason{pdi}, tier: 1, spendLimit: 5000, usageLimit: 0, spend: 600}},
		// Sweep at 2026-11-04T00:00Z after the Nov 3 payments: reinstated; INV-2026-000005 not due until Nov 16.
		{name: "12 acct_s2 at the Nov 4 sweep", pm: true, at: "2026-11-04T00:00:00Z", docs: []Document{s2Sep, s2Oct},
			payments: []Payment{handPay("pay_s2", 400, "2026-11-03T10:00:00Z", "INV-2026-000002")},
			want:     handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000, spend: 400}},
		{name: "12 acct_s3 at the Nov 4 sweep: spend 6.00 + 4.00", pm: true, at: "2026-11-04T00:00:00Z", docs: []Document{s3Sep},
			payments: []Payment{handPay("pay_s3", 600, "2026-10-12T09:00:00Z", "INV-2026-000003"), handPay("pay_s3b", 400, "2026-11-03T10:00:00Z", "INV-2026-000003")},
			want:     handStandingWant{status: active, tier: 1, spendLimit: 5000, usageLimit: 5000, spend: 1000}},
	}
	handRunStanding(t, tests)
}

func TestHandStandingChanged(t *testing.T) {
	a := Standing{Status: StandingSuspended, Reasons: []Reason{ReasonPastDueInvoice}}
	b := Standing{Status: StandingSuspended, Reasons: []Reason{ReasonPastDueInvoice, ReasonNoPaymentMethod}}
	c := Standing{Status: StandingActive, Reasons: []Reason{}}
	if !StandingChanged(nil, c) {
		t.Errorf("StandingChanged(nil, active) = false, want true (first evaluation)")
	}
	if StandingChanged(&a, a) {
		t.Errorf("StandingChanged(same) = true, want false")
	}
	if !StandingChanged(&a, b) {
		t.Errorf("StandingChanged(reason added) = false, want true")
	}
	if !StandingChanged(&a, c) {
		t.Errorf("StandingChanged(suspended → active) = false, want true")
	}
}

// Sums of amounts that each hold clamp at rating.MaxCents instead of wrapping around: two grants
// whose remaining credit adds up to more than billrun holds leave a tier-0 account with the largest
// balance, active — not a negative balance, suspended for no_payment_method. Historical spend clamps
// alike.
func TestHandStandingSumsClamp(t *testing.T) {
	most := rating.MaxCents - 1 // 92,233,720,368,547,758.06, the largest amount an input may be
	handRunStanding(t, []handStandingCase{
		{
			name:   "a credit balance over two grants near the limit",
			grants: []Grant{handGrant("g1", most, "2026-01-01T00:00:00Z", ""), handGrant("g2", 100, "2026-01-01T00:00:00Z", "")},
			u:      500,
			// balance = most + 1.00 − 5.00 (U, October not invoiced): clamped at MaxCents, then −5.00.
			// Tier 0: spend limit = U + balance.
			want: handStandingWant{status: StandingActive, balance: rating.MaxCents - 500, spendLimit: rating.MaxCents,
				usageLimit: rating.MaxCents},
		},
		{
			name: "historical spend over two payments near the limit",
			pm:   true,
			payments: []Payment{{ID: "p1", Account: "acct_1", Amount: most, PaidAt: handTime("2026-01-02T00:00:00Z"), ForCredits: true},
				{ID: "p2", Account: "acct_1", Amount: most, PaidAt: handTime("2026-01-03T00:00:00Z"), ForCredits: true}},
			want: handStandingWant{status: StandingActive, tier: 4, spendLimit: 5000000, usageLimit: 5000000,
				spend: rating.MaxCents},
		},
	})
}
