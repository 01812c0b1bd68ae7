package store_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/rating"
)

// TestImportAccountsBulk pins what the set-based ImportAccounts could get wrong that the per-account
// code could not: records of one id applied in order, chunk boundaries, contracts written in bulk,
// all or nothing, and agreement with the per-account code it replaced.
func TestImportAccountsBulk(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"RepeatedID", testImportRepeatedID},
		{"ManyAccounts", testImportManyAccounts},
		{"AllOrNothing", testImportAllOrNothing},
		{"DecimalSpelling", testImportDecimalSpelling},
		{"OpenEndedContract", testImportOpenEndedContract},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, b.open(t)) })
			}
			t.Run("MatchesSequential", func(t *testing.T) { testImportMatchesSequential(t, b.open(t), b.open(t)) })
		})
	}
}

func contract(pct, from, to string) invoices.Contract {
	return invoices.Contract{OnDemandDiscountPercent: dec(pct), From: tm(from), To: tm(to)}
}

var (
	h1 = contract("10", "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z")
	h2 = contract("20", "2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z")
)

// contractsText is a's contracts as "10%[2026-01-01,2026-07-01) …", for comparisons.
func contractsText(a invoices.Account) string {
	var b strings.Builder
	for i, c := range a.Contracts {
		if i > 0 {
			b.WriteByte(' ')
		}
		end := "open"
		if !c.To.IsZero() {
			end = c.To.Format(time.DateOnly)
		}
		fmt.Fprintf(&b, "%s%%[%s,%s)", c.OnDemandDiscountPercent, c.From.Format(time.DateOnly), end)
	}
	return b.String()
}

// testImportRepeatedID: records of one id apply in order, each on top of what the ones before it left.
func testImportRepeatedID(t *testing.T, s *store.Store) {
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{
		{ID: "acct_a", Name: ptr("A"), Email: ptr("a@x.test"), PaymentMethod: ptr(true),
			SpendLimitOverrideSet: true, SpendLimitOverride: ptr(dec("100")),
			ContractsSet: true, Contracts: []invoices.Contract{h1}},
		{ID: "acct_b", Name: ptr("B")},
	}})
	imp := &invoices.Import{Accounts: []invoices.AccountRecord{
		/* 1 */ {ID: "acct_a", Name: ptr("A2")}, // A → A2: counts (1)
		/* 2 */ {ID: "acct_a", Email: ptr("a2@x.test"), SpendLimitOverrideSet: true}, // email, limit → null: counts (2); name stays A2
		/* 3 */ {ID: "acct_a", Name: ptr("A2"), ContractsSet: true, Contracts: []invoices.Contract{h1}}, // both as they are: no
		/* 4 */ {ID: "acct_a", ContractsSet: true, Contracts: []invoices.Contract{h2}}, // h1 → h2: counts (3)
		/* 5 */ {ID: "acct_a", ContractsSet: true, Contracts: []invoices.Contract{h2}}, // h2 as record 4 left it: no
		/* 6 */ {ID: "acct_b", Name: ptr("B2")}, // B → B2: counts (4)
		/* 7 */ {ID: "acct_b", Name: ptr("B")}, // B2 → B, the stored name again: counts (5)
		/* 8 */ {ID: "acct_n", Email: ptr("n@x.test")}, // new: counts (6)
		/* 9 */ {ID: "acct_n", PaymentMethod: ptr(true)}, // false → true: counts (7); email stays
		/* 10 */ {ID: "acct_n"}, // nothing: no
		/* 11 */ {ID: "acct_n", ContractsSet: true}, // no contracts → an empty list: no
	}}
	if got, want := mustImport(t, s, imp), (invoices.ImportResult{Accounts: 7}); !reflect.DeepEqual(got, want) {
		t.Errorf("import with repeated ids = %+v, want %+v", got, want)
	}
	check := func(when string) {
		t.Helper()
		accts := accountsByID(t, s)
		if a := accts["acct_a"]; a.Name != "A2" || a.Email != "a2@x.test" || !a.PaymentMethod || a.SpendLimitOverride != nil ||
			contractsText(a) != "20%[2026-07-01,2027-01-01)" {
			t.Errorf("%s: acct_a = %+v (contracts %s), want A2, a2@x.test, payment method, no override, the 20%% contract",
				when, a, contractsText(a))
		}
		if a := accts["acct_b"]; a.Name != "B" || a.Email != "" || a.PaymentMethod {
			t.Errorf("%s: acct_b = %+v, want B as stored", when, a)
		}
		if a := accts["acct_n"]; a.Name != "" || a.Email != "n@x.test" || !a.PaymentMethod || len(a.Contracts) != 0 {
			t.Errorf("%s: acct_n = %+v, want n@x.test with a payment method, no contracts", when, a)
		}
		if len(accts) != 3 {
			t.Errorf("%s: %d accounts, want 3", when, len(accts))
		}
	}
	check("after import")

	// Again: record 3 sets h1 over the h2 stored now (1), record 4 h2 back (2), record 6 B2 over B (3),
	// record 7 B back (4); every other record finds what it sets. The state ends the same.
	if got, want := mustImport(t, s, imp), (invoices.ImportResult{Accounts: 4}); !reflect.DeepEqual(got, want) {
		t.Errorf("repeated import with repeated ids = %+v, want %+v", got, want)
	}
	check("after repeated import")
}

// manyAccounts is the 1,203 accounts of testImportManyAccounts' second import, in descending id order.
const manyAccounts, manyExisting = 1203, 700

func manyID(i int) string { return fmt.Sprintf("acct_%04d", i) }

var (
	c12 = contract("12", "2026-01-01T00:00:00Z", "2026-07-01T00:00:00Z")
	c15 = contract("15.5", "2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z")
	c5  = contract("5", "2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z")
	c6  = contract("6", "2026-04-01T00:00:00Z", "2026-10-01T00:00:00Z")
	c7  = contract("7", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z")
)

// manyRecord is account i's record in the second import of testImportManyAccounts.
func manyRecord(i int) invoices.AccountRecord {
	if i >= manyExisting {
		rec := invoices.AccountRecord{ID: manyID(i), Name: ptr(fmt.Sprintf("new %d", i)), Email: ptr(manyID(i) + "@x.test")}
		if i%2 == 0 {
			rec.ContractsSet, rec.Contracts = true, []invoices.Contract{c5, c6, c7}
		}
		return rec
	}
	rec := invoices.AccountRecord{ID: manyID(i), Name: ptr(fmt.Sprintf("old %d", i))}
	if i%3 == 0 {
		rec.Name = ptr(fmt.Sprintf("new %d", i))
	}
	switch {
	case i%16 == 0:
		rec.ContractsSet, rec.Contracts = true, []invoices.Contract{h1} // as stored
	case i%8 == 4:
		rec.ContractsSet, rec.Contracts = true, []invoices.Contract{c12, c15}
	case i%16 == 8:
		rec.ContractsSet = true // none
	}
	return rec
}

// testImportManyAccounts imports more accounts than one statement carries: 700 existing ones and 503
// new ones, some changed, some not, some with contracts replaced, kept or emptied.
func testImportManyAccounts(t *testing.T, s *store.Store) {
	first := &invoices.Import{}
	for i := range manyExisting {
		rec := invoices.AccountRecord{ID: manyID(i), Name: ptr(fmt.Sprintf("old %d", i)), PaymentMethod: ptr(true)}
		if i%4 == 0 {
			rec.ContractsSet, rec.Contracts = true, []invoices.Contract{h1}
		}
		first.Accounts = append(first.Accounts, rec)
	}
	if got := mustImport(t, s, first); !reflect.DeepEqual(got, invoices.ImportResult{Accounts: manyExisting}) {
		t.Fatalf("first import = %+v, want %d accounts", got, manyExisting)
	}

	second := &invoices.Import{}
	for i := manyAccounts - 1; i >= 0; i-- {
		second.Accounts = append(second.Accounts, manyRecord(i))
	}
	// Of the 700 existing accounts (0…699), a record changes those whose name changes (i%3 == 0: 234)
	// or whose contracts it replaces (i%8 == 4) or empties (i%16 == 8), i.e. i%4 == 0 but not
	// i%16 == 0: 175 − 44 = 131; both: i%12 == 0 but not i%48 == 0: 59 − 15 = 44. So 234 + 131 − 44 =
	// 321, plus the 503 new ones (700…1202): 824. Ids in order, the reads go 0–499, 500–999, 1000–1202;
	// the upserts are 234 + 503 = 737 rows (500 + 237); the contracts inserted 87·2 + 252·3 = 930
	// (500 + 430).
	if got, want := mustImport(t, s, second), (invoices.ImportResult{Accounts: 824}); !reflect.DeepEqual(got, want) {
		t.Errorf("import of %d accounts = %+v, want %+v", manyAccounts, got, want)
	}

	after, err := s.Accounts(t.Context())
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	if len(after) != manyAccounts {
		t.Fatalf("Accounts() has %d accounts, want %d", len(after), manyAccounts)
	}
	// Existing accounts keep their payment method (absent from the records) and contracts i%16 == 0:
	// one, i%8 == 4: two, otherwise none; new ones have no payment method, even ones three contracts.
	// So 44 + 87·2 + 252·3 = 974 contracts.
	contracts := 0
	for i, a := range after {
		wantName, wantEmail, wantPM, wantContracts := fmt.Sprintf("old %d", i), "", true, ""
		if i%3 == 0 || i >= manyExisting {
			wantName = fmt.Sprintf("new %d", i)
		}
		switch {
		case i >= manyExisting:
			wantEmail, wantPM = manyID(i)+"@x.test", false
			if i%2 == 0 {
				wantContracts = "5%[2026-01-01,2026-04-01) 6%[2026-04-01,2026-10-01) 7%[2026-10-01,2027-01-01)"
			}
		case i%16 == 0:
			wantContracts = "10%[2026-01-01,2026-07-01)"
		case i%8 == 4:
			wantContracts = "12%[2026-01-01,2026-07-01) 15.5%[2026-07-01,2027-01-01)"
		}
		if a.ID != manyID(i) || a.Name != wantName || a.Email != wantEmail || a.PaymentMethod != wantPM ||
			a.SpendLimitOverride != nil || contractsText(a) != wantContracts {
			t.Errorf("Accounts()[%d] = %s %q %q payment method %v override %v contracts %q, want %s %q %q %v <nil> %q",
				i, a.ID, a.Name, a.Email, a.PaymentMethod, a.SpendLimitOverride, contractsText(a),
				manyID(i), wantName, wantEmail, wantPM, wantContracts)
		}
		contracts += len(a.Contracts)
	}
	if contracts != 974 {
		t.Errorf("%d contracts, want 974", contracts)
	}

	// The same import again changes nothing.
	if got := mustImport(t, s, second); !reflect.DeepEqual(got, invoices.ImportResult{}) {
		t.Errorf("repeated import = %+v, want nothing changed", got)
	}
	again, err := s.Accounts(t.Context())
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	if !reflect.DeepEqual(again, after) {
		t.Errorf("a repeated import changed the accounts")
	}
}

// testImportAllOrNothing: a failure anywhere, before or after the bulk writes, leaves every account as
// it was, and the error names the record.
func testImportAllOrNothing(t *testing.T, s *store.Store) {
	importAccounts(t, s, "acct_0001")
	before := accountsByID(t, s)

	var imp invoices.Import
	for i := range 600 {
		imp.Accounts = append(imp.Accounts, invoices.AccountRecord{ID: manyID(i), Name: ptr("renamed"),
			ContractsSet: true, Contracts: []invoices.Contract{h2}})
	}
	// The last record's grant names another account: it fails after all 600 accounts are written.
	imp.Accounts[599].Grants = []invoices.Grant{{ID: "cg_1", Account: "acct_0001", Kind: invoices.GrantFree,
		Amount: 100, GrantedAt: tm("2026-01-10T00:00:00Z")}}
	_, err := s.ImportAccounts(t.Context(), &imp)
	if err == nil || !strings.Contains(err.Error(), "account acct_0599 grant cg_1: ") {
		t.Errorf("import with a grant naming another account = %v, want an error naming account acct_0599 grant cg_1", err)
	}
	if got := accountsByID(t, s); !reflect.DeepEqual(got, before) {
		t.Errorf("a failed import left %d accounts (acct_0001 %+v), want %+v", len(got), got["acct_0001"], before)
	}

	// A record without an id fails the import, wherever it is.
	imp.Accounts[599].Grants = nil
	imp.Accounts[550].ID = ""
	_, err = s.ImportAccounts(t.Context(), &imp)
	if err == nil || !strings.Contains(err.Error(), "account without id") {
		t.Errorf("import with an account without id = %v, want an error saying so", err)
	}
	if got := accountsByID(t, s); !reflect.DeepEqual(got, before) {
		t.Errorf("a failed import left %d accounts, want %+v", len(got), before)
	}
}

// plantSpelled stores acct_s with the override 100 spelled "100.0" and one contract of 10% spelled
// "10.00" (h1's period), as an older billrun or a hand edit could leave them.
func plantSpelled(t *testing.T, s *store.Store) {
	t.Helper()
	for _, q := range []string{
		`INSERT INTO accounts (id, name, spend_limit_override) VALUES ('acct_s', 'S', '100.0')`,
		`INSERT INTO contracts (account_id, position, on_demand_discount_percent, from_at, to_at)
			VALUES ('acct_s', 0, '10.00', '` + store.FmtTime(h1.From) + `', '` + store.FmtTime(h1.To) + `')`,
	} {
		if _, err := store.DB(s).ExecContext(t.Context(), q); err != nil {
			t.Fatalf("plant rows: %v", err)
		}
	}
}

// spelled returns acct_s's stored override and contract percents, as text.
func spelled(t *testing.T, s *store.Store) string {
	t.Helper()
	var limit string
	var pcts []string
	db := store.DB(s)
	if err := db.GetContext(t.Context(), &limit, `SELECT COALESCE(spend_limit_override, 'NULL') FROM accounts WHERE id = 'acct_s'`); err != nil {
		t.Fatalf("read override: %v", err)
	}
	if err := db.SelectContext(t.Context(), &pcts, `SELECT on_demand_discount_percent FROM contracts
			WHERE account_id = 'acct_s' ORDER BY position`); err != nil {
		t.Fatalf("read contracts: %v", err)
	}
	return limit + " " + strings.Join(pcts, ",")
}

// testImportDecimalSpelling: decimals compare by value, so a record setting the stored value in
// another spelling changes nothing and the stored text stays; one that changes the value and another
// that sets it back leave the text the last one wrote, as the per-account code did.
func testImportDecimalSpelling(t *testing.T, s *store.Store) {
	plantSpelled(t, s)
	same := &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "acct_s", SpendLimitOverrideSet: true,
		SpendLimitOverride: ptr(dec("100")), ContractsSet: true, Contracts: []invoices.Contract{h1}}}}
	// 100 = 100.0 and 10 = 10.00: nothing counts, nothing is written.
	if got := mustImport(t, s, same); !reflect.DeepEqual(got, invoices.ImportResult{}) {
		t.Errorf("import of the stored values = %+v, want nothing changed", got)
	}
	if got, want := spelled(t, s), "100.0 10.00"; got != want {
		t.Errorf("stored override and contracts = %q, want %q (as planted)", got, want)
	}
	// 100.0 → 5 (1) → 100 (2), and 10.00 → 20 counts in the first record already, → 10 (3): written
	// as decimal.String spells them, though by value the final state is the stored one.
	there, back := ptr(dec("5")), ptr(dec("100"))
	imp := &invoices.Import{Accounts: []invoices.AccountRecord{
		{ID: "acct_s", SpendLimitOverrideSet: true, SpendLimitOverride: there, ContractsSet: true, Contracts: []invoices.Contract{h2}},
		{ID: "acct_s", SpendLimitOverrideSet: true, SpendLimitOverride: back},
		{ID: "acct_s", ContractsSet: true, Contracts: []invoices.Contract{h1}},
	}}
	if got, want := mustImport(t, s, imp), (invoices.ImportResult{Accounts: 3}); !reflect.DeepEqual(got, want) {
		t.Errorf("import there and back = %+v, want %+v", got, want)
	}
	if got, want := spelled(t, s), "100 10"; got != want {
		t.Errorf("stored override and contracts = %q, want %q", got, want)
	}
}

// tableDump returns the stored rows of the tables an import writes, one line each, in key order:
// their exact text, so a decimal stored as "100.0" differs from "100".
func tableDump(t *testing.T, s *store.Store) string {
	t.Helper()
	queries := []string{
		`SELECT id, name, email, CASE WHEN payment_method THEN 't' ELSE 'f' END, COALESCE(spend_limit_override, 'NULL')
			FROM accounts ORDER BY id`,
		`SELECT account_id, CAST(position AS TEXT), on_demand_discount_percent, from_at, to_at
			FROM contracts ORDER BY account_id, position`,
		`SELECT id, account_id, kind, CAST(amount_cents AS TEXT), granted_at, COALESCE(expires_at, 'NULL'), source
			FROM grants ORDER BY id`,
		`SELECT id, account_id, CAST(amount_cents AS TEXT), paid_at, invoice, CASE WHEN for_credits THEN 't' ELSE 'f' END
			FROM payments ORDER BY id`,
	}
	var b strings.Builder
	for _, q := range queries {
		rows, err := store.DB(s).QueryContext(t.Context(), q)
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
		cols, _ := rows.Columns()
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dump: %v", err)
			}
			b.WriteString(strings.Join(vals, "|") + "\n")
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("dump: %v", err)
		}
		rows.Close()
		b.WriteString("--\n")
	}
	return b.String()
}

// randomImport returns an import of n records over ids acct_00…acct_(ids-1), repeating some, with
// each field present or absent at random and values from small sets, so that records often set what
// is already there; now and then a grant, a payment, or a payment of an unknown account (which fails
// the import).
func randomImport(r *rand.Rand, n, ids int) *invoices.Import {
	pick := func(vals ...string) string { return vals[r.IntN(len(vals))] }
	lists := [][]invoices.Contract{nil, {h1}, {h2}, {h1, h2}}
	imp := &invoices.Import{}
	for range n {
		rec := invoices.AccountRecord{ID: fmt.Sprintf("acct_%02d", r.IntN(ids))}
		if r.IntN(2) == 0 {
			rec.Name = ptr(pick("A", "B", ""))
		}
		if r.IntN(3) == 0 {
			rec.Email = ptr(pick("a@x.test", "b@x.test"))
		}
		if r.IntN(3) == 0 {
			rec.PaymentMethod = ptr(r.IntN(2) == 0)
		}
		if r.IntN(3) == 0 {
			rec.SpendLimitOverrideSet = true
			if v := pick("", "100", "100.00", "5"); v != "" {
				rec.SpendLimitOverride = ptr(dec(v))
			}
		}
		if r.IntN(3) == 0 {
			rec.ContractsSet, rec.Contracts = true, lists[r.IntN(len(lists))]
		}
		if r.IntN(10) == 0 {
			rec.Grants = []invoices.Grant{{ID: fmt.Sprintf("cg_%d", r.IntN(4)), Kind: invoices.GrantFree,
				Amount: rating100(r), GrantedAt: tm("2026-01-10T00:00:00Z")}}
		}
		imp.Accounts = append(imp.Accounts, rec)
	}
	if r.IntN(3) == 0 {
		imp.Payments = append(imp.Payments, invoices.Payment{ID: fmt.Sprintf("pay_%d", r.IntN(3)),
			Account: fmt.Sprintf("acct_%02d", r.IntN(ids)), Amount: rating100(r), PaidAt: tm("2026-10-01T00:00:00Z")})
	}
	if r.IntN(12) == 0 {
		imp.Payments = append(imp.Payments, invoices.Payment{ID: "pay_ghost", Account: "acct_ghost", Amount: 1,
			PaidAt: tm("2026-10-01T00:00:00Z")})
	}
	return imp
}

func rating100(r *rand.Rand) rating.Cents { return rating.Cents(100 * (1 + r.IntN(3))) }

// testImportMatchesSequential runs the same random imports through ImportAccounts on bulk and through
// the per-account code it replaced on seq: results, errors and stored rows (exact text) must agree
// after each. Both start with rows whose decimals are stored in another spelling ("100.0", "10.00"),
// as an older billrun or a hand edit could leave them: a record setting the same value by value
// changes nothing, so the text stays unless a later record changed the field in between.
func testImportMatchesSequential(t *testing.T, bulk, seq *store.Store) {
	for _, s := range []*store.Store{bulk, seq} {
		db := store.DB(s)
		for _, q := range []string{
			`INSERT INTO accounts (id, name, spend_limit_override) VALUES ('acct_00', 'A', '100.0'), ('acct_01', 'B', '5.00')`,
			`INSERT INTO contracts (account_id, position, on_demand_discount_percent, from_at, to_at)
				VALUES ('acct_00', 0, '10.00', '` + store.FmtTime(tm("2026-01-01T00:00:00Z")) + `', '` +
				store.FmtTime(tm("2026-07-01T00:00:00Z")) + `')`,
		} {
			if _, err := db.ExecContext(t.Context(), q); err != nil {
				t.Fatalf("plant rows: %v", err)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	var failed, accounts, grants, payments int
	for round := range 60 {
		if round%3 == 2 {
			// Spell the integers stored so far "N.0" on both sides: the next records setting them again
			// compare by value and keep that text, unless one changed the value in between.
			for _, s := range []*store.Store{bulk, seq} {
				for _, q := range []string{
					`UPDATE accounts SET spend_limit_override = spend_limit_override || '.0'
						WHERE spend_limit_override NOT LIKE '%.%'`,
					`UPDATE contracts SET on_demand_discount_percent = on_demand_discount_percent || '.0'
						WHERE on_demand_discount_percent NOT LIKE '%.%'`,
				} {
					if _, err := store.DB(s).ExecContext(t.Context(), q); err != nil {
						t.Fatalf("respell: %v", err)
					}
				}
			}
		}
		imp := randomImport(r, 1+r.IntN(40), 12)
		got, gotErr := bulk.ImportAccounts(t.Context(), imp)
		want, wantErr := store.ImportAccountsSequential(seq, t.Context(), imp)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: ImportAccounts = %+v, %v; sequential = %+v, %v", round, got, gotErr, want, wantErr)
		}
		if g, w := tableDump(t, bulk), tableDump(t, seq); g != w {
			t.Fatalf("round %d: stored rows differ\nImportAccounts:\n%s\nsequential:\n%s", round, g, w)
		}
		if gotErr != nil {
			failed++
		}
		accounts, grants, payments = accounts+got.Accounts, grants+got.Grants, payments+got.Payments
	}
	// Not a degenerate sequence: some imports fail, the others change accounts, grants and payments.
	t.Logf("60 imports: %d failed; %d accounts, %d grants, %d payments changed", failed, accounts, grants, payments)
	if failed == 0 || failed > 20 || accounts < 200 || grants == 0 || payments == 0 {
		t.Errorf("random imports: %d failed; %d accounts, %d grants, %d payments changed: the generator no longer covers the cases",
			failed, accounts, grants, payments)
	}
}

// testImportOpenEndedContract: a contract with no end (a zero To) is stored as such and read back
// open-ended; importing it again changes nothing, and giving it an end later does.
func testImportOpenEndedContract(t *testing.T, s *store.Store) {
	open := invoices.Contract{OnDemandDiscountPercent: dec("15"), From: tm("2026-07-01T00:00:00Z")}
	rec := invoices.AccountRecord{ID: "acct_o", Name: ptr("O"), ContractsSet: true, Contracts: []invoices.Contract{h1, open}}
	if got := mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{rec}}); got.Accounts != 1 {
		t.Errorf("first import = %+v, want 1 account", got)
	}
	if got, want := contractsText(accountsByID(t, s)["acct_o"]), "10%[2026-01-01,2026-07-01) 15%[2026-07-01,open)"; got != want {
		t.Errorf("contracts = %s, want %s", got, want)
	}
	if got := mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{rec}}); got.Accounts != 0 {
		t.Errorf("the same import again = %+v, want nothing changed", got)
	}
	ended := open
	ended.To = tm("2027-01-01T00:00:00Z")
	rec.Contracts = []invoices.Contract{h1, ended}
	if got := mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{rec}}); got.Accounts != 1 {
		t.Errorf("import ending the contract = %+v, want 1 account", got)
	}
	if got, want := contractsText(accountsByID(t, s)["acct_o"]), "10%[2026-01-01,2026-07-01) 15%[2026-07-01,2027-01-01)"; got != want {
		t.Errorf("contracts after the end = %s, want %s", got, want)
	}
}
