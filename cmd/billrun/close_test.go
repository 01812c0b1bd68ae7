package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"billrun/exporters"
	"billrun/invoices/store"
	"billrun/rating"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fixtureArgs returns the flags that run a command on the bundled fixtures against a fresh database in
// a temp dir (the repository root is two levels up from this package).
func fixtureArgs(t *testing.T, dir string) []string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--db", "sqlite:" + filepath.Join(dir, "billrun.db"),
		"--usage", filepath.Join(root, "fixtures/usage"), "--prices", filepath.Join(root, "fixtures/prices.yaml")}
}

const fixtureAt = "2026-11-01T02:00:00Z"

// accountsFixture is the absolute path of fixtures/accounts.yaml.
func accountsFixture(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, fixtureAccounts)
}

// closeArgs is `billrun close` of October at fixtureAt on the fixtures' usage and prices, importing
// accounts, into dir's database and dir/out.
func closeArgs(t *testing.T, dir, accounts string) []string {
	t.Helper()
	return append([]string{"close", "--period", "2026-10", "--at", fixtureAt, "--out", filepath.Join(dir, "out"),
		"--accounts", accounts}, fixtureArgs(t, dir)...)
}

// holdPeriod takes October's run lock on dir's database, as a close or rerun of it running would, and
// returns the store holding it and its release; the store is closed when the test ends.
func holdPeriod(t *testing.T, dir string) (st *store.Store, release func()) {
	t.Helper()
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "billrun.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	release, err = st.Lock(t.Context(), "period:2026-10", false)
	if err != nil {
		t.Fatal(err)
	}
	return st, release
}

// TestCloseFixtures closes October 2026 on the fixtures and compares invoices.json and the workbook
// (as a JSON dump of cells and number formats) with the goldens. The goldens are regression files:
// their numbers are checked by hand in the worked examples (TestExamples) and the unit tests; this test
// catches any unintended change of the full outputs. It then closes again: nothing new is issued and
// the outputs are byte-identical; and `export` gives the same JSON.
func TestCloseFixtures(t *testing.T) {
	dir := t.TempDir()
	root, _ := filepath.Abs("../..")
	out := filepath.Join(dir, "out")
	args := append([]string{"close", "--period", "2026-10", "--at", fixtureAt, "--out", out,
		"--accounts", filepath.Join(root, "fixtures/accounts.yaml")}, fixtureArgs(t, dir)...)
	text, err := runCapture(args...)
	if err != nil {
		t.Fatalf("close: %v\n%s", err, text)
	}
	if !strings.Contains(text, "invoices issued  17") {
		t.Errorf("summary does not report 17 invoices issued:\n%s", text)
	}
	jsonPath := filepath.Join(out, "2026-10", "invoices.json")
	first, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "invoices-2026-10.json", first)
	dump, err := exporters.DumpXLSXFile(filepath.Join(out, "2026-10", "billrun-2026-10.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "workbook-2026-10.json", maskRunSheet(t, dump))
	rejects, err := os.ReadFile(filepath.Join(out, "2026-10", "rejects.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if string(rejects) != "object,line,event_id,code,message\n" {
		t.Errorf("rejects.csv = %q, want only the header", rejects)
	}

	// A second close of the same period issues nothing and exits 0.
	text, err = runCapture(args...)
	if err != nil {
		t.Fatalf("second close: %v\n%s", err, text)
	}
	if !strings.Contains(text, "invoices issued  0 (accounts already invoiced for 2026-10: 17)") {
		t.Errorf("second close summary:\n%s", text)
	}
	second, _ := os.ReadFile(jsonPath)
	if !bytes.Equal(first, second) {
		t.Errorf("invoices.json changed after an idempotent second close")
	}

	// export --format json at the same time shows the same file.
	exp, err := runCapture(append([]string{"export", "--period", "2026-10", "--format", "json", "--at", fixtureAt},
		fixtureArgs(t, dir)[:2]...)...)
	if err != nil {
		t.Fatal(err)
	}
	if exp != string(first) {
		t.Errorf("export --format json differs from the close's invoices.json")
	}
}

// golden compares got with testdata/golden/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; diff it with `go test -update` and git diff", name)
	}
}

// maskRunSheet blanks the values of the Run sheet that differ on every run: the run id and the wall-clock
// start and end times. The dump has one cell per line.
func maskRunSheet(t *testing.T, dump []byte) []byte {
	t.Helper()
	lines := strings.Split(string(dump), "\n")
	inRun := false
	masked := map[string]bool{}
	for i, line := range lines {
		if strings.Contains(line, `"name":"`) {
			inRun = strings.Contains(line, `"name":"Run"`)
			continue
		}
		if !inRun || !strings.HasPrefix(strings.TrimSpace(line), "{") {
			continue
		}
		var c struct {
			Ref   string `json:"ref"`
			Value string `json:"value"`
		}
		if err := json.Unmarshal([]byte(strings.TrimSuffix(strings.TrimSpace(line), ",")), &c); err != nil {
			t.Fatalf("dump line %q: %v", line, err)
		}
		switch {
		case strings.HasPrefix(c.Ref, "A") && (c.Value == "run_id" || c.Value == "started_at" || c.Value == "finished_at"):
			masked["B"+c.Ref[1:]] = true
		case masked[c.Ref]:
			v, _ := json.Marshal(c.Value)
			lines[i] = strings.Replace(line, `"value":`+string(v), `"value":"<masked>"`, 1)
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

// TestCloseBadAccountsFile: the accounts file is parsed while the store opens; a file that does not
// parse still fails the close, naming the file and line, before anything is read or issued — and a
// store that cannot open is what a close reports first, whatever the file.
func TestCloseBadAccountsFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "accounts.yaml")
	if err := os.WriteFile(bad, []byte("accounts:\n  - id: acct_1\n    payment_method: [not, a, bool]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := closeArgs(t, dir, bad)
	text, err := runCapture(args...)
	if err == nil {
		t.Fatalf("close with a bad accounts file succeeded:\n%s", text)
	}
	if msg := err.Error(); !strings.Contains(msg, bad) || !strings.Contains(msg, "line 3") {
		t.Errorf("error %q does not name %s and line 3", msg, bad)
	}
	if code := exitCode(err); code != exitError {
		t.Errorf("exit code %d, want %d", code, exitError)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "2026-10")); !os.IsNotExist(err) {
		t.Errorf("the close wrote %s: %v", filepath.Join(dir, "out", "2026-10"), err)
	}

	// A store that cannot open comes first.
	// (A later --db wins.)
	args = append(args, "--db", "sqlite:"+filepath.Join(dir, "no-such-dir", "billrun.db"))
	if _, err := runCapture(args...); err == nil || strings.Contains(err.Error(), bad) {
		t.Errorf("close on a store that cannot open: %v; want the store's error, not the file's", err)
	}
}

// TestCloseWhileAnotherRunHoldsThePeriod: a close started while another run holds the period's lock
// exits 5 without issuing anything (it starts no read ahead: jobs.TestReadAheadNotWhenLocked), and
// the close run after the lock is released issues all 17.
func TestCloseWhileAnotherRunHoldsThePeriod(t *testing.T) {
	dir := t.TempDir()
	args := closeArgs(t, dir, accountsFixture(t))
	st, release := holdPeriod(t, dir)
	text, err := runCapture(args...)
	if code := exitCode(err); code != exitLocked {
		t.Fatalf("close while the period is locked: exit %d (%v), want %d\n%s", code, err, exitLocked, text)
	}
	if !strings.Contains(err.Error(), "period:2026-10") {
		t.Errorf("the error does not name the period's lock: %v", err)
	}
	if docs, err := st.Documents(t.Context(), rating.Period{Year: 2026, Month: time.October}); err != nil || len(docs) != 0 {
		t.Errorf("the refused close left %d documents (%v), want none", len(docs), err)
	}
	release()
	if text, err = runCapture(args...); err != nil || !strings.Contains(text, "invoices issued  17") {
		t.Errorf("close after the lock was released: %v\n%s", err, text)
	}
}

// TestExportWhileAnotherRunHoldsThePeriod: while a close or rerun holds the period's lock, export
// would show the invoices issued so far as the period's; by default it waits and exports once the
// lock is released — all 17 of the fixture close's invoices — and with --wait=false it exits 5 naming
// the lock.
func TestExportWhileAnotherRunHoldsThePeriod(t *testing.T) {
	dir := t.TempDir()
	args := closeArgs(t, dir, accountsFixture(t))
	if text, err := runCapture(args...); err != nil {
		t.Fatalf("close: %v\n%s", err, text)
	}
	_, release := holdPeriod(t, dir)
	export := append([]string{"export", "--period", "2026-10", "--at", fixtureAt, "--format", "json"}, fixtureArgs(t, dir)[:2]...)
	text, err := runCapture(append(export, "--wait=false")...)
	if code := exitCode(err); code != exitLocked {
		t.Fatalf("export while the period is locked: exit %d (%v), want %d\n%s", code, err, exitLocked, text)
	}
	if !strings.Contains(err.Error(), "period:2026-10") {
		t.Errorf("the error does not name the period's lock: %v", err)
	}
	time.AfterFunc(200*time.Millisecond, release)
	text, err = runCapture(export...)
	if err != nil {
		t.Fatalf("export waiting for the lock: %v\n%s", err, text)
	}
	if n := strings.Count(text, `"number": "INV-2026-`); n != 17 {
		t.Errorf("export waiting for the lock shows %d invoices, want the close's 17\n%s", n, text)
	}
	if !strings.Contains(text, "waiting for the run that holds the lock to finish") {
		t.Errorf("export waited without saying so:\n%s", text)
	}
}

// TestExportOutDirectory: `export --out` naming a directory — one that exists, or a path ending in a
// separator — writes the format's usual file in it (invoices.json, invoices.csv, billrun-P.xlsx), the
// same bytes as the export to a file; a path that is neither stays the file written.
func TestExportOutDirectory(t *testing.T) {
	dir := t.TempDir()
	args := closeArgs(t, dir, accountsFixture(t))
	if text, err := runCapture(args...); err != nil {
		t.Fatalf("close: %v\n%s", err, text)
	}
	db := fixtureArgs(t, dir)[:2]
	export := func(format, out string) {
		t.Helper()
		if text, err := runCapture(append([]string{"export", "--period", "2026-10", "--at", fixtureAt,
			"--format", format, "--out", out}, db...)...); err != nil {
			t.Fatalf("export --format %s --out %s: %v\n%s", format, out, err, text)
		}
	}
	existing := filepath.Join(dir, "exports")
	if err := os.Mkdir(existing, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ format, name string }{
		{"json", "invoices.json"}, {"csv", "invoices.csv"}, {"xlsx", "billrun-2026-10.xlsx"},
	} {
		asFile := filepath.Join(dir, "file-"+c.name)
		export(c.format, asFile)
		want, err := os.ReadFile(asFile)
		if err != nil {
			t.Fatal(err)
		}
		export(c.format, existing)
		newDir := filepath.Join(dir, "new", c.format) + string(filepath.Separator)
		export(c.format, newDir)
		for _, d := range []string{existing, newDir} {
			got, err := os.ReadFile(filepath.Join(d, c.name))
			if err != nil {
				t.Fatalf("--format %s --out %s: %v", c.format, d, err)
			}
			if c.format != "xlsx" && !bytes.Equal(got, want) { // a workbook's zip carries the time it was written
				t.Errorf("--format %s --out %s wrote other bytes than --out %s", c.format, d, asFile)
			}
			if len(got) == 0 {
				t.Errorf("--format %s --out %s wrote an empty file", c.format, d)
			}
		}
	}
}
