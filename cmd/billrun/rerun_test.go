package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/rating"
)

// TestRerunOutcomes drives every rerun outcome of DESIGN §8/§11 through run(), with the sample price
// book (llama-v3p1-8b-instruct, 8B dense → "4B - 16B": 0.20 per 1M input or output tokens).
//
// October close at 2026-11-01T02:00Z issues, in ascending account order:
//
//	acct_a  1M in                       = 0.20            INV-2026-000001
//	acct_b  10M in                      = 2.00            INV-2026-000002 (paid 2.00 on Nov 2)
//	acct_c  10M + 5M in = 15M           = 3.00            INV-2026-000003 (paid 1.00 on Nov 2)
//	acct_e  1M in                       = 0.20            INV-2026-000004
//	acct_f  1M in = 0.20, free grant 1.00 applies 0.20, due 0.00 → paid by credits only
//	                                                      INV-2026-000005
//	acct_g  1M in                       = 0.20            INV-2026-000006 (paid 0.20 on Nov 2)
//
// Then usage changes: acct_a +1M late, acct_b +5M late, acct_c's 5M event is withdrawn, acct_d gets
// 1M late (it had none), acct_e's only event is withdrawn, acct_f +1M late, acct_g's event is rewritten
// as 1M output instead of input. The rerun at 2026-11-05 must then:
//
//	acct_a  lone, unpaid: void INV-1, replacement INV-2026-000007 = 2M × 0.20 = 0.40, replaces INV-1
//	acct_b  paid: supplementary INV-2026-000008, line +5M = +1.00, corrects INV-2, due 1.00
//	acct_c  part-paid: credit note CN-2026-000001, line −5M = −1.00, subtotal −1.00, credits 0,
//	        due 0, status issued; a credit_note grant of 1.00
//	acct_d  no invoice yet: INV-2026-000009 = 0.20
//	acct_e  lone, unpaid, usage gone: INV-4 void, no replacement
//	acct_f  lone, no payment (credits are not payments): void INV-5 (its 0.20 of credit returns),
//	        replacement INV-2026-000010 = 0.40, credits applied 0.40 of the 1.00 grant, due 0.00
//	acct_g  paid, input 1M → 0 (−0.20), output 0 → 1M (+0.20), net 0: no document
func TestRerunOutcomes(t *testing.T) {
	dir := t.TempDir()
	ex, _ := filepath.Abs("testdata/examples/01_rounding/prices.yaml")
	usage := filepath.Join(dir, "usage")
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(usage, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(content), 0o644))
	}
	ev := func(id, acct, day, extra string) string {
		return `{"id":"` + id + `","ts":"2026-10-` + day + `T10:00:00Z","account":"` + acct +
			`","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct",` + extra + "}\n"
	}
	write("dt=2026-10-05/a.jsonl", ev("a1", "acct_a", "05", `"input_tokens":1000000`)+
		ev("b1", "acct_b", "05", `"input_tokens":10000000`)+ev("c1", "acct_c", "05", `"input_tokens":10000000`)+
		ev("f1", "acct_f", "05", `"input_tokens":1000000`))
	write("dt=2026-10-06/c-extra.jsonl", ev("c2", "acct_c", "06", `"input_tokens":5000000`))
	write("dt=2026-10-07/e.jsonl", ev("e1", "acct_e", "07", `"input_tokens":1000000`))
	write("dt=2026-10-08/g.jsonl", ev("g1", "acct_g", "08", `"input_tokens":1000000`))
	accounts := filepath.Join(dir, "accounts.yaml")
	must(t, os.WriteFile(accounts, []byte(`accounts:
  - {id: acct_a, name: A, payment_method: true}
  - {id: acct_b, name: B, payment_method: true}
  - {id: acct_c, name: C, payment_method: true}
  - {id: acct_d, name: D, payment_method: true}
  - {id: acct_e, name: E, payment_method: true}
  - {id: acct_f, name: F, payment_method: true, credits: [{id: cg_f, kind: free, amount: "1.00", granted_at: 2026-09-01T00:00:00Z}]}
  - {id: acct_g, name: G, payment_method: true}
`), 0o644))

	db := "sqlite:" + filepath.Join(dir, "b.db")
	common := []string{"--db", db, "--usage", usage, "--prices", ex, "--out", filepath.Join(dir, "out")}
	if out, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", "2026-11-01T02:00:00Z", "--accounts", accounts}, common...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	payments := filepath.Join(dir, "payments.yaml")
	must(t, os.WriteFile(payments, []byte(`payments:
  - {id: p_b, account: acct_b, amount: "2.00", paid_at: 2026-11-02T00:00:00Z, invoice: INV-2026-000002}
  - {id: p_c, account: acct_c, amount: "1.00", paid_at: 2026-11-02T00:00:00Z, invoice: INV-2026-000003}
  - {id: p_g, account: acct_g, amount: "0.20", paid_at: 2026-11-02T00:00:00Z, invoice: INV-2026-000006}
`), 0o644))
	if out, err := runCapture("accounts", "import", payments, "--db", db); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	// The usage changes.
	write("dt=2026-10-20/late.jsonl", ev("a2", "acct_a", "20", `"input_tokens":1000000`)+
		ev("b2", "acct_b", "20", `"input_tokens":5000000`)+ev("d1", "acct_d", "20", `"input_tokens":1000000`)+
		ev("f2", "acct_f", "20", `"input_tokens":1000000`))
	must(t, os.Remove(filepath.Join(usage, "dt=2026-10-06/c-extra.jsonl")))
	must(t, os.Remove(filepath.Join(usage, "dt=2026-10-07/e.jsonl")))
	write("dt=2026-10-08/g.jsonl", ev("g1", "acct_g", "08", `"output_tokens":1000000`))

	at := []string{"--period", "2026-10", "--at", "2026-11-05T00:00:00Z"}
	out, err := runCapture(append(append([]string{"reconcile"}, at...), common...)...)
	if exitCode(err) != exitReconcile {
		t.Fatalf("reconcile before rerun: exit %d, want 4\n%s", exitCode(err), out)
	}
	for _, want := range []string{"added    dt=2026-10-20/late.jsonl", "removed  dt=2026-10-06/c-extra.jsonl", "changed  dt=2026-10-08/g.jsonl"} {
		if !strings.Contains(out, want) {
			t.Errorf("reconcile report lacks %q:\n%s", want, out)
		}
	}
	dry, err := runCapture(append(append([]string{"rerun", "--dry-run"}, at...), common...)...)
	if err != nil {
		t.Fatalf("rerun --dry-run: %v\n%s", err, dry)
	}
	for _, want := range []string{"acct_a (INV-2026-000001): changed, unpaid → void and issue a replacement — old 0.20, new 0.40, delta 0.20",
		"acct_b (INV-2026-000002): changed, paid or corrected → supplementary invoice — old 2.00, new 3.00, delta 1.00",
		"acct_c (INV-2026-000003): changed, paid or corrected → credit note — old 3.00, new 2.00, delta -1.00",
		"acct_d: no invoice yet → issue one", "acct_e (INV-2026-000004): usage gone, unpaid → void",
		"acct_g (INV-2026-000006): lines changed, net 0, paid or corrected → no document", "0 documents issued, 0 voided"} {
		if !strings.Contains(dry, want) {
			t.Errorf("dry run lacks %q:\n%s", want, dry)
		}
	}
	exportJSON := func() map[string][]map[string]any {
		t.Helper()
		js, err := runCapture("export", "--period", "2026-10", "--format", "json", "--db", db, "--at", "2026-11-05T00:00:00Z")
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Invoices []map[string]any `json:"invoices"`
		}
		must(t, json.Unmarshal([]byte(js), &rep))
		by := map[string][]map[string]any{}
		for _, d := range rep.Invoices {
			by[d["account"].(string)] = append(by[d["account"].(string)], d)
		}
		return by
	}
	if got := exportJSON(); len(got["acct_a"]) != 1 || got["acct_a"][0]["status"] != "open" {
		t.Fatalf("the dry run changed documents: %v", got["acct_a"])
	}
	if out, err := runCapture(append(append([]string{"rerun"}, at...), common...)...); err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	docs := exportJSON()
	check := func(acct string, i int, want map[string]any) {
		t.Helper()
		if len(docs[acct]) <= i {
			t.Errorf("%s has %d documents, want more than %d", acct, len(docs[acct]), i)
			return
		}
		matchFields(t, acct, docs[acct][i], want)
	}
	check("acct_a", 0, map[string]any{"number": "INV-2026-000001", "status": "void"})
	check("acct_a", 1, map[string]any{"number": "INV-2026-000007", "kind": "invoice", "replaces": "INV-2026-000001", "subtotal": "0.40", "amount_due": "0.40", "status": "open"})
	check("acct_b", 1, map[string]any{"number": "INV-2026-000008", "kind": "supplementary", "corrects": "INV-2026-000002", "subtotal": "1.00", "amount_due": "1.00",
		"lines": []any{map[string]any{"meter": "input_tokens", "quantity": "5000000", "amount": "1.00"}}})
	check("acct_c", 1, map[string]any{"number": "CN-2026-000001", "kind": "credit_note", "corrects": "INV-2026-000003", "subtotal": "-1.00",
		"credits_applied": "0.00", "amount_due": "0.00", "status": "issued", "due_at": nil,
		"lines": []any{map[string]any{"meter": "input_tokens", "quantity": "-5000000", "amount": "-1.00"}}})
	check("acct_d", 0, map[string]any{"number": "INV-2026-000009", "subtotal": "0.20", "amount_due": "0.20"})
	check("acct_e", 0, map[string]any{"number": "INV-2026-000004", "status": "void"})
	check("acct_f", 1, map[string]any{"number": "INV-2026-000010", "replaces": "INV-2026-000005", "subtotal": "0.40", "credits_applied": "0.40", "amount_due": "0.00", "status": "paid"})
	if len(docs["acct_e"]) != 1 || len(docs["acct_g"]) != 1 {
		t.Errorf("acct_e documents %d (want 1, void), acct_g %d (want 1)", len(docs["acct_e"]), len(docs["acct_g"]))
	}
	// The credit note became a credit_note grant of 1.00 (granted at the rerun's at, never expiring), so
	// acct_c's balance at 2026-11-05 is 1.00 with no November usage.
	st, err := runStdout("standing", "--format", "json", "--db", db)
	must(t, err)
	if !strings.Contains(st, `"account": "acct_c"`) || !strings.Contains(strings.SplitAfter(st, `"account": "acct_c"`)[1][:300], `"credit_balance": "1.00"`) {
		t.Errorf("acct_c standing lacks the credit note's 1.00 balance:\n%s", st)
	}
	// acct_g's change (net 0, paid) is reported, not billed, so reconcile still sees its line drift.
	out, err = runStdout(append(append([]string{"reconcile", "--format", "json"}, at...), common...)...)
	if exitCode(err) != exitReconcile {
		t.Errorf("reconcile after the rerun: exit %d, want 4 (acct_g's reported net-zero change)", exitCode(err))
	}
	var rec struct {
		Objects []any            `json:"objects"`
		Usage   []map[string]any `json:"usage"`
		Ledger  []any            `json:"ledger"`
	}
	must(t, json.Unmarshal([]byte(out), &rec))
	if len(rec.Objects) != 0 || len(rec.Ledger) != 0 {
		t.Errorf("after the rerun reconcile finds objects %v ledger %v", rec.Objects, rec.Ledger)
	}
	for _, u := range rec.Usage {
		if u["account"] != "acct_g" {
			t.Errorf("after the rerun reconcile finds usage drift %v", u)
		}
	}
}

// runStdout runs billrun and returns its stdout alone.
func runStdout(args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(string) string { return "" }, &out, &errb)
	return out.String(), err
}

// TestAmountsTooLargeAreRefused: once the price book makes a line's amount more than billrun holds (a
// GPU-hour at 10^20), no command shows or issues it: rate, rerun --dry-run, reconcile and rerun all
// exit 1 naming the account and line, and the period keeps the invoice it had.
func TestAmountsTooLargeAreRefused(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, content string) string {
		t.Helper()
		p := filepath.Join(dir, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	write("usage/dt=2026-10-01/gpu.jsonl", `{"id":"e1","ts":"2026-10-01T01:00:00Z","account":"a1","type":"gpu","deployment":"d",`+
		`"gpu_type":"H100","gpu_count":1,"start":"2026-10-01T00:00:00Z","end":"2026-10-01T01:00:00Z"}`+"\n")
	accounts := write("accounts.yaml", "accounts:\n  - {id: a1, name: A, payment_method: true}\n")
	book := func(name, price string) string {
		return write(name, "currency: USD\nversions:\n  - effective_from: 2026-09-01T00:00:00Z\n    gpu_hour: {H100: \""+price+"\"}\n")
	}
	normal, huge := book("prices.yaml", "3.15"), book("huge.yaml", "100000000000000000000")
	db := "sqlite:" + filepath.Join(dir, "b.db")
	common := []string{"--period", "2026-10", "--db", db, "--usage", filepath.Join(dir, "usage")}
	outDir := []string{"--out", filepath.Join(dir, "out")}
	if out, err := runCapture(append(append([]string{"close", "--at", "2026-11-01T02:00:00Z", "--prices", normal, "--accounts", accounts}, common...), outDir...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	// 3,600 GPU-s × 10^20 / 3,600 = 10^20 USD: more than 92,233,720,368,547,758.06.
	for _, cmd := range [][]string{{"rate"}, append([]string{"rerun", "--dry-run"}, outDir...), append([]string{"reconcile"}, outDir...), append([]string{"rerun"}, outDir...)} {
		out, err := runCapture(append(append(cmd, "--at", "2026-11-02T02:00:00Z", "--prices", huge), common...)...)
		if exitCode(err) != exitError || !strings.Contains(fmt.Sprint(err), "account a1: line 1 (gpu H100 gpu_seconds): amounts more than billrun holds") {
			t.Errorf("%s with a GPU-hour at 10^20: %v (exit %d), want exit 1 naming account a1's line 1\n%s", cmd, err, exitCode(err), out)
		}
	}
	out, err := runCapture("export", "--period", "2026-10", "--format", "json", "--db", db)
	if err != nil || !strings.Contains(out, `"number": "INV-2026-000001"`) || !strings.Contains(out, `"amount_due": "3.15"`) ||
		strings.Contains(out, "INV-2026-000002") {
		t.Errorf("export after the refused commands: %v\n%s\nwant INV-2026-000001 for 3.15 alone", err, out)
	}
}

// TestReconcileTextListsPayments: DESIGN §11 — open, overdue and overpaid documents are listed but do
// not change the exit code. The text report names each of them, as the JSON does, not only their count.
//
// October close at 2026-11-01T02:00Z (llama 8B, 0.20 per 1M in or out), due 2026-11-16T02:00Z:
//
//	acct_o  1M in = 0.20  INV-2026-000001, unpaid           → open
//	acct_p  1M in = 0.20  INV-2026-000002, paid 0.05 Nov 2  → open (0.05 < 0.20)
//	acct_q  1M in = 0.20  INV-2026-000003, paid 0.50 Nov 2  → overpaid (0.50 > 0.20)
//
// Reconcile at 2026-11-17 (after the due date): INV-1 and INV-2 are open and overdue, INV-3 overpaid;
// usage and ledger agree, so the exit code is 0.
func TestReconcileTextListsPayments(t *testing.T) {
	dir := t.TempDir()
	ex, _ := filepath.Abs("testdata/examples/01_rounding/prices.yaml")
	usage := filepath.Join(dir, "usage")
	must(t, os.MkdirAll(filepath.Join(usage, "dt=2026-10-05"), 0o755))
	var events string
	for _, a := range []string{"o", "p", "q"} {
		events += `{"id":"` + a + `1","ts":"2026-10-05T10:00:00Z","account":"acct_` + a +
			`","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":1000000}` + "\n"
	}
	must(t, os.WriteFile(filepath.Join(usage, "dt=2026-10-05", "e.jsonl"), []byte(events), 0o644))
	accounts := filepath.Join(dir, "accounts.yaml")
	must(t, os.WriteFile(accounts, []byte(`accounts:
  - {id: acct_o, name: O, payment_method: true}
  - {id: acct_p, name: P, payment_method: true}
  - {id: acct_q, name: Q, payment_method: true}
payments:
  - {id: pay_p, account: acct_p, amount: "0.05", paid_at: 2026-11-02T00:00:00Z, invoice: INV-2026-000002}
  - {id: pay_q, account: acct_q, amount: "0.50", paid_at: 2026-11-02T00:00:00Z, invoice: INV-2026-000003}
`), 0o644))
	db := "sqlite:" + filepath.Join(dir, "b.db")
	common := []string{"--db", db, "--usage", usage, "--prices", ex, "--out", filepath.Join(dir, "out")}
	if out, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", "2026-11-01T02:00:00Z", "--accounts", accounts}, common...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	out, err := runStdout(append([]string{"reconcile", "--period", "2026-10", "--at", "2026-11-17T00:00:00Z"}, common...)...)
	if err != nil {
		t.Fatalf("reconcile: exit %d, want 0: %v\n%s", exitCode(err), err, out)
	}
	for _, want := range []string{"2 open, 2 overdue, 1 overpaid",
		"open     INV-2026-000001 acct_o: due 0.20, paid 0.00", "open     INV-2026-000002 acct_p: due 0.20, paid 0.05",
		"overdue  INV-2026-000001 acct_o", "overdue  INV-2026-000002 acct_p",
		"overpaid INV-2026-000003 acct_q: due 0.20, paid 0.50"} {
		if !strings.Contains(out, want) {
			t.Errorf("reconcile text lacks %q:\n%s", want, out)
		}
	}
}

// TestReconcileListsPaymentOfVoidInvoice: a rerun voids an unpaid invoice and replaces it; the
// customer then pays the voided invoice's number. The void invoice is owed nothing, so reconcile
// lists that payment as overpaid (due 0.00) rather than in no list at all; the exit code stays 0.
//
// Sample price book: llama-v3p1-8b-instruct 0.20 per 1M input tokens.
//
//	close at 2026-11-01T02:00Z: acct_v 1M in = 0.20 → INV-2026-000001
//	late +1M in; rerun at 2026-11-03: unpaid → INV-1 void, replacement INV-2026-000002 = 0.40
//	payment of 0.20 naming INV-2026-000001, paid 2026-11-04
//	reconcile at 2026-11-05: open INV-2 due 0.40 paid 0.00; overpaid INV-1 due 0.00 paid 0.20
func TestReconcileListsPaymentOfVoidInvoice(t *testing.T) {
	dir := t.TempDir()
	ex, _ := filepath.Abs("testdata/examples/01_rounding/prices.yaml")
	usage := filepath.Join(dir, "usage")
	write := func(rel, id, day string) {
		t.Helper()
		p := filepath.Join(usage, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(`{"id":"`+id+`","ts":"2026-10-`+day+`T10:00:00Z","account":"acct_v","type":"serverless",`+
			`"model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":1000000}`+"\n"), 0o644))
	}
	write("dt=2026-10-05/v.jsonl", "v1", "05")
	accounts := filepath.Join(dir, "accounts.yaml")
	must(t, os.WriteFile(accounts, []byte("accounts:\n  - {id: acct_v, name: V, payment_method: true}\n"), 0o644))
	db := "sqlite:" + filepath.Join(dir, "b.db")
	common := []string{"--db", db, "--usage", usage, "--prices", ex, "--out", filepath.Join(dir, "out")}
	if out, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", "2026-11-01T02:00:00Z", "--accounts", accounts}, common...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	write("dt=2026-10-20/late.jsonl", "v2", "20")
	if out, err := runCapture(append([]string{"rerun", "--period", "2026-10", "--at", "2026-11-03T00:00:00Z"}, common...)...); err != nil {
		t.Fatalf("rerun: %v\n%s", err, out)
	}
	payments := filepath.Join(dir, "payments.yaml")
	must(t, os.WriteFile(payments, []byte(`payments:
  - {id: pay_v, account: acct_v, amount: "0.20", paid_at: 2026-11-04T00:00:00Z, invoice: INV-2026-000001}
`), 0o644))
	if out, err := runCapture("accounts", "import", payments, "--db", db); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err := runStdout(append([]string{"reconcile", "--period", "2026-10", "--at", "2026-11-05T00:00:00Z"}, common...)...)
	if err != nil {
		t.Fatalf("reconcile: exit %d, want 0: %v\n%s", exitCode(err), err, out)
	}
	for _, want := range []string{"1 open, 0 overdue, 1 overpaid", "open     INV-2026-000002 acct_v: due 0.40, paid 0.00",
		"overpaid INV-2026-000001 acct_v: due 0.00, paid 0.20"} {
		if !strings.Contains(out, want) {
			t.Errorf("reconcile text lacks %q:\n%s", want, out)
		}
	}
}

// TestRerunUnknownAccount: `rerun --account` naming an account the ledger does not know is a typo —
// bad usage (exit 2), as `standing --account` takes it — refused before any run is recorded.
func TestRerunUnknownAccount(t *testing.T) {
	dir := t.TempDir()
	root, _ := filepath.Abs("../..")
	out := filepath.Join(dir, "out")
	if text, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", fixtureAt, "--out", out,
		"--accounts", filepath.Join(root, "fixtures/accounts.yaml")}, fixtureArgs(t, dir)...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, text)
	}
	_, err := runCapture(append([]string{"rerun", "--period", "2026-10", "--at", "2026-11-05T00:00:00Z", "--out", out,
		"--account", "acct_00001", "--account", "acct_typo"}, fixtureArgs(t, dir)...)...)
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--account acct_typo: no such account") {
		t.Fatalf("rerun --account acct_typo: %v, want exit %d naming the account", err, exitUsage)
	}
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "billrun.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	run, err := st.LatestAttempt(t.Context(), rating.Period{Year: 2026, Month: 10})
	if err != nil || run.Kind != invoices.RunClose {
		t.Errorf("latest close or rerun of 2026-10: %+v, %v; want the close: no rerun recorded", run, err)
	}
}

// TestRerunRefusesAtBeforeItsDocuments: a rerun decides as of its --at and sees only payments made
// before it (DESIGN §11), so a rerun given an --at before the period's documents were issued would
// find a paid invoice "unpaid" and void it, at a time before it was even issued. It is refused, dry
// run too, and changes nothing; the same rerun at a later --at corrects the paid invoice.
//
// Sample price book: llama-v3p1-8b-instruct 0.20 per 1M input tokens.
//
//	close at 2026-11-01T02:00Z: acct_a 1M in = 0.20 → INV-2026-000001, due 0.20
//	payment of 0.20 on 2026-11-02 → paid
//	late usage +1M in (0.20)
//	rerun --at 2026-11-01T01:00Z (before the close): refused, INV-1 stays paid, nothing issued
//	rerun --at 2026-11-03: paid → supplementary INV-2026-000002: input +1,000,000 = 0.20, corrects INV-1
func TestRerunRefusesAtBeforeItsDocuments(t *testing.T) {
	dir := t.TempDir()
	ex, _ := filepath.Abs("testdata/examples/01_rounding/prices.yaml")
	usage := filepath.Join(dir, "usage")
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(usage, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(content), 0o644))
	}
	ev := func(id, day string) string {
		return `{"id":"` + id + `","ts":"2026-10-` + day + `T10:00:00Z","account":"acct_a","type":"serverless",` +
			`"model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":1000000}` + "\n"
	}
	write("dt=2026-10-05/a.jsonl", ev("a1", "05"))
	accounts := filepath.Join(dir, "accounts.yaml")
	must(t, os.WriteFile(accounts, []byte(`accounts:
  - {id: acct_a, name: A, payment_method: true}
payments:
  - {id: p_a, account: acct_a, amount: "0.20", paid_at: 2026-11-02T00:00:00Z, invoice: INV-2026-000001}
`), 0o644))
	db := "sqlite:" + filepath.Join(dir, "b.db")
	common := []string{"--db", db, "--usage", usage, "--prices", ex, "--out", filepath.Join(dir, "out")}
	if out, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", "2026-11-01T02:00:00Z", "--accounts", accounts}, common...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	write("dt=2026-10-20/late.jsonl", ev("a2", "20"))
	docs := func() []map[string]any {
		t.Helper()
		js, err := runStdout("export", "--period", "2026-10", "--format", "json", "--db", db, "--at", "2026-11-03T00:00:00Z")
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			Invoices []map[string]any `json:"invoices"`
		}
		must(t, json.Unmarshal([]byte(js), &rep))
		return rep.Invoices
	}
	for _, dry := range []bool{true, false} {
		args := append([]string{"rerun", "--period", "2026-10", "--at", "2026-11-01T01:00:00Z"}, common...)
		if dry {
			args = append(args, "--dry-run")
		}
		out, err := runCapture(args...)
		if err == nil || !strings.Contains(err.Error(), "before INV-2026-000001 of acct_a was issued (2026-11-01T02:00:00Z)") {
			t.Fatalf("rerun (dry %v) at 2026-11-01T01:00Z: %v, want it refused naming INV-2026-000001\n%s", dry, err, out)
		}
		if got := docs(); len(got) != 1 {
			t.Fatalf("rerun (dry %v) before the close issued documents: %v", dry, got)
		} else {
			matchFields(t, "INV-2026-000001", got[0], map[string]any{"number": "INV-2026-000001", "status": "paid", "voided_at": nil, "amount_paid": "0.20"})
		}
	}
	if out, err := runCapture(append([]string{"rerun", "--period", "2026-10", "--at", "2026-11-03T00:00:00Z"}, common...)...); err != nil {
		t.Fatalf("rerun at 2026-11-03: %v\n%s", err, out)
	}
	got := docs()
	if len(got) != 2 {
		t.Fatalf("after the rerun at 2026-11-03: %d documents, want INV-1 and a supplementary: %v", len(got), got)
	}
	matchFields(t, "INV-2026-000001", got[0], map[string]any{"status": "paid", "voided_at": nil})
	matchFields(t, "INV-2026-000002", got[1], map[string]any{"number": "INV-2026-000002", "kind": "supplementary",
		"corrects": "INV-2026-000001", "subtotal": "0.20", "amount_due": "0.20",
		"lines": []any{map[string]any{"meter": "input_tokens", "quantity": "1000000", "amount": "0.20"}}})
}

// TestReconcileCountsNewRejects: the close ran with --max-rejects 1 and one bad line (an unknown
// account). An object added later holds one good event and two bad lines (a missing ts, a negative
// count). Reconcile's fresh read then rejects 3 lines: the unknown account again (recorded by the
// close, not new) and the 2 of the new object; the object shows as added drift (exit 4), and the
// report counts 3 rejects, 2 new (missing_field 1, invalid_value 1), 0 gone, listing the new ones by
// object and line.
func TestReconcileCountsNewRejects(t *testing.T) {
	dir := t.TempDir()
	ex, _ := filepath.Abs("testdata/examples/01_rounding/prices.yaml")
	usage := filepath.Join(dir, "usage")
	day := filepath.Join(usage, "dt=2026-10-05")
	must(t, os.MkdirAll(day, 0o755))
	ev := func(id, acct, extra string) string {
		return `{"id":"` + id + `","ts":"2026-10-05T10:00:00Z","account":"` + acct +
			`","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct",` + extra + "}\n"
	}
	must(t, os.WriteFile(filepath.Join(day, "a.jsonl"), []byte(ev("o1", "acct_o", `"input_tokens":1000000`)+
		ev("x1", "acct_nobody", `"input_tokens":1`)), 0o644))
	accounts := filepath.Join(dir, "accounts.yaml")
	must(t, os.WriteFile(accounts, []byte("accounts:\n  - {id: acct_o, name: O, payment_method: true}\n"), 0o644))
	common := []string{"--db", "sqlite:" + filepath.Join(dir, "b.db"), "--usage", usage, "--prices", ex, "--out", filepath.Join(dir, "out")}
	if out, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", "2026-11-01T02:00:00Z",
		"--max-rejects", "1", "--accounts", accounts}, common...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	must(t, os.WriteFile(filepath.Join(day, "b.jsonl"), []byte(ev("o2", "acct_o", `"input_tokens":1000000`)+
		`{"id":"m1","account":"acct_o","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct"}`+"\n"+
		ev("n1", "acct_o", `"input_tokens":-5`)), 0o644))
	args := append([]string{"reconcile", "--period", "2026-10", "--at", "2026-11-05T00:00:00Z"}, common...)
	out, err := runStdout(args...)
	if code := exitCode(err); code != exitReconcile {
		t.Fatalf("reconcile: exit %d, want %d (an object was added): %v\n%s", code, exitReconcile, err, out)
	}
	for _, want := range []string{"rejected usage lines: 3 in the fresh read, 2 new since that run, 0 no longer rejected",
		"invalid_value          1 new", "missing_field          1 new",
		"dt=2026-10-05/b.jsonl line 2 missing_field", "dt=2026-10-05/b.jsonl line 3 invalid_value"} {
		if !strings.Contains(out, want) {
			t.Errorf("reconcile text lacks %q:\n%s", want, out)
		}
	}
	js, _ := runStdout(append(args, "--format", "json")...)
	var rec struct {
		Rejects struct {
			Total, New, Gone int
			ByCode           map[string]int `json:"new_by_code"`
			Sample           []struct {
				Object string
				Line   int64
				Code   string
			} `json:"new_sample"`
		}
	}
	if err := json.Unmarshal([]byte(js), &rec); err != nil {
		t.Fatalf("reconcile json: %v\n%s", err, js)
	}
	r := rec.Rejects
	if r.Total != 3 || r.New != 2 || r.Gone != 0 || r.ByCode["missing_field"] != 1 || r.ByCode["invalid_value"] != 1 ||
		len(r.Sample) != 2 || r.Sample[0].Line != 2 || r.Sample[1].Line != 3 {
		t.Errorf("reconcile json rejects = %+v, want total 3, new 2 (missing_field line 2, invalid_value line 3), gone 0", r)
	}
}
