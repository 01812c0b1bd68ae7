package invoices

import "errors"

// Errors the store translates infrastructure failures into; test them with errors.Is.
var (
	// ErrNotFound: the record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyIssued: the account already has an effective document of that kind for the period.
	ErrAlreadyIssued = errors.New("already issued")
	// ErrLocked: another run holds the period's lock.
	ErrLocked = errors.New("another run holds the lock")
	// ErrLockLost: a run lock this process took is no longer held — its PostgreSQL session ended (a
	// database restart, a terminated backend, a dropped connection) or its SQLite lease expired — so
	// another run may hold it now.
	ErrLockLost = errors.New("the run lock was lost")
	// ErrPaid: a document to be voided has a payment recorded against it (paid before the void): a
	// rerun that decided to void it read the payments before that one was recorded.
	ErrPaid = errors.New("a payment is recorded against it")
	// ErrGrantOverdrawn: a document would consume more of a grant than it has left: the credits were
	// applied from balances another run has consumed since (a close of another month issuing at the
	// same time).
	ErrGrantOverdrawn = errors.New("overdrawn")
	// ErrGrantConsumed: an import tried to change the amount of a grant that has consumption.
	ErrGrantConsumed = errors.New("grant has consumption; its amount cannot change")
)
