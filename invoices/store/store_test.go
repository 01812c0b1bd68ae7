package store_test

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
	"billrun/jobs"
	"billrun/rating"
)

var _ jobs.Store = (*store.Store)(nil)

// backend opens a fresh, empty store for one test.
type backend struct {
	name string
	open func(t *testing.T) *store.Store
}

var backends = []backend{{"sqlite", openSQLite}, {"postgres", openPostgres}}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openSQLite(t *testing.T) *store.Store { return storetest.OpenSQLite(t) }

// openPostgres opens a store in a schema of its own, dropped when the test ends.
func openPostgres(t *testing.T) *store.Store { return storetest.OpenPostgres(t) }

// TestStore runs the store contract on every backend.
func TestStore(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"ImportUpsert", testImportUpsert},
		{"AccountIDs", testAccountIDs},
		{"ImportPaymentNeedsAccount", testImportPaymentNeedsAccount},
		{"ImportListsUnissuedInvoices", testImportListsUnissuedInvoices},
		{"GrantConsumption", testGrantConsumption},
		{"IssueNumbering", testIssueNumbering},
		{"Replacement", testReplacement},
		{"Void", testVoid},
		{"VoidRefusesPaid", testVoidRefusesPaid},
		{"DocumentRoundTrip", testDocumentRoundTrip},
		{"DocumentsOfOnePeriod", testDocumentsOfOnePeriod},
		{"DocumentHeadersAndLines", testDocumentHeadersAndLines},
		{"HasDocuments", testHasDocuments},
		{"ConcurrentIssue", testConcurrentIssue},
		{"Runs", testRuns},
		{"Rejects", testRejects},
		{"AbandonRuns", testAbandonRuns},
		{"AbandonSweeps", testAbandonSweeps},
		{"ImportAccountsRun", testImportAccountsRun},
		{"Standing", testStanding},
		{"StandingMany", testStandingMany},
		{"Lock", testLock},
		{"IssueBatchNumbering", testIssueBatchNumbering},
		{"IssueBatchAllOrNothing", testIssueBatchAllOrNothing},
		{"IssueBatchReplacement", testIssueBatchReplacement},
		{"IssueBatchLinesRollBack", testIssueBatchLinesRollBack},
		{"IssueBatchCanceled", testIssueBatchCanceled},
	}
	// Cases that compare two fresh stores of the same database.
	pairs := []struct {
		name string
		fn   func(t *testing.T, a, b *store.Store)
	}{
		{"IssueBatchMatchesIssue", testIssueBatchMatchesIssue},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, b.open(t)) })
			}
			for _, tc := range pairs {
				t.Run(tc.name, func(t *testing.T) { tc.fn(t, b.open(t), b.open(t)) })
			}
		})
	}
}

// TestRemote: PostgreSQL is a server every statement is a round trip to; SQLite is not.
func TestRemote(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			if got, want := b.open(t).Remote(), b.name == "postgres"; got != want {
				t.Errorf("Remote() = %v, want %v", got, want)
			}
		})
	}
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func tm(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ptr[T any](v T) *T { return &v }

var (
	oct = rating.Period{Year: 2026, Month: time.October}
	nov = rating.Period{Year: 2026, Month: time.November}
)

func mustImport(t *testing.T, s *store.Store, imp *invoices.Import) invoices.ImportResult {
	t.Helper()
	res, err := s.ImportAccounts(t.Context(), imp)
	if err != nil {
		t.Fatalf("ImportAccounts: %v", err)
	}
	return res
}

func accountsByID(t *testing.T, s *store.Store) map[string]invoices.Account {
	t.Helper()
	accts, err := s.Accounts(t.Context())
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	m := make(map[string]invoices.Account)
	for _, a := range accts {
		m[a.ID] = a
	}
	return m
}

// importAccounts creates plain accounts with a payment method.
func importAccounts(t *testing.T, s *store.Store, ids ...string) {
	t.Helper()
	imp := &invoices.Import{}
	for _, id := range ids {
		imp.Accounts = append(imp.Accounts, invoices.AccountRecord{ID: id, Name: ptr("Account " + id), PaymentMethod: ptr(true)})
	}
	mustImport(t, s, imp)
}

// invoice returns a one-line invoice for account and period, issued at issued.
func invoice(account string, p rating.Period, issued time.Time, cents rating.Cents) *invoices.Document {
	due := issued.Add(15 * 24 * time.Hour)
	return &invoices.Document{Account: account, Period: p, Kind: invoices.KindInvoice, IssuedAt: issued, DueAt: &due,
		RunID: "run-1",
		Lines: []rating.Line{{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput, Description: "m, input tokens",
			Quantity: dec("1000000"), Unit: "1M tokens", UnitPrice: cents.Decimal(), Unrounded: cents.Decimal(), Amount: cents}},
		Subtotal: cents, AmountDue: cents}
}

func mustIssue(t *testing.T, s *store.Store, doc *invoices.Document) {
	t.Helper()
	if err := s.Issue(t.Context(), doc); err != nil {
		t.Fatalf("Issue(%s %s %s): %v", doc.Kind, doc.Account, doc.Period, err)
	}
}

func testAccountIDs(t *testing.T, s *store.Store) {
	ids, err := s.AccountIDs(t.Context())
	if err != nil || len(ids) != 0 {
		t.Fatalf("AccountIDs of an empty store = %q, %v; want none", ids, err)
	}
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "acct_b"}, {ID: "acct_a"}, {ID: "acct_c"}}})
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "acct_0"}}}) // imports never delete
	ids, err = s.AccountIDs(t.Context())
	if want := []string{"acct_0", "acct_a", "acct_b", "acct_c"}; err != nil || !slices.Equal(ids, want) {
		t.Errorf("AccountIDs = %q, %v; want %q", ids, err, want)
	}
}

func testImportUpsert(t *testing.T, s *store.Store) {
	full := &invoices.Import{
		Accounts: []invoices.AccountRecord{{
			ID: "acct_1", Name: ptr("Acme AI"), Email: ptr("billing@acme.test"), PaymentMethod: ptr(true),
			SpendLimitOverrideSet: true, SpendLimitOverride: ptr(dec("1000.50")),
			ContractsSet: true,
			Contracts: []invoices.Contract{{OnDemandDiscountPercent: dec("15"),
				From: tm("2026-01-01T00:00:00Z"), To: tm("2027-01-01T00:00:00Z")}},
			Grants: []invoices.Grant{
				{ID: "cg_1", Kind: invoices.GrantFree, Amount: 100, GrantedAt: tm("2026-01-10T00:00:00Z")},
				{ID: "cg_2", Kind: invoices.GrantPurchased, Amount: 10000, GrantedAt: tm("2026-09-02T10:00:00.5Z"),
					ExpiresAt: ptr(tm("2027-09-02T10:00:00Z"))},
			},
		}},
		Payments: []invoices.Payment{
			{ID: "pay_2", Account: "acct_1", Amount: 4217, PaidAt: tm("2026-10-05T08:00:00Z"), Invoice: "INV-2026-000123"},
			{ID: "pay_1", Account: "acct_1", Amount: 10000, PaidAt: tm("2026-09-02T10:00:00Z"), ForCredits: true},
		},
	}
	// pay_2 names an invoice the store has not issued: stored, and listed as such.
	unissued := []invoices.UnissuedPayment{{Payment: "pay_2", Account: "acct_1", Invoice: "INV-2026-000123"}}
	if got, want := mustImport(t, s, full), (invoices.ImportResult{Accounts: 1, Grants: 2, Payments: 2, Unissued: unissued}); !reflect.DeepEqual(got, want) {
		t.Errorf("first import = %+v, want %+v", got, want)
	}
	a := accountsByID(t, s)["acct_1"]
	if a.Name != "Acme AI" || a.Email != "billing@acme.test" || !a.PaymentMethod {
		t.Errorf("account = %+v", a)
	}
	if a.SpendLimitOverride == nil || !a.SpendLimitOverride.Equal(dec("1000.5")) {
		t.Errorf("SpendLimitOverride = %v, want 1000.50", a.SpendLimitOverride)
	}
	if len(a.Contracts) != 1 || !a.Contracts[0].OnDemandDiscountPercent.Equal(dec("15")) ||
		!a.Contracts[0].From.Equal(tm("2026-01-01T00:00:00Z")) || !a.Contracts[0].To.Equal(tm("2027-01-01T00:00:00Z")) {
		t.Errorf("Contracts = %+v", a.Contracts)
	}
	if len(a.Grants) != 2 {
		t.Fatalf("Grants = %+v, want 2", a.Grants)
	}
	g := a.Grants[1]
	if g.ID != "cg_2" || g.Account != "acct_1" || g.Kind != invoices.GrantPurchased || g.Amount != 10000 ||
		!g.GrantedAt.Equal(tm("2026-09-02T10:00:00.5Z")) || g.ExpiresAt == nil || !g.ExpiresAt.Equal(tm("2027-09-02T10:00:00Z")) ||
		g.Consumed != 0 {
		t.Errorf("grant cg_2 = %+v", g)
	}
	if a.Grants[0].ExpiresAt != nil {
		t.Errorf("grant cg_1 ExpiresAt = %v, want nil", a.Grants[0].ExpiresAt)
	}
	pays, err := s.Payments(t.Context())
	if err != nil {
		t.Fatalf("Payments: %v", err)
	}
	if len(pays) != 2 || pays[0].ID != "pay_1" || !pays[0].ForCredits || pays[0].Amount != 10000 ||
		pays[1].ID != "pay_2" || pays[1].Invoice != "INV-2026-000123" || !pays[1].PaidAt.Equal(tm("2026-10-05T08:00:00Z")) {
		t.Errorf("Payments = %+v", pays)
	}

	// The same file again changes nothing; its payment still names an invoice not issued.
	if got := mustImport(t, s, full); !reflect.DeepEqual(got, invoices.ImportResult{Unissued: unissued}) {
		t.Errorf("repeated import = %+v, want nothing changed", got)
	}

	// A partial record keeps the fields it leaves out.
	got := mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "acct_1", Email: ptr("ap@acme.test")}}})
	if !reflect.DeepEqual(got, invoices.ImportResult{Accounts: 1}) {
		t.Errorf("partial import = %+v, want 1 account", got)
	}
	a = accountsByID(t, s)["acct_1"]
	if a.Name != "Acme AI" || a.Email != "ap@acme.test" || !a.PaymentMethod || a.SpendLimitOverride == nil ||
		len(a.Contracts) != 1 || len(a.Grants) != 2 {
		t.Errorf("after partial import: %+v", a)
	}

	// An explicit null override clears it; a contracts list replaces the stored one.
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "acct_1", SpendLimitOverrideSet: true,
		ContractsSet: true, Contracts: []invoices.Contract{
			{OnDemandDiscountPercent: dec("10"), From: tm("2026-01-01T00:00:00Z"), To: tm("2026-07-01T00:00:00Z")},
			{OnDemandDiscountPercent: dec("12.5"), From: tm("2026-07-01T00:00:00Z"), To: tm("2027-01-01T00:00:00Z")},
		}}}})
	a = accountsByID(t, s)["acct_1"]
	if a.SpendLimitOverride != nil {
		t.Errorf("SpendLimitOverride = %v, want nil", a.SpendLimitOverride)
	}
	if len(a.Contracts) != 2 || !a.Contracts[1].OnDemandDiscountPercent.Equal(dec("12.50")) {
		t.Errorf("Contracts = %+v, want the two new ones", a.Contracts)
	}
	if p := a.ContractPercent(tm("2026-08-01T00:00:00Z")); !p.Equal(dec("12.5")) {
		t.Errorf("ContractPercent(2026-08) = %s, want 12.5", p)
	}
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "acct_1", ContractsSet: true}}})
	if a = accountsByID(t, s)["acct_1"]; len(a.Contracts) != 0 {
		t.Errorf("Contracts = %+v, want none after an empty list", a.Contracts)
	}

	// A grant without consumption may change; a bare new account gets defaults.
	got = mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{
		{ID: "acct_1", Grants: []invoices.Grant{{ID: "cg_1", Kind: invoices.GrantFree, Amount: 500, GrantedAt: tm("2026-01-10T00:00:00Z")}}},
		{ID: "acct_0"},
	}})
	if !reflect.DeepEqual(got, invoices.ImportResult{Accounts: 1, Grants: 1}) {
		t.Errorf("import = %+v, want 1 account and 1 grant", got)
	}
	accts, err := s.Accounts(t.Context())
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	if len(accts) != 2 || accts[0].ID != "acct_0" || accts[0].Name != "" || accts[0].PaymentMethod || accts[1].Grants[0].Amount != 500 {
		t.Errorf("Accounts = %+v", accts)
	}
}

func testImportPaymentNeedsAccount(t *testing.T, s *store.Store) {
	_, err := s.ImportAccounts(t.Context(), &invoices.Import{
		Accounts: []invoices.AccountRecord{{ID: "acct_new"}},
		Payments: []invoices.Payment{{ID: "pay_x", Account: "acct_ghost", Amount: 100, PaidAt: tm("2026-10-01T00:00:00Z")}},
	})
	if !errors.Is(err, invoices.ErrNotFound) || !strings.Contains(err.Error(), "pay_x") {
		t.Fatalf("ImportAccounts with a payment of an unknown account = %v, want ErrNotFound naming pay_x", err)
	}
	// The payment and its field are told apart from the text, so the caller can name the file's line.
	var pe *invoices.RecordError
	if !errors.As(err, &pe) || pe.ID != "pay_x" || pe.Field != "account" {
		t.Errorf("ImportAccounts with a payment of an unknown account = %#v, want a RecordError of pay_x, account", err)
	}
	if accts := accountsByID(t, s); len(accts) != 0 {
		t.Errorf("a failed import wrote accounts: %+v", accts)
	}
	// An account created by the same import is enough.
	mustImport(t, s, &invoices.Import{
		Accounts: []invoices.AccountRecord{{ID: "acct_new"}},
		Payments: []invoices.Payment{{ID: "pay_x", Account: "acct_new", Amount: 100, PaidAt: tm("2026-10-01T00:00:00Z")}},
	})
	// A payment may name an invoice not issued yet; one issued to another account is refused, and the
	// whole import with it.
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "acct_other"}},
		Payments: []invoices.Payment{{ID: "pay_ahead", Account: "acct_new", Amount: 100, PaidAt: tm("2026-11-05T00:00:00Z"),
			Invoice: "INV-2026-000001"}}})
	doc := invoice("acct_new", oct, tm("2026-11-01T02:00:00Z"), 100)
	mustIssue(t, s, doc)
	_, err = s.ImportAccounts(t.Context(), &invoices.Import{
		Accounts: []invoices.AccountRecord{{ID: "acct_later"}},
		Payments: []invoices.Payment{{ID: "pay_wrong", Account: "acct_other", Amount: 100, PaidAt: tm("2026-11-05T00:00:00Z"),
			Invoice: doc.Number}}})
	if err == nil || !strings.Contains(err.Error(), "pay_wrong") || !strings.Contains(err.Error(), "acct_new") {
		t.Fatalf("a payment of %s naming acct_new's invoice = %v, want it refused", "acct_other", err)
	}
	if _, ok := accountsByID(t, s)["acct_later"]; ok {
		t.Errorf("the refused import wrote its account")
	}
}

func testGrantConsumption(t *testing.T, s *store.Store) {
	grant := invoices.Grant{ID: "cg_1", Kind: invoices.GrantPurchased, Amount: 1000, GrantedAt: tm("2026-01-10T00:00:00Z")}
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1", Name: ptr("A"), Grants: []invoices.Grant{grant}}}})

	doc := invoice("a1", oct, tm("2026-11-01T02:00:00Z"), 2500)
	doc.CreditsApplied, doc.AmountDue = 400, 2100
	doc.Consumptions = []invoices.Consumption{{GrantID: "cg_1", Amount: 400}}
	mustIssue(t, s, doc)
	if g := accountsByID(t, s)["a1"].Grants[0]; g.Consumed != 400 || g.Remaining() != 600 {
		t.Errorf("grant after issue = %+v, want 4.00 consumed", g)
	}
	checkPeriodConsumptions(t, s, oct, map[string]rating.Cents{"cg_1": 400})
	checkPeriodConsumptions(t, s, nov, map[string]rating.Cents{})

	// The consumed grant's amount cannot change; the failed import changes nothing else either.
	changed := grant
	changed.Amount = 2000
	_, err := s.ImportAccounts(t.Context(), &invoices.Import{Accounts: []invoices.AccountRecord{
		{ID: "a1", Name: ptr("renamed"), Grants: []invoices.Grant{changed}}}})
	if !errors.Is(err, invoices.ErrGrantConsumed) || !strings.Contains(err.Error(), "cg_1") {
		t.Fatalf("changing a consumed grant = %v, want ErrGrantConsumed naming cg_1", err)
	}
	if a := accountsByID(t, s)["a1"]; a.Name != "A" || a.Grants[0].Amount != 1000 {
		t.Errorf("failed import left %+v", a)
	}
	// Other fields of a consumed grant may change.
	later := grant
	later.ExpiresAt = ptr(tm("2028-01-01T00:00:00Z"))
	if got := mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1", Grants: []invoices.Grant{later}}}}); got.Grants != 1 {
		t.Errorf("import = %+v, want 1 grant changed", got)
	}

	// Consuming more than the grant holds is refused.
	over := invoice("a1", nov, tm("2026-12-01T02:00:00Z"), 2500)
	over.CreditsApplied, over.AmountDue = 700, 1800
	over.Consumptions = []invoices.Consumption{{GrantID: "cg_1", Amount: 700}}
	if err := s.Issue(t.Context(), over); err == nil || over.Number != "" {
		t.Errorf("overdrawing issue = %v (number %q), want an error", err, over.Number)
	}

	// Voiding gives the credit back, and the amount may then change.
	if err := s.Void(t.Context(), doc.Number, tm("2026-11-02T00:00:00Z")); err != nil {
		t.Fatalf("Void: %v", err)
	}
	// As of a time, what was consumed then: nothing before the issue (2026-11-01T02:00), 4.00 until
	// the void, nothing from the void on; and the invoice was open in between, as it stood then.
	for at, want := range map[string]rating.Cents{"2026-11-01T01:59:59Z": 0, "2026-11-01T02:00:00Z": 400,
		"2026-11-01T23:59:59Z": 400, "2026-11-02T00:00:00Z": 0} {
		got, err := s.ConsumedAt(t.Context(), tm(at))
		if err != nil {
			t.Fatal(err)
		}
		if got["cg_1"] != want {
			t.Errorf("ConsumedAt(%s) = %v, want cg_1 %s", at, got, want)
		}
		open, err := s.OpenDocumentsAt(t.Context(), tm(at))
		if err != nil {
			t.Fatal(err)
		}
		if wantOpen := want != 0; (len(open) == 1) != wantOpen || wantOpen && (open[0].Number != doc.Number || !open[0].Effective()) {
			t.Errorf("OpenDocumentsAt(%s) = %+v, want %s open: %v", at, open, doc.Number, wantOpen)
		}
	}
	if g := accountsByID(t, s)["a1"].Grants[0]; g.Consumed != 0 {
		t.Errorf("grant after void = %+v, want nothing consumed", g)
	}
	checkPeriodConsumptions(t, s, oct, map[string]rating.Cents{}) // a void document consumes nothing
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1", Grants: []invoices.Grant{changed}}}})
	if g := accountsByID(t, s)["a1"].Grants[0]; g.Amount != 2000 {
		t.Errorf("grant amount = %s, want 20.00", g.Amount)
	}
}

func testIssueNumbering(t *testing.T, s *store.Store) {
	importAccounts(t, s, "a1", "a2", "a3")
	at := tm("2026-11-01T02:00:00.123456789Z")
	var numbers []string
	for _, acct := range []string{"a1", "a2", "a3"} {
		d := invoice(acct, oct, at, 1000)
		mustIssue(t, s, d)
		numbers = append(numbers, d.Number)
		if d.ID == 0 {
			t.Errorf("%s: ID not set", acct)
		}
	}
	if want := []string{"INV-2026-000001", "INV-2026-000002", "INV-2026-000003"}; !slices.Equal(numbers, want) {
		t.Errorf("numbers = %v, want %v", numbers, want)
	}

	// A duplicate effective invoice is refused by the database and leaves no gap.
	dup := invoice("a1", oct, at, 999)
	if err := s.Issue(t.Context(), dup); !errors.Is(err, invoices.ErrAlreadyIssued) {
		t.Fatalf("second invoice for a1 %s = %v, want ErrAlreadyIssued", oct, err)
	}
	if dup.Number != "" || dup.ID != 0 {
		t.Errorf("failed issue set number %q id %d", dup.Number, dup.ID)
	}
	next := invoice("a1", nov, tm("2026-12-01T02:00:00Z"), 1000)
	mustIssue(t, s, next)
	if next.Number != "INV-2026-000004" {
		t.Errorf("number after a failed issue = %s, want INV-2026-000004", next.Number)
	}

	// Supplementary invoices share the INV series and are not limited to one per period.
	for i := range 2 {
		sup := invoice("a1", oct, at, 100)
		sup.Kind, sup.Corrects = invoices.KindSupplementary, "INV-2026-000001"
		mustIssue(t, s, sup)
		if want := fmt.Sprintf("INV-2026-%06d", 5+i); sup.Number != want {
			t.Errorf("supplementary number = %s, want %s", sup.Number, want)
		}
	}

	// Credit notes have their own counter and create a credit_note grant.
	cn := &invoices.Document{Account: "a2", Period: oct, Kind: invoices.KindCreditNote, Corrects: "INV-2026-000002",
		IssuedAt: at, Lines: []rating.Line{{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput,
			Quantity: dec("-500000"), Unit: "1M tokens", UnitPrice: dec("3"), Unrounded: dec("-1.5"), Amount: -150}},
		Subtotal: -150}
	mustIssue(t, s, cn)
	if cn.Number != "CN-2026-000001" {
		t.Errorf("credit note number = %s, want CN-2026-000001", cn.Number)
	}
	grants := accountsByID(t, s)["a2"].Grants
	if len(grants) != 1 || grants[0].ID != cn.Number || grants[0].Kind != invoices.GrantCreditNote ||
		grants[0].Amount != 150 || grants[0].Source != cn.Number || grants[0].ExpiresAt != nil || !grants[0].GrantedAt.Equal(at) {
		t.Errorf("credit note grants = %+v", grants)
	}
	// An import cannot take over the credit note's grant (its id is the credit note's number): not for
	// another account, nor with another amount. Listing it again as it is changes nothing.
	cnGrant := grants[0]
	cnGrant.Source, cnGrant.Consumed = "", 0
	for _, c := range []struct {
		name    string
		account string
		g       invoices.Grant
	}{
		{"moved to another account", "a3", invoices.Grant{ID: cn.Number, Kind: invoices.GrantPromotional, Amount: 5000, GrantedAt: at}},
		{"a new amount", "a2", func() invoices.Grant { g := cnGrant; g.Amount = 1; return g }()},
	} {
		_, err := s.ImportAccounts(t.Context(), &invoices.Import{Accounts: []invoices.AccountRecord{{ID: c.account, Grants: []invoices.Grant{c.g}}}})
		if err == nil || !strings.Contains(err.Error(), "grant of credit note "+cn.Number) {
			t.Errorf("import of grant %s, %s = %v, want it refused as the credit note's grant", cn.Number, c.name, err)
		}
	}
	if res := mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a2", Grants: []invoices.Grant{cnGrant}}}}); res.Grants != 0 {
		t.Errorf("import of the credit note's grant as it is = %+v, want nothing changed", res)
	}
	if g := accountsByID(t, s)["a2"].Grants; len(g) != 1 || g[0].Amount != 150 || g[0].Source != cn.Number {
		t.Errorf("credit note grant after the imports = %+v, want it as issued", g)
	}
	// A grant that would take the id of a credit note yet to be issued is refused, so it cannot keep
	// that credit note from being issued; ids merely like one are not.
	_, err := s.ImportAccounts(t.Context(), &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a3",
		Grants: []invoices.Grant{{ID: "CN-2026-000002", Kind: invoices.GrantFree, Amount: 100, GrantedAt: at}}}}})
	if err == nil || !strings.Contains(err.Error(), "CN-YYYY-NNNNNN") {
		t.Errorf("import of grant CN-2026-000002 = %v, want it refused: the id of a future credit note's grant", err)
	}
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a3", Grants: []invoices.Grant{
		{ID: "CN-2026-00002", Kind: invoices.GrantFree, Amount: 100, GrantedAt: at},
		{ID: "cn-2026-000002", Kind: invoices.GrantFree, Amount: 100, GrantedAt: at},
		{ID: "CN-2026-00000x", Kind: invoices.GrantFree, Amount: 100, GrantedAt: at}}}}})

	// Each year starts its own series, by the UTC year of issue.
	y27 := invoice("a3", rating.Period{Year: 2026, Month: time.December}, tm("2027-01-01T00:30:00+01:00"), 1000)
	mustIssue(t, s, y27)
	if y27.Number != "INV-2026-000007" {
		t.Errorf("number issued at 2026-12-31T23:30Z = %s, want INV-2026-000007", y27.Number)
	}
	y27b := invoice("a3", rating.Period{Year: 2027, Month: time.January}, tm("2027-02-01T00:00:00Z"), 1000)
	mustIssue(t, s, y27b)
	if y27b.Number != "INV-2027-000001" {
		t.Errorf("first number of 2027 = %s, want INV-2027-000001", y27b.Number)
	}
}

func testReplacement(t *testing.T, s *store.Store) {
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1", Grants: []invoices.Grant{
		{ID: "cg_1", Kind: invoices.GrantFree, Amount: 500, GrantedAt: tm("2026-01-01T00:00:00Z")}}}}})
	orig := invoice("a1", oct, tm("2026-11-01T02:00:00Z"), 1000)
	orig.CreditsApplied, orig.AmountDue = 500, 500
	orig.Consumptions = []invoices.Consumption{{GrantID: "cg_1", Amount: 500}}
	mustIssue(t, s, orig)

	repl := invoice("a1", oct, tm("2026-11-03T09:00:00.5Z"), 1200)
	repl.Replaces = orig.Number
	repl.CreditsApplied, repl.AmountDue = 500, 700
	repl.Consumptions = []invoices.Consumption{{GrantID: "cg_1", Amount: 500}}
	mustIssue(t, s, repl)

	docs, err := s.Documents(t.Context(), oct)
	if err != nil {
		t.Fatalf("Documents: %v", err)
	}
	if len(docs) != 2 || docs[0].Number != orig.Number || docs[1].Number != repl.Number {
		t.Fatalf("Documents = %+v", docs)
	}
	if docs[0].VoidedAt == nil || !docs[0].VoidedAt.Equal(repl.IssuedAt) || docs[1].VoidedAt != nil || docs[1].Replaces != orig.Number {
		t.Errorf("original voided at %v, replacement %+v", docs[0].VoidedAt, docs[1])
	}
	if g := accountsByID(t, s)["a1"].Grants[0]; g.Consumed != 500 {
		t.Errorf("consumed = %s, want 5.00 (the replacement's only)", g.Consumed)
	}

	// The replacement holds the slot now; the void original cannot be replaced again.
	if err := s.Issue(t.Context(), invoice("a1", oct, tm("2026-11-04T00:00:00Z"), 1)); !errors.Is(err, invoices.ErrAlreadyIssued) {
		t.Errorf("another invoice = %v, want ErrAlreadyIssued", err)
	}
	again := invoice("a1", oct, tm("2026-11-04T00:00:00Z"), 1)
	again.Replaces = orig.Number
	if err := s.Issue(t.Context(), again); !errors.Is(err, invoices.ErrAlreadyIssued) {
		t.Errorf("replacing a void invoice = %v, want ErrAlreadyIssued", err)
	}
	ghost := invoice("a1", oct, tm("2026-11-04T00:00:00Z"), 1)
	ghost.Replaces = "INV-2026-999999"
	if err := s.Issue(t.Context(), ghost); !errors.Is(err, invoices.ErrNotFound) {
		t.Errorf("replacing a missing invoice = %v, want ErrNotFound", err)
	}
	// The failed attempts consumed no numbers.
	next := invoice("a1", nov, tm("2026-12-01T00:00:00Z"), 1)
	mustIssue(t, s, next)
	if next.Number != "INV-2026-000003" {
		t.Errorf("next number = %s, want INV-2026-000003", next.Number)
	}
}

func testVoid(t *testing.T, s *store.Store) {
	importAccounts(t, s, "a1")
	d := invoice("a1", oct, tm("2026-11-01T02:00:00Z"), 1000)
	mustIssue(t, s, d)
	if err := s.Void(t.Context(), "INV-2026-000404", tm("2026-11-02T00:00:00Z")); !errors.Is(err, invoices.ErrNotFound) {
		t.Errorf("Void(missing) = %v, want ErrNotFound", err)
	}
	voidedAt := tm("2026-11-02T00:00:00.000000001Z")
	if err := s.Void(t.Context(), d.Number, voidedAt); err != nil {
		t.Fatalf("Void: %v", err)
	}
	if err := s.Void(t.Context(), d.Number, voidedAt); err == nil {
		t.Errorf("voiding twice succeeded")
	}
	// The slot is free again.
	mustIssue(t, s, invoice("a1", oct, tm("2026-11-03T00:00:00Z"), 900))
	docs, err := s.Documents(t.Context(), oct)
	if err != nil {
		t.Fatalf("Documents: %v", err)
	}
	if len(docs) != 2 || docs[0].VoidedAt == nil || !docs[0].VoidedAt.Equal(voidedAt) || docs[0].Effective() || !docs[1].Effective() {
		t.Errorf("Documents = %+v", docs)
	}
}

// testVoidRefusesPaid: a rerun decides to void an unpaid invoice from the payments it read first; a
// payment recorded against the invoice since (paid before the void) must stop the void — with a
// replacement or without — rather than stay on a void document while the replacement bills the
// full amount again. A payment paid at or after the void time is not the rerun's (it sees only
// payments before its --at), nor one naming the invoice from another account.
func testVoidRefusesPaid(t *testing.T, s *store.Store) {
	importAccounts(t, s, "a1", "a2", "a3")
	ctx := t.Context()
	var orig []*invoices.Document
	for _, a := range []string{"a1", "a2", "a3"} {
		d := invoice(a, oct, tm("2026-11-01T02:00:00Z"), 1000)
		mustIssue(t, s, d)
		orig = append(orig, d)
	}
	voidAt := tm("2026-11-05T00:00:00Z")
	mustImport(t, s, &invoices.Import{Payments: []invoices.Payment{
		{ID: "p1", Account: "a1", Amount: 100, PaidAt: tm("2026-11-04T00:00:00Z"), Invoice: orig[0].Number},
		{ID: "p2", Account: "a2", Amount: 100, PaidAt: tm("2026-11-04T23:59:59Z"), Invoice: orig[1].Number},
		{ID: "p3", Account: "a3", Amount: 100, PaidAt: voidAt, Invoice: orig[2].Number},
	}})
	repl := invoice("a1", oct, voidAt, 1200)
	repl.Replaces = orig[0].Number
	if err := s.Issue(ctx, repl); !errors.Is(err, invoices.ErrPaid) {
		t.Errorf("replacing a paid invoice = %v, want ErrPaid", err)
	}
	if err := s.Void(ctx, orig[1].Number, voidAt); !errors.Is(err, invoices.ErrPaid) {
		t.Errorf("voiding a paid invoice = %v, want ErrPaid", err)
	}
	docs, err := s.Documents(ctx, oct)
	if err != nil {
		t.Fatalf("Documents: %v", err)
	}
	if len(docs) != 3 || !docs[0].Effective() || !docs[1].Effective() {
		t.Fatalf("after refused voids: %+v, want the three originals effective", docs)
	}
	// Paid at the void time: not before it.
	if err := s.Void(ctx, orig[2].Number, voidAt); err != nil {
		t.Errorf("voiding an invoice paid at the void time: %v", err)
	}
	// The refused replacement consumed no number.
	next := invoice("a1", nov, tm("2026-12-01T00:00:00Z"), 1)
	mustIssue(t, s, next)
	if next.Number != "INV-2026-000004" {
		t.Errorf("next number = %s, want INV-2026-000004", next.Number)
	}
}

func testDocumentRoundTrip(t *testing.T, s *store.Store) {
	importAccounts(t, s, "a1", "a2")
	issued := tm("2026-11-01T02:00:00.987654321Z")
	due := issued.Add(15 * 24 * time.Hour)
	lines := []rating.Line{
		{Kind: rating.KindGPU, Product: "H100-80GB", Deployment: "dep-1", Meter: rating.MeterGPUSeconds,
			Description: "H100-80GB on deployment dep-1, GPU-seconds", Quantity: dec("3600.5"), Unit: "GPU-hour",
			UnitPrice: dec("8.00"), Unrounded: dec("8.001111111111111111111111"), Amount: 800},
		{Kind: rating.KindServerless, Product: "ft:my-model", BaseModel: "llama-8b", Meter: rating.MeterCachedInput,
			Description: "ft:my-model (priced as llama-8b), cached input tokens", Quantity: dec("1200000"), Unit: "1M tokens",
			UnitPrice: dec("0.20"), Unrounded: dec("0.24"), Amount: 24},
		{Kind: rating.KindFineTuning, Product: "job-1", BaseModel: "llama-8b", Meter: rating.MeterTrainingTokens,
			Description: "fine-tuning job job-1 on llama-8b, training tokens", Quantity: dec("1"), Unit: "1M tokens",
			UnitPrice: dec("0.025"), Unrounded: dec("0.000000025"), Amount: 0},
		{Kind: rating.KindDiscount, Product: "on_demand", Meter: rating.MeterDiscount,
			Description: "bulk on-demand discount 5% of GPU usage 8.00", Unrounded: dec("-0.400"), Amount: -40},
		// Texts that a database's bulk format must escape (PostgreSQL's COPY text: backslash, tab,
		// newline, carriage return; \N is its NULL) come back as they were.
		{Kind: rating.KindServerless, Product: "tab\there", BaseModel: `\N`, Deployment: "back\\slash", Meter: rating.MeterInput,
			Description: "line\nbreak\r\n and ünïcødé €", Quantity: dec("0"), Unit: `\`, UnitPrice: dec("0"), Unrounded: dec("0"),
			Amount: 0},
	}
	doc := &invoices.Document{Account: "a1", Period: oct, Kind: invoices.KindInvoice, IssuedAt: issued, DueAt: &due,
		RunID: "run-xyz", Lines: lines, Subtotal: 784, Discount: -40, AmountDue: 784}
	mustIssue(t, s, doc)
	zero := invoice("a2", oct, issued, 0) // fully paid by credits: not open
	mustIssue(t, s, zero)

	docs, err := s.Documents(t.Context(), oct)
	if err != nil {
		t.Fatalf("Documents: %v", err)
	}
	if len(docs) != 2 {
		t.Fatalf("Documents = %d docs, want 2", len(docs))
	}
	got := docs[0]
	if got.ID != doc.ID || got.Number != "INV-2026-000001" || got.Account != "a1" || got.Period != oct ||
		got.Kind != invoices.KindInvoice || !got.IssuedAt.Equal(issued) || got.DueAt == nil || !got.DueAt.Equal(due) ||
		got.VoidedAt != nil || got.RunID != "run-xyz" || got.Subtotal != 784 || got.Discount != -40 ||
		got.CreditsApplied != 0 || got.AmountDue != 784 || len(got.Consumptions) != 0 {
		t.Errorf("document = %+v", got)
	}
	if got.IssuedAt.Nanosecond() != 987654321 || got.IssuedAt.Location() != time.UTC {
		t.Errorf("IssuedAt = %v, want nanoseconds in UTC", got.IssuedAt)
	}
	if len(got.Lines) != len(lines) {
		t.Fatalf("lines = %d, want %d", len(got.Lines), len(lines))
	}
	for i, w := range lines {
		g := got.Lines[i]
		if g.Kind != w.Kind || g.Product != w.Product || g.BaseModel != w.BaseModel || g.Deployment != w.Deployment ||
			g.Meter != w.Meter || g.Description != w.Description || g.Unit != w.Unit || g.Amount != w.Amount ||
			!g.Quantity.Equal(w.Quantity) || !g.UnitPrice.Equal(w.UnitPrice) || !g.Unrounded.Equal(w.Unrounded) ||
			g.Key() != w.Key() {
			t.Errorf("line %d = %+v, want %+v", i, g, w)
		}
	}
	if d := got.Lines[3]; !d.Quantity.Equal(decimal.Zero) || !d.UnitPrice.Equal(decimal.Zero) || d.Unit != "" {
		t.Errorf("discount line = %+v, want no quantity, unit or price", d)
	}
	if rating.FormatPrice(got.Lines[1].UnitPrice) != "0.20" {
		t.Errorf("FormatPrice(stored 0.20) = %s", rating.FormatPrice(got.Lines[1].UnitPrice))
	}

	open, err := s.OpenDocumentsAt(t.Context(), doc.IssuedAt)
	if err != nil {
		t.Fatalf("OpenDocumentsAt: %v", err)
	}
	if len(open) != 1 || open[0].Number != doc.Number || open[0].Lines != nil || open[0].AmountDue != 784 {
		t.Errorf("OpenDocumentsAt(issue time) = %+v, want only %s without lines", open, doc.Number)
	}
	if open, err := s.OpenDocumentsAt(t.Context(), doc.IssuedAt.Add(-time.Nanosecond)); err != nil || len(open) != 0 {
		t.Errorf("OpenDocumentsAt(before the issue) = %+v, %v; want none", open, err)
	}
	if docs, err := s.Documents(t.Context(), nov); err != nil || len(docs) != 0 {
		t.Errorf("Documents(empty period) = %v, %v", docs, err)
	}
}

// testDocumentsOfOnePeriod: Documents(p) returns p's documents with their own lines and consumptions
// only, when documents of other periods were issued between them.
// testHasDocuments: a period has documents once one is issued, and still when it is void.
func testHasDocuments(t *testing.T, s *store.Store) {
	ctx := t.Context()
	importAccounts(t, s, "a1")
	has := func(p rating.Period) bool {
		t.Helper()
		ok, err := s.HasDocuments(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if has(oct) {
		t.Errorf("HasDocuments(2026-10) of an empty store = true")
	}
	doc := invoice("a1", oct, tm("2026-11-01T02:00:00Z"), 100)
	mustIssue(t, s, doc)
	if err := s.Void(ctx, doc.Number, tm("2026-11-02T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	if !has(oct) || has(sep) {
		t.Errorf("HasDocuments after a void October invoice: October %v, September %v; want true, false", has(oct), has(sep))
	}
}

func testDocumentsOfOnePeriod(t *testing.T, s *store.Store) {
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1", Grants: []invoices.Grant{
		{ID: "cg_1", Kind: invoices.GrantFree, Amount: 900, GrantedAt: tm("2026-01-01T00:00:00Z")}}}, {ID: "a2"}}})
	sep := rating.Period{Year: 2026, Month: time.September}
	at := tm("2026-11-01T02:00:00Z")
	var issued []*invoices.Document
	for i, p := range []rating.Period{oct, sep, oct, nov} {
		doc := invoice([]string{"a1", "a2", "a2", "a1"}[i], p, at, rating.Cents(1000*(i+1)))
		if doc.Account == "a1" {
			// 100 cents of credit on each of a1's documents, one consumption each.
			doc.CreditsApplied, doc.AmountDue = 100, doc.Subtotal-100
			doc.Consumptions = []invoices.Consumption{{GrantID: "cg_1", Amount: 100}}
		}
		doc.Lines = append(doc.Lines, doc.Lines[0])
		doc.Lines[1].Description = fmt.Sprintf("second line of document %d", i)
		mustIssue(t, s, doc)
		issued = append(issued, doc)
	}
	for _, tc := range []struct {
		p    rating.Period
		want []*invoices.Document
	}{{oct, []*invoices.Document{issued[0], issued[2]}}, {sep, issued[1:2]}, {nov, issued[3:]}} {
		docs, err := s.Documents(t.Context(), tc.p)
		if err != nil {
			t.Fatalf("Documents(%s): %v", tc.p, err)
		}
		if len(docs) != len(tc.want) {
			t.Fatalf("Documents(%s): %d documents, want %d", tc.p, len(docs), len(tc.want))
		}
		for i, d := range docs {
			w := tc.want[i]
			if d.Number != w.Number || len(d.Lines) != 2 || d.Lines[1].Description != w.Lines[1].Description ||
				len(d.Consumptions) != len(w.Consumptions) {
				t.Errorf("Documents(%s)[%d] = %s with %d lines (second %q), %d consumptions; want %s with 2 lines (%q), %d",
					tc.p, i, d.Number, len(d.Lines), d.Lines[len(d.Lines)-1].Description, len(d.Consumptions),
					w.Number, w.Lines[1].Description, len(w.Consumptions))
			}
		}
	}
}

func testConcurrentIssue(t *testing.T, s *store.Store) {
	const accounts, attempts = 8, 3
	var ids []string
	for i := range accounts {
		ids = append(ids, fmt.Sprintf("a%02d", i))
	}
	importAccounts(t, s, ids...)
	type result struct {
		number string
		err    error
	}
	results := make(chan result, accounts*attempts)
	var wg sync.WaitGroup
	for _, id := range ids {
		for range attempts {
			wg.Go(func() {
				d := invoice(id, oct, tm("2026-11-01T02:00:00Z"), 100)
				err := s.Issue(t.Context(), d)
				results <- result{d.Number, err}
			})
		}
	}
	wg.Wait()
	close(results)
	var numbers []string
	for r := range results {
		switch {
		case r.err == nil:
			numbers = append(numbers, r.number)
		case !errors.Is(r.err, invoices.ErrAlreadyIssued):
			t.Errorf("concurrent Issue: %v", r.err)
		}
	}
	slices.Sort(numbers)
	var want []string
	for i := range accounts {
		want = append(want, fmt.Sprintf("INV-2026-%06d", i+1))
	}
	if !slices.Equal(numbers, want) {
		t.Errorf("issued numbers = %v, want %v (one per account, gapless)", numbers, want)
	}
	docs, err := s.Documents(t.Context(), oct)
	if err != nil {
		t.Fatalf("Documents: %v", err)
	}
	if len(docs) != accounts {
		t.Errorf("%d documents stored, want %d", len(docs), accounts)
	}
}

func testRuns(t *testing.T, s *store.Store) {
	if _, err := s.LatestRun(t.Context(), oct); !errors.Is(err, invoices.ErrNotFound) {
		t.Errorf("LatestRun(no runs) = %v, want ErrNotFound", err)
	}
	if err := s.FinishRun(t.Context(), &invoices.Run{ID: "nope", Status: invoices.RunFailed}); !errors.Is(err, invoices.ErrNotFound) {
		t.Errorf("FinishRun(unknown) = %v, want ErrNotFound", err)
	}
	start := tm("2026-11-01T02:00:00.000001Z")
	mk := func(id string, kind invoices.RunKind, startedAt time.Time, status invoices.RunStatus) *invoices.Run {
		r := &invoices.Run{ID: id, Kind: kind, Period: oct, Scope: "all", At: tm("2026-11-01T02:00:00Z"), StartedAt: startedAt}
		if err := s.StartRun(t.Context(), r); err != nil {
			t.Fatalf("StartRun(%s): %v", id, err)
		}
		if r.Status != invoices.RunRunning {
			t.Errorf("StartRun status = %s, want running", r.Status)
		}
		r.Status = status
		fin := startedAt.Add(time.Minute)
		r.FinishedAt = &fin
		return r
	}
	close1 := mk("run-1", invoices.RunClose, start, invoices.RunSucceeded)
	close1.PriceBookHash = "sha256:abc"
	close1.Manifest = []rating.Object{{Key: "dt=2026-10-01/a.jsonl.gz", Size: 1234, ETag: `"e1"`}, {Key: "dt=2026-10-02/b.jsonl", Size: 5, ETag: "x"}}
	close1.Counts = rating.Counts{Objects: 2, Bytes: 1239, Lines: 10, EventsTaken: 9, Accepted: 7, Duplicates: 1, Rejected: 1,
		RejectsByCode: map[rating.RejectCode]int64{rating.RejectInvalidJSON: 1},
		Meters:        map[rating.Meter]decimal.Decimal{rating.MeterGPUSeconds: dec("3600.25"), rating.MeterInput: dec("1200000")}}
	close1.Totals = invoices.Totals{Documents: 3, Subtotal: 12345, Discount: -100, CreditsApplied: 45, AmountDue: 12300}
	if err := s.FinishRun(t.Context(), close1); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	failed := mk("run-2", invoices.RunRerun, start.Add(time.Hour), invoices.RunFailed)
	failed.Error = "boom"
	if err := s.FinishRun(t.Context(), failed); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	// A run that read no objects stores an empty manifest, not null: a reader of the runs table takes
	// the column as a list.
	var manifest string
	if err := store.DB(s).QueryRowContext(t.Context(), "SELECT manifest FROM runs WHERE id = 'run-2'").Scan(&manifest); err != nil || manifest != "[]" {
		t.Errorf("run-2's manifest column = %q, %v, want []", manifest, err)
	}
	sweep := mk("run-3", invoices.RunSweep, start.Add(2*time.Hour), invoices.RunSucceeded)
	if err := s.FinishRun(t.Context(), sweep); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	mk("run-4", invoices.RunRerun, start.Add(3*time.Hour), invoices.RunSucceeded) // still running

	// The latest close or rerun whatever its status: run-4, still running (run-3 is a sweep).
	if got, err := s.LatestAttempt(t.Context(), oct); err != nil || got.ID != "run-4" || got.Status != invoices.RunRunning {
		t.Errorf("LatestAttempt = %+v, %v; want run-4, running", got, err)
	}
	if _, err := s.LatestAttempt(t.Context(), rating.Period{Year: 2026, Month: time.September}); !errors.Is(err, invoices.ErrNotFound) {
		t.Errorf("LatestAttempt(a period without runs) = %v, want ErrNotFound", err)
	}
	got, err := s.LatestRun(t.Context(), oct)
	if err != nil {
		t.Fatalf("LatestRun: %v", err)
	}
	if got.ID != "run-1" || got.Kind != invoices.RunClose || got.Period != oct || got.Scope != "all" ||
		got.Status != invoices.RunSucceeded || !got.StartedAt.Equal(start) || got.FinishedAt == nil ||
		!got.FinishedAt.Equal(start.Add(time.Minute)) || !got.At.Equal(close1.At) || got.PriceBookHash != "sha256:abc" {
		t.Errorf("LatestRun = %+v", got)
	}
	if !slices.Equal(got.Manifest, close1.Manifest) || got.Totals != close1.Totals {
		t.Errorf("manifest/totals = %+v %+v", got.Manifest, got.Totals)
	}
	c := got.Counts
	if c.Objects != 2 || c.Bytes != 1239 || c.Lines != 10 || c.EventsTaken != 9 || c.Accepted != 7 || c.Duplicates != 1 ||
		c.Rejected != 1 || c.RejectsByCode[rating.RejectInvalidJSON] != 1 ||
		!c.Meters[rating.MeterGPUSeconds].Equal(dec("3600.25")) || !c.Meters[rating.MeterInput].Equal(dec("1200000")) {
		t.Errorf("counts = %+v", c)
	}

	rerun := mk("run-5", invoices.RunRerun, start.Add(4*time.Hour), invoices.RunSucceeded)
	if err := s.FinishRun(t.Context(), rerun); err != nil {
		t.Fatalf("FinishRun: %v", err)
	}
	if got, err := s.LatestRun(t.Context(), oct); err != nil || got.ID != "run-5" {
		t.Errorf("LatestRun = %v, %v, want run-5", got, err)
	}
	if got, err := s.LatestAttempt(t.Context(), oct); err != nil || got.ID != "run-5" {
		t.Errorf("LatestAttempt = %v, %v, want run-5", got, err)
	}
	if err := s.StartRun(t.Context(), &invoices.Run{ID: "run-5", Kind: invoices.RunClose, Period: oct}); err == nil {
		t.Errorf("StartRun with a used id succeeded")
	}
}

func testRejects(t *testing.T, s *store.Store) {
	for _, id := range []string{"run-a", "run-b"} {
		if err := s.StartRun(t.Context(), &invoices.Run{ID: id, Kind: invoices.RunClose, Period: oct, StartedAt: tm("2026-11-01T00:00:00Z")}); err != nil {
			t.Fatalf("StartRun: %v", err)
		}
	}
	const n = 1234 // more than one insert batch
	var rejects []rating.Reject
	for i := n - 1; i >= 0; i-- {
		rejects = append(rejects, rating.Reject{Object: fmt.Sprintf("dt=2026-10-%02d/x.jsonl", 1+i%3), Line: int64(i),
			EventID: fmt.Sprintf("ev-%d", i), Code: rating.RejectCodes[i%len(rating.RejectCodes)], Message: fmt.Sprintf("line %d: 'bad', \"worse\"", i)})
	}
	readA := &invoices.Run{ID: "run-a", Kind: invoices.RunClose, Period: oct,
		Manifest: []rating.Object{{Key: "dt=2026-10-01/x.jsonl", Size: 99, ETag: "e1"}},
		Counts:   rating.Counts{Objects: 1, Bytes: 99, Lines: n + 10, EventsTaken: 10, Accepted: 10, Rejected: n}}
	if err := s.SaveRead(t.Context(), readA, rejects); err != nil {
		t.Fatalf("SaveRead: %v", err)
	}
	if err := s.SaveRead(t.Context(), &invoices.Run{ID: "run-b"}, rejects[:3]); err != nil {
		t.Fatalf("SaveRead: %v", err)
	}
	// The read's counts and manifest are on the run's record while it runs, and stay there when a
	// later run finds it abandoned: the counts of the read the stored rejects came from.
	if _, err := s.AbandonRuns(t.Context(), oct, []invoices.RunKind{invoices.RunClose}, tm("2026-11-01T03:00:00Z")); err != nil {
		t.Fatalf("AbandonRuns: %v", err)
	}
	if r, err := store.RunByID(s, "run-a"); err != nil {
		t.Errorf("run-a: %v", err)
	} else if r.Status != invoices.RunFailed || r.Counts.Lines != n+10 || r.Counts.Rejected != n ||
		len(r.Manifest) != 1 || r.Manifest[0] != readA.Manifest[0] {
		t.Errorf("run-a after it was abandoned: %s, counts %+v, manifest %+v; want failed with the read's counts and manifest",
			r.Status, r.Counts, r.Manifest)
	}
	// A run never started: nothing is recorded, its rejects included.
	if err := s.SaveRead(t.Context(), &invoices.Run{ID: "run-none"}, rejects[:2]); !errors.Is(err, invoices.ErrNotFound) {
		t.Errorf("SaveRead of a run never started: %v, want ErrNotFound", err)
	}
	got, err := s.Rejects(t.Context(), "run-a")
	if err != nil {
		t.Fatalf("Rejects: %v", err)
	}
	want := slices.Clone(rejects)
	slices.SortFunc(want, func(a, b rating.Reject) int {
		return cmp.Or(strings.Compare(a.Object, b.Object), cmp.Compare(a.Line, b.Line))
	})
	if !slices.Equal(got, want) {
		t.Errorf("Rejects = %d rows (first %+v), want %d sorted by object and line (first %+v)", len(got), got[:1], len(want), want[:1])
	}
	if got, err := s.Rejects(t.Context(), "run-b"); err != nil || len(got) != 3 {
		t.Errorf("Rejects(run-b) = %d, %v, want 3", len(got), err)
	}
	if got, err := s.Rejects(t.Context(), "run-none"); err != nil || len(got) != 0 {
		t.Errorf("Rejects(unknown run) = %v, %v, want none", got, err)
	}
}

func testStanding(t *testing.T, s *store.Store) {
	importAccounts(t, s, "a1", "a2")
	at := tm("2026-11-01T02:00:00.5Z")
	rows := []invoices.Standing{
		{Account: "a2", Status: invoices.StandingSuspended, Reasons: []invoices.Reason{invoices.ReasonPastDueInvoice, invoices.ReasonNoPaymentMethod},
			Tier: 0, SpendLimit: 0, UsageLimit: 0, MonthUsage: 1234, CreditBalance: -500, HistoricalSpend: 0, EvaluatedAt: at, RunID: "run-1"},
		{Account: "a1", Status: invoices.StandingActive, Reasons: []invoices.Reason{}, Tier: 2, SpendLimit: 50000,
			UsageLimit: 50000, MonthUsage: 100, CreditBalance: 900, HistoricalSpend: 20000, EvaluatedAt: at, RunID: "run-1"},
	}
	events := []invoices.StandingEvent{
		{Account: "a2", At: at, NewStatus: invoices.StandingSuspended, Reasons: rows[0].Reasons, RunID: "run-1"},
		{Account: "a1", At: at, NewStatus: invoices.StandingActive, RunID: "run-1"},
	}
	if err := s.SaveStanding(t.Context(), rows, events); err != nil {
		t.Fatalf("SaveStanding: %v", err)
	}
	// A later evaluation replaces a2's row and appends an event.
	later := at.Add(time.Hour)
	a2 := invoices.Standing{Account: "a2", Status: invoices.StandingActive, Tier: 1, SpendLimit: 5000, UsageLimit: 5000,
		MonthUsage: 1234, CreditBalance: 0, HistoricalSpend: 10000, EvaluatedAt: later, RunID: "run-2"}
	if err := s.SaveStanding(t.Context(), []invoices.Standing{a2}, []invoices.StandingEvent{{Account: "a2", At: later,
		OldStatus: invoices.StandingSuspended, NewStatus: invoices.StandingActive, OldReasons: rows[0].Reasons, RunID: "run-2"}}); err != nil {
		t.Fatalf("SaveStanding: %v", err)
	}
	got, err := s.Standing(t.Context())
	if err != nil {
		t.Fatalf("Standing: %v", err)
	}
	if len(got) != 2 || got[0].Account != "a1" || got[1].Account != "a2" {
		t.Fatalf("Standing = %+v, want a1, a2", got)
	}
	w := rows[1]
	if g := got[0]; g.Status != w.Status || len(g.Reasons) != 0 || g.Reasons == nil || g.Tier != 2 || g.SpendLimit != w.SpendLimit ||
		g.UsageLimit != w.UsageLimit || g.MonthUsage != w.MonthUsage || g.CreditBalance != w.CreditBalance ||
		g.HistoricalSpend != w.HistoricalSpend || !g.EvaluatedAt.Equal(at) || g.RunID != "run-1" {
		t.Errorf("a1 standing = %+v", g)
	}
	if g := got[1]; g.Status != invoices.StandingActive || g.Tier != 1 || !g.EvaluatedAt.Equal(later) || g.RunID != "run-2" || g.HistoricalSpend != 10000 {
		t.Errorf("a2 standing = %+v, want the later evaluation", g)
	}
	evs, err := s.StandingEvents(t.Context())
	if err != nil {
		t.Fatalf("StandingEvents: %v", err)
	}
	if len(evs) != 3 || evs[0].Account != "a2" || evs[1].Account != "a1" || evs[2].RunID != "run-2" {
		t.Fatalf("StandingEvents = %+v", evs)
	}
	if e := evs[0]; e.OldStatus != "" || !slices.Equal(e.Reasons, rows[0].Reasons) || len(e.OldReasons) != 0 || !e.At.Equal(at) {
		t.Errorf("first event = %+v", e)
	}
	if e := evs[2]; e.OldStatus != invoices.StandingSuspended || !slices.Equal(e.OldReasons, rows[0].Reasons) || len(e.Reasons) != 0 {
		t.Errorf("last event = %+v", e)
	}
}

func testLock(t *testing.T, s *store.Store) {
	ctx := t.Context()
	release, err := s.Lock(ctx, "period:2026-10", false)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if _, err := s.Lock(ctx, "period:2026-10", false); !errors.Is(err, invoices.ErrLocked) {
		t.Fatalf("second Lock = %v, want ErrLocked", err)
	}
	other, err := s.Lock(ctx, "period:2026-11", false)
	if err != nil {
		t.Fatalf("Lock(other key): %v", err)
	}
	other()

	// A waiter times out with ErrLocked and its context's error.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, "period:2026-10", true); !errors.Is(err, invoices.ErrLocked) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting Lock past its deadline = %v, want ErrLocked and DeadlineExceeded", err)
	}

	// A waiter gets the lock once it is released.
	got := make(chan error, 1)
	var waiterRelease func()
	go func() {
		r, err := s.Lock(ctx, "period:2026-10", true)
		waiterRelease = r
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("waiter returned %v while the lock was held", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	release() // a second release is harmless
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("waiting Lock: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("waiter did not get the lock after release")
	}
	if _, err := s.Lock(ctx, "period:2026-10", false); !errors.Is(err, invoices.ErrLocked) {
		t.Errorf("Lock while the waiter holds it = %v, want ErrLocked", err)
	}
	waiterRelease()
	again, err := s.Lock(ctx, "period:2026-10", false)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	again()
}

// TestSQLiteLease checks that a held lease is renewed and that an expired one can be taken over.
func TestSQLiteLease(t *testing.T) {
	s := openSQLite(t)
	store.SetLeaseTiming(s, 400*time.Millisecond, 50*time.Millisecond)
	release, err := s.Lock(t.Context(), "k", false)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	time.Sleep(time.Second) // longer than the lease: only renewal keeps it
	if _, err := s.Lock(t.Context(), "k", false); !errors.Is(err, invoices.ErrLocked) {
		t.Errorf("Lock of a renewed lease = %v, want ErrLocked", err)
	}
	release()

	// A crashed holder's lease expires.
	if _, err := store.DB(s).ExecContext(t.Context(), `INSERT INTO run_locks (key, holder, expires_at) VALUES (?, ?, ?)`,
		"crashed", "host/1/dead", store.FmtTime(time.Now().Add(-time.Second))); err != nil {
		t.Fatalf("plant lease: %v", err)
	}
	r, err := s.Lock(t.Context(), "crashed", false)
	if err != nil {
		t.Fatalf("Lock of an expired lease: %v", err)
	}
	r()
}

// TestSQLiteReopen checks that migrations apply once and a reopened store sees the data.
func TestSQLiteReopen(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "b.db")
	for i := range 2 {
		s, err := store.Open(t.Context(), dsn, testLogger(t))
		if err != nil {
			t.Fatalf("Open #%d: %v", i+1, err)
		}
		if i == 0 {
			importAccounts(t, s, "a1")
		} else if len(accountsByID(t, s)) != 1 {
			t.Errorf("reopened store lost its account")
		}
		s.Close()
	}
}

// TestSQLitePageSize checks that a new SQLite database gets 64 KiB pages in WAL mode, and that an
// existing one keeps the page size it was created with.
func TestSQLitePageSize(t *testing.T) {
	pragmas := func(t *testing.T, path string) (size int, mode string) {
		t.Helper()
		s, err := store.Open(t.Context(), "sqlite:"+path, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := store.DB(s).QueryRowContext(t.Context(), "PRAGMA page_size").Scan(&size); err != nil {
			t.Fatal(err)
		}
		if err := store.DB(s).QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		return size, mode
	}
	fresh := filepath.Join(t.TempDir(), "fresh.db")
	if size, mode := pragmas(t, fresh); size != 65536 || mode != "wal" {
		t.Errorf("new database: page size %d, journal mode %s; want 65536, wal", size, mode)
	}
	if size, _ := pragmas(t, fresh); size != 65536 {
		t.Errorf("reopened: page size %d, want 65536", size)
	}
	// A database another tool created with the default page size keeps it.
	old := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE x (a)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if size, mode := pragmas(t, old); size != 4096 || mode != "wal" {
		t.Errorf("existing database: page size %d, journal mode %s; want 4096, wal", size, mode)
	}
}

func TestRedacted(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://billrun:s3cret@db:5432/billrun?sslmode=disable", "postgres://billrun:xxxxx@db:5432/billrun?sslmode=disable"},
		{"postgresql://u:p%40ss@h/db", "postgresql://u:xxxxx@h/db"},
		{"postgres://u@h/db?password=s3cret&sslmode=require", "postgres://u@h/db?password=xxxxx&sslmode=require"},
		{"postgres://h/db", "postgres://h/db"},
		{"sqlite:billrun.db", "sqlite:billrun.db"},
		{"host=db user=u password=s3cret dbname=x", "host=db user=u password=xxxxx dbname=x"},
		{"postgres://u:pa@ss/w#rd@h/db", "postgres://u:xxxxx@h/db"},
		// Keyword/value DSNs as libpq reads them: a quoted password may hold spaces and escaped quotes,
		// and = may have spaces around it. Only "cretPW'" of the first was hidden before.
		{"host=x user=u password='se cretPW' dbname=x", "host=x user=u password=xxxxx dbname=x"},
		{`host=x password='it\'s s3cret' dbname=x`, "host=x password=xxxxx dbname=x"},
		{"host=x password = s3cret dbname=x", "host=x password = xxxxx dbname=x"},
		{"host=x password='s3cret dbname=x", "host=x password=xxxxx"},
		// libpq reads backslash escapes in an unquoted value too: "se\ cret" is the password "se cret",
		// of which " cret" was left showing.
		{`host=x password=se\ cret dbname=x`, "host=x password=xxxxx dbname=x"},
		{`host=x password=s3cret\`, "host=x password=xxxxx"},
	}
	for _, tc := range tests {
		if got := store.Redacted(tc.dsn); got != tc.want {
			t.Errorf("Redacted(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}

func TestOpenErrorsHidePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://billrun:hunter2secret@127.0.0.1:1/billrun?connect_timeout=2&sslmode=disable",
		"mysql://billrun:hunter2secret@db/x",
		// An unescaped @ in the password: the driver split at the first @ and named the rest a host.
		"postgres://billrun:hunter2@hunter2secret@127.0.0.1:1/billrun?connect_timeout=2&sslmode=disable",
		"postgresql://billrun:a@b@hunter2secret@127.0.0.1:1/billrun?connect_timeout=2&sslmode=disable",
		"postgres://billrun:hunter2/hunter2secret@127.0.0.1:1/billrun?connect_timeout=2&sslmode=disable",
		"postgres://billrun:hunter2?hunter2secret@127.0.0.1:1/billrun?connect_timeout=2&sslmode=disable",
		// A raw ? # or / before an @ of the password: the authority ended early for billrun's check.
		"postgres://billrun:p?x@hunter2secret@127.0.0.1:1/billrun?connect_timeout=2&sslmode=disable",
		"postgres://billrun:p#x@hunter2secret@127.0.0.1:1/billrun?connect_timeout=2&sslmode=disable",
		"postgres://billrun:p/x@hunter2secret@127.0.0.1:1/billrun?connect_timeout=2&sslmode=disable",
	} {
		_, err := store.Open(t.Context(), dsn, testLogger(t))
		if err == nil {
			t.Fatalf("Open(%s) succeeded", store.Redacted(dsn))
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
}

// testStandingMany saves the standing of more accounts than one statement carries on SQLite (500),
// twice — every row new, then every row replaced — and reads every field of every row back, and the
// events in the order given (one evaluation's events share their time; their ids order them).
func testStandingMany(t *testing.T, s *store.Store) {
	const n = 1234
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("acct_%05d", n-i) // descending: the events keep this order, the rows sort
	}
	importAccounts(t, s, ids...)
	at := tm("2026-11-01T02:00:00.5Z")
	for pass, runID := range []string{"run-1", "run-2"} {
		evaluated := at.Add(time.Duration(pass) * time.Hour)
		rows := make([]invoices.Standing, n)
		events := make([]invoices.StandingEvent, n)
		for i, id := range ids {
			st := invoices.Standing{Account: id, Status: invoices.StandingActive, Reasons: []invoices.Reason{},
				Tier: (i + pass) % 4, SpendLimit: rating.Cents(1000 * i), UsageLimit: rating.Cents(900*i + pass),
				MonthUsage: rating.Cents(i), CreditBalance: rating.Cents(-i), HistoricalSpend: rating.Cents(7 * i),
				EvaluatedAt: evaluated, RunID: runID}
			if (i+pass)%3 == 0 {
				st.Status, st.Reasons = invoices.StandingSuspended, []invoices.Reason{invoices.ReasonNoPaymentMethod, invoices.ReasonPastDueInvoice}
			}
			rows[i] = st
			events[i] = invoices.StandingEvent{Account: id, At: evaluated, NewStatus: st.Status, Reasons: st.Reasons, RunID: runID}
		}
		if err := s.SaveStanding(t.Context(), rows, events); err != nil {
			t.Fatalf("SaveStanding, pass %d: %v", pass+1, err)
		}
		got, err := s.Standing(t.Context())
		if err != nil {
			t.Fatalf("Standing: %v", err)
		}
		if len(got) != n {
			t.Fatalf("pass %d: %d standing rows, want %d", pass+1, len(got), n)
		}
		for k, g := range got {
			w := rows[n-1-k] // Standing is ordered by account, rows are descending
			if g.Account != w.Account || g.Status != w.Status || !slices.Equal(g.Reasons, w.Reasons) || g.Tier != w.Tier ||
				g.SpendLimit != w.SpendLimit || g.UsageLimit != w.UsageLimit || g.MonthUsage != w.MonthUsage ||
				g.CreditBalance != w.CreditBalance || g.HistoricalSpend != w.HistoricalSpend ||
				!g.EvaluatedAt.Equal(w.EvaluatedAt) || g.RunID != w.RunID {
				t.Fatalf("pass %d: standing %+v, want %+v", pass+1, g, w)
			}
		}
	}
	evs, err := s.StandingEvents(t.Context())
	if err != nil {
		t.Fatalf("StandingEvents: %v", err)
	}
	if len(evs) != 2*n {
		t.Fatalf("%d events, want %d", len(evs), 2*n)
	}
	for k, e := range evs {
		if want := ids[k%n]; e.Account != want || e.RunID != []string{"run-1", "run-2"}[k/n] {
			t.Fatalf("event %d is %s of %s, want %s of %s", k, e.Account, e.RunID, want, []string{"run-1", "run-2"}[k/n])
		}
	}
}

// checkPeriodConsumptions compares PeriodConsumptions(p) with want.
func checkPeriodConsumptions(t *testing.T, s *store.Store, p rating.Period, want map[string]rating.Cents) {
	t.Helper()
	got, err := s.PeriodConsumptions(t.Context(), p)
	if err != nil {
		t.Fatalf("PeriodConsumptions(%s): %v", p, err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("PeriodConsumptions(%s) = %v, want %v", p, got, want)
	}
}

// TestSQLiteOpenedTogether: runs started together on a new SQLite database all open it — none fails
// because another applied a migration first, whichever migration they meet each other on (a first
// version of the fix, which retried only on "already exists", failed one round in CI on migration
// 3's "use DROP VIEW") — and the migrations are applied once: each version is in goose_db_version
// once (an opener that listed a migration as pending before another applied it ran it again, and
// recorded it twice, whenever its DDL did not fail on a second run, as migration 3's and 5's do not).
func TestSQLiteOpenedTogether(t *testing.T) {
	for round := range 6 {
		dsn := "sqlite:" + filepath.Join(t.TempDir(), fmt.Sprintf("new-%d.db", round))
		const openers = 4
		errs := make(chan error, openers)
		stores := make(chan *store.Store, openers)
		start := make(chan struct{})
		for range openers {
			go func() {
				<-start
				s, err := store.Open(t.Context(), dsn, testLogger(t))
				errs <- err
				stores <- s
			}()
		}
		close(start)
		for range openers {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: an opener failed: %v", round, err)
			}
			if s := <-stores; s != nil {
				defer s.Close()
			}
		}
		s, err := store.Open(t.Context(), dsn, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		var twice []string
		if err := store.DB(s).SelectContext(t.Context(), &twice, `SELECT version_id || ' x' || count(*)
			FROM goose_db_version GROUP BY version_id HAVING count(*) > 1`); err != nil {
			t.Fatal(err)
		}
		if len(twice) > 0 {
			t.Errorf("round %d: migrations recorded more than once (version x times): %v, want each once", round, twice)
		}
		importAccounts(t, s, "a1")
		if len(accountsByID(t, s)) != 1 {
			t.Errorf("round %d: the migrated database does not work", round)
		}
		s.Close()
	}
}

// testAbandonRuns: AbandonRuns records as failed the running closes and reruns of the period and the
// standing passes they started (sweep runs named after them, of the month of their --at), and nothing
// else: not a sweep of its own, not a run of another period, not a finished run's pass.
func testAbandonRuns(t *testing.T, s *store.Store) {
	startRun(t, s, "close-killed", invoices.RunClose, oct)
	startRun(t, s, invoices.StandingPassPrefix+"close-killed", invoices.RunSweep, nov)
	startRun(t, s, "sweep-20261101T020000Z-aaaaaaaa", invoices.RunSweep, nov)
	startRun(t, s, "close-of-september", invoices.RunClose, sep)
	startRun(t, s, invoices.StandingPassPrefix+"close-of-september", invoices.RunSweep, nov)
	startRun(t, s, "rerun-done", invoices.RunRerun, oct)
	startRun(t, s, invoices.StandingPassPrefix+"rerun-done", invoices.RunSweep, nov)
	done := &invoices.Run{ID: "rerun-done", Kind: invoices.RunRerun, Period: oct, Status: invoices.RunSucceeded,
		FinishedAt: ptr(tm("2026-11-01T02:10:00Z"))}
	if err := s.FinishRun(t.Context(), done); err != nil {
		t.Fatal(err)
	}
	n, err := s.AbandonRuns(t.Context(), oct, []invoices.RunKind{invoices.RunClose, invoices.RunRerun}, tm("2026-11-01T03:00:00Z"))
	if err != nil || n != 2 {
		t.Errorf("AbandonRuns = %d, %v; want 2 (the killed close and its standing pass)", n, err)
	}
	for id, want := range map[string]invoices.RunStatus{
		"close-killed": invoices.RunFailed, invoices.StandingPassPrefix + "close-killed": invoices.RunFailed,
		"sweep-20261101T020000Z-aaaaaaaa": invoices.RunRunning, "close-of-september": invoices.RunRunning,
		invoices.StandingPassPrefix + "close-of-september": invoices.RunRunning,
		// A finished rerun's pass left running is not its business to close: it was not abandoned.
		invoices.StandingPassPrefix + "rerun-done": invoices.RunRunning,
	} {
		checkRunStatus(t, s, id, want)
	}
}

// startRun records run id of kind and period p as started (and left running) on 2026-11-01 at 02:00.
func startRun(t *testing.T, s *store.Store, id string, kind invoices.RunKind, p rating.Period) {
	t.Helper()
	if err := s.StartRun(t.Context(), &invoices.Run{ID: id, Kind: kind, Period: p, StartedAt: tm("2026-11-01T02:00:00Z")}); err != nil {
		t.Fatalf("StartRun(%s): %v", id, err)
	}
}

// checkRunStatus checks run id's status is want; a failed run must say it was abandoned and have
// finished.
func checkRunStatus(t *testing.T, s *store.Store, id string, want invoices.RunStatus) {
	t.Helper()
	r, err := store.RunByID(s, id)
	if err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	if r.Status != want || want == invoices.RunFailed && (!strings.Contains(r.Error, "abandoned") || r.FinishedAt == nil) {
		t.Errorf("run %s: %s %q (finished %v), want %s", id, r.Status, r.Error, r.FinishedAt, want)
	}
}

// testAbandonSweeps: a sweep killed mid-run is recorded as failed by the next run holding its month's
// lock (AbandonRuns with RunSweep among the kinds) — but a standing pass whose period is that month
// belongs to a close of the month before, running under that month's lock: it is left alone.
func testAbandonSweeps(t *testing.T, s *store.Store) {
	startRun(t, s, "sweep-20261101T010000Z-aaaaaaaa", invoices.RunSweep, nov)
	startRun(t, s, "close-of-october", invoices.RunClose, oct)
	startRun(t, s, invoices.StandingPassPrefix+"close-of-october", invoices.RunSweep, nov)
	startRun(t, s, "sweep-20261031T230000Z-bbbbbbbb", invoices.RunSweep, oct)
	n, err := s.AbandonRuns(t.Context(), nov, []invoices.RunKind{invoices.RunClose, invoices.RunRerun, invoices.RunSweep},
		tm("2026-11-01T03:00:00Z"))
	if err != nil || n != 1 {
		t.Errorf("AbandonRuns = %d, %v; want 1 (the killed sweep of November)", n, err)
	}
	for id, want := range map[string]invoices.RunStatus{
		"sweep-20261101T010000Z-aaaaaaaa":                invoices.RunFailed,
		"close-of-october":                               invoices.RunRunning,
		invoices.StandingPassPrefix + "close-of-october": invoices.RunRunning,
		"sweep-20261031T230000Z-bbbbbbbb":                invoices.RunRunning,
	} {
		checkRunStatus(t, s, id, want)
	}
}

// testImportAccountsRun: an import recorded as a run (accounts import, close --accounts, schedule) is
// never left running: it is stored succeeded with the import, in its transaction; failed when the
// import is refused or stopped (a cancelled context, as close as a test gets to a kill), with nothing
// of the import written. A process killed during the import leaves no run row at all.
func testImportAccountsRun(t *testing.T, s *store.Store) {
	end := func() time.Time { return tm("2026-11-05T09:00:01Z") }
	newRun := func(id string) *invoices.Run {
		return &invoices.Run{ID: id, Kind: invoices.RunImport, Period: nov, Scope: "accounts file a.yaml",
			At: tm("2026-11-05T09:00:00Z"), StartedAt: tm("2026-11-05T09:00:00Z")}
	}
	ok := &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1", PaymentMethod: ptr(true)}}}
	if _, err := s.ImportAccountsRun(t.Context(), ok, newRun("import-ok"), end); err != nil {
		t.Fatalf("ImportAccountsRun: %v", err)
	}
	bad := &invoices.Import{Payments: []invoices.Payment{{ID: "pay_1", Account: "nobody", Amount: 500,
		PaidAt: tm("2026-11-02T00:00:00Z"), ForCredits: true}}}
	if _, err := s.ImportAccountsRun(t.Context(), bad, newRun("import-refused"), end); !errors.Is(err, invoices.ErrNotFound) {
		t.Errorf("ImportAccountsRun of a payment of no account: %v, want ErrNotFound", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	stopped := &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a2", PaymentMethod: ptr(true)}}}
	if _, err := s.ImportAccountsRun(ctx, stopped, newRun("import-stopped"), end); err == nil {
		t.Errorf("ImportAccountsRun with a cancelled context: nil error")
	}
	for id, want := range map[string]invoices.RunStatus{"import-ok": invoices.RunSucceeded,
		"import-refused": invoices.RunFailed, "import-stopped": invoices.RunFailed} {
		r, err := store.RunByID(s, id)
		if err != nil {
			t.Fatalf("run %s: %v", id, err)
		}
		if r.Status != want || r.FinishedAt == nil || !r.FinishedAt.Equal(end()) {
			t.Errorf("run %s: %s (finished %v), want %s finished %s", id, r.Status, r.FinishedAt, want, end())
		}
	}
	if accts := accountsByID(t, s); len(accts) != 1 || accts["a1"].ID != "a1" {
		t.Errorf("accounts %v, want a1 alone: the refused and the stopped imports write nothing", slices.Collect(maps.Keys(accts)))
	}
}

// testDocumentHeadersAndLines: an export reads a period's documents without their lines
// (DocumentHeaders, each with its LineCount) and then the lines a document at a time
// (EachDocumentLines). Both give exactly what Documents gives, for that period only; the lines'
// texts stay right past the bound on the texts a read shares (more distinct deployments than it).
func testDocumentHeadersAndLines(t *testing.T, s *store.Store) {
	ctx := t.Context()
	importAccounts(t, s, "a1", "a2", "a3")
	issued := tm("2026-11-01T02:00:00Z")
	// a1: 5,000 GPU lines on deployments of their own, then a serverless line.
	big := invoice("a1", oct, issued, 0)
	big.Lines = nil
	for i := range 5000 {
		big.Lines = append(big.Lines, rating.Line{Kind: rating.KindGPU, Product: "H100-80GB",
			Deployment: fmt.Sprintf("dep-%05d", i), Meter: rating.MeterGPUSeconds,
			Description: fmt.Sprintf("H100-80GB on deployment dep-%05d, GPU-seconds", i), Quantity: dec("3600"),
			Unit: "GPU-hour", UnitPrice: dec("0.01"), Unrounded: dec("0.01"), Amount: 1})
	}
	big.Lines = append(big.Lines, invoice("a1", oct, issued, 7).Lines...)
	big.Subtotal, big.AmountDue = 5007, 5007
	mustIssue(t, s, big)
	a2 := invoice("a2", oct, issued, 300)
	mustIssue(t, s, a2)
	if err := s.Void(ctx, a2.Number, tm("2026-11-02T00:00:00Z")); err != nil { // void ones are listed too
		t.Fatal(err)
	}
	mustIssue(t, s, invoice("a3", oct, issued, 200))
	mustIssue(t, s, invoice("a1", nov, tm("2026-12-01T02:00:00Z"), 100)) // another period

	want, err := s.Documents(ctx, oct)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 3 || len(want[0].Lines) != 5001 {
		t.Fatalf("Documents(oct) = %d documents, the first with %d lines; want 3, 5,001", len(want), len(want[0].Lines))
	}
	heads, err := s.DocumentHeaders(ctx, oct)
	if err != nil {
		t.Fatalf("DocumentHeaders: %v", err)
	}
	if len(heads) != len(want) {
		t.Fatalf("DocumentHeaders = %d documents, want %d", len(heads), len(want))
	}
	for i, h := range heads {
		w := want[i]
		if h.Lines != nil || h.LineCount != len(w.Lines) || h.NumLines() != len(w.Lines) {
			t.Errorf("header %d: %d lines read, LineCount %d; want none read, LineCount %d", i, len(h.Lines), h.LineCount, len(w.Lines))
		}
		w.Lines = nil
		h.LineCount = 0
		if !reflect.DeepEqual(h, w) {
			t.Errorf("header %d = %+v, want %+v", i, h, w)
		}
	}

	var ids []int64
	err = s.EachDocumentLines(ctx, oct, func(id int64, lines []rating.Line) error {
		i := len(ids)
		ids = append(ids, id)
		if i >= len(want) || id != want[i].ID {
			t.Errorf("lines of document %d, want document %d's", id, want[min(i, len(want)-1)].ID)
			return nil
		}
		if !reflect.DeepEqual(lines, want[i].Lines) {
			t.Errorf("document %d's lines differ from Documents'", id)
		}
		return nil
	})
	if err != nil || len(ids) != 3 {
		t.Fatalf("EachDocumentLines: %d documents, %v; want 3", len(ids), err)
	}
	// Against what was issued, not only against Documents (which reads through the same code).
	for i, l := range want[0].Lines {
		if w := big.Lines[i]; l.Deployment != w.Deployment || l.Description != w.Description || l.Product != w.Product ||
			l.Unit != w.Unit || l.Amount != w.Amount || !l.Quantity.Equal(w.Quantity) {
			t.Fatalf("line %d = %+v, want %+v", i, l, w)
		}
	}

	stop := errors.New("stop")
	calls := 0
	err = s.EachDocumentLines(ctx, oct, func(int64, []rating.Line) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("EachDocumentLines with fn failing: %d calls, %v; want 1 call, its error", calls, err)
	}
	err = s.EachDocumentLines(ctx, rating.Period{Year: 2026, Month: time.September}, func(int64, []rating.Line) error {
		t.Error("lines of a period without documents")
		return nil
	})
	if err != nil {
		t.Errorf("EachDocumentLines of a period without documents: %v", err)
	}
	if heads, err := s.DocumentHeaders(ctx, rating.Period{Year: 2026, Month: time.September}); err != nil || len(heads) != 0 {
		t.Errorf("DocumentHeaders of a period without documents = %d, %v", len(heads), err)
	}
}

// testImportListsUnissuedInvoices: payments naming an invoice number no document has are stored
// and listed, in file order; one naming an issued invoice, void or not, and one buying credits are not.
func testImportListsUnissuedInvoices(t *testing.T, s *store.Store) {
	importAccounts(t, s, "a1")
	d := invoice("a1", oct, tm("2026-11-01T02:00:00Z"), 1000)
	mustIssue(t, s, d)
	v := invoice("a1", nov, tm("2026-12-01T02:00:00Z"), 500)
	mustIssue(t, s, v)
	if err := s.Void(t.Context(), v.Number, tm("2026-12-02T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	paid := tm("2026-11-05T00:00:00Z")
	got := mustImport(t, s, &invoices.Import{Payments: []invoices.Payment{
		{ID: "p-typo", Account: "a1", Amount: 1000, PaidAt: paid, Invoice: "INV-2026-000010"},
		{ID: "p-ok", Account: "a1", Amount: 1000, PaidAt: paid, Invoice: d.Number},
		{ID: "p-void", Account: "a1", Amount: 500, PaidAt: paid, Invoice: v.Number},
		{ID: "p-credits", Account: "a1", Amount: 100, PaidAt: paid, ForCredits: true},
		{ID: "p-ahead", Account: "a1", Amount: 1, PaidAt: paid, Invoice: "INV-2027-000001"},
	}})
	want := invoices.ImportResult{Payments: 5, Unissued: []invoices.UnissuedPayment{
		{Payment: "p-typo", Account: "a1", Invoice: "INV-2026-000010"},
		{Payment: "p-ahead", Account: "a1", Invoice: "INV-2027-000001"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("import = %+v, want %+v", got, want)
	}
	pays, err := s.Payments(t.Context())
	if err != nil || len(pays) != 5 {
		t.Errorf("Payments = %d, %v; want all 5 stored", len(pays), err)
	}
}
