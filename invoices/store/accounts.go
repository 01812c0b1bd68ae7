package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"billrun/invoices"
	"billrun/rating"
)

type accountRow struct {
	ID                 string         `db:"id"`
	Name               string         `db:"name"`
	Email              string         `db:"email"`
	PaymentMethod      bool           `db:"payment_method"`
	SpendLimitOverride sql.NullString `db:"spend_limit_override"`
}

type contractRow struct {
	AccountID string `db:"account_id"`
	Position  int    `db:"position"`
	Percent   string `db:"on_demand_discount_percent"`
	From      string `db:"from_at"`
	To        string `db:"to_at"`
}

type grantRow struct {
	ID        string         `db:"id"`
	AccountID string         `db:"account_id"`
	Kind      string         `db:"kind"`
	Amount    int64          `db:"amount_cents"`
	GrantedAt string         `db:"granted_at"`
	ExpiresAt sql.NullString `db:"expires_at"`
	Source    string         `db:"source"`
	Consumed  int64          `db:"consumed_cents"`
}

type paymentRow struct {
	ID         string `db:"id"`
	AccountID  string `db:"account_id"`
	Amount     int64  `db:"amount_cents"`
	PaidAt     string `db:"paid_at"`
	Invoice    string `db:"invoice"`
	ForCredits bool   `db:"for_credits"`
}

// bytewise returns the text column col for an ORDER BY that sorts by bytes, as Go compares strings and
// SQLite's default BINARY collation does. A PostgreSQL database created with a linguistic collation
// (en_US.UTF-8, an ICU locale: the default of many installations) would otherwise order ids like "a",
// "A", "_x" differently from SQLite, and the standing rows, their change events, payments and
// rejects would come out of the two backends in different orders.
func (s *Store) bytewise(col string) string {
	if s.dialect == dialectPostgres {
		return col + ` COLLATE "C"`
	}
	return col
}

// forShare is forUpdate's shared lock: rows read with it cannot be locked FOR UPDATE by another
// transaction until this one ends.
func (s *Store) forShare() string {
	if s.dialect == dialectPostgres {
		return " FOR SHARE"
	}
	return ""
}

// forUpdate locks the rows a read-modify-write selects; SQLite's immediate transactions already
// serialize writers.
func (s *Store) forUpdate() string {
	if s.dialect == dialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// Statement sizes of an import: accounts and contracts take 5 parameters a row, far below both
// databases' limits (see docsPerInsert); ids per IN list are idsPerSelect.
const (
	accountsPerInsert  = 500
	contractsPerInsert = 500
)

// errPaymentAccount fails an import with a payment that names another account's invoice.
var errPaymentAccount = errors.New("a payment must name an invoice of its own account")

// errCreditNoteGrantID fails an import with a grant whose id is, or may become, the id of the grant a
// credit note creates: that grant is named by the credit note's number (CN-YYYY-NNNNNN), and an
// imported grant of that id would take it over, or keep the credit note from being issued.
var errCreditNoteGrantID = errors.New("the ids of the form CN-YYYY-NNNNNN belong to the grants of billrun's credit notes: give the grant another id")

// errAccountWithoutID fails an import with an account record without an id.
var errAccountWithoutID = errors.New("account without id")

// ImportAccounts upserts the import's accounts (absent fields keep their stored values; a present
// contracts list replaces the stored one), grants and payments by id, in one transaction, and never
// deletes. Records apply in order, so a second record of an id applies on top of the first. The
// result counts the records inserted or changed, so a repeated import counts nothing.
// It fails, writing nothing, with an error wrapping invoices.ErrGrantConsumed when the amount (or
// account) of a grant with consumption by effective documents would change, and with one wrapping
// invoices.ErrNotFound when a payment names an account that exists neither in the database nor in the
// import (an *invoices.RecordError, as are a payment naming another account's invoice and a consumed
// or credit note's grant an import would change), and with an
// *invoices.RequiredFieldError when a grant or payment whose id is new leaves out a field a new record
// requires (a stored one keeps the fields its record leaves out).
func (s *Store) ImportAccounts(ctx context.Context, imp *invoices.Import) (invoices.ImportResult, error) {
	return s.importAccounts(ctx, imp, nil)
}

// ImportAccountsRun is ImportAccounts recorded as run (DESIGN §8), whose row is never left running: on
// success it is inserted succeeded, finished at end(), in the import's own transaction; when the
// import fails, having written nothing, it is inserted failed with the error. A process killed during
// the import leaves neither the import nor its run. run's status, end time and error are set as
// stored. It returns ImportAccounts' errors.
func (s *Store) ImportAccountsRun(ctx context.Context, imp *invoices.Import, run *invoices.Run, end func() time.Time) (invoices.ImportResult, error) {
	finish := func(err error) *invoices.Run {
		t := end()
		run.FinishedAt, run.Status, run.Error = &t, invoices.RunSucceeded, ""
		if err != nil {
			run.Status, run.Error = invoices.RunFailed, err.Error()
		}
		return run
	}
	res, err := s.importAccounts(ctx, imp, func(tx *sqlx.Tx) error { return s.insertRun(ctx, tx, finish(nil)) })
	if err != nil {
		if rerr := s.insertRun(context.WithoutCancel(ctx), s.db, finish(err)); rerr != nil {
			return res, fmt.Errorf("%w (and recording its run %s failed: %v)", err, run.ID, rerr)
		}
	}
	return res, err
}

// importAccounts is ImportAccounts; also, when set, runs last in its transaction.
func (s *Store) importAccounts(ctx context.Context, imp *invoices.Import, also func(tx *sqlx.Tx) error) (invoices.ImportResult, error) {
	for i := range imp.Accounts {
		if imp.Accounts[i].ID == "" {
			// The text names the (empty) id as every account error does.
			return invoices.ImportResult{}, fmt.Errorf("store: import accounts: account : %w", errAccountWithoutID)
		}
	}
	var res invoices.ImportResult
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		res = invoices.ImportResult{}
		n, err := s.importAccountRows(ctx, tx, imp.Accounts)
		if err != nil {
			return err
		}
		res.Accounts = n
		// Grants are rare in imports: one by one, after every account of the import exists.
		for i := range imp.Accounts {
			rec := &imp.Accounts[i]
			for _, g := range rec.Grants {
				changed, err := s.upsertGrant(ctx, tx, rec.ID, g, rec.GrantsLeftOut[g.ID])
				if err != nil {
					return fmt.Errorf("account %s grant %s: %w", rec.ID, g.ID, err)
				}
				if changed {
					res.Grants++
				}
			}
		}
		for _, p := range imp.Payments {
			changed, err := s.upsertPayment(ctx, tx, p, imp.PaymentsLeftOut[p.ID], &res)
			if err != nil {
				return fmt.Errorf("payment %s: %w", p.ID, err)
			}
			if changed {
				res.Payments++
			}
		}
		if also != nil {
			return also(tx)
		}
		return nil
	})
	if err != nil {
		return invoices.ImportResult{}, fmt.Errorf("store: import accounts: %w", err)
	}
	return res, nil
}

// importedAccount is one account of an import: its stored account row and contracts, and what the
// import's records have made of them so far.
type importedAccount struct {
	stored          accountRow
	exists          bool // stored is a row of the database
	row             accountRow
	present         bool // row is set: stored, or inserted by an earlier record
	setsContracts   bool // a record sets contracts: storedContracts were read
	storedContracts []contractRow
	contracts       []contractRow
}

// importAccountRows upserts the accounts and contracts of recs (whose ids are all set) with a few
// statements per 500 accounts and returns how many records changed something. It gives the result of
// applying the records one at a time, in order, each compared with the state the ones before it left:
// a record counts when it inserts its account, changes a field (decimals compared by value) or sets a
// contracts list that differs from the current one. It then writes each account's final state where
// that differs from what is stored; on PostgreSQL the accounts' rows stay locked until commit.
func (s *Store) importAccountRows(ctx context.Context, tx *sqlx.Tx, recs []invoices.AccountRecord) (int, error) {
	accts := make(map[string]*importedAccount, len(recs))
	var ids, contractIDs []string
	for i := range recs {
		a := accts[recs[i].ID]
		if a == nil {
			a = &importedAccount{}
			accts[recs[i].ID] = a
			ids = append(ids, recs[i].ID)
		}
		if recs[i].ContractsSet && !a.setsContracts {
			a.setsContracts = true
			contractIDs = append(contractIDs, recs[i].ID)
		}
	}
	// Read (and lock) in id order, so concurrent imports wait for each other rather than deadlock.
	slices.Sort(ids)
	slices.Sort(contractIDs)
	err := inChunks(ids, func(args []any) error {
		var rows []accountRow
		if err := tx.SelectContext(ctx, &rows, s.q(`SELECT id, name, email, payment_method, spend_limit_override
				FROM accounts WHERE id IN `+valuesList(1, len(args))+` ORDER BY `+s.bytewise("id")+s.forUpdate()), args...); err != nil {
			return fmt.Errorf("accounts %s–%s: %w", args[0], args[len(args)-1], err)
		}
		for _, r := range rows {
			a := accts[r.ID]
			a.stored, a.exists = r, true
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	err = inChunks(contractIDs, func(args []any) error {
		var rows []contractRow
		if err := tx.SelectContext(ctx, &rows, s.q(`SELECT account_id, position, on_demand_discount_percent, from_at, to_at
				FROM contracts WHERE account_id IN `+valuesList(1, len(args))+` ORDER BY `+s.bytewise("account_id")+`, position`),
			args...); err != nil {
			return fmt.Errorf("contracts of accounts %s–%s: %w", args[0], args[len(args)-1], err)
		}
		for _, r := range rows {
			a := accts[r.AccountID]
			a.storedContracts = append(a.storedContracts, r)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}

	changed := 0
	for _, a := range accts {
		a.row, a.present, a.contracts = a.stored, a.exists, a.storedContracts
	}
	for i := range recs {
		if accts[recs[i].ID].apply(&recs[i]) {
			changed++
		}
	}

	// Write final states that differ from the stored ones: exactly, not by value, so the text of a
	// decimal ends as the record that last changed the field wrote it.
	var upserts []accountRow
	var replaced, deletes []string
	for _, id := range ids {
		a := accts[id]
		if !a.exists || a.row != a.stored {
			upserts = append(upserts, a.row)
		}
	}
	for _, id := range contractIDs {
		a := accts[id]
		if !slices.Equal(a.contracts, a.storedContracts) {
			replaced = append(replaced, id)
			if len(a.storedContracts) > 0 {
				deletes = append(deletes, id)
			}
		}
	}
	if err := s.upsertAccountRows(ctx, tx, upserts); err != nil {
		return 0, err
	}
	err = inChunks(deletes, func(args []any) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM contracts WHERE account_id IN `+valuesList(1, len(args))),
			args...); err != nil {
			return fmt.Errorf("contracts of accounts %s–%s: %w", args[0], args[len(args)-1], err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var contracts []contractRow
	for _, id := range replaced {
		contracts = append(contracts, accts[id].contracts...)
	}
	if err := s.insertContractRows(ctx, tx, contracts); err != nil {
		return 0, err
	}
	return changed, nil
}

// apply applies rec to the account's current state, as upserting rec alone would, and reports
// whether that changed it.
func (a *importedAccount) apply(rec *invoices.AccountRecord) bool {
	row := a.row // the zero row when the account does not exist yet
	row.ID = rec.ID
	if rec.Name != nil {
		row.Name = *rec.Name
	}
	if rec.Email != nil {
		row.Email = *rec.Email
	}
	if rec.PaymentMethod != nil {
		row.PaymentMethod = *rec.PaymentMethod
	}
	if rec.SpendLimitOverrideSet {
		row.SpendLimitOverride = sql.NullString{}
		if rec.SpendLimitOverride != nil {
			row.SpendLimitOverride = sql.NullString{String: rec.SpendLimitOverride.String(), Valid: true}
		}
	}
	changed := !a.present || !sameAccountRow(a.row, row)
	if changed {
		a.row, a.present = row, true
	}
	if !rec.ContractsSet {
		return changed
	}
	want := make([]contractRow, len(rec.Contracts))
	for i, c := range rec.Contracts {
		want[i] = contractRow{AccountID: rec.ID, Position: i, Percent: c.OnDemandDiscountPercent.String(),
			From: fmtTime(c.From), To: fmtContractEnd(c.To)}
	}
	if slices.EqualFunc(a.contracts, want, sameContractRow) {
		return changed
	}
	a.contracts = want
	return true
}

const (
	accountInsertHead = `INSERT INTO accounts (id, name, email, payment_method, spend_limit_override) VALUES `
	accountUpsertTail = ` ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email,
		payment_method = excluded.payment_method, spend_limit_override = excluded.spend_limit_override`
	contractInsertHead = `INSERT INTO contracts (account_id, position, on_demand_discount_percent, from_at, to_at) VALUES `
)

// upsertAccountRows inserts or updates rows, whose ids are distinct (an upsert may not touch a row
// twice), accountsPerInsert at a time.
func (s *Store) upsertAccountRows(ctx context.Context, tx *sqlx.Tx, rows []accountRow) error {
	ins := s.newInserter(tx, "accounts", accountInsertHead, 5, accountsPerInsert)
	ins.tail = accountUpsertTail
	defer ins.close()
	for _, r := range rows {
		if err := ins.row(ctx, r.ID, r.Name, r.Email, r.PaymentMethod, r.SpendLimitOverride); err != nil {
			return err
		}
	}
	return ins.flush(ctx)
}

// insertContractRows inserts rows, contractsPerInsert at a time.
func (s *Store) insertContractRows(ctx context.Context, tx *sqlx.Tx, rows []contractRow) error {
	ins := s.newInserter(tx, "contracts", contractInsertHead, 5, contractsPerInsert)
	defer ins.close()
	for _, c := range rows {
		if err := ins.row(ctx, c.AccountID, c.Position, c.Percent, c.From, c.To); err != nil {
			return err
		}
	}
	return ins.flush(ctx)
}

func sameAccountRow(a, b accountRow) bool {
	return a.Name == b.Name && a.Email == b.Email && a.PaymentMethod == b.PaymentMethod &&
		a.SpendLimitOverride.Valid == b.SpendLimitOverride.Valid && sameDecimalText(a.SpendLimitOverride.String, b.SpendLimitOverride.String)
}

func sameContractRow(a, b contractRow) bool {
	return a.Position == b.Position && a.From == b.From && a.To == b.To && sameDecimalText(a.Percent, b.Percent)
}

// sameDecimalText compares two stored decimals by value ("0.20" equals "0.2"); empty equals empty.
func sameDecimalText(a, b string) bool {
	if a == b {
		return true
	}
	da, errA := decimal.NewFromString(a)
	db, errB := decimal.NewFromString(b)
	return errA == nil && errB == nil && da.Equal(db)
}

// consumed returns what effective documents have consumed of a grant.
func (s *Store) consumed(ctx context.Context, tx *sqlx.Tx, grantID string) (rating.Cents, error) {
	var c int64
	err := tx.GetContext(ctx, &c, s.q(`SELECT CAST(COALESCE(SUM(c.amount_cents), 0) AS BIGINT)
		FROM consumptions c JOIN documents d ON d.id = c.document_id
		WHERE c.grant_id = ? AND d.voided_at IS NULL`), grantID)
	return rating.Cents(c), err
}

// upsertGrant upserts g, whose record left out lo.Fields (DESIGN §11: fields left out of a record
// keep their stored values): a stored grant keeps those; a new one is refused with lo.IfNew when set.
func (s *Store) upsertGrant(ctx context.Context, tx *sqlx.Tx, accountID string, g invoices.Grant, lo invoices.LeftOut) (bool, error) {
	if g.ID == "" {
		return false, errors.New("grant without id")
	}
	if g.Account != "" && g.Account != accountID {
		return false, fmt.Errorf("grant names account %s", g.Account)
	}
	row := grantRow{ID: g.ID, AccountID: accountID, Kind: string(g.Kind), Amount: int64(g.Amount),
		GrantedAt: fmtTime(g.GrantedAt), ExpiresAt: fmtTimePtr(g.ExpiresAt), Source: g.Source}
	var old grantRow
	err := tx.GetContext(ctx, &old, s.q(`SELECT id, account_id, kind, amount_cents, granted_at, expires_at, source,
		0 AS consumed_cents FROM grants WHERE id = ?`+s.forUpdate()), g.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if lo.IfNew != nil {
			return false, lo.IfNew
		}
		if g.Source == "" && invoices.CreditNoteNumberLike(g.ID) {
			return false, errCreditNoteGrantID
		}
	case err != nil:
		return false, err
	}
	if err == nil && lo.Fields != 0 {
		if lo.Fields&invoices.GrantKindField != 0 {
			row.Kind = old.Kind
		}
		if lo.Fields&invoices.GrantAmountField != 0 {
			row.Amount = old.Amount
		}
		if lo.Fields&invoices.GrantGrantedAtField != 0 {
			row.GrantedAt = old.GrantedAt
		}
		if lo.Fields&invoices.GrantExpiresAtField != 0 {
			row.ExpiresAt = old.ExpiresAt
		}
		// The file checks expires_at against granted_at only when it has both.
		granted, perr := parseTime(row.GrantedAt)
		if perr != nil {
			return false, perr
		}
		expires, perr := parseTimePtr(row.ExpiresAt)
		if perr != nil {
			return false, perr
		}
		if expires != nil && !expires.After(granted) {
			return false, fmt.Errorf("granted_at %s is not before expires_at %s (a field left out keeps its stored value): give both",
				granted.Format(time.RFC3339), expires.Format(time.RFC3339))
		}
	}
	switch {
	case err != nil:
	case old == row:
		return false, nil
	case old.Source != "" && g.Source == "":
		// A credit note's grant, as billrun issued it: the same grant listed again changes nothing;
		// anything else would change a customer's credit behind the credit note's back.
		same := old
		same.Source = ""
		if same == row {
			return false, nil
		}
		return false, &invoices.RecordError{Kind: invoices.RecordGrant, ID: g.ID,
			Err: fmt.Errorf("it is the grant of credit note %s (account %s, %s): an import cannot change it: %w",
				old.Source, old.AccountID, rating.Cents(old.Amount), errCreditNoteGrantID)}
	case old.Amount != row.Amount || old.AccountID != row.AccountID:
		c, err := s.consumed(ctx, tx, g.ID)
		if err != nil {
			return false, err
		}
		if c != 0 {
			if old.AccountID != row.AccountID {
				// Listed under another account: the record as a whole is at fault.
				return false, &invoices.RecordError{Kind: invoices.RecordGrant, ID: g.ID,
					Err: fmt.Errorf("it is account %s's grant (%s, %s consumed), not %s's: %w",
						old.AccountID, rating.Cents(old.Amount), c, accountID, invoices.ErrGrantConsumed)}
			}
			return false, &invoices.RecordError{Kind: invoices.RecordGrant, ID: g.ID, Field: "amount",
				Err: fmt.Errorf("%s → %s, %s consumed: %w", rating.Cents(old.Amount), rating.Cents(row.Amount), c,
					invoices.ErrGrantConsumed)}
		}
	}
	_, err = tx.NamedExecContext(ctx, `INSERT INTO grants (id, account_id, kind, amount_cents, granted_at, expires_at, source)
		VALUES (:id, :account_id, :kind, :amount_cents, :granted_at, :expires_at, :source)
		ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, kind = excluded.kind,
			amount_cents = excluded.amount_cents, granted_at = excluded.granted_at,
			expires_at = excluded.expires_at, source = excluded.source`, row)
	return err == nil, err
}

// upsertPayment upserts p, whose record left out lo.Fields (DESIGN §11): a stored payment keeps
// those; a new one is refused with lo.IfNew when set. The account and invoice checks apply to the
// merged payment. A payment naming an invoice not issued is added to res.Unissued.
func (s *Store) upsertPayment(ctx context.Context, tx *sqlx.Tx, p invoices.Payment, lo invoices.LeftOut, res *invoices.ImportResult) (bool, error) {
	if p.ID == "" {
		return false, errors.New("payment without id")
	}
	row := paymentRow{ID: p.ID, AccountID: p.Account, Amount: int64(p.Amount), PaidAt: fmtTime(p.PaidAt),
		Invoice: p.Invoice, ForCredits: p.ForCredits}
	var old paymentRow
	err := tx.GetContext(ctx, &old, s.q(`SELECT id, account_id, amount_cents, paid_at, invoice, for_credits
		FROM payments WHERE id = ?`+s.forUpdate()), p.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if lo.IfNew != nil {
			return false, lo.IfNew
		}
	case err != nil:
		return false, err
	default:
		if lo.Fields&invoices.PaymentAccountField != 0 {
			row.AccountID = old.AccountID
		}
		if lo.Fields&invoices.PaymentAmountField != 0 {
			row.Amount = old.Amount
		}
		if lo.Fields&invoices.PaymentPaidAtField != 0 {
			row.PaidAt = old.PaidAt
		}
		if lo.Fields&invoices.PaymentPurposeField != 0 {
			row.Invoice, row.ForCredits = old.Invoice, old.ForCredits
		}
		if lo.Fields&invoices.PaymentInvoiceField != 0 {
			if old.Invoice == "" {
				return false, &invoices.RecordError{Kind: invoices.RecordPayment, ID: p.ID, Field: "invoice",
					Err: errors.New("missing: the stored payment buys credits, so for: invoice needs the number of the invoice it pays")}
			}
			row.Invoice = old.Invoice
		}
	}
	var n int
	if err := tx.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM accounts WHERE id = ?`), row.AccountID); err != nil {
		return false, err
	}
	if n == 0 {
		return false, &invoices.RecordError{Kind: invoices.RecordPayment, ID: p.ID, Field: "account",
			Err: fmt.Errorf("%q is an account neither of the import nor of the database: %w", row.AccountID, invoices.ErrNotFound)}
	}
	if row.Invoice != "" {
		// The invoice may not be issued yet (a payment file prepared ahead); once it is, it must be the
		// paying account's. Its row is read FOR SHARE on PostgreSQL: a rerun voiding it locks it FOR
		// UPDATE and then looks for payments of it (paidBefore), so the two take turns — the void sees
		// this payment once it is committed, or this payment lands after the void — rather than the
		// void missing a payment committed while it ran. (SQLite runs one writer at a time.)
		var owner []string
		if err := tx.SelectContext(ctx, &owner, s.q(`SELECT account_id FROM documents WHERE number = ?`+s.forShare()), row.Invoice); err != nil {
			return false, err
		}
		if len(owner) == 0 {
			res.Unissued = append(res.Unissued, invoices.UnissuedPayment{Payment: p.ID, Account: row.AccountID, Invoice: row.Invoice})
		}
		if len(owner) > 0 && owner[0] != row.AccountID {
			return false, &invoices.RecordError{Kind: invoices.RecordPayment, ID: p.ID, Field: "invoice",
				Err: fmt.Errorf("invoice %s is account %s's, not %s's: %w", row.Invoice, owner[0], row.AccountID, errPaymentAccount)}
		}
	}
	if err == nil && old == row {
		return false, nil
	}
	_, err = tx.NamedExecContext(ctx, `INSERT INTO payments (id, account_id, amount_cents, paid_at, invoice, for_credits)
		VALUES (:id, :account_id, :amount_cents, :paid_at, :invoice, :for_credits)
		ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, amount_cents = excluded.amount_cents,
			paid_at = excluded.paid_at, invoice = excluded.invoice, for_credits = excluded.for_credits`, row)
	return err == nil, err
}

// AccountIDs returns the id of every account, in ascending order: what a read needs to tell known
// accounts from unknown ones, without the contracts and grants Accounts loads.
func (s *Store) AccountIDs(ctx context.Context) ([]string, error) {
	var ids []string
	if err := s.db.SelectContext(ctx, &ids, `SELECT id FROM accounts ORDER BY `+s.bytewise("id")); err != nil {
		return nil, fmt.Errorf("store: account ids: %w", err)
	}
	return ids, nil
}

// Accounts returns every account with its contracts (in stored order) and grants (by granted_at, then
// id), each grant's Consumed summed over the consumptions of effective documents, in ascending id
// order.
func (s *Store) Accounts(ctx context.Context) ([]invoices.Account, error) {
	var accts []accountRow
	var contracts []contractRow
	var grants []grantRow
	err := s.read(ctx, func(tx *sqlx.Tx) error {
		if err := tx.SelectContext(ctx, &accts, `SELECT id, name, email, payment_method, spend_limit_override
			FROM accounts ORDER BY `+s.bytewise("id")); err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &contracts, `SELECT account_id, position, on_demand_discount_percent, from_at, to_at
			FROM contracts ORDER BY `+s.bytewise("account_id")+`, position`); err != nil {
			return err
		}
		// The consumption of every grant in one aggregate joined to the grants, not a subquery per grant:
		// on a PostgreSQL database whose tables had no statistics yet (a first close), the correlated
		// form was planned as a scan of consumptions and documents per grant, and a close of 20,000
		// accounts with 13,000 grants ran for minutes in it.
		return tx.SelectContext(ctx, &grants, `SELECT g.id, g.account_id, g.kind, g.amount_cents, g.granted_at,
				g.expires_at, g.source, CAST(COALESCE(u.consumed, 0) AS BIGINT) AS consumed_cents
			FROM grants g LEFT JOIN (
				SELECT c.grant_id, SUM(c.amount_cents) AS consumed
				FROM consumptions c JOIN documents d ON d.id = c.document_id
				WHERE d.voided_at IS NULL GROUP BY c.grant_id) u ON u.grant_id = g.id
			ORDER BY `+s.bytewise("g.account_id")+`, `+s.bytewise("g.granted_at")+`, `+s.bytewise("g.id"))
	})
	if err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	out := make([]invoices.Account, len(accts))
	index := make(map[string]*invoices.Account, len(accts))
	for i, r := range accts {
		a := invoices.Account{ID: r.ID, Name: r.Name, Email: r.Email, PaymentMethod: r.PaymentMethod}
		if r.SpendLimitOverride.Valid {
			d, err := decimal.NewFromString(r.SpendLimitOverride.String)
			if err != nil {
				return nil, fmt.Errorf("store: accounts: %s spend_limit_override: %w", r.ID, err)
			}
			a.SpendLimitOverride = &d
		}
		out[i] = a
		index[r.ID] = &out[i]
	}
	for _, r := range contracts {
		c, err := r.contract()
		if err != nil {
			return nil, fmt.Errorf("store: accounts: %s contract %d: %w", r.AccountID, r.Position, err)
		}
		a := index[r.AccountID]
		a.Contracts = append(a.Contracts, c)
	}
	for _, r := range grants {
		g, err := r.grant()
		if err != nil {
			return nil, fmt.Errorf("store: accounts: grant %s: %w", r.ID, err)
		}
		a := index[r.AccountID]
		a.Grants = append(a.Grants, g)
	}
	return out, nil
}

func (r contractRow) contract() (invoices.Contract, error) {
	pct, err := decimal.NewFromString(r.Percent)
	if err != nil {
		return invoices.Contract{}, err
	}
	from, err := parseTime(r.From)
	if err != nil {
		return invoices.Contract{}, err
	}
	var to time.Time // an open-ended contract's to_at is ''
	if r.To != "" {
		if to, err = parseTime(r.To); err != nil {
			return invoices.Contract{}, err
		}
	}
	return invoices.Contract{OnDemandDiscountPercent: pct, From: from, To: to}, nil
}

// fmtContractEnd is a contract's stored to_at: ” for an open-ended contract (a zero To).
func fmtContractEnd(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmtTime(t)
}

func (r grantRow) grant() (invoices.Grant, error) {
	granted, err := parseTime(r.GrantedAt)
	if err != nil {
		return invoices.Grant{}, err
	}
	expires, err := parseTimePtr(r.ExpiresAt)
	if err != nil {
		return invoices.Grant{}, err
	}
	return invoices.Grant{ID: r.ID, Account: r.AccountID, Kind: invoices.GrantKind(r.Kind),
		Amount: rating.Cents(r.Amount), GrantedAt: granted, ExpiresAt: expires,
		Consumed: rating.Cents(r.Consumed), Source: r.Source}, nil
}

// Payments returns every payment, ordered by paid_at then id.
func (s *Store) Payments(ctx context.Context) ([]invoices.Payment, error) {
	var rows []paymentRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT id, account_id, amount_cents, paid_at, invoice, for_credits
		FROM payments ORDER BY `+s.bytewise("paid_at")+`, `+s.bytewise("id")); err != nil {
		return nil, fmt.Errorf("store: payments: %w", err)
	}
	out := make([]invoices.Payment, len(rows))
	for i, r := range rows {
		paid, err := parseTime(r.PaidAt)
		if err != nil {
			return nil, fmt.Errorf("store: payments: %s: %w", r.ID, err)
		}
		out[i] = invoices.Payment{ID: r.ID, Account: r.AccountID, Amount: rating.Cents(r.Amount), PaidAt: paid,
			Invoice: r.Invoice, ForCredits: r.ForCredits}
	}
	return out, nil
}
