package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"billrun/exporters"
	"billrun/invoices"
	"billrun/invoices/store/storetest"
	"billrun/jobs"
	"billrun/rating"
)

// countingStream counts the batches and documents handed to a stream and the most lines in a batch
// of more than one document.
type countingStream struct {
	jobs.PeriodStream
	batches, docs, maxLines *int
}

func (c countingStream) Add(docs []invoices.DocView) error {
	*c.batches++
	*c.docs += len(docs)
	if len(docs) > 1 {
		n := 0
		for i := range docs {
			n += len(docs[i].Lines)
		}
		*c.maxLines = max(*c.maxLines, n)
	}
	return c.PeriodStream.Add(docs)
}

// TestExportStreamsTheReport: billrun export reads a period's documents without their lines and then
// hands the lines to the export a batch at a time (Jobs.Export). Each format comes out byte for byte
// as the exporter writes the whole report read at once (Jobs.Report), with a void invoice, a paid one
// and an open one, in batches of every size: one document each, a few lines, and the default.
func TestExportStreamsTheReport(t *testing.T) {
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			j, st, _ := streamedClose(t, b, func(s jobs.Store) jobs.Store { return s })
			if _, err := j.Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
				t.Fatal(err)
			}
			docs, err := st.Documents(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) < 3 {
				t.Fatalf("the fixtures' close issued %d documents, want at least 3", len(docs))
			}
			lines := 0
			for _, d := range docs {
				lines += len(d.Lines)
			}
			if err := st.Void(ctx, docs[0].Number, at.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.ImportAccounts(ctx, &invoices.Import{Payments: []invoices.Payment{{ID: "pay-export",
				Account: docs[1].Account, Amount: docs[1].AmountDue, PaidAt: at.Add(2 * time.Hour), Invoice: docs[1].Number}}}); err != nil {
				t.Fatal(err)
			}
			later := at.Add(48 * time.Hour)
			rep, err := j.Report(ctx, p, later)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Docs[0].Status != invoices.StatusVoid || rep.Docs[1].Status != invoices.StatusPaid {
				t.Fatalf("statuses %s, %s; want void, paid", rep.Docs[0].Status, rep.Docs[1].Status)
			}
			formats := []struct {
				name  string
				whole func(io.Writer) error
				start func(w io.Writer, currency string, docs, lines int) (jobs.PeriodStream, error)
			}{
				{"json", func(w io.Writer) error { return exporters.WriteJSON(w, rep) },
					func(w io.Writer, currency string, _, _ int) (jobs.PeriodStream, error) {
						return streamingExporter{finished: new(atomic.Int32)}.StartJSON(w, p, currency)
					}},
				{"csv", func(w io.Writer) error { return exporters.WriteInvoicesCSV(w, rep) },
					func(w io.Writer, _ string, _, _ int) (jobs.PeriodStream, error) {
						st, err := exporters.StartInvoicesCSV(w, false)
						return testStream{s: st, finished: new(atomic.Int32)}, err
					}},
				{"xlsx", func(w io.Writer) error { return exporters.WriteXLSX(w, rep) },
					func(w io.Writer, currency string, docs, lines int) (jobs.PeriodStream, error) {
						return streamingExporter{finished: new(atomic.Int32)}.StartXLSX(w, p, currency, docs, lines)
					}},
			}
			for _, f := range formats {
				var want bytes.Buffer
				if err := f.whole(&want); err != nil {
					t.Fatal(err)
				}
				for _, size := range []int{1, 7, 0} {
					jobs.SetStreamBatch(j, size)
					var got bytes.Buffer
					var batches, n, most int
					err := j.Export(ctx, p, later, false, func(currency string, docs, lines int) (jobs.PeriodStream, error) {
						st, err := f.start(&got, currency, docs, lines)
						return countingStream{st, &batches, &n, &most}, err
					})
					if err != nil {
						t.Fatalf("%s, batches of %d lines: %v", f.name, size, err)
					}
					same := bytes.Equal(got.Bytes(), want.Bytes())
					if f.name == "xlsx" { // the workbook's zip records when it was written: compare the cells
						g, err1 := exporters.DumpXLSX(bytes.NewReader(got.Bytes()))
						w, err2 := exporters.DumpXLSX(bytes.NewReader(want.Bytes()))
						same = err1 == nil && err2 == nil && bytes.Equal(g, w)
					}
					if !same {
						t.Errorf("%s, batches of %d lines: %d bytes differ from the whole report's %d", f.name, size,
							got.Len(), want.Len())
					}
					// Every document has lines: batches of one line hold one document each; batches of 7
					// hold at most 7 lines when they hold more than one document (some documents have
					// more); the default, 4,096 lines, holds the fixtures' whole month at once.
					switch {
					case n != len(docs):
						t.Errorf("%s: %d documents streamed, want %d", f.name, n, len(docs))
					case size == 1 && batches != len(docs):
						t.Errorf("%s, batches of 1 line: %d batches, want one per document (%d)", f.name, batches, len(docs))
					case size == 7 && (most > 7 || batches < 2 || batches >= len(docs)):
						t.Errorf("%s, batches of 7 lines: %d batches of several documents up to %d lines; want 2 to %d, up to 7",
							f.name, batches, most, len(docs)-1)
					case size == 0 && batches != 1:
						t.Errorf("%s, batches of 4,096 lines: %d batches for %d lines, want 1", f.name, batches, lines)
					}
				}
			}
		})
	}
}

// damagedLines is a store whose EachDocumentLines damages the first document's lines: drop says how,
// as if the document had changed, or its line set had not been read, between the headers and the
// lines.
type damagedLines struct {
	jobs.Store
	drop func(ls []rating.Line) ([]rating.Line, bool) // the lines to hand on, and whether to hand any
}

func (s damagedLines) EachDocumentLines(ctx context.Context, p rating.Period, fn func(int64, []rating.Line) error) error {
	first := true
	return s.Store.EachDocumentLines(ctx, p, func(id int64, ls []rating.Line) error {
		if first {
			first = false
			var ok bool
			if ls, ok = s.drop(ls); !ok {
				return nil
			}
		}
		return fn(id, ls)
	})
}

// TestExportRefusesLinesNotOfItsHeaders: lines that do not match the document headers they are
// streamed under — one line short, or a document's lines missing altogether — fail the export rather
// than write a file whose lines do not sum to its totals (the workbook's Lines sheet would also hold
// fewer rows than it was started for).
func TestExportRefusesLinesNotOfItsHeaders(t *testing.T) {
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	for name, drop := range map[string]func([]rating.Line) ([]rating.Line, bool){
		"a line short":  func(ls []rating.Line) ([]rating.Line, bool) { return ls[:len(ls)-1], true },
		"lines missing": func(ls []rating.Line) ([]rating.Line, bool) { return nil, false },
	} {
		t.Run(name, func(t *testing.T) {
			j, _, _ := streamedClose(t, storetest.Backends[0], func(s jobs.Store) jobs.Store { return damagedLines{s, drop} })
			if _, err := j.Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err := j.Export(ctx, p, at, false, func(currency string, _, _ int) (jobs.PeriodStream, error) {
				return streamingExporter{finished: new(atomic.Int32)}.StartJSON(&out, p, currency)
			})
			if err == nil || !strings.Contains(err.Error(), "not those its header was read with") {
				t.Errorf("export: %v, want the lines refused", err)
			}
		})
	}
}

// runDuringExport is a store on which, once, right before an export reads the period's lines, another
// run of the period tries to take the period's lock (lockErr) and, when it gets it, does what run says.
type runDuringExport struct {
	jobs.Store
	run     func(ctx context.Context, st jobs.Store, p rating.Period) error
	lockErr error
}

func (s *runDuringExport) EachDocumentLines(ctx context.Context, p rating.Period, fn func(int64, []rating.Line) error) error {
	if run := s.run; run != nil {
		s.run = nil
		release, err := s.Store.Lock(ctx, invoices.PeriodLock(p), false)
		if s.lockErr = err; err == nil {
			err = run(ctx, s.Store, p)
			release()
			if err != nil {
				return err
			}
		}
	}
	return s.Store.EachDocumentLines(ctx, p, fn)
}

// issueDoc is a run that issues doc.
func issueDoc(doc *invoices.Document) func(context.Context, jobs.Store, rating.Period) error {
	return func(ctx context.Context, st jobs.Store, _ rating.Period) error { return st.Issue(ctx, doc) }
}

// TestExportShowsThePeriodAsItWasRead: an export holds the period's lock only while it reads the
// documents (a slow reader of its output holds up no close). A document issued while it writes is
// left out: the export is the period as read, byte for byte what the whole report read then gives.
func TestExportShowsThePeriodAsItWasRead(t *testing.T) {
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			j, st, rep, late := closedWithLateInvoice(t, b)
			var want bytes.Buffer
			if err := exporters.WriteJSON(&want, rep); err != nil {
				t.Fatal(err)
			}
			// The export released the period's lock once it had read the documents: another run can take it.
			j.Store = &runDuringExport{Store: st, run: issueDoc(late)}
			var got bytes.Buffer
			err := j.Export(ctx, p, at, false, func(currency string, _, _ int) (jobs.PeriodStream, error) {
				return streamingExporter{finished: new(atomic.Int32)}.StartJSON(&got, p, currency)
			})
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			if late.Number == "" {
				t.Fatal("the late invoice was not issued during the export")
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("export with %s issued while it wrote: %d bytes, want the %d of the period as read", late.Number,
					got.Len(), want.Len())
			}
		})
	}
}

// rerunWritingJSON is a rerun that issues doc and writes its own invoices.json at path, the file an
// export to a file is about to rename into place (the export's --out directory is the close's and
// rerun's): written and renamed as the rerun's process does (WriteFileAtomic here, in the export's
// process, would take the export's temporary file for its own left behind).
func rerunWritingJSON(doc *invoices.Document, path string, at time.Time) func(context.Context, jobs.Store, rating.Period) error {
	return func(ctx context.Context, st jobs.Store, p rating.Period) error {
		if err := st.Issue(ctx, doc); err != nil {
			return err
		}
		rep, err := (&jobs.Jobs{Store: st, Logger: slog.New(slog.DiscardHandler)}).Report(ctx, p, at)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := exporters.WriteJSON(&buf, rep); err != nil {
			return err
		}
		if err := os.WriteFile(path+".rerun", buf.Bytes(), 0o644); err != nil {
			return err
		}
		return os.Rename(path+".rerun", path)
	}
}

// TestFileExportNeverOverwritesANewerExport: an export to a file (billrun export --out, whose default
// is the close's own path) holds the period's lock until its file is in place. A rerun that wanted
// the period meanwhile waits, and its exports, written after, are what the path holds; had the
// export let it run, the export's rename would have put the period as read before the rerun over the
// rerun's newer file (a void invoice shown effective, its replacement missing).
func TestFileExportNeverOverwritesANewerExport(t *testing.T) {
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			j, st, _, late := closedWithLateInvoice(t, b)
			path := filepath.Join(j.OutDir, p.String(), "invoices.json")
			racing := &runDuringExport{Store: st, run: rerunWritingJSON(late, path, at)}
			j.Store = racing
			err := j.ExportTo(ctx, p, at, false, func(write func(io.Writer) error) error { return jobs.WriteFileAtomic(path, write) },
				func(w io.Writer, currency string, _, _ int) (jobs.PeriodStream, error) {
					return streamingExporter{finished: new(atomic.Int32)}.StartJSON(w, p, currency)
				})
			if err != nil {
				t.Fatalf("export: %v", err)
			}
			if racing.lockErr != nil && !errors.Is(racing.lockErr, invoices.ErrLocked) {
				t.Fatalf("rerun's lock: %v", racing.lockErr)
			}
			// Whatever ran, the file is the period as the store holds it now.
			now, err := j.Report(ctx, p, at)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := exporters.WriteJSON(&want, now); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("%s after an export raced by a rerun (lock: %v; late invoice %q): %d bytes, want the %d of the period as stored now",
					path, racing.lockErr, late.Number, len(got), want.Len())
			}
		})
	}
}

// closedWithLateInvoice closes the fixtures' October on a fresh store of backend b and returns the
// jobs, the store, the period's report at the close's time, and a late invoice for acct_00009 (which
// has none) for a test to issue while an export runs.
func closedWithLateInvoice(t *testing.T, b storetest.Backend) (*jobs.Jobs, jobs.Store, *invoices.Report, *invoices.Document) {
	t.Helper()
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	j, st, _ := streamedClose(t, b, func(s jobs.Store) jobs.Store { return s })
	if _, err := j.Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
		t.Fatal(err)
	}
	rep, err := j.Report(ctx, p, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Docs {
		if d.Account == "acct_00009" {
			t.Fatalf("acct_00009 has an October invoice already: %s", d.Number)
		}
	}
	due := at.Add(24 * time.Hour)
	late := &invoices.Document{Account: "acct_00009", Period: p, Kind: invoices.KindInvoice, IssuedAt: at.Add(time.Hour),
		DueAt: &due, RunID: "late", Lines: rep.Docs[0].Lines[:1:1], Subtotal: rep.Docs[0].Lines[0].Amount,
		AmountDue: rep.Docs[0].Lines[0].Amount}
	return j, st, rep, late
}
