package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestRateDemoPreviewsTheClose runs the demo (no --db, --usage, --prices or --accounts: the fixtures of
// the working directory) over two months. rate of the second month must show the credits its close
// then applies (DESIGN §8: rate reads and rates exactly as close would): the first month's invoice
// consumed part of the grant, which only the database knows — the accounts file grants it whole.
//
// Price book: the contract's sample, llama-v3p1-8b-instruct (8B) in the "4B - 16B" bucket, 0.20 per 1M
// input and output tokens. acct_r1 has one free grant of 5.00.
//
//	September: 10,000,000 in × 0.20 / 1M = 2.00, 5,000,000 out → 1.00; subtotal 3.00,
//	           credits min(3.00, 5.00) = 3.00, amount due 0.00; 2.00 of the grant is left.
//	October:   10,000,000 in → 2.00, 10,000,000 out → 2.00; subtotal 4.00,
//	           credits min(4.00, 2.00) = 2.00, amount due 2.00
//	           (rated against the file alone: credits 4.00, amount due 0.00 — what rate showed).
func TestRateDemoPreviewsTheClose(t *testing.T) {
	dir := t.TempDir()
	prices, err := os.ReadFile(filepath.Join("testdata", "examples", "12_two_month_story", "prices.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(fixturePrices, string(prices))
	write(fixtureAccounts, `accounts:
  - id: acct_r1
    payment_method: true
    credits:
      - {id: g1, kind: free, amount: "5.00", granted_at: 2026-08-01T00:00:00Z}
`)
	const model = `"type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct"`
	write(filepath.Join(fixtureUsage, "dt=2026-09-10", "u.jsonl"),
		`{"id":"r1-sep","ts":"2026-09-10T01:00:00Z","account":"acct_r1",`+model+`,"input_tokens":10000000,"output_tokens":5000000}`+"\n")
	write(filepath.Join(fixtureUsage, "dt=2026-10-12", "u.jsonl"),
		`{"id":"r1-oct","ts":"2026-10-12T01:00:00Z","account":"acct_r1",`+model+`,"input_tokens":10000000,"output_tokens":10000000}`+"\n")

	type doc struct {
		Subtotal       string `json:"subtotal"`
		CreditsApplied string `json:"credits_applied"`
		AmountDue      string `json:"amount_due"`
	}
	rate := func(period, at string) doc {
		t.Helper()
		text, err := runCapture("rate", "--period", period, "--at", at, "--format", "json", "--log-level", "error")
		if err != nil {
			t.Fatalf("rate %s: %v\n%s", period, err, text)
		}
		var rep struct{ Invoices []doc }
		if err := json.Unmarshal([]byte(text), &rep); err != nil {
			t.Fatalf("rate %s: %v\n%s", period, err, text)
		}
		if len(rep.Invoices) != 1 {
			t.Fatalf("rate %s: %d drafts, want 1\n%s", period, len(rep.Invoices), text)
		}
		return rep.Invoices[0]
	}

	// A fresh demo: rate reads the fixture file, which a close would import into the empty database,
	// and creates no database.
	if got, want := rate("2026-09", "2026-10-01T02:00:00Z"), (doc{"3.00", "3.00", "0.00"}); got != want {
		t.Errorf("rate 2026-09 on a fresh demo = %+v, want %+v", got, want)
	}
	if _, err := os.Stat("billrun.db"); err == nil {
		t.Errorf("rate on a fresh demo created billrun.db")
	}
	if text, err := runCapture("close", "--period", "2026-09", "--at", "2026-10-01T02:00:00Z"); err != nil {
		t.Fatalf("close 2026-09: %v\n%s", err, text)
	}
	want := doc{"4.00", "2.00", "2.00"}
	if got := rate("2026-10", "2026-11-01T02:00:00Z"); got != want {
		t.Errorf("rate 2026-10 after September's close = %+v, want %+v", got, want)
	}
	if text, err := runCapture("close", "--period", "2026-10", "--at", "2026-11-01T02:00:00Z"); err != nil {
		t.Fatalf("close 2026-10: %v\n%s", err, text)
	}
	text, err := runCapture("export", "--period", "2026-10", "--at", "2026-11-01T02:00:00Z")
	if err != nil {
		t.Fatalf("export: %v\n%s", err, text)
	}
	var exp struct{ Invoices []doc }
	if err := json.Unmarshal([]byte(text), &exp); err != nil || len(exp.Invoices) != 1 || exp.Invoices[0] != want {
		t.Errorf("the October close issued %+v (%v), want %+v as rate showed", exp.Invoices, err, want)
	}
	// A file named on the command line is still what rate validates against (DESIGN §8).
	if text, err := runCapture("rate", "--period", "2026-10", "--at", "2026-11-01T02:00:00Z", "--format", "json",
		"--accounts", fixtureAccounts, "--log-level", "error"); err != nil {
		t.Fatalf("rate --accounts: %v\n%s", err, text)
	} else {
		var rep struct{ Invoices []doc }
		if err := json.Unmarshal([]byte(text), &rep); err != nil || len(rep.Invoices) != 1 ||
			rep.Invoices[0] != (doc{"4.00", "4.00", "0.00"}) {
			t.Errorf("rate --accounts FILE = %+v (%v), want credits 4.00 from the file's whole grant", rep.Invoices, err)
		}
	}
}
