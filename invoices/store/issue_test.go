package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/rating"
)

var sep = rating.Period{Year: 2026, Month: time.September}

// manyLines returns n invoice lines of varied kinds and decimals, the last a discount line (no
// quantity or unit price), and their sum.
func manyLines(n int, product string) ([]rating.Line, rating.Cents) {
	var lines []rating.Line
	var sum rating.Cents
	for i := range n - 1 {
		c := rating.Cents(100 + i)
		l := rating.Line{Kind: rating.KindServerless, Product: fmt.Sprintf("%s-%03d", product, i), Meter: rating.MeterInput,
			Description: fmt.Sprintf("%s-%03d, input tokens", product, i), Quantity: dec(fmt.Sprintf("%d.5", 1000+i)),
			Unit: "1M tokens", UnitPrice: dec("0.20"), Unrounded: dec(fmt.Sprintf("%d.004999999999", 100+i)), Amount: c}
		if i%3 == 1 {
			l.Kind, l.Meter, l.Unit, l.Deployment = rating.KindGPU, rating.MeterGPUSeconds, "GPU-hour", fmt.Sprintf("dep-%d", i)
			l.Description = fmt.Sprintf("%s-%03d on deployment dep-%d, GPU-seconds", product, i, i)
		}
		lines = append(lines, l)
		sum += c
	}
	lines = append(lines, rating.Line{Kind: rating.KindDiscount, Product: "on_demand", Meter: rating.MeterDiscount,
		Description: "bulk on-demand discount 5%", Unrounded: dec("-1.005"), Amount: -101})
	return lines, sum - 101
}

// withLines gives doc n lines and the amounts that follow from them and its credits.
func withLines(doc *invoices.Document, n int) *invoices.Document {
	doc.Lines, doc.Subtotal = manyLines(n, doc.Account)
	doc.Discount = -101
	doc.AmountDue = doc.Subtotal - doc.CreditsApplied
	return doc
}

// batchFixture imports four accounts (a1 with a free grant of 10.00, a3 with a purchased one of
// 50.00), issues a1's October invoice (INV-2026-000001, 4.00 of credits) and a3's September one
// (INV-2026-000002) one by one, and returns a batch for October: a1's replacement of its invoice
// consuming all 10.00 (which only fits once the original's 4.00 return), a2's invoice, a credit
// note for a3's September, a3's invoice consuming its grant twice, a1's supplementary invoice and
// a4's invoice — 1,113 lines in all, more than two full line INSERTs.
func batchFixture(t *testing.T, s *store.Store) []*invoices.Document {
	t.Helper()
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{
		{ID: "a1", Grants: []invoices.Grant{{ID: "cg_1", Kind: invoices.GrantFree, Amount: 1000, GrantedAt: tm("2026-01-01T00:00:00Z")}}},
		{ID: "a2"},
		{ID: "a3", Grants: []invoices.Grant{{ID: "cg_3", Kind: invoices.GrantPurchased, Amount: 5000, GrantedAt: tm("2026-02-01T00:00:00Z")}}},
		{ID: "a4"},
	}})
	at := tm("2026-11-01T02:00:00.25Z")
	orig := invoice("a1", oct, tm("2026-11-01T01:00:00Z"), 2500)
	orig.CreditsApplied, orig.AmountDue = 400, 2100
	orig.Consumptions = []invoices.Consumption{{GrantID: "cg_1", Amount: 400}}
	mustIssue(t, s, orig)
	mustIssue(t, s, invoice("a3", sep, tm("2026-10-01T02:00:00Z"), 7000))

	repl := withLines(invoice("a1", oct, at, 0), 650)
	repl.Replaces, repl.CreditsApplied = orig.Number, 1000
	repl.Consumptions = []invoices.Consumption{{GrantID: "cg_1", Amount: 1000}}
	repl.AmountDue -= 1000
	cn := &invoices.Document{Account: "a3", Period: sep, Kind: invoices.KindCreditNote, Corrects: "INV-2026-000002",
		IssuedAt: at, RunID: "run-1", Lines: []rating.Line{{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput,
			Quantity: dec("-500000"), Unit: "1M tokens", UnitPrice: dec("3"), Unrounded: dec("-1.5"), Amount: -150}},
		Subtotal: -150}
	a3 := withLines(invoice("a3", oct, at, 0), 60)
	a3.CreditsApplied = 2500
	a3.Consumptions = []invoices.Consumption{{GrantID: "cg_3", Amount: 2000}, {GrantID: "cg_3", Amount: 500}}
	a3.AmountDue -= 2500
	sup := invoice("a1", oct, at, 300)
	sup.Kind, sup.Corrects = invoices.KindSupplementary, orig.Number
	return []*invoices.Document{repl, withLines(invoice("a2", oct, at, 0), 400), cn, a3, sup, invoice("a4", oct, at, 99)}
}

// ledgerOf renders what a store holds after a batch: the documents of September and October with
// every field but the id, their lines and consumptions, the numbers in issue order and the grants.
func ledgerOf(t *testing.T, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	for _, p := range []rating.Period{sep, oct} {
		docs, err := s.Documents(t.Context(), p)
		if err != nil {
			t.Fatalf("Documents(%s): %v", p, err)
		}
		for _, d := range docs {
			fmt.Fprintf(&b, "%s %s %s %s replaces=%q corrects=%q issued=%s due=%s void=%s run=%s sub=%s disc=%s cred=%s due=%s\n",
				d.Number, d.Account, d.Period, d.Kind, d.Replaces, d.Corrects, d.IssuedAt.Format(time.RFC3339Nano),
				fmtPtr(d.DueAt), fmtPtr(d.VoidedAt), d.RunID, d.Subtotal, d.Discount, d.CreditsApplied, d.AmountDue)
			for _, l := range d.Lines {
				fmt.Fprintf(&b, "  %s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n", l.Kind, l.Product, l.BaseModel, l.Deployment, l.Meter,
					l.Description, l.Quantity, l.Unit, l.UnitPrice, l.Unrounded, l.Amount)
			}
			for _, c := range d.Consumptions {
				fmt.Fprintf(&b, "  consumes %s %s\n", c.GrantID, c.Amount)
			}
		}
	}
	numbers, err := s.DocumentNumbers(t.Context())
	if err != nil {
		t.Fatalf("DocumentNumbers: %v", err)
	}
	fmt.Fprintf(&b, "numbers %v\n", numbers)
	accts, err := s.Accounts(t.Context())
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	for _, a := range accts {
		for _, g := range a.Grants {
			fmt.Fprintf(&b, "grant %s of %s %s %s granted %s expires %s source %q consumed %s\n", g.ID, g.Account, g.Kind,
				g.Amount, g.GrantedAt.Format(time.RFC3339Nano), fmtPtr(g.ExpiresAt), g.Source, g.Consumed)
		}
	}
	return b.String()
}

func fmtPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339Nano)
}

// testIssueBatchMatchesIssue issues the same documents with one IssueBatch in one store and with
// Issue after Issue in another: numbers, documents, lines, consumptions and grants are the same.
func testIssueBatchMatchesIssue(t *testing.T, batched, single *store.Store) {
	docs := batchFixture(t, batched)
	if err := batched.IssueBatch(t.Context(), docs); err != nil {
		t.Fatalf("IssueBatch: %v", err)
	}
	for i, d := range docs {
		if i > 0 && d.ID <= docs[i-1].ID {
			t.Errorf("batch[%d] id %d, not after batch[%d]'s %d", i, d.ID, i-1, docs[i-1].ID)
		}
	}
	one := batchFixture(t, single)
	for _, d := range one {
		mustIssue(t, single, d)
	}
	for i := range docs {
		if docs[i].Number != one[i].Number {
			t.Errorf("batch[%d] number %s, Issue gave %s", i, docs[i].Number, one[i].Number)
		}
	}
	if got, want := ledgerOf(t, batched), ledgerOf(t, single); got != want {
		t.Errorf("after IssueBatch:\n%s\nafter Issue one by one:\n%s", got, want)
	}
}

// testIssueBatchNumbering: a batch takes the numbers of each series in slice order, following the
// numbers issued before it, and the next issue follows the batch without a gap.
func testIssueBatchNumbering(t *testing.T, s *store.Store) {
	docs := batchFixture(t, s)
	if err := s.IssueBatch(t.Context(), docs); err != nil {
		t.Fatalf("IssueBatch: %v", err)
	}
	want := []string{"INV-2026-000003", "INV-2026-000004", "CN-2026-000001", "INV-2026-000005", "INV-2026-000006", "INV-2026-000007"}
	for i, d := range docs {
		if d.Number != want[i] || d.ID == 0 {
			t.Errorf("batch[%d] = %s id %d, want %s and an id", i, d.Number, d.ID, want[i])
		}
	}
	a3 := accountsByID(t, s)["a3"]
	if len(a3.Grants) != 2 || a3.Grants[0].ID != "cg_3" || a3.Grants[0].Consumed != 2500 ||
		a3.Grants[1].ID != "CN-2026-000001" || a3.Grants[1].Amount != 150 {
		t.Errorf("a3's grants = %+v, want 25.00 consumed of cg_3 and the credit note's 1.50", a3.Grants)
	}
	if g := accountsByID(t, s)["a1"].Grants[0]; g.Consumed != 1000 {
		t.Errorf("cg_1 consumed %s, want 10.00 (the replacement's; the original's 4.00 returned)", g.Consumed)
	}
	next := []*invoices.Document{invoice("a2", nov, tm("2026-12-01T02:00:00Z"), 1), invoice("a4", nov, tm("2026-12-01T02:00:00Z"), 1)}
	if err := s.IssueBatch(t.Context(), next); err != nil {
		t.Fatalf("IssueBatch: %v", err)
	}
	if next[0].Number != "INV-2026-000008" || next[1].Number != "INV-2026-000009" {
		t.Errorf("next batch = %s, %s, want INV-2026-000008 and 9", next[0].Number, next[1].Number)
	}
	if err := s.IssueBatch(t.Context(), nil); err != nil {
		t.Errorf("IssueBatch(nothing) = %v", err)
	}
}

// testIssueBatchAllOrNothing: a batch with one document Issue would refuse writes nothing — no
// document, line, consumption, credit note grant or voiding, no counter step — sets no number, and
// names the document.
func testIssueBatchAllOrNothing(t *testing.T, s *store.Store) {
	docs := batchFixture(t, s)
	before := ledgerOf(t, s)
	refused := func(name string, batch []*invoices.Document, index int, target error) {
		t.Helper()
		err := s.IssueBatch(t.Context(), batch)
		var ie *store.IssueError
		if !errors.As(err, &ie) || ie.Index != index || (target != nil && !errors.Is(err, target)) {
			t.Errorf("%s: IssueBatch = %v, want an IssueError for batch[%d] wrapping %v", name, err, index, target)
		}
		for i, d := range batch {
			if d.Number != "" || d.ID != 0 {
				t.Errorf("%s: batch[%d] left with number %q id %d", name, i, d.Number, d.ID)
			}
		}
		if got := ledgerOf(t, s); got != before {
			t.Errorf("%s: the refused batch wrote:\n%s\nwant, as before it:\n%s", name, got, before)
		}
	}
	at := tm("2026-11-01T02:00:00Z")

	// a3 already has an effective invoice for September.
	refused("an account already invoiced", append(docs[:4:4], invoice("a3", sep, at, 5), docs[5]), 4, invoices.ErrAlreadyIssued)
	refused("two invoices for one account", []*invoices.Document{invoice("a2", oct, at, 5), docs[1]}, 1, invoices.ErrAlreadyIssued)
	again := invoice("a1", oct, at, 5)
	again.Replaces = "INV-2026-000001"
	refused("two replacements of one invoice", []*invoices.Document{docs[0], docs[1], again}, 2, invoices.ErrAlreadyIssued)
	ghost := invoice("a2", nov, at, 5)
	ghost.CreditsApplied, ghost.AmountDue = 5, 0
	ghost.Consumptions = []invoices.Consumption{{GrantID: "cg_404", Amount: 5}}
	refused("a grant that does not exist", []*invoices.Document{docs[1], ghost}, 1, invoices.ErrNotFound)
	over := invoice("a3", nov, at, 3000)
	over.CreditsApplied, over.AmountDue = 2600, 400
	over.Consumptions = []invoices.Consumption{{GrantID: "cg_3", Amount: 2600}}
	refused("a grant overdrawn by the batch's earlier document", []*invoices.Document{docs[3], over}, 1, invoices.ErrGrantOverdrawn)
	bad := invoice("a4", oct, at, 5)
	bad.Kind = "receipt"
	refused("an invalid document", []*invoices.Document{docs[1], bad}, 1, nil)
	refused("one document twice", []*invoices.Document{docs[5], docs[1], docs[5]}, 2, nil)
	// Amounts beyond what cents hold: a line RoundCents clamped (a unit price of 10^20 × 1,200 GPU-s
	// is 3.3 × 10^19 USD), and two lines that each hold but whose sum would wrap around.
	clamped := invoice("a4", oct, at, 5)
	clamped.Lines[0].Amount = rating.RoundCents(dec("33333333333333333333333.33"))
	refused("a line beyond the largest amount", []*invoices.Document{docs[1], clamped}, 1, nil)
	wrapping := invoice("a4", oct, at, 5)
	half := rating.MaxCents/2 + 1
	wrapping.Lines = []rating.Line{wrapping.Lines[0], wrapping.Lines[0]}
	wrapping.Lines[0].Amount, wrapping.Lines[1].Amount = half, half
	refused("lines whose sum is beyond the largest amount", []*invoices.Document{wrapping}, 0, nil)

	// The counters did not move: the batch, once right, takes the numbers it would have taken first.
	if err := s.IssueBatch(t.Context(), docs); err != nil {
		t.Fatalf("IssueBatch: %v", err)
	}
	if docs[0].Number != "INV-2026-000003" || docs[2].Number != "CN-2026-000001" || docs[5].Number != "INV-2026-000007" {
		t.Errorf("numbers after refused batches = %s, %s, %s; want INV-2026-000003, CN-2026-000001, INV-2026-000007",
			docs[0].Number, docs[2].Number, docs[5].Number)
	}
}

// testIssueBatchReplacement: replacements inside a batch void their originals in batch order, and
// each consumption is checked against what the documents before it, in the batch and before it,
// leave of the grant — as issuing them one by one would.
func testIssueBatchReplacement(t *testing.T, s *store.Store) {
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{
		{ID: "a1", Grants: []invoices.Grant{{ID: "cg_1", Kind: invoices.GrantFree, Amount: 500, GrantedAt: tm("2026-01-01T00:00:00Z")}}},
		{ID: "a2"},
	}})
	orig := invoice("a1", oct, tm("2026-11-01T02:00:00Z"), 1000)
	orig.CreditsApplied, orig.AmountDue = 500, 500
	orig.Consumptions = []invoices.Consumption{{GrantID: "cg_1", Amount: 500}}
	mustIssue(t, s, orig)
	at := tm("2026-11-03T09:00:00.5Z")
	replacement := func(of string, credits rating.Cents) *invoices.Document {
		d := invoice("a1", oct, at, 1200)
		d.Replaces, d.CreditsApplied, d.AmountDue = of, credits, 1200-credits
		if credits > 0 {
			d.Consumptions = []invoices.Consumption{{GrantID: "cg_1", Amount: credits}}
		}
		return d
	}

	// November's invoice comes before the replacement that returns the credits it wants: refused.
	early := invoice("a1", nov, at, 800)
	early.CreditsApplied, early.AmountDue = 500, 300
	early.Consumptions = []invoices.Consumption{{GrantID: "cg_1", Amount: 500}}
	err := s.IssueBatch(t.Context(), []*invoices.Document{early, replacement(orig.Number, 0)})
	if ie := (*store.IssueError)(nil); !errors.As(err, &ie) || ie.Index != 0 {
		t.Errorf("credits taken before they return = %v, want batch[0] refused", err)
	}
	// An invoice for the account and period next to the replacement: the slot is taken twice.
	err = s.IssueBatch(t.Context(), []*invoices.Document{replacement(orig.Number, 0), invoice("a1", oct, at, 5)})
	if !errors.Is(err, invoices.ErrAlreadyIssued) {
		t.Errorf("a replacement and another invoice for a1 %s = %v, want ErrAlreadyIssued", oct, err)
	}

	repl := replacement(orig.Number, 500)
	other := invoice("a2", oct, at, 700)
	if err := s.IssueBatch(t.Context(), []*invoices.Document{repl, other}); err != nil {
		t.Fatalf("IssueBatch: %v", err)
	}
	docs, err := s.Documents(t.Context(), oct)
	if err != nil {
		t.Fatalf("Documents: %v", err)
	}
	if len(docs) != 3 || docs[0].Number != orig.Number || docs[0].VoidedAt == nil || !docs[0].VoidedAt.Equal(at) ||
		docs[1].Number != "INV-2026-000002" || docs[1].Replaces != orig.Number || !docs[1].Effective() ||
		docs[2].Number != "INV-2026-000003" || docs[2].Account != "a2" {
		t.Errorf("Documents = %+v, want the original void at %s, its replacement INV-2026-000002, a2's INV-2026-000003", docs, at)
	}
	if g := accountsByID(t, s)["a1"].Grants[0]; g.Consumed != 500 {
		t.Errorf("cg_1 consumed %s, want 5.00 (the replacement's only)", g.Consumed)
	}
	next := invoice("a2", nov, at, 1)
	mustIssue(t, s, next)
	if next.Number != "INV-2026-000004" {
		t.Errorf("number after the refused batches = %s, want INV-2026-000004", next.Number)
	}
}

// testIssueBatchLinesRollBack: the batch's lines (a COPY on PostgreSQL, INSERTs on SQLite) are undone
// with the rest of the batch when a statement after them fails — here the credit note's grant, whose
// id a grant already has (planted: an import refuses such an id) — and the connection serves the
// next batches.
func testIssueBatchLinesRollBack(t *testing.T, s *store.Store) {
	mustImport(t, s, &invoices.Import{Accounts: []invoices.AccountRecord{{ID: "a1"}, {ID: "a2"}}})
	if err := exec(t.Context(), s, `INSERT INTO grants (id, account_id, kind, amount_cents, granted_at)
		VALUES ('CN-2026-000001', 'a2', 'free', 100, '2026-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	at := tm("2026-11-01T02:00:00Z")
	orig := invoice("a2", sep, tm("2026-10-01T02:00:00Z"), 500)
	mustIssue(t, s, orig)
	count := func() (docs, lines int) {
		t.Helper()
		db := store.DB(s)
		if err := db.GetContext(t.Context(), &docs, `SELECT COUNT(*) FROM documents`); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(t.Context(), &lines, `SELECT COUNT(*) FROM document_lines`); err != nil {
			t.Fatal(err)
		}
		return docs, lines
	}
	cn := func() *invoices.Document {
		return &invoices.Document{Account: "a2", Period: sep, Kind: invoices.KindCreditNote, Corrects: orig.Number, IssuedAt: at,
			Lines: []rating.Line{{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput, Quantity: dec("-1"),
				Unit: "1M tokens", UnitPrice: dec("1"), Unrounded: dec("-1"), Amount: -100}}, Subtotal: -100}
	}
	for range 3 { // a failed COPY or transaction must not spoil the pooled connection for the next
		batch := []*invoices.Document{withLines(invoice("a1", oct, at, 0), 700), cn()}
		// The grant's INSERT, the batch's last statement, fails in the database: a plain error, not an
		// *IssueError as a document refused before anything is written would give.
		err := s.IssueBatch(t.Context(), batch)
		if ie := (*store.IssueError)(nil); err == nil || errors.As(err, &ie) {
			t.Fatalf("IssueBatch with a credit note whose grant id is taken = %v, want the grant's insert to fail", err)
		}
		if d, l := count(); d != 1 || l != 1 {
			t.Fatalf("after the failed batch: %d documents, %d lines; want 1 and 1 (the original's)", d, l)
		}
	}
	for i := range 3 {
		p := rating.Period{Year: 2026, Month: time.October + time.Month(i)}
		if err := s.IssueBatch(t.Context(), []*invoices.Document{withLines(invoice("a1", p, at, 0), 700)}); err != nil {
			t.Fatalf("IssueBatch after the failures: %v", err)
		}
	}
	if d, l := count(); d != 4 || l != 1+3*700 {
		t.Errorf("after three batches: %d documents, %d lines; want 4 and %d", d, l, 1+3*700)
	}
	docs, err := s.Documents(t.Context(), oct)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].Number != "INV-2026-000002" || len(docs[0].Lines) != 700 {
		t.Errorf("October = %+v, want INV-2026-000002 with 700 lines", docs)
	}
	want, _ := manyLines(700, "a1")
	for k, l := range docs[0].Lines {
		if l.Key() != want[k].Key() || l.Description != want[k].Description || !l.Quantity.Equal(want[k].Quantity) ||
			!l.Unrounded.Equal(want[k].Unrounded) || l.Amount != want[k].Amount {
			t.Errorf("line %d = %+v, want %+v", k, l, want[k])
		}
	}
}

// testIssueBatchCanceled: a batch whose context ends at some point while its lines are sent (a COPY
// on PostgreSQL, driver-level INSERTs on SQLite) is either issued whole or not at all, and the store
// keeps serving batches afterwards.
func testIssueBatchCanceled(t *testing.T, s *store.Store) {
	const docsPerBatch, linesPerDoc = 10, 1500
	var ids []string
	for i := range 8 * docsPerBatch {
		ids = append(ids, fmt.Sprintf("a%02d", i))
	}
	importAccounts(t, s, ids...)
	at := tm("2026-11-01T02:00:00Z")
	issued := 0
	for round, wait := range []time.Duration{0, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond,
		30 * time.Millisecond, 100 * time.Millisecond, time.Second, time.Minute} {
		var batch []*invoices.Document
		for _, a := range ids[round*docsPerBatch : (round+1)*docsPerBatch] {
			batch = append(batch, withLines(invoice(a, oct, at, 0), linesPerDoc))
		}
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		err := s.IssueBatch(ctx, batch)
		cancel()
		if err == nil {
			issued += docsPerBatch
		}
		var docs, lines int
		db := store.DB(s)
		if err := db.GetContext(t.Context(), &docs, `SELECT COUNT(*) FROM documents`); err != nil {
			t.Fatal(err)
		}
		if err := db.GetContext(t.Context(), &lines, `SELECT COUNT(*) FROM document_lines`); err != nil {
			t.Fatal(err)
		}
		if docs != issued || lines != issued*linesPerDoc {
			t.Fatalf("after a batch with %s to go (err %v): %d documents and %d lines, want %d and %d",
				wait, err, docs, lines, issued, issued*linesPerDoc)
		}
	}
	if issued == 0 {
		t.Error("no batch was issued, not even with a minute to go")
	}
	next := invoice("a00", nov, at, 1)
	mustIssue(t, s, next)
	if want := fmt.Sprintf("INV-2026-%06d", issued+1); next.Number != want {
		t.Errorf("next number after the canceled batches = %s, want %s", next.Number, want)
	}
}
