package jobs

import (
	"context"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// Store is the persistence jobs need: the ledger (accounts, grants, payments, documents), run records,
// rejects, standing and the per-period run lock. invoices/store implements it on SQLite and PostgreSQL.
type Store interface {
	// ImportAccounts upserts accounts, contracts, grants and payments by id in one transaction and never
	// deletes. It returns an error wrapping invoices.ErrGrantConsumed when a consumed grant's amount
	// would change, and one wrapping an *invoices.RequiredFieldError when a new grant or payment leaves
	// out a field a new record requires.
	ImportAccounts(ctx context.Context, imp *invoices.Import) (invoices.ImportResult, error)
	// ImportAccountsRun is ImportAccounts recorded as run, finished at end(): inserted with the import,
	// in its transaction, or failed when the import wrote nothing — never left running.
	ImportAccountsRun(ctx context.Context, imp *invoices.Import, run *invoices.Run, end func() time.Time) (invoices.ImportResult, error)
	// Accounts returns every account with its contracts and grants (Consumed summed over the
	// consumptions of effective documents), in ascending id order.
	Accounts(ctx context.Context) ([]invoices.Account, error)
	// AccountIDs returns the id of every account, in ascending order.
	AccountIDs(ctx context.Context) ([]string, error)
	// Payments returns every payment, ordered by paid_at then id.
	Payments(ctx context.Context) ([]invoices.Payment, error)

	// Documents returns the documents of a period, void ones included, with lines and consumptions,
	// ordered by issue order (id).
	Documents(ctx context.Context, p rating.Period) ([]invoices.Document, error)
	// DocumentHeaders returns the documents of a period as Documents does but without their lines,
	// each with its LineCount.
	DocumentHeaders(ctx context.Context, p rating.Period) ([]invoices.Document, error)
	// EachDocumentLines calls fn with the id and lines of each document of a period that has lines, in
	// issue order, as it reads them; fn must not use the store. An error from fn stops the read and
	// is returned.
	EachDocumentLines(ctx context.Context, p rating.Period, fn func(id int64, lines []rating.Line) error) error
	// PeriodConsumptions returns, per grant id, the credits the effective documents of period p
	// consumed (what voiding them all would give back); grants they did not touch are absent.
	PeriodConsumptions(ctx context.Context, p rating.Period) (map[string]rating.Cents, error)
	// OpenDocumentsAt returns the invoices and supplementary invoices of any period with amount_due > 0
	// that were effective at at (issued by then, not voided by then), as they stood then, without
	// lines: what standing at at needs to find past-due documents.
	OpenDocumentsAt(ctx context.Context, at time.Time) ([]invoices.Document, error)
	// ConsumedAt returns, per grant id, the credits consumed at at: by the documents issued at or
	// before it and not voided by then.
	ConsumedAt(ctx context.Context, at time.Time) (map[string]rating.Cents, error)
	// Issue inserts doc in one transaction: it assigns the next number of the series
	// (prefix INV or CN, year of doc.IssuedAt) from a counter row, stores lines and consumptions, and
	// voids doc.Replaces (setting voided_at = doc.IssuedAt) when set. It sets doc.ID and doc.Number. It
	// returns an error wrapping invoices.ErrAlreadyIssued when the account already has an effective
	// invoice for the period (and doc is an invoice that replaces nothing), leaving nothing written.
	Issue(ctx context.Context, doc *invoices.Document) error
	// IssueBatch issues docs in one transaction, in slice order, each exactly as Issue would one after
	// the other (so each series' numbers follow the slice order without gaps), and sets every doc's ID
	// and Number. It is all or nothing: when one document fails, nothing is written and no doc's ID or
	// Number is set; the error names the document and wraps Issue's reason for it, e.g.
	// invoices.ErrAlreadyIssued when its account already has an effective invoice for the period.
	IssueBatch(ctx context.Context, docs []*invoices.Document) error
	// HasDocuments reports whether any document of period p was ever issued, void ones included.
	HasDocuments(ctx context.Context, p rating.Period) (bool, error)
	// DocumentNumbers returns the number of every document ever issued, void ones included.
	DocumentNumbers(ctx context.Context) ([]string, error)
	// Void marks an effective document void at voidedAt without a replacement, returning its credits.
	Void(ctx context.Context, number string, voidedAt time.Time) error

	// StartRun inserts a run record with status running.
	StartRun(ctx context.Context, run *invoices.Run) error
	// FinishRun updates a run's status, end time, manifest, counts and totals.
	FinishRun(ctx context.Context, run *invoices.Run) error
	// AbandonRuns records as failed the runs of period p of the given kinds still marked running (their
	// process died: the caller holds the period's lock) and returns how many.
	AbandonRuns(ctx context.Context, p rating.Period, kinds []invoices.RunKind, at time.Time) (int64, error)
	// LatestRun returns the latest close or rerun of a period that succeeded, or invoices.ErrNotFound.
	LatestRun(ctx context.Context, p rating.Period) (*invoices.Run, error)
	// Closed reports whether a close, or a rerun of every account, of a period succeeded.
	Closed(ctx context.Context, p rating.Period) (bool, error)
	// LatestAttempt returns the latest close or rerun of a period whatever its status, or
	// invoices.ErrNotFound.
	LatestAttempt(ctx context.Context, p rating.Period) (*invoices.Run, error)
	// SaveRead records on a started run the manifest and counts of its read, and stores its rejects,
	// in one transaction.
	SaveRead(ctx context.Context, run *invoices.Run, rejects []rating.Reject) error
	// Rejects returns a run's rejects ordered by object then line.
	Rejects(ctx context.Context, runID string) ([]rating.Reject, error)

	// SaveStanding replaces the standing rows of the given accounts and appends events, in one
	// transaction.
	SaveStanding(ctx context.Context, rows []invoices.Standing, events []invoices.StandingEvent) error
	// Standing returns the stored standing rows, ordered by account.
	Standing(ctx context.Context) ([]invoices.Standing, error)
	// StandingEvents returns the history of standing changes, oldest first.
	StandingEvents(ctx context.Context) ([]invoices.StandingEvent, error)

	// Lock takes the run lock named key (e.g. "period:2026-10"). With wait false it returns an error
	// wrapping invoices.ErrLocked at once when another run holds it; with wait true it waits until ctx
	// ends. The returned func releases the lock.
	Lock(ctx context.Context, key string, wait bool) (release func(), err error)
	// LockReading takes the run lock key as Lock does, for a run that only reads while it holds it
	// (reconcile, export): on PostgreSQL it writes nothing to the database (Lock also writes the fence
	// that issuing transactions check). Nothing may be issued or voided under it.
	LockReading(ctx context.Context, key string, wait bool) (release func(), err error)
	// CheckLock returns nil while this store still holds the run lock key it took with Lock, and an
	// error wrapping invoices.ErrLockLost when it does not (its PostgreSQL session ended, its SQLite
	// lease expired or changed hands): a run checks it before each write, since another run may hold
	// the lock and be issuing the same accounts by then.
	CheckLock(ctx context.Context, key string) error

	// Checkpoint makes what was committed so far durable where the database leaves that to later
	// (SQLite's WAL with synchronous=NORMAL); it may take a while and does not block other writers.
	Checkpoint(ctx context.Context) error
	// TruncateWAL checkpoints everything and empties SQLite's WAL when no other connection is using
	// it, without waiting for one that is, so that closing the store has nothing left to do; it
	// does nothing on PostgreSQL.
	TruncateWAL(ctx context.Context) error

	Close() error
}
