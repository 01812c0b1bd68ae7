package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"billrun/internal/propmonth"
	"billrun/invoices/store/storetest"
)

// TestPropertyMonthClose generates a small random October 2026 per seed — accounts with and without
// payment method, credit grants and contracts; serverless (base and fine-tuned models, cached, batch),
// GPU intervals crossing both month boundaries and fine-tuning; exact duplicates and bad lines — and
// drives close, rerun and reconcile through run(), checking invariants of DESIGN §3–§9 and §11:
//   - counts: lines = taken (accepted + duplicates) + rejected + lines the period ignores; rejects.csv
//     holds every bad line with its code;
//   - every invoice line equals the line re-derived from the generated events and the price book
//     (quantity, unit price, amount), the discount is the larger of contract and volume tier, and
//     credits follow §6.4 (eligibility, min(subtotal, available));
//   - lines sum to the subtotal, subtotal − credits = amount due ≥ 0, numbers gapless per prefix and
//     year, exactly one effective invoice per account with usage;
//   - close's invoices.json equals the export; the workbook's Summary totals equal the invoices
//     (checkConsistent); reconcile is clean;
//   - a second close, a rerun --dry-run and a rerun with unchanged usage change no document;
//   - after late usage (reconcile exit 4), some payments and a rerun, every account's effective
//     documents sum, line key by line key, to a fresh close of all the usage on an empty database,
//     and reconcile is clean again.
//
// Ten seeds run on SQLite, the first three on PostgreSQL too (a schema each of BILLRUN_TEST_POSTGRES).
func TestPropertyMonthClose(t *testing.T) { propBackends(t, 10, 3, propertyMonth) }

// propDB makes a new, empty database for a property test: a file named name in tmp on SQLite, a schema
// of BILLRUN_TEST_POSTGRES on PostgreSQL.
type propDB func(t *testing.T, tmp, name string) string

// propBackends runs month for seeds 1 to sqlite on SQLite and 1 to postgres on PostgreSQL, a subtest
// each.
func propBackends(t *testing.T, sqlite, postgres uint64, month func(t *testing.T, seed uint64, newDB propDB)) {
	backends := []struct {
		name  string
		seeds uint64
		db    propDB
	}{
		{"sqlite", sqlite, func(t *testing.T, tmp, name string) string { return "sqlite:" + filepath.Join(tmp, name+".db") }},
		{"postgres", postgres, func(t *testing.T, _, _ string) string { return storetest.PostgresDSN(t) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for seed := uint64(1); seed <= b.seeds; seed++ {
				t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { month(t, seed, b.db) })
			}
		})
	}
}

// propRun is a generated month on disk and the database the property test's commands run on.
type propRun struct {
	w                                            *propmonth.World
	tmp, usageDir, accountsFile, db, out, prices string
	withUsage                                    []string // --db, --usage and --prices, for the commands that read usage
	newDB                                        propDB
}

// newPropRun generates the month of seed (propmonth.Generate) into a new temporary directory, with its
// accounts file, and makes the database its commands run on.
func newPropRun(t *testing.T, seed uint64, newDB propDB) *propRun {
	m := &propRun{tmp: t.TempDir(), newDB: newDB}
	m.usageDir = filepath.Join(m.tmp, "usage")
	m.w = propmonth.Generate(t, seed, m.usageDir)
	m.accountsFile = filepath.Join(m.tmp, "accounts.yaml")
	must(t, os.WriteFile(m.accountsFile, []byte(m.w.AccountsYAML("")), 0o644))
	m.db = newDB(t, m.tmp, "billrun")
	m.out = filepath.Join(m.tmp, "out")
	m.prices, _ = filepath.Abs("../../fixtures/prices.yaml")
	m.withUsage = []string{"--db", m.db, "--usage", m.usageDir, "--prices", m.prices}
	return m
}

// cmd runs a command that reads usage and fails the test, its message starting with step, unless it
// exits want.
func (m *propRun) cmd(t *testing.T, step string, want int, args ...string) string {
	t.Helper()
	o, err := runCapture(append(args, m.withUsage...)...)
	if got := exitCode(err); got != want {
		t.Fatalf("%s%v: exit %d (%v), want %d\n%s", step, args, got, err, want, o)
	}
	return o
}

type propDoc struct {
	Number, Account, Kind, Status string
	Replaces, Corrects            *string
	Lines                         []map[string]any
	Subtotal, Discount            string
	CreditsApplied                string `json:"credits_applied"`
	AmountDue                     string `json:"amount_due"`
	AmountPaid                    string `json:"amount_paid"`
}

func propDec(t *testing.T, s any) decimal.Decimal {
	t.Helper()
	if s == nil {
		return decimal.Zero
	}
	d, err := decimal.NewFromString(fmt.Sprint(s))
	if err != nil {
		t.Fatalf("decimal %v: %v", s, err)
	}
	return d
}

func propKey(l map[string]any) propmonth.LineKey {
	s := func(k string) string {
		if v, ok := l[k].(string); ok {
			return v
		}
		return ""
	}
	up := s("unit_price")
	if up != "" {
		up = decimal.RequireFromString(up).String()
	}
	return propmonth.LineKey{Kind: s("kind"), Product: s("product"), Deployment: s("deployment"), Meter: s("meter"), UnitPrice: up}
}

// propExport returns the period's documents from `export --format json` and the raw JSON.
func propExport(t *testing.T, db, at string) ([]propDoc, string) {
	t.Helper()
	out, err := runStdout("export", "--period", "2026-10", "--format", "json", "--at", at, "--db", db)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	var exp struct{ Invoices []propDoc }
	must(t, json.Unmarshal([]byte(out), &exp))
	return exp.Invoices, out
}

// checkLedger checks the invariants every set of documents keeps and returns per account the sum of
// its effective documents' lines by key.
func checkLedger(t *testing.T, docs []propDoc) map[string]map[propmonth.LineKey]decimal.Decimal {
	t.Helper()
	numbers := map[string][]int{}
	eff := map[string]map[propmonth.LineKey]decimal.Decimal{}
	originals := map[string]int{}
	for _, d := range docs {
		sum, disc := decimal.Zero, decimal.Zero
		for _, l := range d.Lines {
			a := propDec(t, l["amount"])
			sum = sum.Add(a)
			if l["kind"] == "discount" {
				disc = disc.Add(a)
			}
		}
		sub, cr, due := propDec(t, d.Subtotal), propDec(t, d.CreditsApplied), propDec(t, d.AmountDue)
		if !sum.Equal(sub) || !disc.Equal(propDec(t, d.Discount)) {
			t.Errorf("%s: lines sum to %s (discount %s), subtotal %s (discount %s)", d.Number, sum, disc, d.Subtotal, d.Discount)
		}
		if d.Kind == "credit_note" {
			if !sub.IsNegative() || !cr.IsZero() || !due.IsZero() || d.Status != "issued" {
				t.Errorf("%s: credit note subtotal %s credits %s due %s status %s", d.Number, sub, cr, due, d.Status)
			}
		} else if !sub.Sub(cr).Equal(due) || due.IsNegative() || cr.IsNegative() || cr.GreaterThan(sub) {
			t.Errorf("%s: subtotal %s − credits %s ≠ amount due %s (or negative)", d.Number, sub, cr, due)
		}
		prefix, num, _ := strings.Cut(d.Number, "-")
		yr, seq, _ := strings.Cut(num, "-")
		n, err := strconv.Atoi(seq)
		if err != nil || yr != "2026" {
			t.Errorf("bad number %q", d.Number)
		}
		numbers[prefix+"-"+yr] = append(numbers[prefix+"-"+yr], n)
		if d.Status == "void" {
			continue
		}
		if d.Kind == "invoice" {
			originals[d.Account]++
		}
		if eff[d.Account] == nil {
			eff[d.Account] = map[propmonth.LineKey]decimal.Decimal{}
		}
		for _, l := range d.Lines {
			k := propKey(l)
			eff[d.Account][k] = eff[d.Account][k].Add(propDec(t, l["amount"]))
		}
	}
	for p, ns := range numbers {
		slices.Sort(ns)
		for i, n := range ns {
			if n != i+1 {
				t.Errorf("numbers of %s not gapless from 1: %v", p, ns)
				break
			}
		}
	}
	for a, n := range originals {
		if n != 1 {
			t.Errorf("%s has %d effective invoices", a, n)
		}
	}
	for a := range eff {
		if originals[a] != 1 {
			t.Errorf("%s has documents but no effective invoice", a)
		}
	}
	return eff
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func propertyMonth(t *testing.T, seed uint64, newDB propDB) {
	m := newPropRun(t, seed, newDB)
	w, tmp, accountsFile, db, out, withUsage := m.w, m.tmp, m.accountsFile, m.db, m.out, m.withUsage
	cmd := func(want int, args ...string) string { t.Helper(); return m.cmd(t, "", want, args...) }
	const closeAt = "2026-11-01T02:00:00Z"
	cmd(0, "close", "--period", "2026-10", "--at", closeAt, "--accounts", accountsFile, "--out", out, "--max-rejects", "1000")

	// counts and rejects: nothing silently dropped
	rateOut, err := runStdout(append([]string{"rate", "--period", "2026-10", "--at", closeAt, "--format", "json", "--max-rejects", "1000"}, withUsage...)...)
	must(t, err)
	var rate struct {
		Counts struct {
			Lines, Accepted, Duplicates, Rejected int
			Taken                                 int            `json:"events_taken"`
			ByCode                                map[string]int `json:"rejects_by_code"`
		}
	}
	must(t, json.Unmarshal([]byte(rateOut), &rate))
	c := rate.Counts
	nRejects := 0
	for _, n := range w.Rejects {
		nRejects += n
	}
	if c.Lines != w.Lines || c.Accepted != w.Taken || c.Duplicates != w.Dups || c.Rejected != nRejects ||
		c.Accepted+c.Duplicates+c.Rejected+w.Ignored != c.Lines || !reflect.DeepEqual(c.ByCode, w.Rejects) && len(w.Rejects) > 0 {
		t.Errorf("counts %+v, want lines %d accepted %d duplicates %d rejected %d %v (ignored %d)",
			c, w.Lines, w.Taken, w.Dups, nRejects, w.Rejects, w.Ignored)
	}
	csv, err := os.ReadFile(filepath.Join(out, "2026-10", "rejects.csv"))
	must(t, err)
	gotCodes := map[string]int{}
	for _, row := range strings.Split(strings.TrimSpace(string(csv)), "\n")[1:] {
		if f := splitCSV(row); len(f) >= 4 {
			gotCodes[f[3]]++
		}
	}
	if !reflect.DeepEqual(gotCodes, w.Rejects) {
		t.Errorf("rejects.csv codes %v, want %v", gotCodes, w.Rejects)
	}

	// every invoice re-derived from the events
	docs, exportJSON := propExport(t, db, closeAt)
	byAcct := map[string]propDoc{}
	for _, d := range docs {
		byAcct[d.Account] = d
	}
	for _, a := range w.Accounts {
		want, sub, credits := w.Expected(a)
		d, ok := byAcct[a.ID]
		if len(want) == 0 {
			if ok {
				t.Errorf("%s has no usage but invoice %s", a.ID, d.Number)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no invoice, want subtotal %s", a.ID, sub)
			continue
		}
		got := map[propmonth.LineKey]decimal.Decimal{}
		for _, l := range d.Lines {
			got[propKey(l)] = propDec(t, l["amount"])
		}
		for k, amt := range want {
			if !got[k].Equal(amt) {
				t.Errorf("%s %s line %+v = %s, want %s", a.ID, d.Number, k, got[k], amt)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s %s: unexpected line %+v %s", a.ID, d.Number, k, got[k])
			}
		}
		if !propDec(t, d.Subtotal).Equal(sub) || !propDec(t, d.CreditsApplied).Equal(credits) {
			t.Errorf("%s %s: subtotal %s credits %s, want %s and %s", a.ID, d.Number, d.Subtotal, d.CreditsApplied, sub, credits)
		}
	}
	checkLedger(t, docs)
	credited, discounted := 0, 0
	for _, d := range docs {
		if propDec(t, d.CreditsApplied).IsPositive() {
			credited++
		}
		if propDec(t, d.Discount).IsNegative() {
			discounted++
		}
	}
	t.Logf("%d accounts, %d lines, %d duplicates, rejects %v: %d invoices, %d with credits, %d with a discount",
		len(w.Accounts), w.Lines, w.Dups, w.Rejects, len(docs), credited, discounted)
	var closeJSON, expJSON struct{ Invoices []map[string]any }
	data, err := os.ReadFile(filepath.Join(out, "2026-10", "invoices.json"))
	must(t, err)
	must(t, json.Unmarshal(data, &closeJSON))
	must(t, json.Unmarshal([]byte(exportJSON), &expJSON))
	if !reflect.DeepEqual(closeJSON.Invoices, expJSON.Invoices) {
		t.Errorf("close's invoices.json differs from export --format json")
	}
	checkConsistent(t, "after close", tmp, []string{"--db", db}, withUsage, "2026-10", closeAt, 0)

	// nothing changes: a second close, a dry run, a rerun of unchanged usage
	cmd(0, "close", "--period", "2026-10", "--at", "2026-11-01T05:00:00Z", "--out", out, "--max-rejects", "1000")
	cmd(0, "rerun", "--period", "2026-10", "--at", "2026-11-02T00:00:00Z", "--dry-run", "--max-rejects", "1000")
	cmd(0, "rerun", "--period", "2026-10", "--at", "2026-11-02T00:00:00Z", "--out", out, "--max-rejects", "1000")
	if again, _ := propExport(t, db, closeAt); !reflect.DeepEqual(again, docs) {
		t.Errorf("second close or unchanged rerun changed the documents:\n%v\nwas\n%v", again, docs)
	}
	checkConsistent(t, "after unchanged rerun", tmp, []string{"--db", db}, withUsage, "2026-10", "2026-11-02T00:00:00Z", 0)

	for round, at := range []string{"2026-11-05T00:00:00Z", "2026-11-09T00:00:00Z"} {
		docs = propRound(t, m, round, at, docs)
	}
}

// propRound adds late usage, sometimes withdraws an object, pays some open documents and reruns at
// at; then the effective documents must bill what a fresh close of all the usage bills.
func propRound(t *testing.T, m *propRun, round int, rerunAt string, docs []propDoc) []propDoc {
	w, tmp, db, usageDir, out, withUsage := m.w, m.tmp, m.db, m.usageDir, m.out, m.withUsage
	cmd := func(want int, args ...string) string {
		t.Helper()
		return m.cmd(t, fmt.Sprintf("round %d ", round), want, args...)
	}
	before := time.Date(2026, 11, 3+4*round, 0, 0, 0, 0, time.UTC)
	late := w.Accounts[w.R.IntN(len(w.Accounts))].ID
	for range 5 + w.R.IntN(20) {
		w.Event(late, false, propmonth.Start, propmonth.End)
		if w.R.IntN(2) == 0 {
			late = w.Accounts[w.R.IntN(len(w.Accounts))].ID
		}
	}
	for key, lines := range w.Files { // late objects of their own
		w.Files[strings.Replace(key, "part-", fmt.Sprintf("late%d-", round), 1)] = lines
		delete(w.Files, key)
	}
	w.Flush(t)
	if w.R.IntN(2) == 0 { // usage withdrawn: an object of the close disappears
		objs, _ := filepath.Glob(filepath.Join(usageDir, "dt=2026-10-*", "*.jsonl"))
		must(t, os.Remove(objs[w.R.IntN(len(objs))]))
	}
	cmd(4, "reconcile", "--period", "2026-10", "--at", rfc(before), "--out", out)
	var pays strings.Builder
	for i, d := range docs {
		if due := propDec(t, d.AmountDue).Sub(propDec(t, d.AmountPaid)); due.IsPositive() && w.R.IntN(2) == 0 {
			amt := due
			if w.R.IntN(2) == 0 {
				amt = due.Div(decimal.NewFromInt(2)).Round(2)
			}
			if pays.Len() == 0 {
				pays.WriteString("payments:\n")
			}
			fmt.Fprintf(&pays, "  - {id: pay_%d_%d, account: %s, amount: %q, paid_at: %s, invoice: %s}\n", round, i, d.Account, amt.StringFixed(2), rfc(before), d.Number)
		}
	}
	payFile := filepath.Join(tmp, "payments.yaml")
	must(t, os.WriteFile(payFile, []byte(pays.String()+"accounts: []\n"), 0o644))
	if o, err := runCapture("accounts", "import", payFile, "--db", db, "--at", rfc(before.Add(time.Hour))); err != nil {
		t.Fatalf("import payments: %v\n%s", err, o)
	}
	cmd(0, "rerun", "--period", "2026-10", "--at", rerunAt, "--out", out, "--max-rejects", "1000")
	docs2, _ := propExport(t, db, rerunAt)
	eff := checkLedger(t, docs2)
	kinds := map[string]int{}
	for _, d := range docs2 {
		kinds[d.Kind+"/"+d.Status]++
	}
	t.Logf("round %d: %v", round, kinds)
	checkConsistent(t, fmt.Sprintf("after rerun %d", round), tmp, []string{"--db", db}, withUsage, "2026-10", rerunAt, 0)
	checkCredits(t, filepath.Join(tmp, "consistent-2026-10.xlsx"), docs2)
	cmd(0, "rerun", "--period", "2026-10", "--at", rerunAt, "--out", out, "--max-rejects", "1000")
	if again, _ := propExport(t, db, rerunAt); !reflect.DeepEqual(again, docs2) {
		t.Errorf("round %d: a second rerun of unchanged usage changed the documents", round)
	}

	propFreshMatches(t, m, fmt.Sprintf("fresh%d", round), rerunAt, docs2, eff, nil)
	return docs2
}

// checkCredits checks the workbook's Credits sheet against the documents: each effective document's
// consumptions sum to its credits applied, each grant's consumption (by effective documents) is its
// Consumed, never above its amount, and every credit note has a credit_note grant of its amount.
func checkCredits(t *testing.T, path string, docs []propDoc) {
	t.Helper()
	f, err := excelize.OpenFile(path)
	must(t, err)
	defer f.Close()
	rows, err := f.GetRows("Credits", excelize.Options{RawCellValue: true})
	must(t, err)
	status := map[string]propDoc{}
	for _, d := range docs {
		status[d.Number] = d
	}
	applied, consumed := map[string]decimal.Decimal{}, map[string]decimal.Decimal{}
	i := 1
	for ; i < len(rows) && len(rows[i]) >= 5; i++ {
		d, ok := status[rows[i][0]]
		if !ok {
			t.Errorf("Credits: unknown document %v", rows[i])
			continue
		}
		if d.Status != "void" {
			applied[d.Number] = applied[d.Number].Add(propDec(t, rows[i][4]))
			consumed[rows[i][3]] = consumed[rows[i][3]].Add(propDec(t, rows[i][4]))
		}
	}
	for _, d := range docs {
		if d.Status != "void" && !applied[d.Number].Equal(propDec(t, d.CreditsApplied)) {
			t.Errorf("Credits: %s consumed %s, credits applied %s", d.Number, applied[d.Number], d.CreditsApplied)
		}
	}
	notes := map[string]decimal.Decimal{}
	for _, d := range docs {
		if d.Kind == "credit_note" {
			notes[d.Account] = notes[d.Account].Sub(propDec(t, d.Subtotal))
		}
	}
	for ; i < len(rows); i++ {
		r := rows[i]
		if len(r) < 8 || r[0] == "Grant" {
			continue
		}
		amt, used := propDec(t, r[3]), propDec(t, r[6])
		if !used.Equal(consumed[r[0]]) || used.GreaterThan(amt) || !amt.Sub(used).Equal(propDec(t, r[7])) {
			t.Errorf("Credits: grant %v: consumed by effective documents %s", r, consumed[r[0]])
		}
		if r[2] == "credit_note" {
			notes[r[1]] = notes[r[1]].Sub(amt)
		}
	}
	for a, v := range notes {
		if !v.IsZero() {
			t.Errorf("Credits: %s credit notes and credit_note grants differ by %s", a, v)
		}
	}
}

// propFreshMatches closes all the usage on a new, empty database (name) at at and checks that every
// account's effective documents in docs (eff: their line sums by key, from checkLedger) bill the same,
// line key by line key, and — unless a credit note turned credit into a grant of its own — the same
// subtotal, credits and amount due. only, when not nil, limits the check to those accounts.
func propFreshMatches(t *testing.T, m *propRun, name, at string,
	docs2 []propDoc, eff map[string]map[propmonth.LineKey]decimal.Decimal, only map[string]bool) {
	t.Helper()
	w := m.w
	rerunAt := at
	freshDB := m.newDB(t, m.tmp, name)
	if o, err := runCapture("close", "--period", "2026-10", "--at", rerunAt, "--accounts", m.accountsFile, "--out", filepath.Join(m.tmp, name),
		"--max-rejects", "1000", "--db", freshDB, "--usage", m.usageDir, "--prices", m.prices); err != nil {
		t.Fatalf("fresh close: %v\n%s", err, o)
	}
	fresh, _ := propExport(t, freshDB, rerunAt)
	paid, noted := map[string]bool{}, map[string]bool{}
	sums := map[string][3]decimal.Decimal{} // subtotal, credits, due of the effective documents
	for _, d := range docs2 {
		if propDec(t, d.AmountPaid).IsPositive() {
			paid[d.Account] = true
		}
		if d.Kind == "credit_note" {
			noted[d.Account] = true
		}
		if d.Status != "void" {
			s := sums[d.Account]
			sums[d.Account] = [3]decimal.Decimal{s[0].Add(propDec(t, d.Subtotal)), s[1].Add(propDec(t, d.CreditsApplied)), s[2].Add(propDec(t, d.AmountDue))}
		}
	}
	freshBy := map[string]propDoc{}
	for _, d := range fresh {
		freshBy[d.Account] = d
	}
	for _, a := range w.Accounts {
		if only != nil && !only[a.ID] {
			continue
		}
		f, ok := freshBy[a.ID]
		s := sums[a.ID]
		if !ok {
			if slices.ContainsFunc(slices.Collect(maps.Values(eff[a.ID])), func(v decimal.Decimal) bool { return !v.IsZero() }) {
				t.Errorf("%s: effective documents after rerun but no usage in a fresh close", a.ID)
			}
			continue
		}
		want := map[propmonth.LineKey]decimal.Decimal{}
		for _, l := range f.Lines {
			want[propKey(l)] = propDec(t, l["amount"])
		}
		for k, v := range eff[a.ID] {
			if !v.Equal(want[k]) {
				t.Errorf("%s: line %+v sums to %s after rerun, fresh close %s", a.ID, k, v, want[k])
			}
		}
		for k, v := range want {
			if !v.Equal(eff[a.ID][k]) {
				t.Errorf("%s: fresh close line %+v %s, after rerun %s", a.ID, k, v, eff[a.ID][k])
			}
		}
		if noted[a.ID] { // a credit note's amount is a grant of its own, not credits taken back
			if !s[0].Equal(propDec(t, f.Subtotal)) {
				t.Errorf("%s: effective subtotal %s, fresh close %s", a.ID, s[0], f.Subtotal)
			}
			continue
		}
		if !s[0].Equal(propDec(t, f.Subtotal)) || !s[1].Equal(propDec(t, f.CreditsApplied)) || !s[2].Equal(propDec(t, f.AmountDue)) {
			t.Errorf("%s (paid %t): effective subtotal/credits/due %v, fresh close %s/%s/%s", a.ID, paid[a.ID], s, f.Subtotal, f.CreditsApplied, f.AmountDue)
		}
	}
}
