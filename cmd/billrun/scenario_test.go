package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"
	"gopkg.in/yaml.v3"
)

// TestExamples replays the worked cases of the contract (testdata/examples, copied from
// shared/examples: every expected number there was worked out by hand in its comments) through run(),
// exactly as a user would: close, accounts import, sweep, and `export --format json` checks.
func TestExamples(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/examples/*/scenario.yaml")
	if len(dirs) == 0 {
		t.Fatal("no examples found")
	}
	for _, sc := range dirs {
		dir := filepath.Dir(sc)
		t.Run(filepath.Base(dir), func(t *testing.T) { replayScenario(t, dir) })
	}
}

type scenario struct {
	Steps []map[string]yaml.Node `yaml:"steps"`
}

// replayScenario replays dir/scenario.yaml and returns the --db it used.
func replayScenario(t *testing.T, dir string) string {
	data, err := os.ReadFile(filepath.Join(dir, "scenario.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var sc scenario
	if err := yaml.Unmarshal(data, &sc); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	usageDir := filepath.Join(tmp, "usage")
	if err := os.CopyFS(usageDir, os.DirFS(filepath.Join(dir, "usage"))); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(tmp, "billrun.db")
	common := []string{"--db", db}
	withUsage := append(append([]string{}, common...), "--usage", usageDir, "--prices", filepath.Join(dir, "prices.yaml"))
	lastAt := ""
	for i, step := range sc.Steps {
		for verb, node := range step {
			name := fmt.Sprintf("step %d %s", i+1, verb)
			switch verb {
			case "close":
				var c struct {
					Period     string `yaml:"period"`
					At         string `yaml:"at"`
					Accounts   string `yaml:"accounts"`
					MaxRejects *int   `yaml:"max_rejects"`
					ExpectExit int    `yaml:"expect_exit"`
				}
				must(t, node.Decode(&c))
				args := append([]string{"close", "--period", c.Period, "--at", c.At, "--out", filepath.Join(tmp, "out")}, withUsage...)
				if c.Accounts != "" {
					args = append(args, "--accounts", filepath.Join(dir, c.Accounts))
				}
				if c.MaxRejects != nil {
					args = append(args, "--max-rejects", fmt.Sprint(*c.MaxRejects))
				}
				out, err := runCapture(args...)
				if got := exitCode(err); got != c.ExpectExit {
					t.Fatalf("%s: exit %d (%v), want %d\n%s", name, got, err, c.ExpectExit, out)
				}
				checkOutputs(t, name, filepath.Join(tmp, "out", c.Period), node)
				lastAt = c.At
			case "rerun":
				var c struct {
					Period     string   `yaml:"period"`
					At         string   `yaml:"at"`
					Accounts   []string `yaml:"accounts"`
					DryRun     bool     `yaml:"dry_run"`
					ExpectExit int      `yaml:"expect_exit"`
				}
				must(t, node.Decode(&c))
				args := append([]string{"rerun", "--period", c.Period, "--at", c.At, "--out", filepath.Join(tmp, "out")}, withUsage...)
				for _, a := range c.Accounts {
					args = append(args, "--account", a)
				}
				if c.DryRun {
					args = append(args, "--dry-run")
				}
				out, err := runCapture(args...)
				if got := exitCode(err); got != c.ExpectExit {
					t.Fatalf("%s: exit %d (%v), want %d\n%s", name, got, err, c.ExpectExit, out)
				}
				if !c.DryRun {
					lastAt = c.At
				}
			case "reconcile":
				var c struct {
					Period     string `yaml:"period"`
					At         string `yaml:"at"`
					ExpectExit int    `yaml:"expect_exit"`
				}
				must(t, node.Decode(&c))
				args := append([]string{"reconcile", "--period", c.Period, "--at", c.At, "--out", filepath.Join(tmp, "out")}, withUsage...)
				out, err := runCapture(args...)
				if got := exitCode(err); got != c.ExpectExit {
					t.Fatalf("%s: exit %d (%v), want %d\n%s", name, got, err, c.ExpectExit, out)
				}
			case "rate":
				var c struct {
					Period     string    `yaml:"period"`
					At         string    `yaml:"at"`
					Accounts   string    `yaml:"accounts"`
					MaxRejects *int      `yaml:"max_rejects"`
					ExpectExit int       `yaml:"expect_exit"`
					Expect     yaml.Node `yaml:"expect"`
				}
				must(t, node.Decode(&c))
				args := append([]string{"rate", "--period", c.Period, "--at", c.At, "--format", "json"}, withUsage...)
				if c.Accounts != "" {
					args = append(args, "--accounts", filepath.Join(dir, c.Accounts))
				}
				if c.MaxRejects != nil {
					args = append(args, "--max-rejects", fmt.Sprint(*c.MaxRejects))
				}
				out, err := runStdout(args...)
				if got := exitCode(err); got != c.ExpectExit {
					t.Fatalf("%s: exit %d (%v), want %d\n%s", name, got, err, c.ExpectExit, out)
				}
				if c.Expect.Kind != 0 {
					var got map[string]any
					if jerr := json.Unmarshal([]byte(out), &got); jerr != nil {
						t.Fatalf("%s: output is not JSON: %v\n%s", name, jerr, out)
					}
					var want map[string]any
					must(t, c.Expect.Decode(&want))
					checkExport(t, name+" "+c.Period, got, want)
					if wc, ok := want["counts"].(map[string]any); ok {
						gc, _ := got["counts"].(map[string]any)
						matchFields(t, name+" counts", gc, wc)
					}
				}
			case "add_usage":
				// copies the folder DIR (relative to the scenario) into the usage tree: late usage
				if err := os.CopyFS(usageDir, os.DirFS(filepath.Join(dir, node.Value))); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			case "remove_usage":
				// removes the object KEY (relative to the usage tree)
				if err := os.Remove(filepath.Join(usageDir, node.Value)); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			case "import":
				var c struct {
					File string `yaml:"file"`
					At   string `yaml:"at"`
				}
				if node.Kind == yaml.ScalarNode {
					c.File = node.Value
				} else {
					must(t, node.Decode(&c))
				}
				args := append([]string{"accounts", "import", filepath.Join(dir, c.File)}, common...)
				if out, err := runCapture(args...); err != nil {
					t.Fatalf("%s: %v\n%s", name, err, out)
				}
				if c.At != "" {
					lastAt = c.At
				}
			case "sweep":
				var c struct {
					At string `yaml:"at"`
				}
				must(t, node.Decode(&c))
				args := append([]string{"sweep", "--at", c.At}, withUsage...)
				if out, err := runCapture(args...); err != nil {
					t.Fatalf("%s: %v\n%s", name, err, out)
				}
				lastAt = c.At
			case "check":
				var c struct {
					Period string    `yaml:"period"`
					At     string    `yaml:"at"`
					Expect yaml.Node `yaml:"expect"`
				}
				must(t, node.Decode(&c))
				at := c.At
				if at == "" {
					at = lastAt
				}
				args := append([]string{"export", "--period", c.Period, "--format", "json", "--at", at}, common...)
				out, err := runCapture(args...)
				if err != nil {
					t.Fatalf("%s: %v\n%s", name, err, out)
				}
				var got map[string]any
				must(t, json.Unmarshal([]byte(out), &got))
				var want map[string]any
				must(t, c.Expect.Decode(&want))
				checkExport(t, name+" "+c.Period, got, want)
			case "consistent":
				// consistent: {period, at, reconcile_exit} — the outputs of period agree with each other:
				// the effective documents of `export --format json` sum to the workbook Summary's Total
				// row, the standing rows of the export equal `standing --format json`, and `reconcile`
				// exits reconcile_exit (default 0: nothing drifted; -1 skips it, for a period with no run).
				var c struct {
					Period        string `yaml:"period"`
					At            string `yaml:"at"`
					ReconcileExit int    `yaml:"reconcile_exit"`
				}
				must(t, node.Decode(&c))
				at := c.At
				if at == "" {
					at = lastAt
				}
				checkConsistent(t, name+" "+c.Period, tmp, common, withUsage, c.Period, at, c.ReconcileExit)
			default:
				t.Fatalf("%s: unknown step", name)
			}
		}
	}
	return db
}

// checkConsistent ties the outputs of period together at at (see the `consistent` step).
func checkConsistent(t *testing.T, name, tmp string, common, withUsage []string, period, at string, reconcileExit int) {
	t.Helper()
	out, err := runStdout(append([]string{"export", "--period", period, "--format", "json", "--at", at}, common...)...)
	if err != nil {
		t.Fatalf("%s: export json: %v\n%s", name, err, out)
	}
	var exp struct {
		Invoices []map[string]any `json:"invoices"`
		Standing []map[string]any `json:"standing"`
	}
	must(t, json.Unmarshal([]byte(out), &exp))
	fields := []string{"subtotal", "discount", "credits_applied", "amount_due", "amount_paid"}
	var sums [5]decimal.Decimal
	for _, d := range exp.Invoices {
		if d["status"] == "void" {
			continue
		}
		for i, f := range fields {
			v, err := decimal.NewFromString(fmt.Sprint(d[f]))
			if err != nil {
				t.Fatalf("%s: %s %s = %v: %v", name, d["number"], f, d[f], err)
			}
			sums[i] = sums[i].Add(v)
		}
	}
	xlsxPath := filepath.Join(tmp, "consistent-"+period+".xlsx")
	if out, err := runCapture(append([]string{"export", "--period", period, "--format", "xlsx", "--at", at, "--out", xlsxPath}, common...)...); err != nil {
		t.Fatalf("%s: export xlsx: %v\n%s", name, err, out)
	}
	f, err := excelize.OpenFile(xlsxPath)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	defer f.Close()
	rows, err := f.GetRows("Summary", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var total []string
	for _, r := range rows {
		if len(r) > 0 && r[0] == "Total" {
			total = r
		}
	}
	if len(total) < 7 {
		t.Fatalf("%s: Summary has no full Total row: %v", name, rows)
	}
	for i, f := range fields {
		got, err := decimal.NewFromString(total[2+i])
		if err != nil || !got.Equal(sums[i]) {
			t.Errorf("%s: Summary Total %s = %q, want the sum of invoices.json %s", name, f, total[2+i], sums[i].StringFixed(2))
		}
	}
	out, err = runStdout(append([]string{"standing", "--format", "json", "--at", at}, common...)...)
	if err != nil {
		t.Fatalf("%s: standing json: %v\n%s", name, err, out)
	}
	var st struct {
		Schema   string           `json:"schema"`
		Standing []map[string]any `json:"standing"`
	}
	must(t, json.Unmarshal([]byte(out), &st))
	if st.Schema != "billrun.standing/v1" {
		t.Errorf("%s: standing schema %q", name, st.Schema)
	}
	byAcct := map[string]map[string]any{}
	for _, r := range st.Standing {
		byAcct[fmt.Sprint(r["account"])] = r
	}
	if len(byAcct) != len(exp.Standing) {
		t.Errorf("%s: standing lists %d accounts, the export %d", name, len(byAcct), len(exp.Standing))
	}
	for _, r := range exp.Standing {
		g := byAcct[fmt.Sprint(r["account"])]
		for _, k := range []string{"status", "reasons", "tier", "spend_limit", "usage_limit", "month_usage", "credit_balance", "evaluated_at"} {
			if fmt.Sprint(g[k]) != fmt.Sprint(r[k]) {
				t.Errorf("%s: standing %s %s = %v, export says %v", name, r["account"], k, g[k], r[k])
			}
		}
	}
	if reconcileExit < 0 {
		return
	}
	rout, err := runCapture(append([]string{"reconcile", "--period", period, "--at", at, "--out", filepath.Join(tmp, "out")}, withUsage...)...)
	if got := exitCode(err); got != reconcileExit {
		t.Errorf("%s: reconcile exit %d (%v), want %d\n%s", name, got, err, reconcileExit, rout)
	}
}

// checkOutputs checks a close's files in outDir: `rejects: N` (rows of rejects.csv), `reject_codes`
// (the codes of those rows, in order) and `exports: [names]` (exactly the files written).
func checkOutputs(t *testing.T, name, outDir string, node yaml.Node) {
	t.Helper()
	var c struct {
		Rejects     *int     `yaml:"rejects"`
		RejectCodes []string `yaml:"reject_codes"`
		Exports     []string `yaml:"exports"`
	}
	must(t, node.Decode(&c))
	if c.Rejects != nil || c.RejectCodes != nil {
		data, err := os.ReadFile(filepath.Join(outDir, "rejects.csv"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else {
			rows := strings.Split(strings.TrimSpace(string(data)), "\n")[1:]
			if c.Rejects != nil && len(rows) != *c.Rejects {
				t.Errorf("%s: %d rejects, want %d:\n%s", name, len(rows), *c.Rejects, data)
			}
			if c.RejectCodes != nil {
				var codes []string
				for _, r := range rows {
					if f := splitCSV(r); len(f) >= 4 {
						codes = append(codes, f[3])
					}
				}
				if strings.Join(codes, ",") != strings.Join(c.RejectCodes, ",") {
					t.Errorf("%s: reject codes %v, want %v:\n%s", name, codes, c.RejectCodes, data)
				}
			}
		}
	}
	if c.Exports != nil {
		var names []string
		entries, _ := os.ReadDir(outDir)
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, ",") != strings.Join(c.Exports, ",") {
			t.Errorf("%s: exports %v, want %v", name, names, c.Exports)
		}
	}
}

// splitCSV splits one CSV row, honouring double quotes.
func splitCSV(row string) []string {
	var f []string
	var cur strings.Builder
	inQ := false
	for i := 0; i < len(row); i++ {
		switch ch := row[i]; {
		case ch == '"' && inQ && i+1 < len(row) && row[i+1] == '"':
			cur.WriteByte('"')
			i++
		case ch == '"':
			inQ = !inQ
		case ch == ',' && !inQ:
			f = append(f, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(ch)
		}
	}
	return append(f, cur.String())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func runCapture(args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &errb)
	return out.String() + errb.String(), err
}

// checkExport compares the export against the scenario's expectations: per account the list of
// documents (every field given must match; lines, when given, match one actual line each, and their
// number must be equal), and standing rows by account.
func checkExport(t *testing.T, name string, got, want map[string]any) {
	t.Helper()
	docsBy := map[string][]map[string]any{}
	for _, d := range got["invoices"].([]any) {
		m := d.(map[string]any)
		docsBy[m["account"].(string)] = append(docsBy[m["account"].(string)], m)
	}
	if inv, ok := want["invoices"].(map[string]any); ok {
		for acct, wl := range inv {
			wantDocs, _ := wl.([]any)
			gotDocs := docsBy[acct]
			if len(gotDocs) != len(wantDocs) {
				t.Errorf("%s: %s has %d documents, want %d: %v", name, acct, len(gotDocs), len(wantDocs), gotDocs)
				continue
			}
			for i, wd := range wantDocs {
				matchFields(t, fmt.Sprintf("%s: %s doc %d", name, acct, i), gotDocs[i], wd.(map[string]any))
			}
		}
	}
	rows := map[string]map[string]any{}
	for _, s := range got["standing"].([]any) {
		m := s.(map[string]any)
		rows[m["account"].(string)] = m
	}
	if st, ok := want["standing"].(map[string]any); ok {
		for acct, ws := range st {
			g, ok := rows[acct]
			if !ok {
				t.Errorf("%s: no standing row for %s", name, acct)
				continue
			}
			matchFields(t, fmt.Sprintf("%s: standing %s", name, acct), g, ws.(map[string]any))
		}
	}
}

func matchFields(t *testing.T, name string, got, want map[string]any) {
	t.Helper()
	for k, wv := range want {
		gv := got[k]
		if k == "lines" {
			wantLines := wv.([]any)
			gotLines, _ := gv.([]any)
			if len(gotLines) != len(wantLines) {
				t.Errorf("%s: %d lines, want %d: %v", name, len(gotLines), len(wantLines), gotLines)
				continue
			}
			for i, wl := range wantLines {
				found := false
				for _, gl := range gotLines {
					if fieldsEqual(gl.(map[string]any), wl.(map[string]any)) {
						found = true
						break
					}
				}
				if !found {
					t.Errorf("%s: line %d %v not found among %v", name, i, wl, gotLines)
				}
			}
			continue
		}
		if !valueEqual(gv, wv) {
			t.Errorf("%s: %s = %v, want %v", name, k, gv, wv)
		}
	}
}

func fieldsEqual(got, want map[string]any) bool {
	for k, wv := range want {
		if !valueEqual(got[k], wv) {
			return false
		}
	}
	return true
}

// valueEqual compares a JSON value with a YAML expectation: numbers and strings by their text, dates
// given as YYYY-MM-DD by prefix, lists element-wise.
func valueEqual(got, want any) bool {
	switch w := want.(type) {
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !valueEqual(g[i], w[i]) {
				return false
			}
		}
		return true
	case nil:
		return got == nil
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		return fieldsEqual(g, w)
	}
	ws := fmt.Sprint(want)
	if tm, ok := want.(interface{ Format(string) string }); ok {
		ws = tm.Format("2006-01-02T15:04:05Z07:00")
		if strings.HasSuffix(ws, "T00:00:00Z") {
			ws = strings.TrimSuffix(ws, "T00:00:00Z")
		}
	}
	gs := fmt.Sprint(got)
	return gs == ws || (len(ws) == 10 && strings.HasPrefix(gs, ws))
}

// TestStandingHistory replays the two-month story and checks the standing history DESIGN §7 implies:
// the September close (at 2026-10-01T02:00Z) evaluates every account for the first time (all active:
// payment method, nothing past due, no October usage before 02:00); the October close (2026-11-01T02:00Z)
// suspends s2 (INV-2026-000002, 4.00 unpaid, due 2026-10-16T02:00Z) and s3 (10.00 − 6.00 paid) with
// past_due_invoice, while s1's tier rise 1 → 2 is no change of status or reasons; the sweep at
// 2026-11-04 reinstates s2 and s3 after their Nov 3 payments. Eight events in all.
func TestStandingHistory(t *testing.T) {
	db := replayScenario(t, "testdata/examples/12_two_month_story")
	out, err := runStdout("standing", "--history", "--format", "csv", "--db", db)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Split(line, ",")
		got = append(got, strings.Join(f[:6], " "))
	}
	want := []string{
		"2026-10-01T02:00:00Z acct_s1  active  ",
		"2026-10-01T02:00:00Z acct_s2  active  ",
		"2026-10-01T02:00:00Z acct_s3  active  ",
		"2026-10-01T02:00:00Z acct_s4  active  ",
		"2026-11-01T02:00:00Z acct_s2 active suspended  past_due_invoice",
		"2026-11-01T02:00:00Z acct_s3 active suspended  past_due_invoice",
		"2026-11-04T00:00:00Z acct_s2 suspended active past_due_invoice ",
		"2026-11-04T00:00:00Z acct_s3 suspended active past_due_invoice ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("standing history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// DESIGN §7: each change names the run that decided it — the close for the changes of a close (its
	// standing pass reads as a sweep run of its own), the sweep for the sweep's.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	runCol := slices.Index(strings.Split(lines[0], ","), "run_id")
	if runCol < 0 {
		t.Fatalf("standing history header %q has no run column", lines[0])
	}
	for _, line := range lines[1:] {
		f := strings.Split(line, ",")
		want := "close-"
		if strings.HasPrefix(f[0], "2026-11-04") {
			want = "sweep-"
		}
		if !strings.HasPrefix(f[runCol], want) {
			t.Errorf("history %s: run %q, want a %s… run", line, f[runCol], want)
		}
	}
}
