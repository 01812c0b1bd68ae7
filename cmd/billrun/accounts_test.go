package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"billrun/invoices/store/storetest"
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

// TestAccountsImportNamesTheLineOfAnUnknownAccount: bad input gets an error that names the file, the
// line and the field, and nothing is written. A payment of an account that exists neither in the file
// nor in the database is found only by the database, and was refused as "store: import accounts:
// payment p2: account "nobody": not found", with no file or line.
func TestAccountsImportNamesTheLineOfAnUnknownAccount(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	for _, c := range []struct{ name, body, want string }{
		{"accounts.yaml", "accounts:\n  - {id: acct_1, payment_method: true}\npayments:\n" +
			"  - {id: p1, account: acct_1, amount: \"5.00\", paid_at: 2026-10-02T00:00:00Z, for: credits}\n" +
			"  - id: p2\n    amount: \"5.00\"\n    account: nobody\n    paid_at: 2026-10-02T00:00:00Z\n    for: credits\n",
			`line 7: payment p2: account: "nobody" is an account neither of the import nor of the database`},
		{"accounts.json", `{"accounts": [{"id": "acct_1", "payment_method": true}],` + "\n" +
			`"payments": [{"id": "p2", "amount": "5.00", "paid_at": "2026-10-02", "for": "credits",` + "\n" +
			`  "account": "nobody"}]}`,
			`line 3: payment p2: account: "nobody" is an account neither of the import nor of the database`},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, c.name)
			if err := os.WriteFile(file, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := runCapture("accounts", "import", file, "--db", db, "--at", "2026-10-05T00:00:00Z")
			if exitCode(err) != exitError || !strings.Contains(err.Error(), "accounts file "+file+": "+c.want) {
				t.Fatalf("accounts import = %v (exit %d), want exit %d naming %q", err, exitCode(err), exitError, "accounts file "+file+": "+c.want)
			}
			// Nothing of the file is written: acct_1 and p1, valid, came with the refused payment.
			out, err := runCapture("standing", "--db", db, "--account", "acct_1")
			if exitCode(err) != exitUsage {
				t.Errorf("standing --account acct_1 after the refused import = %v\n%s, want exit %d (no such account)", err, out, exitUsage)
			}
		})
	}
}

// TestAccountsImportNamesTheLineOfAConsumedGrant: a grant with consumption is never changed in amount
// (DESIGN §11), which only the database can tell; the refusal names the file, the line and the field,
// as the file's other errors do, and writes nothing. The fixtures' October close consumes all of
// acct_00001's cg_0001 (1.00, free).
func TestAccountsImportNamesTheLineOfAConsumedGrant(t *testing.T) {
	root, dir, _, conn := migratedSQLite(t)
	args := fixtureArgs(t, dir)
	if out, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", fixtureAt, "--out", filepath.Join(dir, "out"),
		"--accounts", filepath.Join(root, "fixtures/accounts.yaml")}, args...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	grant := `{id: cg_0001, kind: free, amount: "%s", granted_at: 2026-01-10T00:00:00Z, expires_at: null}`
	for _, c := range []struct{ name, body, want string }{
		{"amount.yaml", "accounts:\n  - id: acct_00001\n    credits:\n      - " + fmt.Sprintf(grant, "0.50") + "\n",
			"line 4: account acct_00001, credits[0] (cg_0001): amount: 1.00 → 0.50, 1.00 consumed: grant has consumption"},
		{"account.yaml", "accounts:\n  - id: acct_00002\n    credits:\n      - " + fmt.Sprintf(grant, "1.00") + "\n",
			"line 4: account acct_00002, credits[0] (cg_0001): it is account acct_00001's grant (1.00, 1.00 consumed), not acct_00002's"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, c.name)
			if err := os.WriteFile(file, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := runCapture("accounts", "import", file, args[0], args[1], "--at", "2026-11-02T00:00:00Z")
			if want := "accounts file " + file + ": " + c.want; exitCode(err) != exitError || err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("accounts import = %v (exit %d), want exit %d naming %q", err, exitCode(err), exitError, want)
			}
		})
	}
	// Nothing was written: cg_0001 is still acct_00001's, of 1.00.
	var account string
	var cents int64
	if err := conn.QueryRow(`SELECT account_id, amount_cents FROM grants WHERE id = 'cg_0001'`).Scan(&account, &cents); err != nil {
		t.Fatal(err)
	}
	if account != "acct_00001" || cents != 100 {
		t.Errorf("cg_0001 after the refused imports: %s, %d cents; want acct_00001's 100", account, cents)
	}
}

// TestAccountsImportForInvoiceKeepsTheStoredInvoice: DESIGN §11 — fields left out of a record keep
// their stored values. A payment restated with for: invoice and without its invoice keeps the invoice
// it pays; one stored as a credit purchase cannot (which invoice?), and a new one needs the invoice.
func TestAccountsImportForInvoiceKeepsTheStoredInvoice(t *testing.T) {
	_, dir, _, conn := migratedSQLite(t)
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	write := func(name, body string) string {
		t.Helper()
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	first := write("first.yaml", "accounts:\n  - {id: acct_1, payment_method: true}\npayments:\n"+
		"  - {id: p1, account: acct_1, amount: \"5.00\", paid_at: 2026-10-02T00:00:00Z, invoice: INV-2026-000001}\n"+
		"  - {id: p2, account: acct_1, amount: \"9.00\", paid_at: 2026-10-02T00:00:00Z, for: credits}\n")
	if out, err := runCapture("accounts", "import", first, "--db", db); err != nil {
		t.Fatalf("accounts import: %v\n%s", err, out)
	}
	// p1 pays INV-2026-000001: restated with a new amount and for: invoice, it keeps paying it.
	if out, err := runCapture("accounts", "import", write("amount.yaml", "payments:\n  - {id: p1, amount: \"6.00\", for: invoice}\n"), "--db", db); err != nil {
		t.Fatalf("accounts import of p1 with for: invoice and no invoice: %v\n%s", err, out)
	}
	var invoice string
	var cents int64
	if err := conn.QueryRow(`SELECT invoice, amount_cents FROM payments WHERE id = 'p1'`).Scan(&invoice, &cents); err != nil {
		t.Fatal(err)
	}
	if invoice != "INV-2026-000001" || cents != 600 {
		t.Errorf("p1 = %s, %d cents; want INV-2026-000001, 600", invoice, cents)
	}
	for _, c := range []struct{ name, body, want string }{
		{"credits.yaml", "payments:\n  - {id: p2, for: invoice}\n",
			"line 2: payment p2: invoice: missing: the stored payment buys credits, so for: invoice needs the number of the invoice it pays"},
		{"new.yaml", "payments:\n  - {id: p3, account: acct_1, amount: \"1.00\", paid_at: 2026-10-03T00:00:00Z, for: invoice}\n",
			"line 2: payment p3: invoice: missing, want the number of the invoice paid, or for: credits"},
	} {
		file := write(c.name, c.body)
		_, err := runCapture("accounts", "import", file, "--db", db)
		if want := "accounts file " + file + ": " + c.want; exitCode(err) != exitError || err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: accounts import = %v (exit %d), want exit %d naming %q", c.name, err, exitCode(err), exitError, want)
		}
	}
	var n int
	if err := conn.QueryRow(`SELECT COUNT(*) FROM payments WHERE id = 'p3' OR (id = 'p2' AND NOT for_credits)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after the refused imports: %d rows of p3 or of p2 not buying credits (%v), want 0", n, err)
	}
}

// TestSweepAtReproducesThePast: DESIGN §10 — any run can be reproduced exactly. A sweep at T sees the
// ledger as it stood at T: on a database where October was closed afterwards (its invoices consuming
// credits), `sweep --at` a time before the close gives exactly the standing it gives on a database
// where nothing was issued yet.
func TestSweepAtReproducesThePast(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	const before = "2026-10-31T12:00:00Z" // the close is at 2026-11-01T02:00:00Z
	standingAt := func(closeFirst bool) []map[string]any {
		dir := t.TempDir()
		args := fixtureArgs(t, dir)
		if closeFirst {
			if out, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", fixtureAt,
				"--accounts", filepath.Join(root, "fixtures/accounts.yaml"), "--out", filepath.Join(dir, "out")}, args...)...); err != nil {
				t.Fatalf("close: %v\n%s", err, out)
			}
		} else if out, err := runCapture("accounts", "import", filepath.Join(root, "fixtures/accounts.yaml"), args[0], args[1],
			"--at", "2026-10-01T00:00:00Z"); err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
		if out, err := runCapture(append([]string{"sweep", "--at", before}, args...)...); err != nil {
			t.Fatalf("sweep: %v\n%s", err, out)
		}
		out, err := runStdout("standing", "--format", "json", args[0], args[1])
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Standing []map[string]any `json:"standing"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("standing json: %v\n%s", err, out)
		}
		for _, row := range doc.Standing {
			for k := range row {
				if strings.Contains(k, "run") {
					delete(row, k) // the deciding run differs, of course
				}
			}
		}
		return doc.Standing
	}
	fresh, closed := standingAt(false), standingAt(true)
	if len(fresh) != 20 {
		t.Fatalf("%d standing rows, want the 20 fixture accounts", len(fresh))
	}
	if !reflect.DeepEqual(fresh, closed) {
		for i := range fresh {
			if !reflect.DeepEqual(fresh[i], closed[i]) {
				t.Errorf("standing at %s:\nnothing issued yet %v\nclosed afterwards  %v", before, fresh[i], closed[i])
			}
		}
	}
}

// migratedSQLite returns the repository root, a temp dir, the path of a SQLite database in it that
// `billrun migrate` made, and a connection to that database, closed when the test ends.
func migratedSQLite(t *testing.T) (root, dir, path string, conn *sql.DB) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	path = filepath.Join(dir, "billrun.db")
	if out, err := runCapture("migrate", "--db", "sqlite:"+path); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	if conn, err = sql.Open("sqlite", path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return root, dir, path, conn
}

// checkRunStatus checks run id's status is want; a failed run must say it was abandoned and have
// finished.
func checkRunStatus(t *testing.T, conn *sql.DB, id, want string) {
	t.Helper()
	var status, msg string
	var finished sql.NullString
	if err := conn.QueryRow(`SELECT status, error, finished_at FROM runs WHERE id = ?`, id).Scan(&status, &msg, &finished); err != nil {
		t.Fatal(err)
	}
	if status != want || want == "failed" && (!strings.Contains(msg, "abandoned") || !finished.Valid) {
		t.Errorf("run %s: %s %q (finished %v), want %s", id, status, msg, finished, want)
	}
}

// TestCloseAccountsImportIsARun: DESIGN §8 — every command that changes data is a run, and §11 — the
// import of close --accounts is its own transaction and stays even if the run after it fails. The
// import is recorded as an import run of its own (as accounts import and schedule record theirs), so
// a close that imports and then finds its period held (exit 5) leaves a record of what it changed.
func TestCloseAccountsImportIsARun(t *testing.T) {
	root, dir, _, conn := migratedSQLite(t)
	// Another host's close holds October.
	if _, err := conn.Exec(`INSERT INTO run_locks (key, holder, expires_at)
		VALUES ('period:2026-10', 'elsewhere/1/abcdefgh', '2999-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "fixtures/accounts.yaml")
	args := closeArgs(t, dir, file)
	if out, err := runCapture(args...); exitCode(err) != exitLocked {
		t.Fatalf("close while October is held: %v, want exit %d\n%s", err, exitLocked, out)
	}
	var accounts int
	if err := conn.QueryRow(`SELECT count(*) FROM accounts`).Scan(&accounts); err != nil || accounts != 20 {
		t.Fatalf("%d accounts after the refused close (%v), want the 20 imported", accounts, err)
	}
	if _, err := conn.Exec(`DELETE FROM run_locks`); err != nil {
		t.Fatal(err)
	}
	if out, err := runCapture(args...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	rows, err := conn.Query(`SELECT kind, period, scope, status FROM runs WHERE kind IN ('import', 'close') ORDER BY started_at, id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var kind, period, scope, status string
		if err := rows.Scan(&kind, &period, &scope, &status); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{kind, period, scope, status}, " "))
	}
	want := []string{
		"import 2026-11 accounts file " + file + " succeeded",
		"import 2026-11 accounts file " + file + " succeeded",
		"close 2026-10 all succeeded",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestKilledRunIsRecordedAbandoned: a close killed mid-run leaves its run marked running; the next
// close of the period, holding the period's lock (so no live process runs it), records it as failed,
// abandoned — a run record never says a close is in progress forever.
func TestKilledRunIsRecordedAbandoned(t *testing.T) {
	root, dir, _, conn := migratedSQLite(t)
	// What a close killed with SIGKILL leaves: its run row, running.
	if _, err := conn.Exec(`INSERT INTO runs (id, kind, period, scope, at, started_at, status)
		VALUES ('close-killed', 'close', '2026-10', 'all', '2026-11-01T02:00:00.000000000Z', '2026-11-01T02:00:01.000000000Z', 'running'),
		       ('close-of-september', 'close', '2026-09', 'all', '2026-10-01T02:00:00.000000000Z', '2026-10-01T02:00:01.000000000Z', 'running')`); err != nil {
		t.Fatal(err)
	}
	if out, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", fixtureAt, "--out", filepath.Join(dir, "out"),
		"--accounts", filepath.Join(root, "fixtures/accounts.yaml")}, fixtureArgs(t, dir)...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	for id, want := range map[string]string{"close-killed": "failed", "close-of-september": "running"} {
		checkRunStatus(t, conn, id, want)
	}
	// The close's standing pass is a sweep run named after the close, so that a kill during it is
	// found with the close (Store.AbandonRuns).
	var pass, status, closeID string
	if err := conn.QueryRow(`SELECT r.id, r.status, c.id FROM runs r JOIN runs c ON r.id = 'sweep-for-' || c.id
		WHERE r.kind = 'sweep' AND c.kind = 'close' AND c.status = 'succeeded'`).Scan(&pass, &status, &closeID); err != nil {
		t.Fatalf("the close's standing pass: %v", err)
	}
	if status != "succeeded" {
		t.Errorf("standing pass %s of %s: %s, want succeeded", pass, closeID, status)
	}
}

// TestKilledSweepIsRecordedAbandoned: a sweep killed mid-run leaves its run marked running. The next
// sweep of its month, or a close of that month, holds the month's lock — which every sweep of it takes
// — and records it as failed, abandoned, as a close does for a killed close: a run record never says a
// sweep is in progress forever. The standing pass of the September close, a sweep run of October too
// but run under September's lock, is not theirs to close.
func TestKilledSweepIsRecordedAbandoned(t *testing.T) {
	root, dir, path, conn := migratedSQLite(t)
	kill := func(id string) {
		t.Helper()
		if _, err := conn.Exec(`INSERT INTO runs (id, kind, period, scope, at, started_at, status)
			VALUES (?, 'sweep', '2026-10', 'all', '2026-10-20T02:00:00.000000000Z', '2026-10-20T02:00:01.000000000Z', 'running')`, id); err != nil {
			t.Fatal(err)
		}
	}
	kill("sweep-killed-before-sweep")
	kill("sweep-for-close-of-september")
	if out, err := runCapture("accounts", "import", filepath.Join(root, "fixtures/accounts.yaml"), "--db", "sqlite:"+path,
		"--at", "2026-10-21T01:00:00Z"); err != nil {
		t.Fatalf("accounts import: %v\n%s", err, out)
	}
	if out, err := runCapture(append([]string{"sweep", "--at", "2026-10-21T02:00:00Z"}, fixtureArgs(t, dir)...)...); err != nil {
		t.Fatalf("sweep: %v\n%s", err, out)
	}
	kill("sweep-killed-before-close")
	if out, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", fixtureAt, "--out", filepath.Join(dir, "out"),
		"--accounts", filepath.Join(root, "fixtures/accounts.yaml")}, fixtureArgs(t, dir)...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	for id, want := range map[string]string{"sweep-killed-before-sweep": "failed", "sweep-killed-before-close": "failed",
		"sweep-for-close-of-september": "running"} {
		checkRunStatus(t, conn, id, want)
	}
}

// TestStandingCSVEscapesTexts: DESIGN §9 — CSV cells that begin with = + - @ are escaped, in
// billrun standing's CSV (current standing and its history) as in the exports: an account id that
// looks like a formula is written with a leading quote, and so is a negative amount.
func TestStandingCSVEscapesTexts(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	file := filepath.Join(dir, "accounts.yaml")
	ids := []string{"=acct_eq", "@acct_at", "-acct_minus", "+acct_plus", "acct_plain"}
	var yaml strings.Builder
	yaml.WriteString("accounts:\n")
	for _, id := range ids {
		yaml.WriteString("  - id: \"" + id + "\"\n    payment_method: true\n")
	}
	if err := os.WriteFile(file, []byte(yaml.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCapture("accounts", "import", file, "--db", db, "--at", "2026-11-01T00:00:00Z"); err != nil {
		t.Fatalf("accounts import: %v\n%s", err, out)
	}
	// acct_plain used 1,000,000 input tokens of llama-v3p1-8b-instruct ($0.20 per 1M in
	// fixtures/prices.yaml) before the sweep: U = 0.20 and, with no grants and no invoice for November,
	// its credit balance is 0 − 0.20 = -0.20 (DESIGN §7), a cell that begins with "-".
	usage := filepath.Join(dir, "usage", "dt=2026-11-01")
	if err := os.MkdirAll(usage, 0o755); err != nil {
		t.Fatal(err)
	}
	event := `{"id":"ev-1","ts":"2026-11-01T00:10:00Z","account":"acct_plain","type":"serverless",` +
		`"model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":1000000}` + "\n"
	if err := os.WriteFile(filepath.Join(usage, "part-0.jsonl"), []byte(event), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runCapture("sweep", "--db", db, "--usage", filepath.Join(dir, "usage"), "--prices",
		filepath.Join(root, "fixtures/prices.yaml"), "--at", "2026-11-01T01:00:00Z"); err != nil {
		t.Fatalf("sweep: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"standing", "--format", "csv"}, {"standing", "--history", "--format", "csv"}} {
		out, err := runStdout(append(args, "--db", db)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")[1:]
		if len(lines) != len(ids) {
			t.Fatalf("%v: %d rows, want %d:\n%s", args, len(lines), len(ids), out)
		}
		col := 0 // the account's column
		if slices.Contains(args, "--history") {
			col = 1
		}
		var got []string
		for _, l := range lines {
			got = append(got, strings.Split(l, ",")[col])
		}
		slices.Sort(got)
		want := []string{"'+acct_plus", "'-acct_minus", "'=acct_eq", "'@acct_at", "acct_plain"}
		if !slices.Equal(got, want) {
			t.Errorf("%v: account cells %q, want %q", args, got, want)
		}
		if !slices.Contains(args, "--history") {
			for _, l := range lines {
				if c := strings.Split(l, ","); c[0] == "acct_plain" && c[7] != "'-0.20" {
					t.Errorf("acct_plain's credit_balance cell = %q, want '-0.20 (escaped)", c[7])
				}
			}
		}
		// An account the ledger does not know is bad usage, not an empty answer.
		if _, err := runStdout(append(args, "--db", db, "--account", "acct_typo")...); exitCode(err) != exitUsage ||
			!strings.Contains(err.Error(), "--account acct_typo: no such account") {
			t.Errorf("%v --account acct_typo: %v, want exit %d naming the account", args, err, exitUsage)
		}
		// --account keeps that account's row (it was ignored without --history) or changes.
		out, err = runStdout(append(args, "--db", db, "--account", "acct_plain")...)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); err != nil || len(lines) != 2 ||
			strings.Split(lines[1], ",")[col] != "acct_plain" {
			t.Errorf("%v --account acct_plain: %v\n%s", args, err, out)
		}
	}
}

// TestAccountsImportFileAmongFlags: DESIGN §10 — every command takes --at, and `accounts import FILE`
// takes the file of section 6. The file may stand anywhere among the flags, as it may first or last:
// `accounts import --at T FILE --db D` was bad usage (exit 2), Go's flag parsing having stopped at
// FILE and left --db unread. A second file is still bad usage, wherever it stands.
func TestAccountsImportFileAmongFlags(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	file := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(file, []byte("accounts:\n  - {id: acct_1, payment_method: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	at := "2026-11-05T09:00:00Z"
	for _, args := range [][]string{
		{"accounts", "import", file, "--db", db, "--at", at},
		{"accounts", "import", "--db", db, "--at", at, file},
		{"accounts", "import", "--at", at, file, "--db", db},
		{"accounts", "import", "--db", db, file, "--at", at},
	} {
		out, err := runCapture(args...)
		if err != nil || !strings.Contains(out, "(run import-20261105T090000Z-") {
			t.Errorf("billrun %s: exit %d (%v), want 0 and a run at --at\n%s", strings.Join(args, " "), exitCode(err), err, out)
		}
	}
	other := filepath.Join(dir, "other.yaml")
	for _, args := range [][]string{
		{"accounts", "import", "--at", at, file, "--db", db, other},
		{"accounts", "import", "--at", at, file, other, "--db", db},
	} {
		if _, err := runCapture(args...); exitCode(err) != exitUsage || !strings.Contains(err.Error(), other) {
			t.Errorf("billrun %s: exit %d (%v), want %d naming %s", strings.Join(args, " "), exitCode(err), err, exitUsage, other)
		}
	}
}

// TestImportKeepsALeftOutGrantExpiry: DESIGN §11 — accounts import: fields left out of a record keep
// their stored values. A grant re-imported without expires_at keeps the expiry it was stored with
// (expires_at: null, written out, is what removes it). Credit balance at at (§7, §11): grants with
// granted_at ≤ at and not expired at at (expires_at ≤ at is expired), no usage:
//
//	import 1: cg_1 1.00, granted 2026-10-01, expires 2026-11-01
//	import 2: cg_1 2.00, granted 2026-10-01, expires_at left out (unconsumed: the amount may change)
//	sweep at 2026-10-15: cg_1 not expired → balance 2.00
//	sweep at 2026-11-05: 2026-11-01 ≤ at → expired → balance 0.00 (2.00 if the expiry were lost)
//	import 3: cg_1 with expires_at: null → no expiry; sweep at 2026-11-06 → balance 2.00
func TestImportKeepsALeftOutGrantExpiry(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	usage := filepath.Join(dir, "usage")
	must(t, os.MkdirAll(usage, 0o755))
	prices, _ := filepath.Abs("testdata/examples/01_rounding/prices.yaml")
	file := filepath.Join(dir, "accounts.yaml")
	importGrant := func(grant string) {
		t.Helper()
		yaml := "accounts:\n  - id: acct_1\n    payment_method: true\n    credits:\n      - {id: cg_1, kind: free, " + grant + "}\n"
		must(t, os.WriteFile(file, []byte(yaml), 0o644))
		if out, err := runCapture("accounts", "import", file, "--db", db); err != nil {
			t.Fatalf("accounts import {%s}: %v\n%s", grant, err, out)
		}
	}
	balanceAt := func(at string) string {
		t.Helper()
		if out, err := runCapture("sweep", "--at", at, "--db", db, "--usage", usage, "--prices", prices); err != nil {
			t.Fatalf("sweep --at %s: %v\n%s", at, err, out)
		}
		out, err := runStdout("standing", "--format", "json", "--db", db)
		if err != nil {
			t.Fatalf("standing: %v\n%s", err, out)
		}
		var st struct {
			Standing []struct {
				CreditBalance string `json:"credit_balance"`
			} `json:"standing"`
		}
		must(t, json.Unmarshal([]byte(out), &st))
		if len(st.Standing) != 1 {
			t.Fatalf("standing rows %s, want one", out)
		}
		return st.Standing[0].CreditBalance
	}
	importGrant(`amount: "1.00", granted_at: 2026-10-01T00:00:00Z, expires_at: 2026-11-01T00:00:00Z`)
	importGrant(`amount: "2.00", granted_at: 2026-10-01T00:00:00Z`)
	for _, c := range []struct{ at, want string }{{"2026-10-15T00:00:00Z", "2.00"}, {"2026-11-05T00:00:00Z", "0.00"}} {
		if got := balanceAt(c.at); got != c.want {
			t.Errorf("credit balance at %s = %s, want %s (expiry 2026-11-01 kept)", c.at, got, c.want)
		}
	}
	importGrant(`amount: "2.00", granted_at: 2026-10-01T00:00:00Z, expires_at: null`)
	if got := balanceAt("2026-11-06T00:00:00Z"); got != "2.00" {
		t.Errorf("credit balance at 2026-11-06 after expires_at: null = %s, want 2.00", got)
	}
}

// TestImportKeepsLeftOutGrantAndPaymentFields: DESIGN §11 — accounts import: fields left out of a
// record keep their stored values. A stored grant or payment re-imported with some fields keeps the
// others; a present field replaces its value (expires_at: null removes the expiry). The stored rows,
// worked out by hand:
//
//	import 1: cg_1 promotional 5.00, granted 2026-10-01, expires 2027-01-01
//	          cg_2 free 3.00, granted 2026-10-02, expires 2026-12-01
//	          pay_1 acct_1 10.00, paid 2026-10-05T08:00, invoice INV-2026-000123
//	import 2: {cg_1, amount 7.50}, {cg_2, expires_at: null}, {pay_1, amount 12.34}
//	→ cg_1 promotional 7.50, 2026-10-01, 2027-01-01 (unconsumed: the amount may change)
//	→ cg_2 free 3.00, 2026-10-02, no expiry
//	→ pay_1 acct_1 12.34, 2026-10-05T08:00, INV-2026-000123
//
// The account record names no field, so it changes nothing: 0 accounts, 2 grants, 1 payment.
func TestImportKeepsLeftOutGrantAndPaymentFields(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		_, dir, path, conn := migratedSQLite(t)
		importKeepsLeftOutFields(t, dir, "sqlite:"+path, conn)
	})
	t.Run("postgres", func(t *testing.T) {
		db := storetest.PostgresDSN(t)
		if out, err := runCapture("migrate", "--db", db); err != nil {
			t.Fatalf("migrate: %v\n%s", err, out)
		}
		conn, err := sql.Open("pgx", db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		importKeepsLeftOutFields(t, t.TempDir(), db, conn)
	})
}

func importKeepsLeftOutFields(t *testing.T, dir, db string, conn *sql.DB) {
	file := filepath.Join(dir, "accounts.yaml")
	importFile := func(yaml string) (string, error) {
		t.Helper()
		must(t, os.WriteFile(file, []byte(yaml), 0o644))
		return runCapture("accounts", "import", file, "--db", db, "--at", "2026-11-01T00:00:00Z")
	}
	stored := func() []string {
		t.Helper()
		var rows []string
		q := `SELECT id || ' ' || account_id || ' ' || kind || ' ' || amount_cents || ' ' || substr(granted_at, 1, 19) || ' ' ||
				COALESCE(substr(expires_at, 1, 19), 'never') FROM grants
			UNION ALL SELECT id || ' ' || account_id || ' ' || amount_cents || ' ' || substr(paid_at, 1, 19) || ' ' ||
				invoice || ' ' || CASE WHEN for_credits THEN 1 ELSE 0 END FROM payments ORDER BY 1`
		r, err := conn.Query(q)
		must(t, err)
		defer r.Close()
		for r.Next() {
			var s string
			must(t, r.Scan(&s))
			rows = append(rows, s)
		}
		must(t, r.Err())
		return rows
	}
	if out, err := importFile(`accounts:
  - id: acct_1
    payment_method: true
    credits:
      - {id: cg_1, kind: promotional, amount: "5.00", granted_at: 2026-10-01T00:00:00Z, expires_at: 2027-01-01T00:00:00Z}
      - {id: cg_2, kind: free, amount: "3.00", granted_at: 2026-10-02T00:00:00Z, expires_at: 2026-12-01T00:00:00Z}
  - id: acct_2
payments:
  - {id: pay_1, account: acct_1, amount: "10.00", paid_at: 2026-10-05T08:00:00Z, invoice: INV-2026-000123}
`); err != nil {
		t.Fatalf("full import: %v\n%s", err, out)
	}
	out, err := importFile(`accounts:
  - id: acct_1
    credits:
      - {id: cg_1, amount: "7.50"}
      - {id: cg_2, expires_at: null}
payments:
  - {id: pay_1, amount: "12.34"}
`)
	if err != nil || !strings.Contains(out, ": 0 accounts, 2 credit grants, 1 payments") {
		t.Fatalf("partial import: %v, want 0 accounts, 2 credit grants, 1 payments\n%s", err, out)
	}
	want := []string{
		"cg_1 acct_1 promotional 750 2026-10-01T00:00:00 2027-01-01T00:00:00",
		"cg_2 acct_1 free 300 2026-10-02T00:00:00 never",
		"pay_1 acct_1 1234 2026-10-05T08:00:00 INV-2026-000123 0",
	}
	if got := stored(); !slices.Equal(got, want) {
		t.Fatalf("stored after the partial import:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A new id still needs every field a new record requires; the error names the line, the record and
	// the field, and nothing of the file is written (its first record would change cg_1's amount).
	head := "accounts:\n  - id: acct_1\n    credits:\n      - {id: cg_1, amount: \"9.00\"}\n"
	for _, tc := range []struct{ name, tail, says string }{
		{"grant without kind", `      - {id: cg_3, amount: "1.00", granted_at: 2026-10-03T00:00:00Z}` + "\n",
			"line 5: account acct_1, credits[1] (cg_3): kind: missing, want free, purchased, promotional or credit_note"},
		{"grant without amount", `      - {id: cg_3, kind: free, granted_at: 2026-10-03T00:00:00Z}` + "\n",
			`line 5: account acct_1, credits[1] (cg_3): amount: missing, want a non-negative decimal like "100.00"`},
		{"grant without granted_at", `      - {id: cg_3, kind: free, amount: "1.00"}` + "\n",
			"line 5: account acct_1, credits[1] (cg_3): granted_at: missing, want a time like 2026-09-02T10:00:00Z"},
		{"payment without account", "payments:\n  - {id: pay_2, amount: \"1.00\", paid_at: 2026-10-06T00:00:00Z, for: credits}\n",
			"line 6: payment pay_2: account: missing, want the id of the account that paid"},
		{"payment without amount", "payments:\n  - {id: pay_2, account: acct_1, paid_at: 2026-10-06T00:00:00Z, for: credits}\n",
			`line 6: payment pay_2: amount: missing, want a positive decimal like "42.17"`},
		{"payment without paid_at", "payments:\n  - {id: pay_2, account: acct_1, amount: \"1.00\", for: credits}\n",
			"line 6: payment pay_2: paid_at: missing, want a time like 2026-10-05T08:00:00Z"},
		{"payment without purpose", "payments:\n  - {id: pay_2, account: acct_1, amount: \"1.00\", paid_at: 2026-10-06T00:00:00Z}\n",
			"line 6: payment pay_2: invoice: missing, want the number of the invoice paid, or for: credits"},
		// The existing checks apply to the merged record: an expiry not after the stored granted_at.
		{"kept granted_at after a new expiry", "      - {id: cg_2, expires_at: 2026-09-01T00:00:00Z}\n",
			"2026-10-02T00:00:00Z"},
		{"payment moved to no account", "payments:\n  - {id: pay_1, account: nobody}\n", `"nobody"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := importFile(head + tc.tail)
			says := tc.says
			if strings.HasPrefix(says, "line ") {
				says = "accounts file " + file + ": " + says // as a parse error names it
			}
			if exitCode(err) != exitError || !strings.Contains(err.Error(), says) {
				t.Errorf("import: %v, want exit %d saying %q\n%s", err, exitError, says, out)
			}
			if got := stored(); !slices.Equal(got, want) {
				t.Errorf("stored after the refused import:\n%s\nwant, unchanged:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// TestAccountsFileWithoutDatabaseRequiresNewFields: DESIGN §11 — where accounts come from the file
// alone every record is new, so a grant or payment that leaves out a field a new one requires is
// refused with its line, record and field: rate --accounts (no database) and close --accounts on an
// empty database.
func TestAccountsFileWithoutDatabaseRequiresNewFields(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "accounts.yaml")
	for _, tc := range []struct{ name, yaml, says string }{
		{"grant without kind", "accounts:\n  - id: acct_1\n    credits:\n      - {id: cg_1, amount: \"1.00\", granted_at: 2026-10-01T00:00:00Z}\n",
			"line 4: account acct_1, credits[0] (cg_1): kind: missing"},
		{"payment without paid_at", "accounts:\n  - id: acct_1\npayments:\n  - {id: pay_1, account: acct_1, amount: \"1.00\", for: credits}\n",
			"line 4: payment pay_1: paid_at: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, os.WriteFile(file, []byte(tc.yaml), 0o644))
			sub := t.TempDir()
			args := fixtureArgs(t, sub)
			for _, cmd := range [][]string{
				{"rate", "--period", "2026-10", "--at", fixtureAt, "--accounts", file, args[2], args[3], args[4], args[5]},
				append([]string{"close", "--period", "2026-10", "--at", fixtureAt, "--out", filepath.Join(sub, "out"), "--accounts", file}, args...),
			} {
				out, err := runCapture(cmd...)
				if exitCode(err) != exitError || !strings.Contains(err.Error(), "accounts file "+file+": "+tc.says) {
					t.Errorf("%s: %v, want exit %d saying %q\n%s", cmd[0], err, exitError, tc.says, out)
				}
			}
		})
	}
}

// TestAccountsImportWarnsOfUnissuedInvoices: a payment naming an invoice number billrun has not
// issued (a typo, or a file prepared ahead) is stored, as DESIGN's imports are by id, but the import
// says so on its summary and in its log: until that number is issued to the account it pays nothing.
func TestAccountsImportWarnsOfUnissuedInvoices(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	file := filepath.Join(dir, "accounts.yaml")
	yaml := "accounts:\n  - id: acct_1\n    payment_method: true\n" +
		"payments:\n  - {id: pay_1, account: acct_1, amount: \"5.00\", paid_at: 2026-11-02T00:00:00Z, invoice: INV-2026-000042}\n" +
		"  - {id: pay_2, account: acct_1, amount: \"5.00\", paid_at: 2026-11-02T00:00:00Z, for: credits}\n"
	must(t, os.WriteFile(file, []byte(yaml), 0o644))
	out, err := runStdout("accounts", "import", file, "--db", db, "--at", "2026-11-05T09:00:00Z")
	if err != nil {
		t.Fatalf("accounts import: %v\n%s", err, out)
	}
	if !strings.Contains(out, "1 account") || !strings.Contains(out, "2 payments") ||
		!strings.Contains(out, "warning: 1 payment(s) name an invoice not issued") || !strings.Contains(out, "pay_1 names INV-2026-000042") {
		t.Errorf("summary:\n%s\nwant the two payments imported and pay_1's invoice named as not issued", out)
	}
	all, err := runCapture("accounts", "import", file, "--db", db, "--at", "2026-11-05T10:00:00Z")
	if err != nil || !strings.Contains(all, "payment names an invoice not issued") || !strings.Contains(all, "INV-2026-000042") {
		t.Errorf("a repeated import's output:\n%s\n(%v) want the log to name the invoice again", all, err)
	}
}

// TestStandingNamesAccountsNotEvaluated: standing rows exist for the accounts evaluated at least once
// (DESIGN §11), and accounts import evaluates nothing. The table says on stderr which accounts it
// leaves out for want of a row — all of them after the first import, the one imported since after a
// sweep — and the JSON stays the stored rows alone.
func TestStandingNamesAccountsNotEvaluated(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	file := filepath.Join(dir, "accounts.yaml")
	must(t, os.WriteFile(file, []byte("accounts:\n  - id: acct_a\n  - id: acct_b\n"), 0o644))
	if out, err := runCapture("accounts", "import", file, "--db", db, "--at", "2026-11-01T00:00:00Z"); err != nil {
		t.Fatalf("accounts import: %v\n%s", err, out)
	}
	standing := func(args ...string) (stdout, stderr string) {
		t.Helper()
		var out, errb bytes.Buffer
		if err := run(context.Background(), append([]string{"standing", "--db", db, "--log-level", "error"}, args...),
			func(string) string { return "" }, &out, &errb); err != nil {
			t.Fatalf("standing %v: %v\n%s", args, err, errb.String())
		}
		return out.String(), errb.String()
	}
	const note = "not evaluated yet"
	if out, errs := standing(); strings.Count(out, "\n") != 1 || !strings.Contains(errs, note+" (") ||
		!strings.Contains(errs, "acct_a, acct_b\n") {
		t.Errorf("after the import: table\n%s\nstderr %q; want the header alone and both accounts named", out, errs)
	}
	must(t, os.MkdirAll(filepath.Join(dir, "usage"), 0o755))
	if out, err := runCapture("sweep", "--db", db, "--usage", filepath.Join(dir, "usage"), "--prices",
		filepath.Join(root, "fixtures/prices.yaml"), "--at", "2026-11-01T01:00:00Z"); err != nil {
		t.Fatalf("sweep: %v\n%s", err, out)
	}
	if out, errs := standing(); strings.Count(out, "\n") != 3 || strings.Contains(errs, note) {
		t.Errorf("after the sweep: table\n%s\nstderr %q; want both rows and no note", out, errs)
	}
	must(t, os.WriteFile(file, []byte("accounts:\n  - id: acct_c\n"), 0o644))
	if out, err := runCapture("accounts", "import", file, "--db", db, "--at", "2026-11-01T02:00:00Z"); err != nil {
		t.Fatalf("accounts import: %v\n%s", err, out)
	}
	if _, errs := standing(); !strings.HasSuffix(errs, "): acct_c\n") {
		t.Errorf("after importing acct_c: stderr %q, want acct_c named alone", errs)
	}
	if _, errs := standing("--account", "acct_a"); strings.Contains(errs, note) {
		t.Errorf("standing --account acct_a: stderr %q, want no note (acct_a has its row)", errs)
	}
	if out, errs := standing("--format", "json"); strings.Contains(errs, note) || strings.Contains(out, "acct_c") {
		t.Errorf("standing --format json: %s, stderr %q; want the two stored rows and no note", out, errs)
	}
}
