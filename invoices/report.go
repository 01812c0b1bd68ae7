package invoices

import (
	"time"

	"billrun/rating"
)

// Report is everything the exports show of one period, as seen at At: its documents with the
// payments received by then, the stored standing, the rejects and the run that produced them.
type Report struct {
	Period   rating.Period
	Currency string
	At       time.Time
	Drafts   bool // documents are unissued drafts (billrun rate)
	Docs     []DocView
	Standing []Standing
	Rejects  []rating.Reject
	Run      *Run // the latest close or rerun of the period; nil if none
	Accounts map[string]*Account
}

// DocView is a document with what it had been paid by the report's time, and its status then.
type DocView struct {
	Document
	AmountPaid rating.Cents
	Status     Status
}
