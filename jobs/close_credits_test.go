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
// an account of the batch after the batch was drafted.
type otherMonthConsumes struct {
	jobs.Store
	doc     *invoices.Document
	batches int
}

func (s *otherMonthConsumes) IssueBatch(ctx context.Context, docs []*invoices.Document) error {
	s.batches++
	if s.batches == 1 {
		if err := s.Store.Issue(ctx, s.doc); err != nil {
			return err
		}
	}
	return s.Store.IssueBatch(ctx, docs)
}

// TestCloseAppliesCreditsAfreshWhenAnotherMonthUsedThem: two closes of different months run at once
// (billrun schedule catching up, or ops closing two months by hand): October's drafts applied
// acct_00010's $1,500.00 grant, and November's invoice consumed $1,450.00 of it before October's
// batch was issued. The store refuses the overdrawn batch; the close applies the credits afresh and
// issues it, rather than failing the month.
func TestCloseAppliesCreditsAfreshWhenAnotherMonthUsedThem(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	log := slog.New(slog.DiscardHandler)
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			// October's subtotal for acct_00010, from a close nobody raced.
			ref := b.Open(t)
			if _, err := ref.ImportAccounts(ctx, imp); err != nil {
				t.Fatal(err)
			}
			rj := &jobs.Jobs{Store: ref, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
				PriceBookHash: hash, OutDir: t.TempDir(), Logger: log}
			if _, err := rj.Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
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
			nov := rating.Period{Year: 2026, Month: time.November}
			due := at.Add(15 * 24 * time.Hour)
			other := &invoices.Document{Account: "acct_00010", Period: nov, Kind: invoices.KindInvoice, IssuedAt: at,
				DueAt: &due, RunID: "close-of-november",
				Lines: []rating.Line{{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput,
					Description: "m, input tokens", Quantity: decimal.RequireFromString("1000000"), Unit: "1M tokens",
					UnitPrice: decimal.RequireFromString("1450"), Unrounded: decimal.RequireFromString("1450"), Amount: 145000}},
				Subtotal: 145000, CreditsApplied: 145000, AmountDue: 0,
				Consumptions: []invoices.Consumption{{GrantID: "cg_0010", Amount: 145000}}}
			racing := &otherMonthConsumes{Store: st, doc: other}
			j := &jobs.Jobs{Store: racing, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
				PriceBookHash: hash, OutDir: t.TempDir(), Logger: log}
			if _, err := j.Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
				t.Fatalf("close raced by another month's invoice: %v", err)
			}
			if racing.batches != 2 {
				t.Errorf("%d batches issued, want 2: the refused one and the one with credits applied afresh", racing.batches)
			}
			d := docOf(t, st, p, "acct_00010")
			// cg_0010: 1,500.00 − 1,450.00 consumed by November = 50.00 left for October, all of it taken
			// (the subtotal, 96.13, is more); amount due = subtotal − 50.00 = 46.13.
			if d.Subtotal != subtotal || d.CreditsApplied != 5000 || d.AmountDue != subtotal-5000 ||
				len(d.Consumptions) != 1 || d.Consumptions[0] != (invoices.Consumption{GrantID: "cg_0010", Amount: 5000}) {
				t.Errorf("October invoice of acct_00010: subtotal %s, credits %s, due %s, consumptions %+v; want %s, 50.00, %s, cg_0010 50.00",
					d.Subtotal, d.CreditsApplied, d.AmountDue, d.Consumptions, subtotal, subtotal-5000)
			}
			accts, err := st.Accounts(ctx)
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
			// Every other account's invoice is the unraced close's, numbered one later: November's
			// invoice, issued first, took INV-2026-000001 of the year's one series.
			want, err := ref.Documents(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := st.Documents(ctx, p)
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

// otherMonthAndWriterConsume is otherMonthConsumes on which, besides, another writer invoices the
// batch's account other for the close's own period right before that first batch: the batch is
// refused for the account invoiced meanwhile, and the close issues it one invoice at a time.
type otherMonthAndWriterConsume struct {
	jobs.Store
	doc     *invoices.Document
	other   string
	batches int
}

func (s *otherMonthAndWriterConsume) IssueBatch(ctx context.Context, docs []*invoices.Document) error {
	s.batches++
	if s.batches == 1 {
		if err := s.Store.Issue(ctx, s.doc); err != nil {
			return err
		}
		for _, d := range docs {
			if d.Account == s.other {
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

// TestCloseAppliesCreditsAfreshOneInvoiceAtATime: the batch whose acct_00010 credits November's close
// consumed is also refused because another writer invoiced acct_00001 meanwhile, which the store
// reports first. Issuing the batch one invoice at a time, the close applies acct_00010's credits
// afresh as it does for a whole batch, rather than failing the month on its overdrawn grant.
func TestCloseAppliesCreditsAfreshOneInvoiceAtATime(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	log := slog.New(slog.DiscardHandler)
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ref := b.Open(t)
			if _, err := ref.ImportAccounts(ctx, imp); err != nil {
				t.Fatal(err)
			}
			rj := &jobs.Jobs{Store: ref, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
				PriceBookHash: hash, OutDir: t.TempDir(), Logger: log}
			if _, err := rj.Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
				t.Fatal(err)
			}
			subtotal := docOf(t, ref, p, "acct_00010").Subtotal
			if subtotal <= 5000 {
				t.Fatalf("acct_00010's October subtotal %s: want more than the 50.00 the race leaves of its grant", subtotal)
			}
			docOf(t, ref, p, "acct_00001")

			st := b.Open(t)
			if _, err := st.ImportAccounts(ctx, imp); err != nil {
				t.Fatal(err)
			}
			nov := rating.Period{Year: 2026, Month: time.November}
			due := at.Add(15 * 24 * time.Hour)
			other := &invoices.Document{Account: "acct_00010", Period: nov, Kind: invoices.KindInvoice, IssuedAt: at,
				DueAt: &due, RunID: "close-of-november",
				Lines: []rating.Line{{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput,
					Description: "m, input tokens", Quantity: decimal.RequireFromString("1000000"), Unit: "1M tokens",
					UnitPrice: decimal.RequireFromString("1450"), Unrounded: decimal.RequireFromString("1450"), Amount: 145000}},
				Subtotal: 145000, CreditsApplied: 145000, AmountDue: 0,
				Consumptions: []invoices.Consumption{{GrantID: "cg_0010", Amount: 145000}}}
			racing := &otherMonthAndWriterConsume{Store: st, doc: other, other: "acct_00001"}
			j := &jobs.Jobs{Store: racing, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
				PriceBookHash: hash, OutDir: t.TempDir(), Logger: log}
			sum, err := j.Close(ctx, p, jobs.CloseOptions{At: at})
			if err != nil {
				t.Fatalf("close raced by another month's invoice and another writer: %v", err)
			}
			if sum.Existing != 1 {
				t.Errorf("close counted %d accounts invoiced already, want 1 (acct_00001, invoiced meanwhile)", sum.Existing)
			}
			d := docOf(t, st, p, "acct_00010")
			// cg_0010: 1,500.00 − 1,450.00 consumed by November = 50.00 left for October, all of it taken
			// (the subtotal is more); amount due = subtotal − 50.00.
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
			accts, err := st.Accounts(ctx)
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
		})
	}
}
