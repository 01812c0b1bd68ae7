package invoices

import (
	"sort"
	"time"

	"billrun/rating"
)

// EligibleFor reports whether g can pay an invoice of period p: granted before the period ends and not
// expired before it starts (DESIGN §11).
func (g *Grant) EligibleFor(p rating.Period) bool {
	return g.GrantedAt.Before(p.End()) && (g.ExpiresAt == nil || g.ExpiresAt.After(p.Start()))
}

// ApplyCredits consumes up to amount from the account's grants eligible for period p, soonest-expiring
// first (no expiry last), then oldest, then by id (DESIGN §6 step 4). It records the consumption on the
// grants and returns it per grant; the sum is min(amount, available credit).
func ApplyCredits(grants []Grant, p rating.Period, amount rating.Cents) []Consumption {
	if amount <= 0 {
		return nil
	}
	idx := make([]int, 0, len(grants))
	for i := range grants {
		if grants[i].EligibleFor(p) && grants[i].Remaining() > 0 {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ga, gb := &grants[idx[a]], &grants[idx[b]]
		if (ga.ExpiresAt == nil) != (gb.ExpiresAt == nil) {
			return gb.ExpiresAt == nil
		}
		if ga.ExpiresAt != nil && !ga.ExpiresAt.Equal(*gb.ExpiresAt) {
			return ga.ExpiresAt.Before(*gb.ExpiresAt)
		}
		if !ga.GrantedAt.Equal(gb.GrantedAt) {
			return ga.GrantedAt.Before(gb.GrantedAt)
		}
		return ga.ID < gb.ID
	})
	var out []Consumption
	for _, i := range idx {
		if amount == 0 {
			break
		}
		take := min(grants[i].Remaining(), amount)
		grants[i].Consumed += take
		amount -= take
		out = append(out, Consumption{GrantID: grants[i].ID, Amount: take})
	}
	return out
}

// Balance returns the unconsumed credit of grants granted at or before at and not expired at at
// (rating.MaxCents when it is more than billrun holds).
func Balance(grants []Grant, at time.Time) rating.Cents {
	var sum rating.Cents
	for i := range grants {
		g := &grants[i]
		if !g.GrantedAt.After(at) && !g.ExpiredAt(at) {
			sum = sum.AddClamped(g.Remaining())
		}
	}
	return sum
}
