package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"billrun/invoices"
	"billrun/invoices/store/storetest"
	"billrun/jobs"
	"billrun/rating"
)

// otherMonthConsumes is a store on which, right before the close's first batch is issued, another
// run issues doc: a close of another month, which holds a lock of its own, consuming the credits of
// an account of the batch after the batch was drafted. With writer set, another writer also invoices
// that account of the batch for the close's own month, which the store reports before any credit.
type otherMonthConsumes struct {
	jobs.Store
	doc     *invoices.Document
	writer  string
	batches int
}

func (s *otherMonthConsumes) IssueBatch(ctx context.Context, docs []*invoices.Document) error {
	s.batches++
	if s.batches == 1 {
		if err := s.Store.Issue(ctx, s.doc); err != nil {
			return err
		}
		for _, d := range docs {
			if d.Account == s.writer {
				meanwhile := *d
				meanwhile.RunID = "another-writer"
				if err := s.Store.Issue(ctx, &meanwhile); err != nil {
					return err
				}
			}
		}
	}
	return s.Store.IssueBatch(ctx, docs)
}

// raced is a close raced by another month's: its store and summary, and the store of the same close
// nobody raced, with acct_00010's October subtotal there.
type raced struct {
	st, ref  jobs.Store
	sum      *jobs.CloseSummary
	subtotal rating.Cents
}

// creditRace closes the fixtures' October on a fresh store of backend b raced as racing says, and on
// another nobody races. November's invoice consumes 1,450.00 of acct_00010's 1,500.00 grant cg_0010.
func creditRace(t *testing.T, b storetest.Backend, racing *otherMonthConsumes) (raced, error) {
	t.Helper()
	pb, hash, src, imp := loadFixtures(t)
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	newJobs := func(st jobs.Store) *jobs.Jobs {
		return &jobs.Jobs{Store: st, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
			PriceBookHash: hash, OutDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	}
	ref := b.Open(t)
	if _, err := ref.ImportAccounts(ctx, imp); err != nil {
		t.Fatal(err)
	}
	if _, err := newJobs(ref).Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
		t.Fatal(err)
	}
	subtotal := docOf(t, ref, p, "acct_00010").Subtotal
	if subtotal <= 5000 {
		t.Fatalf("acct_00010's October subtotal %s: want more than the 50.00 the race leaves of its grant", subtotal)
	}
	st := b.Open(t)
	if _, err := st.ImportAccounts(ctx, imp); err != nil {
		t.Fatal(err)
	}
	due := at.Add(15 * 24 * time.Hour)
	racing.Store = st
	racing.doc = &invoices.Document{Account: "acct_00010", Period: rating.Period{Year: 2026, Month: time.November},
		Kind: invoices.KindInvoice, IssuedAt: at, DueAt: &due, RunID: "close-of-november",
		Lines: []rating.Line{{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput,
			Description: "m, input tokens", Quantity: decimal.RequireFromString("1000000"), Unit: "1M tokens",
			UnitPrice: decimal.RequireFromString("1450"), Unrounded: decimal.RequireFromString("1450"), Amount: 145000}},
		Subtotal: 145000, CreditsApplied: 145000, AmountDue: 0,
		Consumptions: []invoices.Consumption{{GrantID: "cg_0010", Amount: 145000}}}
	sum, err := newJobs(racing).Close(ctx, p, jobs.CloseOptions{At: at})
	return raced{st: st, ref: ref, sum: sum, subtotal: subtotal}, err
}

// checkCreditsAfresh checks acct_00010's October invoice took what November left of its grant, in the
// store and in the close's summary, and that no grant is overdrawn.
func checkCreditsAfresh(t *testing.T, r raced) {
	t.Helper()
	st, sum, subtotal := r.st, r.sum, r.subtotal
	// cg_0010: 1,500.00 − 1,450.00 consumed by November = 50.00 left for October, all of it taken (the
	// subtotal, 96.13 on the fixtures, is more); amount due = subtotal − 50.00 = 46.13.
	d := docOf(t, st, fixturePeriod, "acct_00010")
	if d.Subtotal != subtotal || d.CreditsApplied != 5000 || d.AmountDue != subtotal-5000 ||
		len(d.Consumptions) != 1 || d.Consumptions[0] != (invoices.Consumption{GrantID: "cg_0010", Amount: 5000}) {
		t.Errorf("October invoice of acct_00010: subtotal %s, credits %s, due %s, consumptions %+v; want %s, 50.00, %s, cg_0010 50.00",
			d.Subtotal, d.CreditsApplied, d.AmountDue, d.Consumptions, subtotal, subtotal-5000)
	}
	for _, doc := range sum.Issued {
		if doc.Account == "acct_00010" && (doc.CreditsApplied != 5000 || doc.AmountDue != subtotal-5000) {
			t.Errorf("close summary's acct_00010 invoice: credits %s, due %s; want 50.00, %s", doc.CreditsApplied,
				doc.AmountDue, subtotal-5000)
		}
	}
	accts, err := st.Accounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		for _, g := range a.Grants {
			if g.Consumed > rating.Cents(g.Amount) {
				t.Errorf("grant %s: %s consumed of %s", g.ID, g.Consumed, rating.Cents(g.Amount))
			}
		}
	}
}

// TestCloseAppliesCreditsAfreshWhenAnotherMonthUsedThem: two closes of different months run at once
// (billrun schedule catching up, or ops closing two months by hand): October's drafts applied
// acct_00010's $1,500.00 grant, and November's invoice consumed $1,450.00 of it before October's
// batch was issued. The store refuses the overdrawn batch; the close applies the credits afresh and
// issues it, rather than failing the month.
func TestCloseAppliesCreditsAfreshWhenAnotherMonthUsedThem(t *testing.T) {
	ctx := context.Background()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			racing := &otherMonthConsumes{}
			r, err := creditRace(t, b, racing)
			if err != nil {
				t.Fatalf("close raced by another month's invoice: %v", err)
			}
			if racing.batches != 2 {
				t.Errorf("%d batches issued, want 2: the refused one and the one with credits applied afresh", racing.batches)
			}
			checkCreditsAfresh(t, r)
			// Every other account's invoice is the unraced close's, numbered one later: November's
			// invoice, issued first, took INV-2026-000001 of the year's one series.
			want, err := r.ref.Documents(ctx, fixturePeriod)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.st.Documents(ctx, fixturePeriod)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d October documents, want %d", len(got), len(want))
			}
			for i := range got {
				number := fmt.Sprintf("INV-2026-%06d", i+2)
				if got[i].Account != want[i].Account || got[i].Number != number || (got[i].Account != "acct_00010" &&
					(got[i].AmountDue != want[i].AmountDue || got[i].CreditsApplied != want[i].CreditsApplied)) {
					t.Errorf("%s %s: due %s, credits %s; want %s %s: due %s, credits %s", got[i].Account, got[i].Number,
						got[i].AmountDue, got[i].CreditsApplied, want[i].Account, number, want[i].AmountDue, want[i].CreditsApplied)
				}
			}
		})
	}
}

// TestCloseAppliesCreditsAfreshOneInvoiceAtATime: the batch whose acct_00010 credits November's close
// consumed is also refused because another writer invoiced acct_00001 meanwhile, which the store
// reports first. Issuing the batch one invoice at a time, the close applies acct_00010's credits
// afresh as it does for a whole batch, rather than failing the month on its overdrawn grant.
func TestCloseAppliesCreditsAfreshOneInvoiceAtATime(t *testing.T) {
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			r, err := creditRace(t, b, &otherMonthConsumes{writer: "acct_00001"})
			if err != nil {
				t.Fatalf("close raced by another month's invoice and another writer: %v", err)
			}
			if r.sum.Existing != 1 {
				t.Errorf("close counted %d accounts invoiced already, want 1 (acct_00001, invoiced meanwhile)", r.sum.Existing)
			}
			checkCreditsAfresh(t, r)
		})
	}
}

// docOf returns the effective invoice of account in period p.
func docOf(t *testing.T, st jobs.Store, p rating.Period, account string) invoices.Document {
	t.Helper()
	docs, err := st.Documents(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if d.Account == account && d.Effective() {
			return d
		}
	}
	t.Fatalf("no %s invoice for %s", p, account)
	return invoices.Document{}
}
