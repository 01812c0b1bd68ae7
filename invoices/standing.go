package invoices

import (
	"time"

	"billrun/rating"
)

// StandingStatus is whether the gateway serves an account.
type StandingStatus string

// Standing statuses of DESIGN §7.
const (
	StandingActive        StandingStatus = "active"
	StandingLimitExceeded StandingStatus = "limit_exceeded"
	StandingSuspended     StandingStatus = "suspended"
)

// Reason explains a standing that is not plainly active.
type Reason string

// Standing reasons, in the order they are listed.
const (
	ReasonPastDueInvoice    Reason = "past_due_invoice"
	ReasonNoPaymentMethod   Reason = "no_payment_method"
	ReasonSpendLimitReached Reason = "spend_limit_reached"
)

// Standing is an account's evaluated standing at EvaluatedAt (one stored row per account).
type Standing struct {
	Account         string
	Status          StandingStatus
	Reasons         []Reason
	Tier            int
	SpendLimit      rating.Cents
	UsageLimit      rating.Cents
	MonthUsage      rating.Cents
	CreditBalance   rating.Cents
	HistoricalSpend rating.Cents
	EvaluatedAt     time.Time
	RunID           string
}

// StandingEvent records a change of an account's standing.
type StandingEvent struct {
	Account    string
	At         time.Time
	OldStatus  StandingStatus // empty for the first evaluation
	NewStatus  StandingStatus
	OldReasons []Reason
	Reasons    []Reason
	RunID      string
}
