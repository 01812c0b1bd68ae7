package invoices

// Hand-computed tests of credits, invoices and standing (*_hand_test.go). Helpers start with "hand" so
// these files can sit next to other test files of package invoices. Amounts are integer cents.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"billrun/rating"
)

func handTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func handTimePtr(s string) *time.Time {
	t := handTime(s)
	return &t
}

func handGrant(id string, amount rating.Cents, grantedAt, expiresAt string) Grant {
	g := Grant{ID: id, Account: "acct_1", Kind: GrantPromotional, Amount: amount, GrantedAt: handTime(grantedAt)}
	if expiresAt != "" {
		g.ExpiresAt = handTimePtr(expiresAt)
	}
	return g
}

func handConsumptions(cs []Consumption) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%s:%d", c.GrantID, c.Amount))
	}
	return out
}

var handOct = rating.Period{Year: 2026, Month: time.October} // [2026-10-01, 2026-11-01)

// DESIGN §6 step 4: consumed soonest-expiring first (no expiry last), then oldest granted_at, then id;
// credits applied = min(subtotal, available credit).
func TestHandApplyCreditsOrder(t *testing.T) {
	grants := func() []Grant {
		// Listed deliberately out of order.
		return []Grant{
			handGrant("cg_never_new", 300, "2026-10-02T00:00:00Z", ""),
			handGrant("cg_z", 100, "2026-09-15T00:00:00Z", "2026-10-20T00:00:00Z"),
			handGrant("cg_late", 200, "2026-10-05T00:00:00Z", "2027-01-01T00:00:00Z"),
			handGrant("cg_never_old", 300, "2026-01-10T00:00:00Z", ""),
			handGrant("cg_a", 100, "2026-09-15T00:00:00Z", "2026-10-20T00:00:00Z"),
			handGrant("cg_old", 100, "2026-09-01T00:00:00Z", "2026-10-20T00:00:00Z"),
		}
	}
	// Order: cg_old (expires 10-20, oldest) → cg_a, cg_z (expires 10-20, granted 09-15, by id)
	//        → cg_late (expires 2027) → cg_never_old (no expiry, granted 01-10) → cg_never_new.
	// Available 1.00 + 1.00 + 1.00 + 2.00 + 3.00 + 3.00 = 11.00.
	tests := []struct {
		name   string
		amount rating.Cents
		want   []string
	}{
		{"7.50: partial consumption of cg_never_old", 750,
			[]string{"cg_old:100", "cg_a:100", "cg_z:100", "cg_late:200", "cg_never_old:250"}}, // 1+1+1+2 = 5.00, then 2.50 of 3.00
		{"0.50: only part of the soonest-expiring", 50, []string{"cg_old:50"}},
		{"3.00: the three expiring on 10-20", 300, []string{"cg_old:100", "cg_a:100", "cg_z:100"}},
		{"20.00: capped at the 11.00 available", 2000,
			[]string{"cg_old:100", "cg_a:100", "cg_z:100", "cg_late:200", "cg_never_old:300", "cg_never_new:300"}},
		{"0: nothing", 0, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gs := grants()
			got := ApplyCredits(gs, handOct, tc.amount)
			if g := handConsumptions(got); !slices.Equal(g, tc.want) {
				t.Errorf("ApplyCredits(%d) = %v, want %v", tc.amount, g, tc.want)
			}
			var sum rating.Cents
			for _, c := range got {
				sum += c.Amount
			}
			if want := min(tc.amount, 1100); sum != want {
				t.Errorf("ApplyCredits(%d) total = %d, want min(amount, 11.00) = %d", tc.amount, sum, want)
			}
			// The consumption is recorded on the grants and never exceeds their amounts.
			for _, g := range gs {
				var c rating.Cents
				for _, x := range got {
					if x.GrantID == g.ID {
						c += x.Amount
					}
				}
				if g.Consumed != c || g.Consumed > g.Amount {
					t.Errorf("grant %s Consumed = %d, want %d (≤ amount %d)", g.ID, g.Consumed, c, g.Amount)
				}
			}
		})
	}
}

// DESIGN §11: eligible for P's invoice when granted_at < P.end and (expires_at null or > P.start).
func TestHandApplyCreditsEligibility(t *testing.T) {
	tests := []struct {
		name  string
		grant Grant
		want  rating.Cents // consumed of a 10.00 subtotal
	}{
		{"expires exactly at period start: not eligible", handGrant("g", 500, "2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z"), 0},
		{"expires one second after period start: eligible", handGrant("g", 500, "2026-09-01T00:00:00Z", "2026-10-01T00:00:01Z"), 500},
		{"expires mid-period: eligible", handGrant("g", 500, "2026-09-01T00:00:00Z", "2026-10-15T00:00:00Z"), 500},
		{"expired before the period", handGrant("g", 500, "2026-08-01T00:00:00Z", "2026-09-15T00:00:00Z"), 0},
		{"granted exactly at period end: not eligible", handGrant("g", 500, "2026-11-01T00:00:00Z", ""), 0},
		{"granted last second of the period: eligible", handGrant("g", 500, "2026-10-31T23:59:59Z", ""), 500},
		{"granted after period end (before the close): not eligible", handGrant("g", 500, "2026-11-01T01:00:00Z", ""), 0},
		{"granted before the period, never expires", handGrant("g", 500, "2026-01-10T00:00:00Z", ""), 500},
		{"more credit than the subtotal: capped at 10.00", handGrant("g", 2500, "2026-01-10T00:00:00Z", ""), 1000},
		{"partly consumed before: 5.00 − 3.00 = 2.00 left", func() Grant {
			g := handGrant("g", 500, "2026-01-10T00:00:00Z", "")
			g.Consumed = 300
			return g
		}(), 200},
		{"fully consumed before", func() Grant {
			g := handGrant("g", 500, "2026-01-10T00:00:00Z", "")
			g.Consumed = 500
			return g
		}(), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gs := []Grant{tc.grant}
			before := gs[0].Consumed
			got := ApplyCredits(gs, handOct, 1000)
			var sum rating.Cents
			for _, c := range got {
				sum += c.Amount
			}
			if sum != tc.want {
				t.Errorf("ApplyCredits(10.00) with %s = %d, want %d", tc.name, sum, tc.want)
			}
			if gs[0].Consumed != before+tc.want {
				t.Errorf("grant Consumed = %d, want %d", gs[0].Consumed, before+tc.want)
			}
			if gs[0].Consumed > gs[0].Amount {
				t.Errorf("grant overdrawn: consumed %d > amount %d", gs[0].Consumed, gs[0].Amount)
			}
		})
	}
}

// A negative amount (never a real subtotal) takes nothing.
func TestHandApplyCreditsNegative(t *testing.T) {
	gs := []Grant{handGrant("g", 500, "2026-01-10T00:00:00Z", "")}
	if got := ApplyCredits(gs, handOct, -100); len(got) != 0 || gs[0].Consumed != 0 {
		t.Errorf("ApplyCredits(-1.00) = %v (consumed %d), want nothing", got, gs[0].Consumed)
	}
}

// DESIGN §7/§11: balance at `at` = Σ (amount − consumed) of grants with granted_at ≤ at and not expired at
// `at` (expires_at ≤ at is expired).
func TestHandBalance(t *testing.T) {
	at := "2026-11-01T02:00:00Z"
	consumed := handGrant("g_consumed", 1000, "2026-01-10T00:00:00Z", "")
	consumed.Consumed = 400
	tests := []struct {
		name   string
		grants []Grant
		want   rating.Cents
	}{
		{"none", nil, 0},
		{"granted exactly at `at` counts", []Grant{handGrant("g", 500, at, "")}, 500},
		{"granted one second after `at`", []Grant{handGrant("g", 500, "2026-11-01T02:00:01Z", "")}, 0},
		{"expires exactly at `at`: expired", []Grant{handGrant("g", 500, "2026-10-01T00:00:00Z", at)}, 0},
		{"expires one second after `at`", []Grant{handGrant("g", 500, "2026-10-01T00:00:00Z", "2026-11-01T02:00:01Z")}, 500},
		{"remaining after consumption", []Grant{consumed}, 600}, // 10.00 − 4.00
		{"sum of several", []Grant{
			handGrant("a", 100, "2026-01-10T00:00:00Z", ""),                     // 1.00
			handGrant("b", 10000, "2026-09-02T10:00:00Z", ""),                   // 100.00
			handGrant("c", 250, "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z"), // 2.50
			handGrant("d", 999, "2026-10-01T00:00:00Z", "2026-10-31T00:00:00Z"), // expired
			consumed, // 6.00 left
		}, 10950}, // 1.00 + 100.00 + 2.50 + 6.00 = 109.50
	}
	for _, tc := range tests {
		if got := Balance(tc.grants, handTime(at)); got != tc.want {
			t.Errorf("Balance(%s) = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// DESIGN §6 step 2: the contract with from ≤ period start < to.
func TestHandContractPercent(t *testing.T) {
	a := Account{Contracts: []Contract{
		{OnDemandDiscountPercent: handDecimal("15"), From: handTime("2026-01-01T00:00:00Z"), To: handTime("2027-01-01T00:00:00Z")},
		{OnDemandDiscountPercent: handDecimal("20"), From: handTime("2027-01-01T00:00:00Z"), To: handTime("2028-01-01T00:00:00Z")},
	}}
	tests := []struct {
		at   string
		want string
	}{
		{"2025-12-01T00:00:00Z", "0"},
		{"2026-01-01T00:00:00Z", "15"}, // from inclusive
		{"2026-12-01T00:00:00Z", "15"},
		{"2027-01-01T00:00:00Z", "20"}, // to exclusive: the next contract
		{"2028-01-01T00:00:00Z", "0"},
	}
	for _, tc := range tests {
		if got := a.ContractPercent(handTime(tc.at)); !got.Equal(handDecimal(tc.want)) {
			t.Errorf("ContractPercent(%s) = %s, want %s", tc.at, got, tc.want)
		}
	}
	// An open-ended contract (no to) is in force from its from on, with no end.
	open := Account{Contracts: []Contract{
		{OnDemandDiscountPercent: handDecimal("10"), From: handTime("2026-01-01T00:00:00Z"), To: handTime("2026-07-01T00:00:00Z")},
		{OnDemandDiscountPercent: handDecimal("25"), From: handTime("2026-07-01T00:00:00Z")},
	}}
	for at, want := range map[string]string{"2025-12-01T00:00:00Z": "0", "2026-06-01T00:00:00Z": "10",
		"2026-07-01T00:00:00Z": "25", "2099-12-01T00:00:00Z": "25"} {
		if got := open.ContractPercent(handTime(at)); !got.Equal(handDecimal(want)) {
			t.Errorf("open-ended: ContractPercent(%s) = %s, want %s", at, got, want)
		}
	}
	if !open.Contracts[1].Overlaps(Contract{From: handTime("2030-01-01T00:00:00Z"), To: handTime("2030-02-01T00:00:00Z")}) ||
		open.Contracts[1].Overlaps(open.Contracts[0]) || open.Contracts[0].Overlaps(open.Contracts[1]) {
		t.Errorf("Overlaps with an open-ended contract: wrong")
	}
}
