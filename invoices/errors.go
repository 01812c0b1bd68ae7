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
	// ErrGrantConsumed: an import tried to change the amount of a grant that has consumption.
	ErrGrantConsumed = errors.New("grant has consumption; its amount cannot change")
)
