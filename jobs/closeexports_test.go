package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"billrun/exporters"
	"billrun/invoices"
	"billrun/invoices/store/storetest"
	"billrun/jobs"
	"billrun/rating"
)

// streamingExporter is fileExporter that also streams, as cmd/billrun's exporter does; changed makes
// every stream's Finish report that the final report differs from what was streamed.
type streamingExporter struct {
	fileExporter
	changed  bool
	finished *atomic.Int32 // streams finished without error
}

func (e streamingExporter) StartJSON(w io.Writer, p rating.Period, currency string) (jobs.PeriodStream, error) {
	st, err := exporters.StartJSON(w, p, currency, false)
	if err != nil {
		return nil, err
	}
	return testStream{st, e.changed, e.finished}, nil
}

func (e streamingExporter) StartXLSX(w io.Writer, p rating.Period, currency string, docs, lines int) (jobs.PeriodStream, error) {
	st, err := exporters.StartXLSX(w, p, currency, false, docs, lines)
	if err != nil {
		return nil, err
	}
	return testStream{st, e.changed, e.finished}, nil
}

type testStream struct {
	s interface {
		Add([]invoices.DocView) error
		Finish(*invoices.Report) error
		Close()
	}
	changed  bool
	finished *atomic.Int32
}

func (s testStream) Add(docs []invoices.DocView) error { return s.s.Add(docs) }
func (s testStream) Close()                            { s.s.Close() }
func (s testStream) Finish(r *invoices.Report) error {
	if s.changed {
		return fmt.Errorf("test: %w", jobs.ErrReportChanged)
	}
	err := s.s.Finish(r)
	if err == nil {
		s.finished.Add(1)
	}
	return err
}

// TestCloseStreamsExports checks a close that writes invoices.json and the workbook while it issues
// writes exactly what one writing them after issuing does — also when the period already has documents
// from an interrupted close, which are streamed first — and that when the final report is not what was
// streamed, the exports are written again from it; no temporary file is left behind either way.
func TestCloseStreamsExports(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	p, at, log := fixturePeriod, fixtureAt, slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			// close runs a close on st with exp into a fresh directory, after an interrupted close that
			// issued the first 4 invoices when interrupt is set; it returns the directory.
			close := func(t *testing.T, exp jobs.Exporter, interrupt bool, chunk int) string {
				st := b.Open(t)
				if _, err := st.ImportAccounts(ctx, imp); err != nil {
					t.Fatal(err)
				}
				out := t.TempDir() // shared: the interrupted close must leave no temporary file behind
				newJobs := func(st jobs.Store) *jobs.Jobs {
					j := &jobs.Jobs{Store: st, Usage: localUsage{src: src, pb: pb}, Exporter: exp, PriceBook: pb,
						PriceBookHash: hash, OutDir: out, Logger: log}
					jobs.SetCloseBatch(j, 4)
					jobs.SetDraftChunk(j, chunk)
					return j
				}
				if interrupt {
					f := &faultyStore{Store: st, failIssue: 4, afterCommit: true}
					if _, err := newJobs(f).Close(ctx, p, jobs.CloseOptions{At: at}); err == nil {
						t.Fatal("interrupted close succeeded")
					}
				}
				j := newJobs(st)
				if _, err := j.Close(ctx, p, jobs.CloseOptions{At: at}); err != nil {
					t.Fatal(err)
				}
				return filepath.Join(j.OutDir, p.String())
			}
			for _, interrupt := range []bool{false, true} {
				t.Run(fmt.Sprintf("interrupted=%t", interrupt), func(t *testing.T) {
					want := close(t, fileExporter{}, interrupt, 0)
					// Chunks of 1 and 3 accounts: batches are issued, and the exports started, while
					// later accounts are still being drafted (or not, as the goroutines run).
					for _, tc := range []struct {
						changed bool
						chunk   int
					}{{false, 0}, {true, 0}, {false, 1}, {false, 3}, {true, 3}} {
						changed := tc.changed
						var finished atomic.Int32
						got := close(t, streamingExporter{changed: changed, finished: &finished}, interrupt, tc.chunk)
						name := fmt.Sprintf("streamed, report changed %t, %d accounts per draft chunk", changed, tc.chunk)
						sameExports(t, name, got, want, p)
						if n, want := finished.Load(), map[bool]int32{false: 2, true: 0}[changed]; n != want {
							t.Errorf("%s: %d streams finished, want %d", name, n, want)
						}
					}
				})
			}
		})
	}
}

// sameExports fails unless dirs got and want hold the same three exports and nothing else: the same
// JSON and CSV bytes, the same workbook cells.
func sameExports(t *testing.T, name, got, want string, p rating.Period) {
	t.Helper()
	entries, err := os.ReadDir(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s: files %v, want invoices.json, the workbook and rejects.csv only", name, names)
	}
	for _, f := range []string{"invoices.json", "rejects.csv"} {
		g, err1 := os.ReadFile(filepath.Join(got, f))
		w, err2 := os.ReadFile(filepath.Join(want, f))
		if err1 != nil || err2 != nil || !bytes.Equal(g, w) {
			t.Errorf("%s: %s differs from the one written after issuing (%v, %v)", name, f, err1, err2)
		}
	}
	xlsx := "billrun-" + p.String() + ".xlsx"
	g, w := dumpWithoutRun(t, filepath.Join(got, xlsx)), dumpWithoutRun(t, filepath.Join(want, xlsx))
	if !bytes.Equal(g, w) {
		t.Errorf("%s: the workbook's cells differ from the one written after issuing", name)
	}
}

// dumpWithoutRun dumps a workbook's cells without its Run sheet, which holds the run's own id and
// clock times.
func dumpWithoutRun(t *testing.T, path string) []byte {
	t.Helper()
	b, err := exporters.DumpXLSXFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Sheets []map[string]any `json:"sheets"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	sheets := d.Sheets[:0]
	for _, s := range d.Sheets {
		if s["name"] != exporters.SheetRun {
			sheets = append(sheets, s)
		}
	}
	if len(sheets) != len(exporters.Sheets)-1 {
		t.Fatalf("%s: %d sheets besides Run, want %d", path, len(sheets), len(exporters.Sheets)-1)
	}
	d.Sheets = sheets
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCloseFailsEarlyWithoutAnOutputDirectory checks that a close whose output directory cannot be
// made fails before it issues anything, although its exports only start while it issues.
func TestCloseFailsEarlyWithoutAnOutputDirectory(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	p, at, log := fixturePeriod, fixtureAt, slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	st := storetest.Backends[0].Open(t)
	if _, err := st.ImportAccounts(ctx, imp); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var finished atomic.Int32
	j := &jobs.Jobs{Store: st, Usage: localUsage{src: src, pb: pb}, Exporter: streamingExporter{finished: &finished},
		PriceBook: pb, PriceBookHash: hash, OutDir: file, Logger: log}
	if _, err := j.Close(ctx, p, jobs.CloseOptions{At: at}); err == nil {
		t.Fatal("close succeeded with a file for its output directory")
	}
	docs, err := st.Documents(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 0 {
		t.Errorf("%d documents issued before the close failed, want none", len(docs))
	}
}

// streamedClose returns jobs that close the fixtures on a fresh store of backend b, with its accounts
// imported, through wrap(store) and a streaming exporter counting the streams it finishes.
func streamedClose(t *testing.T, b storetest.Backend, wrap func(jobs.Store) jobs.Store) (*jobs.Jobs, jobs.Store, *atomic.Int32) {
	t.Helper()
	pb, hash, src, imp := loadFixtures(t)
	st := b.Open(t)
	if _, err := st.ImportAccounts(context.Background(), imp); err != nil {
		t.Fatal(err)
	}
	finished := new(atomic.Int32)
	j := &jobs.Jobs{Store: wrap(st), Usage: localUsage{src: src, pb: pb}, Exporter: streamingExporter{finished: finished},
		PriceBook: pb, PriceBookHash: hash, OutDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
	return j, st, finished
}

// TestCloseExportsShowTheStoredStanding: a close's exports, streamed while it issues, are what a report
// read back from the store afterwards gives (billrun export), the Run sheet aside: the same documents,
// payments and standing.
func TestCloseExportsShowTheStoredStanding(t *testing.T) {
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			j, st, finished := streamedClose(t, b, func(s jobs.Store) jobs.Store { return s })
			sum, err := j.Close(ctx, p, jobs.CloseOptions{At: at})
			if err != nil {
				t.Fatal(err)
			}
			if n := finished.Load(); n != 2 {
				t.Fatalf("%d streams finished, want 2", n)
			}
			stored, err := st.Standing(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(stored) == 0 || len(stored) != len(sum.Standing) {
				t.Fatalf("%d standing rows stored, the close shows %d", len(stored), len(sum.Standing))
			}
			rep, err := j.Report(ctx, p, at)
			if err != nil {
				t.Fatal(err)
			}
			want := t.TempDir()
			for name, write := range map[string]func(io.Writer) error{
				"invoices.json":                   func(w io.Writer) error { return exporters.WriteJSON(w, rep) },
				"billrun-" + p.String() + ".xlsx": func(w io.Writer) error { return exporters.WriteXLSX(w, rep) },
				"rejects.csv":                     func(w io.Writer) error { return exporters.WriteRejectsCSV(w, rep.Rejects) },
			} {
				var buf bytes.Buffer
				if err := write(&buf); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(want, name), buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			sameExports(t, "close against export", filepath.Join(j.OutDir, p.String()), want, p)
		})
	}
}

// TestCloseExportsNothingWhenStandingIsNotSaved: when storing standing fails, the close fails and
// leaves no export, finished or temporary, although the exports were streamed while it issued.
func TestCloseExportsNothingWhenStandingIsNotSaved(t *testing.T) {
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			j, _, _ := streamedClose(t, b, func(s jobs.Store) jobs.Store { return &faultyStore{Store: s, failStanding: true} })
			if _, err := j.Close(ctx, p, jobs.CloseOptions{At: at}); !errors.Is(err, errInjected) {
				t.Fatalf("close: err = %v, want the injected fault", err)
			}
			entries, err := os.ReadDir(filepath.Join(j.OutDir, p.String()))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("the failed close left %s", e.Name())
			}
		})
	}
}

// TestCloseStreamsNoExportsAfterItsLockWent: a close streaming its exports while it issues, whose
// lock goes after its one issuing batch, renames none of them into place (another close may hold the
// lock and write them now) and leaves no temporary file.
func TestCloseStreamsNoExportsAfterItsLockWent(t *testing.T) {
	p, at, ctx := fixturePeriod, fixtureAt, context.Background()
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			j, _, _ := streamedClose(t, b, func(s jobs.Store) jobs.Store { return &loseLockAfter{Store: s, n: 1} })
			if _, err := j.Close(ctx, p, jobs.CloseOptions{At: at}); !errors.Is(err, invoices.ErrLockLost) {
				t.Fatalf("close: err = %v, want ErrLockLost", err)
			}
			entries, err := os.ReadDir(filepath.Join(j.OutDir, p.String()))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			for _, e := range entries {
				t.Errorf("the close whose lock went left %s", e.Name())
			}
		})
	}
}
