package invoices

import (
	"github.com/shopspring/decimal"
)

// Import is the content of an accounts file (DESIGN §6): accounts with their contracts and grants, and
// payments. Imports upsert by id and never delete; fields left out of a record keep their stored values.
type Import struct {
	Accounts []AccountRecord
	Payments []Payment
}

// AccountRecord is one account of an import. Nil fields were absent from the file.
type AccountRecord struct {
	ID                    string
	Name                  *string
	Email                 *string
	PaymentMethod         *bool
	SpendLimitOverrideSet bool             // spend_limit_override appeared in the record
	SpendLimitOverride    *decimal.Decimal // nil with Set: explicitly null (no override)
	Contracts             []Contract       // replaces the stored list when ContractsSet
	ContractsSet          bool
	Grants                []Grant // upserted by id; the amount of a grant with consumption never changes
	// GrantsExpiresAtLeftOut holds the ids of the grants whose record has no expires_at: a stored grant
	// keeps its expiry (a new one has none), where expires_at: null removes it (DESIGN §11).
	GrantsExpiresAtLeftOut map[string]bool
}

// ImportResult counts what an import changed.
type ImportResult struct {
	Accounts, Grants, Payments int
}
