package invoices

import (
	"time"

	"billrun/rating"
)

// RunKind names the command a run record belongs to.
type RunKind string

// Run kinds.
const (
	RunClose     RunKind = "close"
	RunRerun     RunKind = "rerun"
	RunSweep     RunKind = "sweep"
	RunReconcile RunKind = "reconcile"
	// RunImport is `accounts import`: the month of its --at, scope the file.
	RunImport RunKind = "import"
)

// StandingPassPrefix begins the id of the sweep run a close or rerun records for its standing pass,
// followed by the close's or rerun's own id: a run killed in its standing pass is then found, and
// recorded as abandoned, with the close or rerun that started it.
const StandingPassPrefix = "sweep-for-"

// PeriodLock is the name of the run lock that serializes the runs of period p (DESIGN §8). A store
// that holds it checks, inside each transaction that issues or voids a document of p, that it still
// does: a run whose lock was lost cannot write beside the run that holds it now.
func PeriodLock(p rating.Period) string { return "period:" + p.String() }

// RunStatus is the state of a run.
type RunStatus string

// Run states.
const (
	RunRunning   RunStatus = "running"
	RunSucceeded RunStatus = "succeeded"
	RunFailed    RunStatus = "failed"
)

// Run is the record of one data-changing command (DESIGN §8): what it read, what it counted and
// issued, and how it ended.
type Run struct {
	ID            string
	Kind          RunKind
	Period        rating.Period
	Scope         string // "all", or the accounts of a rerun
	At            time.Time
	StartedAt     time.Time
	FinishedAt    *time.Time
	Status        RunStatus
	Error         string
	PriceBookHash string
	Manifest      []rating.Object
	Counts        rating.Counts
	Totals        Totals
}

// Totals are the money a run issued.
type Totals struct {
	Documents      int          `json:"documents"`
	Subtotal       rating.Cents `json:"subtotal"`
	Discount       rating.Cents `json:"discount"`
	CreditsApplied rating.Cents `json:"credits_applied"`
	AmountDue      rating.Cents `json:"amount_due"`
}

// Add adds a document to the totals.
func (t *Totals) Add(d *Document) {
	t.Documents++
	t.Subtotal += d.Subtotal
	t.Discount += d.Discount
	t.CreditsApplied += d.CreditsApplied
	t.AmountDue += d.AmountDue
}
