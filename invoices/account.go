package invoices

import (
	"time"

	"github.com/shopspring/decimal"

	"billrun/rating"
)

// Account is a customer account (DESIGN §6).
type Account struct {
	ID                 string
	Name               string
	Email              string
	PaymentMethod      bool
	SpendLimitOverride *decimal.Decimal // a fixed monthly limit in USD; nil: the tier's limit
	Contracts          []Contract
	Grants             []Grant
}

// Contract is an on-demand discount agreement, valid in [From, To); a zero To is open-ended: the
// contract runs from From with no end.
type Contract struct {
	OnDemandDiscountPercent decimal.Decimal
	From, To                time.Time
}

// Covers reports whether the contract is in force at at: From ≤ at < To.
func (c Contract) Covers(at time.Time) bool {
	return !at.Before(c.From) && (c.To.IsZero() || at.Before(c.To))
}

// Overlaps reports whether the contracts c and o share an instant.
func (c Contract) Overlaps(o Contract) bool {
	return (o.To.IsZero() || c.From.Before(o.To)) && (c.To.IsZero() || o.From.Before(c.To))
}

// ContractPercent returns the on-demand discount percent of the contract with From ≤ at < To, or 0.
func (a *Account) ContractPercent(at time.Time) decimal.Decimal {
	for _, c := range a.Contracts {
		if c.Covers(at) {
			return c.OnDemandDiscountPercent
		}
	}
	return decimal.Zero
}

// GrantKind is the origin of a credit grant.
type GrantKind string

// The credit grant kinds of DESIGN §6.
const (
	GrantFree        GrantKind = "free"
	GrantPurchased   GrantKind = "purchased"
	GrantPromotional GrantKind = "promotional"
	GrantCreditNote  GrantKind = "credit_note"
)

// Grant is a credit grant with what effective documents have consumed of it.
type Grant struct {
	ID        string
	Account   string
	Kind      GrantKind
	Amount    rating.Cents
	GrantedAt time.Time
	ExpiresAt *time.Time // exclusive; nil: never expires
	Consumed  rating.Cents
	Source    string // the credit note that created a credit_note grant
}

// Remaining returns the unconsumed amount.
func (g *Grant) Remaining() rating.Cents { return g.Amount - g.Consumed }

// ExpiredAt reports whether g is expired at t (expires_at is exclusive).
func (g *Grant) ExpiredAt(t time.Time) bool { return g.ExpiresAt != nil && !g.ExpiresAt.After(t) }

// Payment is money received: for an invoice (by number) or for a credit purchase.
type Payment struct {
	ID         string
	Account    string
	Amount     rating.Cents
	PaidAt     time.Time
	Invoice    string // the document number it pays; empty for a credit purchase
	ForCredits bool
}
