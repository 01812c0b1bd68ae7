package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccountsImportIsARun: DESIGN §8 — every command that changes data is a run. accounts import
// records one, of kind import, in the month of its --at, with the file as its scope; a refused import
// is a failed run that names why, and changes nothing else.
func TestAccountsImportIsARun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "billrun.db")
	db := "sqlite:" + path
	file := filepath.Join(dir, "accounts.yaml")
	write := func(amount string) {
		yaml := "accounts:\n  - id: acct_1\n    payment_method: true\n    credits:\n      - {id: cg_1, kind: free, amount: \"" +
			amount + "\", granted_at: 2026-10-01T00:00:00Z}\n"
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("1.00")
	out, err := runCapture("accounts", "import", file, "--db", db, "--at", "2026-11-05T09:00:00Z")
	if err != nil || !strings.Contains(out, "(run import-20261105T090000Z-") {
		t.Fatalf("accounts import: %v\n%s", err, out)
	}
	// The same grant with another amount is accepted while unconsumed.
	write("2.00")
	if out, err := runCapture("accounts", "import", file, "--db", db, "--at", "2026-12-01T00:00:00Z"); err != nil {
		t.Fatalf("second import: %v\n%s", err, out)
	}
	// A payment of an account that exists nowhere: the store refuses the import, and the run says so.
	bad := filepath.Join(dir, "payments.yaml")
	if err := os.WriteFile(bad, []byte("payments:\n  - {id: pay_1, account: nobody, amount: \"5.00\", paid_at: 2026-12-02T00:00:00Z, for: credits}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCapture("accounts", "import", bad, "--db", db, "--at", "2026-12-03T00:00:00Z"); exitCode(err) != exitError {
		t.Fatalf("import of a payment of no account: %v, want exit %d", err, exitError)
	}
	conn, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT kind, period, scope, status, substr(at, 1, 19), error FROM runs ORDER BY started_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var kind, period, scope, status, at, msg string
		if err := rows.Scan(&kind, &period, &scope, &status, &at, &msg); err != nil {
			t.Fatal(err)
		}
		if status == "failed" && !strings.Contains(msg, "nobody") {
			t.Errorf("failed run's error %q does not name the account", msg)
		}
		got = append(got, strings.Join([]string{kind, period, scope, status, at}, " "))
	}
	want := []string{
		"import 2026-11 accounts file " + file + " succeeded 2026-11-05T09:00:00",
		"import 2026-12 accounts file " + file + " succeeded 2026-12-01T00:00:00",
		"import 2026-12 accounts file " + bad + " failed 2026-12-03T00:00:00",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
