package invoices

import (
	"github.com/shopspring/decimal"
)

// Import is the content of an accounts file (DESIGN §6): accounts with their contracts and grants, and
// payments. Imports upsert by id and never delete; fields left out of a record keep their stored values.
type Import struct {
	Accounts []AccountRecord
	Payments []Payment
	// PaymentsLeftOut holds, by payment id, what each payment record leaves out (none: not listed).
	PaymentsLeftOut map[string]LeftOut
	// PaymentsAt and GrantsAt hold, by payment and grant id, where the file writes the record ("":
	// "line 9: payment p3") and its fields ("account": "line 9: payment p3: account"), so that what only
	// the database can refuse — an account that does not exist, another account's invoice, a new amount
	// for a grant with consumption — is named by the file's line, record and field as the file's other
	// errors are. Nil for an import built in code.
	PaymentsAt map[string]map[string]string
	GrantsAt   map[string]map[string]string
}

// RecordError refuses a payment or a grant of an import for what the database holds: a payment's
// account does not exist (Err wraps ErrNotFound) or the invoice it names is another account's; a
// grant with consumption would change amount or account (Err wraps ErrGrantConsumed), or the grant is
// a credit note's. Field is the record's field at fault ("account", "invoice", "amount"), or "" when
// the reason is the record as a whole.
type RecordError struct {
	Kind  RecordKind
	ID    string
	Field string
	Err   error
}

// RecordKind is the kind of record a RecordError refuses.
type RecordKind string

// The kinds of record a RecordError refuses.
const (
	RecordPayment RecordKind = "payment"
	RecordGrant   RecordKind = "grant"
)

// Error names the field and the reason; the store's error around it names the record.
func (e *RecordError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

// Unwrap returns the reason, so errors.Is(err, ErrNotFound) holds for an unknown account.
func (e *RecordError) Unwrap() error { return e.Err }

// At returns where the file writes the record e refuses, with the field: "line 9: payment p3:
// account"; "" when imp does not know (an import built in code).
func (imp *Import) At(e *RecordError) string {
	at := imp.PaymentsAt[e.ID]
	if e.Kind == RecordGrant {
		at = imp.GrantsAt[e.ID]
	}
	if w := at[e.Field]; w != "" {
		return w
	}
	w := at[""]
	if w != "" && e.Field != "" {
		w += ": " + e.Field
	}
	return w
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
	// GrantsLeftOut holds, by grant id, what each grant record leaves out (none: not listed). A new
	// grant without expires_at has none, where expires_at: null removes a stored grant's expiry.
	GrantsLeftOut map[string]LeftOut
}

// Fields is a set of the fields of a grant or of a payment record, one bit each.
type Fields uint8

// The fields of a grant record.
const (
	GrantKindField Fields = 1 << iota
	GrantAmountField
	GrantGrantedAtField
	GrantExpiresAtField
)

// The fields of a payment record; its purpose is invoice and for, given together.
const (
	PaymentAccountField Fields = 1 << iota
	PaymentAmountField
	PaymentPaidAtField
	PaymentPurposeField
	// PaymentInvoiceField: the record says for: invoice and leaves the invoice out, which a stored
	// payment of an invoice keeps (one that buys credits cannot: which invoice it pays is unknown).
	PaymentInvoiceField
)

// LeftOut is what a grant or payment record of an import leaves out (DESIGN §11): a record whose id is
// stored keeps those fields' stored values; one whose id is new is refused with IfNew when that is
// set (it leaves out a field a new record requires).
type LeftOut struct {
	Fields Fields
	IfNew  *RequiredFieldError
}

// RequiredFieldError refuses a new grant or payment that leaves out a field a new record requires. Its
// text names the accounts file's line, the record and the field, as every error of the file does:
//
//	line 5: account acct_1, credits[1] (cg_3): kind: missing, want free, purchased, promotional or credit_note
type RequiredFieldError struct{ Msg string }

func (e *RequiredFieldError) Error() string { return e.Msg }

// RequireNew returns the first error that refuses a grant or payment of imp as a new record, nil when
// there is none: where every record is new (accounts from the file alone, rate --accounts).
func (imp *Import) RequireNew() error {
	for _, rec := range imp.Accounts {
		for _, g := range rec.Grants {
			if e := rec.GrantsLeftOut[g.ID].IfNew; e != nil {
				return e
			}
		}
	}
	for _, p := range imp.Payments {
		if e := imp.PaymentsLeftOut[p.ID].IfNew; e != nil {
			return e
		}
	}
	return nil
}

// ImportResult counts what an import changed.
type ImportResult struct {
	Accounts, Grants, Payments int
	// Unissued lists the import's payments that name an invoice not issued (yet), in file order: they
	// are stored, and pay nothing until an invoice of that number is issued to their account.
	Unissued []UnissuedPayment
}

// UnissuedPayment is a payment naming an invoice number no document has.
type UnissuedPayment struct {
	Payment, Account, Invoice string
}
