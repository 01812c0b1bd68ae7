package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/schollz/progressbar/v3"

	"billrun/exporters"
	"billrun/invoices"
	"billrun/jobs"
	"billrun/rating"
	"billrun/rating/usage"
)

// usageReader adapts rating/usage to jobs.UsageReader.
type usageReader struct {
	src      usage.Source
	pb       *rating.PriceBook
	maxGPU   time.Duration
	workers  int
	log      *slog.Logger
	progress func(usage.Progress)
}

var _ jobs.UsageReader = (*usageReader)(nil)

func (u *usageReader) Read(ctx context.Context, w rating.Window, accounts map[string]bool) (*jobs.UsageResult, error) {
	res, err := usage.Read(ctx, u.src, usage.Options{PriceBook: u.pb, Window: w, Accounts: accounts,
		MaxGPUInterval: u.maxGPU, Workers: u.workers, Progress: u.progress, Logger: u.log})
	if err != nil {
		return nil, err
	}
	return &jobs.UsageResult{Aggregate: res.Aggregate, Rejects: res.Rejects, Counts: res.Counts, Manifest: res.Manifest, Taken: res.Taken}, nil
}

// exporter adapts the exporters package to jobs.Exporter.
type exporter struct{}

var _ jobs.Exporter = exporter{}

func (exporter) WriteJSON(w io.Writer, r *invoices.Report) error { return exporters.WriteJSON(w, r) }
func (exporter) WriteXLSX(w io.Writer, r *invoices.Report) error { return exporters.WriteXLSX(w, r) }
func (exporter) WriteInvoicesCSV(w io.Writer, r *invoices.Report) error {
	return exporters.WriteInvoicesCSV(w, r)
}
func (exporter) WriteRejectsCSV(w io.Writer, rs []rating.Reject) error {
	return exporters.WriteRejectsCSV(w, rs)
}
func (exporter) WriteStandingJSON(w io.Writer, rows []invoices.Standing) error {
	return exporters.WriteStandingJSON(w, rows)
}

// progressFunc returns the progress renderer for reads: a bar on stderr (objects, bytes, events, rate)
// when it is a terminal or with --progress always; nothing otherwise.
func (e *environment) progressFunc(c *config) func(usage.Progress) {
	switch c.progress {
	case "never":
		return nil
	case "auto", "":
		if !isTerminal(e.stderr) {
			return nil
		}
	}
	var bar *progressbar.ProgressBar
	return func(p usage.Progress) {
		rate := int64(0)
		if ms := p.Elapsed.Milliseconds(); ms > 0 {
			rate = p.Events * 1000 / ms
		}
		desc := fmt.Sprintf("usage: objects %d/%d, events %d (%d/s)", p.ObjectsDone, p.ObjectsTotal, p.Events, rate)
		if bar == nil {
			bar = progressbar.NewOptions64(p.BytesTotal, progressbar.OptionSetWriter(e.stderr),
				progressbar.OptionShowBytes(true), progressbar.OptionSetWidth(24), progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionClearOnFinish(), progressbar.OptionSetPredictTime(true), progressbar.OptionSetDescription(desc))
		}
		done := p.BytesDone
		if p.Done || p.ObjectsDone == p.ObjectsTotal {
			done = p.BytesTotal // every object read: the bar ends full whatever the last sample saw
		}
		// Set64 and Describe each render at most once per throttle period, so of the two calls the
		// second is rarely drawn: the bytes go first (described first, the bar showed the bytes of the
		// sample before — 0% throughout a read shorter than the period); the new description shows
		// with the next sample.
		_ = bar.Set64(done)
		bar.Describe(desc)
		if p.Done {
			_ = bar.Finish()
			bar = nil
		}
	}
}

// humanBytes formats a byte count with a binary unit: "512 B", "1.5 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%d.%d %ciB", n/div, (n%div)*10/div, "KMGTPE"[exp])
}

var _ jobs.StreamingExporter = exporter{}

func (exporter) StartJSON(w io.Writer, p rating.Period, currency string) (jobs.PeriodStream, error) {
	st, err := exporters.StartJSON(w, p, currency, false)
	if err != nil {
		return nil, err
	}
	return periodStream{st}, nil
}

func (exporter) StartXLSX(w io.Writer, p rating.Period, currency string, docs, lines int) (jobs.PeriodStream, error) {
	st, err := exporters.StartXLSX(w, p, currency, false, docs, lines)
	if err != nil {
		return nil, err
	}
	return periodStream{st}, nil
}

// StartInvoicesCSV starts the invoice-lines CSV of `billrun export --format csv`.
func (exporter) StartInvoicesCSV(w io.Writer) (jobs.PeriodStream, error) {
	st, err := exporters.StartInvoicesCSV(w, false)
	if err != nil {
		return nil, err
	}
	return periodStream{st}, nil
}

// periodStream adapts an exporters stream to jobs.PeriodStream, translating the report check's error.
type periodStream struct {
	s interface {
		Add([]invoices.DocView) error
		Finish(*invoices.Report) error
		Close()
	}
}

func (p periodStream) Add(docs []invoices.DocView) error { return p.s.Add(docs) }
func (p periodStream) Close()                            { p.s.Close() }

func (p periodStream) Finish(r *invoices.Report) error {
	err := p.s.Finish(r)
	if errors.Is(err, exporters.ErrReportChanged) {
		return fmt.Errorf("%w: %w", jobs.ErrReportChanged, err)
	}
	return err
}
