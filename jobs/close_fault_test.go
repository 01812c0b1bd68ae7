package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"billrun/exporters"
	"billrun/invoices"
	"billrun/invoices/accountsfile"
	"billrun/invoices/store/storetest"
	"billrun/jobs"
	"billrun/rating"
	"billrun/rating/prices"
	"billrun/rating/usage"
)

// The October 2026 close of the bundled fixtures, at the contract's month-close time.
var (
	fixturePeriod = rating.Period{Year: 2026, Month: time.October}
	fixtureAt     = time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
)

// loadFixtures loads the bundled price book, usage tree and accounts file.
func loadFixtures(t *testing.T) (*rating.PriceBook, string, usage.Source, *invoices.Import) {
	t.Helper()
	root, _ := filepath.Abs("..")
	pb, hash, err := prices.Load(filepath.Join(root, "fixtures/prices.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := usage.NewLocal(filepath.Join(root, "fixtures/usage"))
	if err != nil {
		t.Fatal(err)
	}
	imp, err := accountsfile.Load(filepath.Join(root, "fixtures/accounts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return pb, hash, src, imp
}

// localUsage reads the fixtures through rating/usage, as cmd/billrun wires it.
type localUsage struct {
	src usage.Source
	pb  *rating.PriceBook
}

func (u localUsage) Read(ctx context.Context, w rating.Window, accounts map[string]bool) (*jobs.UsageResult, error) {
	res, err := usage.Read(ctx, u.src, usage.Options{PriceBook: u.pb, Window: w, Accounts: accounts, MaxGPUInterval: time.Hour})
	if err != nil {
		return nil, err
	}
	return &jobs.UsageResult{Aggregate: res.Aggregate, Rejects: res.Rejects, Counts: res.Counts, Manifest: res.Manifest, Taken: res.Taken}, nil
}

// fileExporter writes the real exports; failXLSX makes the workbook fail (a crash before exports end).
type fileExporter struct{ failXLSX bool }

var errInjected = errors.New("injected fault")

func (fileExporter) WriteJSON(w io.Writer, r *invoices.Report) error {
	return exporters.WriteJSON(w, r)
}
func (e fileExporter) WriteXLSX(w io.Writer, r *invoices.Report) error {
	if e.failXLSX {
		return errInjected
	}
	return exporters.WriteXLSX(w, r)
}
func (fileExporter) WriteInvoicesCSV(w io.Writer, r *invoices.Report) error {
	return exporters.WriteInvoicesCSV(w, r)
}
func (fileExporter) WriteRejectsCSV(w io.Writer, rs []rating.Reject) error {
	return exporters.WriteRejectsCSV(w, rs)
}
func (fileExporter) WriteStandingJSON(w io.Writer, rows []invoices.Standing) error {
	return exporters.WriteStandingJSON(w, rows)
}

// faultyStore fails one step of a close: the documents lookup right after rating, the issue of the
// Nth document (before or after it commits), or saving standing in the sweep. Documents are counted
// across Issue and IssueBatch; a batch is one transaction, so failing its Nth document writes none of
// the batch, and "the Nth commits" commits the whole batch that holds it.
type faultyStore struct {
	jobs.Store
	failDocuments bool
	failIssue     int  // fail the Nth document issued (1-based); 0: never
	afterCommit   bool // the Nth document (its batch) commits, then the run dies
	failStanding  bool
	issues        int
}

func (f *faultyStore) Documents(ctx context.Context, p rating.Period) ([]invoices.Document, error) {
	if f.failDocuments {
		return nil, errInjected
	}
	return f.Store.Documents(ctx, p)
}

func (f *faultyStore) Issue(ctx context.Context, doc *invoices.Document) error {
	f.issues++
	if f.issues == f.failIssue {
		if f.afterCommit {
			if err := f.Store.Issue(ctx, doc); err != nil {
				return err
			}
		}
		return errInjected
	}
	return f.Store.Issue(ctx, doc)
}

func (f *faultyStore) IssueBatch(ctx context.Context, docs []*invoices.Document) error {
	first := f.issues + 1
	f.issues += len(docs)
	if f.failIssue < first || f.failIssue > f.issues {
		return f.Store.IssueBatch(ctx, docs)
	}
	if f.afterCommit {
		if err := f.Store.IssueBatch(ctx, docs); err != nil {
			return err
		}
	}
	return errInjected
}

func (f *faultyStore) SaveStanding(ctx context.Context, rows []invoices.Standing, events []invoices.StandingEvent) error {
	if f.failStanding {
		return errInjected
	}
	return f.Store.SaveStanding(ctx, rows, events)
}

// TestCloseRecoversFromFaults interrupts the October close of the fixtures at every step boundary,
// then closes again, and checks the ledger equals that of an uninterrupted close: same documents with
// the same numbers and amounts, a gapless series, and credits consumed once.
func TestCloseRecoversFromFaults(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	p, at, log := fixturePeriod, fixtureAt, slog.New(slog.NewTextHandler(io.Discard, nil))
	newJobs := func(t *testing.T, st jobs.Store, exp jobs.Exporter, batch int) *jobs.Jobs {
		j := &jobs.Jobs{Store: st, Usage: localUsage{src: src, pb: pb}, Exporter: exp, PriceBook: pb,
			PriceBookHash: hash, OutDir: t.TempDir(), Logger: log}
		jobs.SetCloseBatch(j, batch)
		if batch > 0 {
			// Small draft chunks too: batches are committed while later invoices are still drafted.
			jobs.SetDraftChunk(j, 3)
		}
		return j
	}
	// The 17 invoices of the fixtures fit one batch of the default size; batches of 4 let a fault fall
	// between two batches, or in the middle of one, with earlier batches committed.
	faults := []struct {
		name  string
		st    func(jobs.Store) *faultyStore
		exp   fileExporter
		batch int // 0: the default
		kept  int // documents the interrupted close leaves
	}{
		{"after rating", func(s jobs.Store) *faultyStore { return &faultyStore{Store: s, failDocuments: true} }, fileExporter{}, 0, 0},
		{"first issue", func(s jobs.Store) *faultyStore { return &faultyStore{Store: s, failIssue: 1} }, fileExporter{}, 0, 0},
		{"mid-way through issuing", func(s jobs.Store) *faultyStore { return &faultyStore{Store: s, failIssue: 7} }, fileExporter{}, 0, 0},
		{"after an issue commits", func(s jobs.Store) *faultyStore { return &faultyStore{Store: s, failIssue: 9, afterCommit: true} }, fileExporter{}, 0, 17},
		{"mid-way through the second of batches of 4", func(s jobs.Store) *faultyStore { return &faultyStore{Store: s, failIssue: 7} }, fileExporter{}, 4, 4},
		{"first of the third batch of 4", func(s jobs.Store) *faultyStore { return &faultyStore{Store: s, failIssue: 9} }, fileExporter{}, 4, 8},
		{"after the third batch of 4 commits", func(s jobs.Store) *faultyStore { return &faultyStore{Store: s, failIssue: 9, afterCommit: true} }, fileExporter{}, 4, 12},
		{"during the standing sweep", func(s jobs.Store) *faultyStore { return &faultyStore{Store: s, failStanding: true} }, fileExporter{}, 0, 17},
		{"before exports end", func(s jobs.Store) *faultyStore { return &faultyStore{Store: s} }, fileExporter{failXLSX: true}, 0, 17},
	}
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ref := b.Open(t)
			ctx := context.Background()
			if _, err := ref.ImportAccounts(ctx, imp); err != nil {
				t.Fatal(err)
			}
			if _, err := newJobs(t, ref, fileExporter{}, 0).Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
				t.Fatalf("uninterrupted close: %v", err)
			}
			want := ledger(t, ref, p)
			for _, f := range faults {
				t.Run(f.name, func(t *testing.T) {
					st := b.Open(t)
					if _, err := st.ImportAccounts(ctx, imp); err != nil {
						t.Fatal(err)
					}
					if _, err := newJobs(t, f.st(st), f.exp, f.batch).Close(ctx, p, jobs.CloseOptions{At: at}); !errors.Is(err, errInjected) {
						t.Fatalf("interrupted close: err = %v, want the injected fault", err)
					}
					if docs, err := st.Documents(ctx, p); err != nil || len(docs) != f.kept {
						t.Errorf("interrupted close left %d documents (%v), want %d", len(docs), err, f.kept)
					}
					if _, err := newJobs(t, st, fileExporter{}, f.batch).Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
						t.Fatalf("close after the fault: %v", err)
					}
					if got := ledger(t, st, p); got != want {
						t.Errorf("ledger after fault + close differs from an uninterrupted close:\n got: %s\nwant: %s", got, want)
					}
				})
			}
		})
	}
}

// interloper stands for a writer the period lock should keep out: right before the close's first
// batch it issues, by itself, the invoice of the batch's third account.
type interloper struct {
	jobs.Store
	account string // the account it invoiced
}

func (s *interloper) IssueBatch(ctx context.Context, docs []*invoices.Document) error {
	if s.account == "" && len(docs) > 2 {
		d := *docs[2]
		if err := s.Store.Issue(ctx, &d); err != nil {
			return err
		}
		s.account = d.Account
	}
	return s.Store.IssueBatch(ctx, docs)
}

// TestCloseIssuesOneByOneWhenABatchIsRefused: when another writer invoices an account of a batch
// after the close read the period's documents, the database refuses the whole batch and the close
// issues it one invoice at a time: that account counts as already invoiced, every other account gets
// its invoice, and the numbers stay gapless.
func TestCloseIssuesOneByOneWhenABatchIsRefused(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	p, at, log := fixturePeriod, fixtureAt, slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := b.Open(t)
			if _, err := st.ImportAccounts(ctx, imp); err != nil {
				t.Fatal(err)
			}
			w := &interloper{Store: st}
			j := &jobs.Jobs{Store: w, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
				PriceBookHash: hash, OutDir: t.TempDir(), Logger: log}
			sum, err := j.Close(ctx, p, jobs.CloseOptions{At: at})
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			if w.account == "" {
				t.Fatal("the interloper issued nothing")
			}
			if sum.Existing != 1 || len(sum.Issued) != 16 {
				t.Errorf("close issued %d, found %d already invoiced; want 16 and 1", len(sum.Issued), sum.Existing)
			}
			docs, err := st.Documents(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			per := map[string]int{}
			for _, d := range docs {
				per[d.Account]++
			}
			if len(docs) != 17 || len(per) != 17 {
				t.Errorf("%d documents for %d accounts, want one for each of 17", len(docs), len(per))
			}
			if len(docs) > 0 && (docs[0].Account != w.account || docs[0].Number != "INV-2026-000001") {
				t.Errorf("first document %s of %s, want INV-2026-000001 of %s (the interloper's)", docs[0].Number, docs[0].Account, w.account)
			}
			numbers, err := st.DocumentNumbers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i, n := range numbers {
				if want := fmt.Sprintf("INV-2026-%06d", i+1); n != want {
					t.Errorf("number %d = %s, want %s", i+1, n, want)
				}
			}
		})
	}
}

// ledger renders everything that must match: each document's number, account, amounts, lines and
// credit consumption, the series of numbers, and every grant's consumption and standing row.
func ledger(t *testing.T, st interface {
	jobs.Store
}, p rating.Period) string {
	t.Helper()
	ctx := context.Background()
	docs, err := st.Documents(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, d := range docs {
		out += fmt.Sprintf("%s %s %s sub=%s disc=%s cred=%s due=%s void=%v lines=%d cons=%v\n", d.Number, d.Account, d.Kind,
			d.Subtotal, d.Discount, d.CreditsApplied, d.AmountDue, d.VoidedAt != nil, len(d.Lines), d.Consumptions)
		for _, l := range d.Lines {
			out += fmt.Sprintf("  %s %s %s\n", l.Key(), l.Quantity, l.Amount)
		}
	}
	numbers, err := st.DocumentNumbers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out += fmt.Sprintf("numbers %v\n", numbers)
	accts, err := st.Accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		for _, g := range a.Grants {
			out += fmt.Sprintf("grant %s consumed %s\n", g.ID, g.Consumed)
		}
	}
	rows, err := st.Standing(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rows {
		out += fmt.Sprintf("standing %s %s %v %s %s\n", s.Account, s.Status, s.Reasons, s.MonthUsage, s.CreditBalance)
	}
	return out
}

// callLog is a store that records, in order, the close's batches, standing saves, checkpoints (once
// each is done) and the finishing of its run.
type callLog struct {
	jobs.Store
	mu    sync.Mutex
	calls []string
}

func (c *callLog) log(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, s)
}

func (c *callLog) IssueBatch(ctx context.Context, docs []*invoices.Document) error {
	c.log("issue")
	return c.Store.IssueBatch(ctx, docs)
}

func (c *callLog) SaveStanding(ctx context.Context, rows []invoices.Standing, events []invoices.StandingEvent) error {
	c.log("standing")
	return c.Store.SaveStanding(ctx, rows, events)
}

func (c *callLog) Checkpoint(ctx context.Context) error {
	defer c.log("checkpoint")
	return c.Store.Checkpoint(ctx)
}

func (c *callLog) TruncateWAL(ctx context.Context) error {
	defer c.log("truncate-wal")
	return c.Store.TruncateWAL(ctx)
}

func (c *callLog) FinishRun(ctx context.Context, run *invoices.Run) error {
	c.log("finish-run")
	return c.Store.FinishRun(ctx, run)
}

// TestCloseCheckpointsAfterIssuing: a close makes its invoices durable once, after the last batch —
// while it evaluates standing, not in the middle of issuing — and, once standing is saved, empties
// the WAL; both are done before it records the run as finished. The checkpoint's order against the
// sweep's save is free; that it comes after every batch, that the WAL is emptied after both, and that
// both are waited for is not.
func TestCloseCheckpointsAfterIssuing(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	p, at, log := fixturePeriod, fixtureAt, slog.New(slog.DiscardHandler)
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	if _, err := st.ImportAccounts(ctx, imp); err != nil {
		t.Fatal(err)
	}
	c := &callLog{Store: st}
	j := &jobs.Jobs{Store: c, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
		PriceBookHash: hash, OutDir: t.TempDir(), Logger: log}
	jobs.SetCloseBatch(j, 4) // the 17 invoices in 5 batches
	if _, err := j.Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	calls := slices.Clone(c.calls)
	c.mu.Unlock()
	// The sweep records a run of its own (a finish-run) and saves standing while the checkpoint runs.
	mid := slices.DeleteFunc(slices.Clone(calls[min(5, len(calls)):max(len(calls)-2, 5)]),
		func(s string) bool { return s == "standing" || s == "finish-run" })
	switch {
	case len(calls) < 8 || !slices.Equal(calls[:5], []string{"issue", "issue", "issue", "issue", "issue"}):
		t.Errorf("close called %v, want the 5 batches first", calls)
	case !slices.Equal(mid, []string{"checkpoint"}):
		t.Errorf("close called %v, want one checkpoint after the batches", calls)
	case !slices.Equal(calls[len(calls)-2:], []string{"truncate-wal", "finish-run"}):
		t.Errorf("close called %v, want the WAL emptied last, then the run finished", calls)
	case !slices.Contains(calls[5:len(calls)-2], "standing"):
		t.Errorf("close called %v, want standing saved before the WAL is emptied", calls)
	}
}
