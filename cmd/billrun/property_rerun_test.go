package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"billrun/internal/propmonth"
)

// TestPropertyScopedRerun closes a random month (internal/propmonth), adds late usage for random
// accounts, sometimes withdraws an object, pays some invoices in full or in part, and reruns with
// --account for a random subset of the accounts (DESIGN §8). Then:
//   - the documents of every other account are exactly as before, and new documents are only the
//     subset's;
//   - the ledger invariants hold (lines sum to the subtotal, subtotal − credits = due ≥ 0, gapless
//     numbers, one effective invoice per account) and no grant is overdrawn or consumed twice
//     (checkCredits);
//   - the subset's effective documents bill what a fresh close of all the usage bills;
//   - the same scoped rerun again changes nothing;
//   - a full rerun after it brings every account to the fresh close, and reconcile is clean.
//
// Five seeds on SQLite, the first two on PostgreSQL too.
func TestPropertyScopedRerun(t *testing.T) { propBackends(t, 5, 2, scopedRerunMonth) }

func scopedRerunMonth(t *testing.T, seed uint64, newDB propDB) {
	m := newPropRun(t, seed+100, newDB)
	w, tmp, usageDir, accountsFile, db, out, withUsage := m.w, m.tmp, m.usageDir, m.accountsFile, m.db, m.out, m.withUsage
	cmd := func(want int, args ...string) { t.Helper(); m.cmd(t, "", want, args...) }
	cmd(0, "close", "--period", "2026-10", "--at", "2026-11-01T02:00:00Z", "--accounts", accountsFile, "--out", out, "--max-rejects", "1000")

	// late usage, a withdrawn object, payments
	r := w.R
	for range 5 + r.IntN(20) {
		w.Event(w.Accounts[r.IntN(len(w.Accounts))].ID, false, propmonth.Start, propmonth.End)
	}
	for key, lines := range w.Files {
		w.Files[strings.Replace(key, "part-", "late-", 1)] = lines
		delete(w.Files, key)
	}
	w.Flush(t)
	if r.IntN(2) == 0 {
		objs, _ := filepath.Glob(filepath.Join(usageDir, "dt=2026-10-*", "*.jsonl"))
		must(t, os.Remove(objs[r.IntN(len(objs))]))
	}
	const paidAt, scopedAt, fullAt = "2026-11-04T00:00:00Z", "2026-11-05T00:00:00Z", "2026-11-06T00:00:00Z"
	docs0, _ := propExport(t, db, scopedAt)
	var pays strings.Builder
	pays.WriteString("accounts: []\npayments:\n")
	for i, d := range docs0 {
		if due := propDec(t, d.AmountDue); due.IsPositive() && r.IntN(2) == 0 {
			amt := due
			if r.IntN(2) == 0 {
				amt = due.Div(decimal.NewFromInt(2)).Round(2)
			}
			fmt.Fprintf(&pays, "  - {id: pay_%d, account: %s, amount: %q, paid_at: %s, invoice: %s}\n", i, d.Account, amt.StringFixed(2), paidAt, d.Number)
		}
	}
	payFile := filepath.Join(tmp, "payments.yaml")
	must(t, os.WriteFile(payFile, []byte(pays.String()), 0o644))
	if o, err := runCapture("accounts", "import", payFile, "--db", db, "--at", paidAt); err != nil {
		t.Fatalf("import payments: %v\n%s", err, o)
	}
	before, _ := propExport(t, db, scopedAt)

	// rerun a random, non-empty subset of the accounts
	scope := map[string]bool{}
	args := []string{"rerun", "--period", "2026-10", "--at", scopedAt, "--out", out, "--max-rejects", "1000"}
	for len(scope) == 0 {
		for _, a := range w.Accounts {
			if r.IntN(2) == 0 {
				scope[a.ID] = true
				args = append(args, "--account", a.ID)
			}
		}
	}
	cmd(0, args...)
	after, _ := propExport(t, db, scopedAt)
	eff := checkLedger(t, after)
	checkConsistent(t, "after scoped rerun", tmp, []string{"--db", db}, withUsage, "2026-10", scopedAt, -1)
	checkCredits(t, filepath.Join(tmp, "consistent-2026-10.xlsx"), after)
	byAcct := func(docs []propDoc) map[string][]propDoc {
		m := map[string][]propDoc{}
		for _, d := range docs {
			m[d.Account] = append(m[d.Account], d)
		}
		return m
	}
	was, now := byAcct(before), byAcct(after)
	for _, a := range w.Accounts {
		if scope[a.ID] {
			// the subset's documents issued before stay, voided at most
			for i, d := range was[a.ID] {
				if i >= len(now[a.ID]) || !reflect.DeepEqual(now[a.ID][i], d) && (now[a.ID][i].Number != d.Number || now[a.ID][i].Status != "void") {
					t.Errorf("%s: document %s changed by the rerun other than voided", a.ID, d.Number)
				}
			}
			continue
		}
		if !reflect.DeepEqual(was[a.ID], now[a.ID]) {
			t.Errorf("%s is not in the rerun's scope %v but its documents changed:\n%v\nwere\n%v", a.ID, slices.Sorted(maps.Keys(scope)), now[a.ID], was[a.ID])
		}
	}
	kinds := map[string]int{}
	for _, d := range after {
		kinds[d.Kind+"/"+d.Status]++
	}
	t.Logf("scope %v: %v", slices.Sorted(maps.Keys(scope)), kinds)
	propFreshMatches(t, m, "fresh-scoped", scopedAt, after, eff, scope)

	cmd(0, args...)
	if again, _ := propExport(t, db, scopedAt); !reflect.DeepEqual(again, after) {
		t.Errorf("the same scoped rerun again changed the documents")
	}

	// a full rerun brings every account to the fresh close
	cmd(0, "rerun", "--period", "2026-10", "--at", fullAt, "--out", out, "--max-rejects", "1000")
	full, _ := propExport(t, db, fullAt)
	eff = checkLedger(t, full)
	checkConsistent(t, "after full rerun", tmp, []string{"--db", db}, withUsage, "2026-10", fullAt, 0)
	checkCredits(t, filepath.Join(tmp, "consistent-2026-10.xlsx"), full)
	propFreshMatches(t, m, "fresh-full", fullAt, full, eff, nil)
}
