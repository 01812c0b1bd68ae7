package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// PeriodStream writes one export of a period while its documents are issued: Add takes documents in
// report order, Finish writes the rest from the final report — or fails wrapping ErrReportChanged
// when the report's documents are not those added — and Close releases what the stream holds.
type PeriodStream interface {
	Add(docs []invoices.DocView) error
	Finish(r *invoices.Report) error
	Close()
}

// ErrReportChanged is what a PeriodStream's Finish wraps when the final report's documents differ
// from those streamed; the exports are then written again from the report.
var ErrReportChanged = errors.New("report changed")

// StreamingExporter is an Exporter that can write invoices.json and the workbook while a close issues
// (the exporters package's StartJSON and StartXLSX). A close with one renders the documents on a core
// the database work leaves idle; with a plain Exporter it writes them after issuing.
type StreamingExporter interface {
	StartJSON(w io.Writer, p rating.Period, currency string) (PeriodStream, error)
	// StartXLSX needs the report's document and line counts up front (the tables' autofilters).
	StartXLSX(w io.Writer, p rating.Period, currency string, docs, lines int) (PeriodStream, error)
}

// closeExports are a close's invoices.json and workbook being written as its documents are issued:
// each on a goroutine of its own, fed batches of documents, into a temporary file beside its final
// path that is renamed only when the export is complete. Issuing a batch is one row per document in
// the database; rendering its lines into the exports is the larger work, and two goroutines share
// it rather than leave it all to one that the close would then wait for.
type closeExports struct {
	parts []*exportPart
	done  sync.WaitGroup
	open  bool // the parts' goroutines take work
	// payments and at give the documents' statuses as the report will (see views).
	payments []invoices.Payment
	at       time.Time
}

// views returns docs as the report at c.at shows them (docView, as reportOf does).
func (c *closeExports) views(docs []invoices.Document) []invoices.DocView {
	out := make([]invoices.DocView, len(docs))
	for i, d := range docs {
		out[i] = docView(d, c.payments, c.at)
	}
	return out
}

type exportPart struct {
	path   string
	tmp    *os.File
	stream PeriodStream
	work   chan []invoices.DocView
	err    error // set by the part's goroutine before it ends
}

// startCloseExports opens the streamed exports of period p in dir for a report of docs documents with
// lines lines in all, each taking up to queue batches ahead of the one it writes; nil (and no error)
// when the exporter cannot stream.
func (j *Jobs) startCloseExports(dir string, p rating.Period, currency string, docs, lines, queue int) (*closeExports, error) {
	se, ok := j.Exporter.(StreamingExporter)
	if !ok {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &closeExports{}
	for _, part := range []struct {
		name  string
		start func(io.Writer) (PeriodStream, error)
	}{
		{"invoices.json", func(w io.Writer) (PeriodStream, error) { return se.StartJSON(w, p, currency) }},
		{"billrun-" + p.String() + ".xlsx", func(w io.Writer) (PeriodStream, error) {
			return se.StartXLSX(w, p, currency, docs, lines)
		}},
	} {
		path := filepath.Join(dir, part.name)
		tmp, err := createTemp(path)
		if err != nil {
			c.abort()
			return nil, err
		}
		ep := &exportPart{path: path, tmp: tmp}
		c.parts = append(c.parts, ep)
		if ep.stream, err = part.start(tmp); err != nil {
			c.abort()
			return nil, fmt.Errorf("export %s: %w", path, err)
		}
	}
	c.open = true
	for _, ep := range c.parts {
		ep.work = make(chan []invoices.DocView, queue)
		c.done.Add(1)
		go ep.run(&c.done)
	}
	return c, nil
}

// run adds the batches it is sent on work to the part until work closes; once it failed, it takes
// no more.
func (ep *exportPart) run(done *sync.WaitGroup) {
	defer done.Done()
	for docs := range ep.work {
		if ep.err == nil {
			ep.err = ep.stream.Add(docs)
		}
	}
}

// add hands the next documents, in report order, to every export. The documents must not change
// afterwards.
func (c *closeExports) add(docs []invoices.DocView) {
	if len(docs) == 0 {
		return
	}
	for _, ep := range c.parts {
		ep.work <- docs
	}
}

// wait stops feeding the exports and waits until every batch sent is written.
func (c *closeExports) wait() error {
	if c.open {
		c.open = false
		for _, ep := range c.parts {
			close(ep.work)
		}
		c.done.Wait()
	}
	var errs []error
	for _, ep := range c.parts {
		if ep.err != nil {
			errs = append(errs, fmt.Errorf("export %s: %w", ep.path, ep.err))
		}
	}
	return errors.Join(errs...)
}

// finish completes every export from the final report, at once, and renames them into place once
// check passes (the close still holds its lock). It returns an error wrapping ErrReportChanged,
// writing nothing, when the report's documents are not those streamed, and check's error, writing
// nothing, when it fails. Either way the exports are closed.
func (c *closeExports) finish(rep *invoices.Report, check func() error) ([]string, error) {
	defer c.abort()
	if err := c.wait(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.parts))
	for i, ep := range c.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ep.stream.Finish(rep); err != nil {
				errs[i] = fmt.Errorf("export %s: %w", ep.path, err)
				return
			}
			errs[i] = ep.tmp.Close()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := check(); err != nil {
		return nil, err
	}
	files := make([]string, len(c.parts))
	for i, ep := range c.parts {
		if err := commitTemp(ep.tmp.Name(), ep.path); err != nil {
			return nil, err
		}
		files[i] = ep.path
	}
	return files, nil
}

// abort stops the exports and removes their temporary files; after finish it only releases the
// streams. It may be called more than once.
func (c *closeExports) abort() {
	_ = c.wait()
	for _, ep := range c.parts {
		if ep.stream != nil {
			ep.stream.Close()
			ep.stream = nil
		}
		if ep.tmp != nil {
			ep.tmp.Close()
			os.Remove(ep.tmp.Name()) // gone already once renamed
			ep.tmp = nil
		}
	}
}

// writeStoredExports writes DIR/P/invoices.json, billrun-P.xlsx and rejects.csv of period p as seen
// at `at` from its documents as the store holds them, showing run and its rejects: the documents are
// read without their lines, and the lines handed to the exports a batch at a time as they are read
// (streamLines), so that the exports' memory grows with the period's documents, not its lines. The
// files are renamed into place once check passes. An exporter that cannot stream is given the
// whole report instead.
func (j *Jobs) writeStoredExports(ctx context.Context, dir string, p rating.Period, at time.Time, run *invoices.Run,
	rejects []rating.Reject, check func() error) ([]string, error) {
	if _, ok := j.Exporter.(StreamingExporter); !ok {
		rep, err := j.Report(ctx, p, at)
		if err != nil {
			return nil, err
		}
		rep.Run, rep.Rejects = run, rejects
		if err := check(); err != nil {
			return nil, err
		}
		return j.writeExports(dir, p, rep)
	}
	rep, lines, err := j.reportHeaders(ctx, p, at)
	if err != nil {
		return nil, err
	}
	rep.Run, rep.Rejects = run, rejects
	// Two batches queued per export: the store reads a batch while the exports render the ones before.
	ex, err := j.startCloseExports(dir, p, rep.Currency, len(rep.Docs), lines, 2)
	if err != nil {
		return nil, err
	}
	defer ex.abort()
	if err := j.streamLines(ctx, rep, func(docs []invoices.DocView) error { ex.add(docs); return nil }); err != nil {
		return nil, err
	}
	files, err := ex.finish(rep, check)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "rejects.csv")
	if err := WriteFileAtomic(path, func(w io.Writer) error { return j.Exporter.WriteRejectsCSV(w, rejects) }); err != nil {
		return files, err
	}
	return append(files, path), nil
}
