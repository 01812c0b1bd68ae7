package invoices

import (
	"time"

	"billrun/rating"
)

// StandingInput is what evaluating one account's standing at At needs.
type StandingInput struct {
	Account       *Account // with grants (Consumed up to date)
	At            time.Time
	Policy        rating.Policy
	Payments      []Payment  // the account's payments (any time; only paid_at < At count)
	Documents     []Document // the account's effective invoices with an amount due, any period
	MonthUsage    rating.Cents
	MonthInvoiced bool // the month containing At already has an effective invoice for the account
}

// EvaluateStanding applies DESIGN §7 at in.At: historical spend, tier, spend limit, credit balance,
// reasons, status and usage limit.
func EvaluateStanding(in StandingInput) Standing {
	a := in.Account
	s := Standing{Account: a.ID, EvaluatedAt: in.At.UTC(), MonthUsage: in.MonthUsage, Reasons: []Reason{}}
	for _, p := range in.Payments {
		if p.PaidAt.Before(in.At) {
			s.HistoricalSpend = s.HistoricalSpend.AddClamped(p.Amount)
		}
	}
	s.CreditBalance = Balance(a.Grants, in.At)
	if !in.MonthInvoiced {
		s.CreditBalance = s.CreditBalance.AddClamped(-in.MonthUsage)
	}
	if a.PaymentMethod {
		for _, t := range in.Policy.Tiers {
			if !s.HistoricalSpend.Decimal().LessThan(t.MinHistoricalSpend) && t.Tier >= s.Tier {
				s.Tier = t.Tier
				s.SpendLimit = rating.RoundCents(t.SpendLimit)
			}
		}
	} else {
		s.SpendLimit = s.MonthUsage.AddClamped(max(s.CreditBalance, 0))
	}
	if a.SpendLimitOverride != nil {
		s.SpendLimit = rating.RoundCents(*a.SpendLimitOverride)
	}
	for i := range in.Documents {
		d := &in.Documents[i]
		if d.PastDue(d.PaidBy(in.Payments, in.At), in.At) {
			s.Reasons = append(s.Reasons, ReasonPastDueInvoice)
			break
		}
	}
	if !a.PaymentMethod && s.CreditBalance <= 0 {
		s.Reasons = append(s.Reasons, ReasonNoPaymentMethod)
	}
	limited := a.PaymentMethod || a.SpendLimitOverride != nil
	if limited && s.MonthUsage >= s.SpendLimit {
		s.Reasons = append(s.Reasons, ReasonSpendLimitReached)
	}
	s.Status = StandingActive
	s.UsageLimit = s.SpendLimit
	for _, r := range s.Reasons {
		switch r {
		case ReasonPastDueInvoice, ReasonNoPaymentMethod:
			s.Status = StandingSuspended
			s.UsageLimit = 0
		case ReasonSpendLimitReached:
			if s.Status == StandingActive {
				s.Status = StandingLimitExceeded
			}
		}
	}
	return s
}

// StandingChanged reports whether the standing moved from old to new in status or reasons.
func StandingChanged(old *Standing, s Standing) bool {
	if old == nil || old.Status != s.Status || len(old.Reasons) != len(s.Reasons) {
		return true
	}
	for i := range s.Reasons {
		if old.Reasons[i] != s.Reasons[i] {
			return true
		}
	}
	return false
}
