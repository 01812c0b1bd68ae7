package main

import (
	"database/sql"
	"encoding/csv"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// badLines holds one line for every reject reason of DESIGN §11, in dt=2026-10-10 (acct_00001 and the
// models and GPU types exist in the fixtures; acct_99999 does not).
var badLines = []struct{ code, line string }{
	{"invalid_json", `{"id":"bad-1","ts":`},
	{"missing_field", `{"id":"bad-2","ts":"2026-10-10T01:00:00Z","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct"}`},
	{"invalid_value", `{"id":"bad-3","ts":"2026-10-10T01:00:00Z","account":"acct_00001","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":"12"}`},
	{"unknown_type", `{"id":"bad-4","ts":"2026-10-10T01:00:00Z","account":"acct_00001","type":"storage"}`},
	{"wrong_partition", `{"id":"bad-5","ts":"2026-10-11T01:00:00Z","account":"acct_00001","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":1}`},
	{"late_report", `{"id":"bad-6","ts":"2026-10-10T03:00:01Z","account":"acct_00001","type":"gpu","deployment":"d","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-10T01:00:00Z","end":"2026-10-10T02:00:00Z"}`},
	{"cached_exceeds_input", `{"id":"bad-7","ts":"2026-10-10T01:00:00Z","account":"acct_00001","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":1,"cached_input_tokens":2}`},
	{"end_not_after_start", `{"id":"bad-8","ts":"2026-10-10T02:00:00Z","account":"acct_00001","type":"gpu","deployment":"d","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-10T02:00:00Z","end":"2026-10-10T02:00:00Z"}`},
	{"interval_too_long", `{"id":"bad-9","ts":"2026-10-10T03:00:00Z","account":"acct_00001","type":"gpu","deployment":"d","gpu_type":"A100-80GB","gpu_count":1,"start":"2026-10-10T01:00:00Z","end":"2026-10-10T03:00:00Z"}`},
	{"unknown_account", `{"id":"bad-10","ts":"2026-10-10T01:00:00Z","account":"acct_99999","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":1}`},
	{"no_price", `{"id":"bad-11","ts":"2026-10-10T01:00:00Z","account":"acct_00001","type":"gpu","deployment":"d","gpu_type":"TPU-v9","gpu_count":1,"start":"2026-10-10T00:30:00Z","end":"2026-10-10T01:00:00Z"}`},
	{"duplicate_conflict", `{"id":"bad-12","ts":"2026-10-10T01:00:00Z","account":"acct_00001","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":1}`},
	{"duplicate_conflict", `{"id":"bad-12","ts":"2026-10-10T01:00:00Z","account":"acct_00001","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":2}`},
}

// TestCloseStopsOnRejects: a close whose rejects exceed --max-rejects exits 3, writes rejects.csv (one
// row per bad line, every reason code) and nothing else, and issues nothing; with --max-rejects at the
// count it issues the 17 fixture invoices.
func TestCloseStopsOnRejects(t *testing.T) {
	dir := t.TempDir()
	root, _ := filepath.Abs("../..")
	usage := filepath.Join(dir, "usage")
	if err := os.CopyFS(usage, os.DirFS(filepath.Join(root, "fixtures/usage"))); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range badLines {
		b.WriteString(l.line + "\n")
	}
	if err := os.WriteFile(filepath.Join(usage, "dt=2026-10-10", "zz-bad.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	out := filepath.Join(dir, "out")
	base := []string{"close", "--period", "2026-10", "--at", fixtureAt, "--db", db, "--usage", usage,
		"--prices", filepath.Join(root, "fixtures/prices.yaml"), "--accounts", filepath.Join(root, "fixtures/accounts.yaml"), "--out", out}

	text, err := runCapture(base...)
	if got := exitCode(err); got != exitRejects {
		t.Fatalf("close exit %d (%v), want 3\n%s", got, err, text)
	}
	files, _ := filepath.Glob(filepath.Join(out, "2026-10", "*"))
	if len(files) != 1 || filepath.Base(files[0]) != "rejects.csv" {
		t.Errorf("files written = %v, want only rejects.csv", files)
	}
	f, err := os.Open(filepath.Join(out, "2026-10", "rejects.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for i, r := range rows[1:] {
		if r[0] != "dt=2026-10-10/zz-bad.jsonl" {
			t.Errorf("reject %d object = %q", i, r[0])
		}
		got = append(got, r[1]+" "+r[3])
	}
	for i, l := range badLines {
		want = append(want, strconv.Itoa(i+1)+" "+l.code)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("rejects (line code) = %v\nwant %v", got, want)
	}
	exp, err := runCapture("export", "--period", "2026-10", "--format", "json", "--db", db, "--at", fixtureAt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(exp, `"invoices": []`) {
		t.Errorf("documents were issued despite the rejects:\n%.400s", exp)
	}
	// DESIGN §3: rejects never disappear — stored with the run and exported. The period's workbook
	// shows the failed close (no close of the period succeeded) and its rejects.
	book := filepath.Join(dir, "stopped.xlsx")
	if text, err := runCapture("export", "--period", "2026-10", "--format", "xlsx", "--db", db, "--at", fixtureAt,
		"--out", book); err != nil {
		t.Fatalf("export xlsx: %v\n%s", err, text)
	}
	wb, err := excelize.OpenFile(book)
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	rejectRows, err := wb.GetRows("Rejects")
	if err != nil {
		t.Fatal(err)
	}
	if len(rejectRows) != 1+len(badLines) {
		t.Errorf("the exported Rejects sheet has %d rows, want the header and %d rejects", len(rejectRows), len(badLines))
	}
	runRows, err := wb.GetRows("Run")
	if err != nil {
		t.Fatal(err)
	}
	run := map[string]string{}
	for _, r := range runRows {
		if len(r) >= 2 {
			run[r[0]] = r[1]
		}
	}
	if run["kind"] != "close" || run["status"] != "failed" || !strings.Contains(run["error"], "rejects") ||
		run["rejected"] != strconv.Itoa(len(badLines)) {
		t.Errorf("the exported Run sheet shows kind %q, status %q, error %q, rejected %q; want the failed close with its %d rejects",
			run["kind"], run["status"], run["error"], run["rejected"], len(badLines))
	}

	text, err = runCapture(append(base, "--max-rejects", strconv.Itoa(len(badLines)))...)
	if err != nil {
		t.Fatalf("close with --max-rejects %d: %v\n%s", len(badLines), err, text)
	}
	if !strings.Contains(text, "invoices issued  17") || !strings.Contains(text, "rejects          13") {
		t.Errorf("summary:\n%s", text)
	}
	// Had that close been killed while it ran (its record left running), the workbook must not show
	// the earlier failed close beside its invoices: no run, as for a period never closed.
	conn, err := sql.Open("sqlite", filepath.Join(dir, "billrun.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Exec(`UPDATE runs SET status = 'running', finished_at = NULL WHERE kind = 'close' AND status = 'succeeded'`); err != nil {
		t.Fatal(err)
	}
	killed := filepath.Join(dir, "killed.xlsx")
	if text, err := runCapture("export", "--period", "2026-10", "--format", "xlsx", "--db", db, "--at", fixtureAt,
		"--out", killed); err != nil {
		t.Fatalf("export xlsx: %v\n%s", err, text)
	}
	kb, err := excelize.OpenFile(killed)
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	if rows, err := kb.GetRows("Run"); err != nil || len(rows) < 2 || rows[1][0] != "run" {
		t.Errorf("Run sheet after a killed close = %q, %v; want the no-run marker", rows, err)
	}
}
