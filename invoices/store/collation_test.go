package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"testing"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
	"billrun/rating"
)

// collationIDs differ only in case, punctuation and accents: a linguistic collation (en-US) orders
// them "_x", "a", "A", "a b", … where bytes order them "A", "B", "_x", "a", ….
var collationIDs = []string{"b", "_x", "A", "a", "B", "ab", "a b", "a-b", "aB", "\u00e4", "e"}

// TestByteOrderWhateverTheCollation: every list the store returns by id — accounts, grants,
// payments, standing rows, rejects by object — comes in byte order, as on SQLite, also from a
// PostgreSQL database created with a linguistic collation (the default of many installations).
func TestByteOrderWhateverTheCollation(t *testing.T) {
	for _, b := range []backend{{"sqlite", openSQLite}, {"postgres", openPostgresICU}} {
		t.Run(b.name, func(t *testing.T) { checkByteOrder(t, b.open(t)) })
	}
}

func checkByteOrder(t *testing.T, s *store.Store) {
	want := slices.Clone(collationIDs)
	slices.Sort(want)
	at := tm("2026-10-01T00:00:00Z")
	imp := &invoices.Import{}
	for _, id := range collationIDs {
		imp.Accounts = append(imp.Accounts, invoices.AccountRecord{ID: id, Grants: []invoices.Grant{
			{ID: "g" + id, Account: id, Kind: invoices.GrantFree, Amount: 100, GrantedAt: at},
			{ID: "G" + id, Account: id, Kind: invoices.GrantFree, Amount: 100, GrantedAt: at}}})
		imp.Payments = append(imp.Payments, invoices.Payment{ID: id, Account: id, Amount: 100, PaidAt: at, ForCredits: true})
	}
	mustImport(t, s, imp)

	ids, err := s.AccountIDs(t.Context())
	if err != nil || !slices.Equal(ids, want) {
		t.Errorf("AccountIDs = %q, %v; want %q", ids, err, want)
	}
	accts, err := s.Accounts(t.Context())
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	var got []string
	for _, a := range accts {
		got = append(got, a.ID)
		var grants []string
		for _, g := range a.Grants {
			grants = append(grants, g.ID)
		}
		if w := []string{"G" + a.ID, "g" + a.ID}; !slices.Equal(grants, w) {
			t.Errorf("account %q grants = %q, want %q", a.ID, grants, w)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Accounts = %q, want %q", got, want)
	}
	pays, err := s.Payments(t.Context())
	if err != nil {
		t.Fatalf("Payments: %v", err)
	}
	got = got[:0]
	for _, p := range pays {
		got = append(got, p.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Payments = %q, want %q", got, want)
	}

	var rows []invoices.Standing
	for _, id := range collationIDs {
		rows = append(rows, invoices.Standing{Account: id, Status: invoices.StandingActive, Reasons: []invoices.Reason{},
			Tier: 1, EvaluatedAt: at, RunID: "run-1"})
	}
	if err := s.SaveStanding(t.Context(), rows, nil); err != nil {
		t.Fatalf("SaveStanding: %v", err)
	}
	standing, err := s.Standing(t.Context())
	if err != nil {
		t.Fatalf("Standing: %v", err)
	}
	got = got[:0]
	for _, r := range standing {
		got = append(got, r.Account)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Standing = %q, want %q", got, want)
	}

	if err := s.StartRun(t.Context(), &invoices.Run{ID: "run-1", Kind: invoices.RunClose, Period: oct, StartedAt: at}); err != nil {
		t.Fatalf("StartRun: %v", err)
	}
	var rejects []rating.Reject
	for _, id := range collationIDs {
		rejects = append(rejects, rating.Reject{Object: "dt=2026-10-01/" + id + ".jsonl", Line: 1, Code: rating.RejectCodes[0], Message: "bad"})
	}
	if err := s.SaveRead(t.Context(), &invoices.Run{ID: "run-1"}, rejects); err != nil {
		t.Fatalf("SaveRead: %v", err)
	}
	stored, err := s.Rejects(t.Context(), "run-1")
	if err != nil {
		t.Fatalf("Rejects: %v", err)
	}
	var wantObjects []string
	for _, r := range rejects {
		wantObjects = append(wantObjects, r.Object)
	}
	slices.Sort(wantObjects)
	got = got[:0]
	for _, r := range stored {
		got = append(got, r.Object)
	}
	if !slices.Equal(got, wantObjects) {
		t.Errorf("Rejects by object = %q, want %q", got, wantObjects)
	}
}

// openPostgresICU opens a store in a new database of the BILLRUN_TEST_POSTGRES server created with
// the ICU collation en-US, dropped when the test ends. It skips when the variable is empty, or when
// the server cannot create such a database (no ICU, no CREATEDB).
func openPostgresICU(t *testing.T) *store.Store {
	t.Helper()
	dsn := storetest.PostgresDSN(t) // skips without BILLRUN_TEST_POSTGRES
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("open admin connection: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	name := fmt.Sprintf("billrun_test_icu_%x", n)
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE "+name+
		" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"); err != nil {
		t.Skipf("PostgreSQL cannot create an en-US ICU database here: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("BILLRUN_TEST_POSTGRES is not a URL: %v", err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	s, err := store.Open(context.Background(), u.String(), testLogger(t))
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
