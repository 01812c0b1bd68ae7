package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// Report assembles what the exports show of period p as seen at `at`: its documents with payments
// received before `at`, the stored standing of every account, and the latest close or rerun with
// its rejects.
func (j *Jobs) Report(ctx context.Context, p rating.Period, at time.Time) (*invoices.Report, error) {
	docs, err := j.Store.Documents(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("report %s: documents: %w", p, err)
	}
	return j.reportOf(ctx, p, at, docs)
}

// Export writes period p as seen at `at` through the stream that start opens for the report's
// currency and its documents' and lines' counts. It reads the documents under the period's run lock
// for reading: while a close or rerun of p is issuing, an export would show the documents issued so
// far as if they were the period's, so it fails with an error wrapping invoices.ErrLocked (exit 5),
// or, with wait, waits for that run to finish. The documents are read without their lines first, and
// their lines handed to the stream a batch at a time as the store reads them: an export's memory
// grows with the period's documents, not with their lines. The lock is released once the documents
// are read: their lines never change once issued, and documents issued since are left out, so the
// export shows the period as it was then, however long writing it takes (an export to stdout piped
// into a pager holds up no close). An export to a file uses ExportTo instead.
func (j *Jobs) Export(ctx context.Context, p rating.Period, at time.Time, wait bool,
	start func(currency string, docs, lines int) (PeriodStream, error)) error {
	rep, lines, release, err := j.lockedHeaders(ctx, p, at, wait)
	if err != nil {
		return err
	}
	release()
	return j.streamReport(ctx, rep, lines, start)
}

// ExportTo is Export onto the writer that out hands to write, the func that opens the stream on it
// (start) and writes the period: out is called only once the period's documents are read under its
// lock, so that an export to a file (out: WriteFileAtomic) creates nothing — no directory, no
// temporary file — when the period is locked, nor has a temporary file waiting beside its path while
// it waits for the lock (a close finishing in that directory would take a long-waiting one for left
// behind). Unlike Export it holds the lock until out returns, the file renamed into place: a file
// export's path may be the close's own (out/P/billrun-P.xlsx), and a close or rerun let run while it
// wrote would have its newer exports replaced by the period as the export read it before.
func (j *Jobs) ExportTo(ctx context.Context, p rating.Period, at time.Time, wait bool,
	out func(write func(io.Writer) error) error,
	start func(w io.Writer, currency string, docs, lines int) (PeriodStream, error)) error {
	rep, lines, release, err := j.lockedHeaders(ctx, p, at, wait)
	if err != nil {
		return err
	}
	defer release()
	return out(func(w io.Writer) error {
		return j.streamReport(ctx, rep, lines, func(currency string, docs, lines int) (PeriodStream, error) {
			return start(w, currency, docs, lines)
		})
	})
}

// lockedHeaders takes period p's lock for reading (waiting for it with wait) and reads its report's
// headers under it (reportHeaders); the caller releases the lock. On error nothing is held.
func (j *Jobs) lockedHeaders(ctx context.Context, p rating.Period, at time.Time, wait bool) (*invoices.Report, int, func(), error) {
	release, err := j.lockReading(ctx, invoices.PeriodLock(p), wait)
	if err != nil {
		return nil, 0, nil, err
	}
	rep, lines, err := j.reportHeaders(ctx, p, at)
	if err != nil {
		release()
		return nil, 0, nil, err
	}
	return rep, lines, release, nil
}

// streamReport writes rep, read by reportHeaders with its lines' count, through the stream start
// opens, its lines as streamLines reads them.
func (j *Jobs) streamReport(ctx context.Context, rep *invoices.Report, lines int,
	start func(currency string, docs, lines int) (PeriodStream, error)) error {
	st, err := start(rep.Currency, len(rep.Docs), lines)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := j.streamLines(ctx, rep, st.Add); err != nil {
		return err
	}
	return st.Finish(rep)
}

// reportHeaders is Report with the period's documents read without their lines (each with its
// LineCount), and the number of their lines: the report whose lines streamLines then hands on.
func (j *Jobs) reportHeaders(ctx context.Context, p rating.Period, at time.Time) (*invoices.Report, int, error) {
	docs, err := j.Store.DocumentHeaders(ctx, p)
	if err != nil {
		return nil, 0, fmt.Errorf("report %s: documents: %w", p, err)
	}
	lines := 0
	for i := range docs {
		lines += docs[i].LineCount
	}
	rep, err := j.reportOf(ctx, p, at, docs)
	return rep, lines, err
}

// streamBatchLines is how many lines a batch of streamLines holds at most, unless one document has
// more: enough that handing a batch on costs little beside rendering it, few enough that the batches
// queued for the exports hold a few MB.
const streamBatchLines = 4096

// streamLines hands the documents of rep, read by reportHeaders, to add in issue order, each with its
// lines as the store reads them, in batches of at most streamBatchLines lines or of one document.
// Each batch is a slice of its own, which add may keep; rep's documents keep no lines. The lines of
// documents rep does not have (issued after its documents were read) are skipped. It fails when the
// lines read are not those the documents were read with.
func (j *Jobs) streamLines(ctx context.Context, rep *invoices.Report, add func([]invoices.DocView) error) error {
	docs := rep.Docs
	size := j.streamBatch
	if size == 0 {
		size = streamBatchLines
	}
	var batch []invoices.DocView
	lines := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		b := batch
		batch, lines = nil, 0
		return add(b)
	}
	put := func(d invoices.DocView) error {
		if len(batch) > 0 && lines+d.NumLines() > size {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, d)
		lines += d.NumLines()
		return nil
	}
	// putBare hands on a document the store read no lines of: its header must count none, or its
	// lines went missing and it would be written without them under its totals.
	putBare := func(d invoices.DocView) error {
		if d.LineCount != 0 {
			return fmt.Errorf("the lines of document %d are not those its header was read with: none read, %d counted",
				d.ID, d.LineCount)
		}
		return put(d)
	}
	next := 0 // the first document not handed on yet
	err := j.Store.EachDocumentLines(ctx, rep.Period, func(id int64, ls []rating.Line) error {
		for ; next < len(docs) && docs[next].ID < id; next++ { // documents without lines
			if err := putBare(docs[next]); err != nil {
				return err
			}
		}
		if next == len(docs) || docs[next].ID != id {
			return nil // a document issued after the report's were read: not the report's
		}
		if len(ls) != docs[next].LineCount {
			return fmt.Errorf("the lines of document %d are not those its header was read with", id)
		}
		d := docs[next]
		d.Lines = ls
		next++
		return put(d)
	})
	for ; err == nil && next < len(docs); next++ {
		err = putBare(docs[next])
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("report %s: %w", rep.Period, err)
	}
	return nil
}

// reportOf is Report for the period's documents docs, in issue order, when the caller already holds
// them (a close has just issued them: no need to read every line back).
func (j *Jobs) reportOf(ctx context.Context, p rating.Period, at time.Time, docs []invoices.Document) (*invoices.Report, error) {
	payments, err := j.Store.Payments(ctx)
	if err != nil {
		return nil, fmt.Errorf("report %s: payments: %w", p, err)
	}
	standing, err := j.Store.Standing(ctx)
	if err != nil {
		return nil, fmt.Errorf("report %s: standing: %w", p, err)
	}
	accts, err := j.Store.Accounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("report %s: accounts: %w", p, err)
	}
	byID, _ := knownAccounts(accts)
	rep := &invoices.Report{Period: p, Currency: j.currency(), At: at, Standing: standing, Accounts: byID}
	if len(docs) > 0 {
		rep.Docs = make([]invoices.DocView, 0, len(docs))
	}
	for _, d := range docs {
		rep.Docs = append(rep.Docs, docView(d, payments, at))
	}
	run, err := j.Store.LatestRun(ctx, p)
	if errors.Is(err, invoices.ErrNotFound) {
		// No close or rerun of the period succeeded. If the latest one failed — stopped by its
		// rejects, say — the report shows it, its counts and its rejects (DESIGN §3: rejects never
		// disappear, they are stored with the run and exported), rather than no run at all; not an
		// earlier failed one when a later one is still running or was killed running (its documents
		// would sit beside another run's record).
		if run, err = j.Store.LatestAttempt(ctx, p); err == nil && run.Status != invoices.RunFailed {
			run, err = nil, invoices.ErrNotFound
		}
	}
	switch {
	case errors.Is(err, invoices.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("report %s: latest run: %w", p, err)
	default:
		rep.Run = run
		if rep.Rejects, err = j.Store.Rejects(ctx, run.ID); err != nil {
			return nil, fmt.Errorf("report %s: rejects: %w", p, err)
		}
	}
	return rep, nil
}

// currency is the price book's currency, USD without one.
func (j *Jobs) currency() string {
	if j.PriceBook != nil {
		return j.PriceBook.Currency
	}
	return "USD"
}

// docView is d as a report at `at` shows it: what payments had paid of it by then, and its status.
func docView(d invoices.Document, payments []invoices.Payment, at time.Time) invoices.DocView {
	paid := d.PaidBy(payments, at)
	return invoices.DocView{Document: d, AmountPaid: paid, Status: d.StatusAt(paid)}
}
