package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/sync/errgroup"

	"billrun/invoices"
	"billrun/rating"
)

var decimalZero = decimal.Zero

// CloseOptions are the flags of `billrun close`.
type CloseOptions struct {
	At         time.Time // business time: issue dates, due dates, standing
	MaxRejects int64
	Wait       bool // wait for the period's lock instead of failing with ErrLocked
	// UnlessClosed, with Wait, leaves a period closed while the close waited for its lock alone: the
	// close then returns an error wrapping invoices.ErrLocked, as it would have without Wait. A
	// scheduled close waits rather than skip, since what holds the period may be a reconcile, an
	// export, a sweep or a rerun of it, which does not close it; and it does not close again a period
	// a close by hand closed meanwhile (which would store standing older than a later sweep's).
	UnlessClosed bool
	// ReadAhead, when set, is the period's read started before the close (StartReadAhead); the close
	// takes its result if the accounts are still those it was started with. The caller stops it.
	ReadAhead *ReadAhead
}

// CloseSummary is what a close did, for the summary line and tests.
type CloseSummary struct {
	Run      *invoices.Run
	Issued   []invoices.Document // documents issued by this run
	Existing int                 // accounts that already had an invoice for the period
	Rejects  []rating.Reject
	Files    []string
	Standing []invoices.Standing

	meanwhile int // accounts another writer invoiced while this close issued (see issueBatch)
}

// Close runs the month close of period p (DESIGN §8): read → rate → issue invoices for accounts that
// have none for p → sweep standing → write exports. It is idempotent: a second close issues nothing
// new. It returns an error wrapping ErrTooManyRejects (after writing rejects.csv and nothing else) when
// rejects exceed opts.MaxRejects, and one wrapping invoices.ErrLocked when another run holds the period.
func (j *Jobs) Close(ctx context.Context, p rating.Period, opts CloseOptions) (*CloseSummary, error) {
	at := opts.At.UTC()
	release, waited, err := j.lockWith(j.Store.Lock, ctx, invoices.PeriodLock(p), opts.Wait)
	if err != nil {
		return nil, err
	}
	defer release()
	if waited && opts.UnlessClosed {
		closed, err := j.Store.Closed(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("close %s: %w", p, err)
		}
		if closed {
			return nil, fmt.Errorf("close %s: closed by another run while this one waited for %s: %w", p,
				invoices.PeriodLock(p), invoices.ErrLocked)
		}
	}
	j.abandonRuns(ctx, p)

	run := &invoices.Run{ID: newRunID(invoices.RunClose, at), Kind: invoices.RunClose, Period: p, Scope: "all",
		At: at, StartedAt: j.now(), Status: invoices.RunRunning, PriceBookHash: j.PriceBookHash}
	if err := j.Store.StartRun(ctx, run); err != nil {
		return nil, fmt.Errorf("close %s: start run: %w", p, err)
	}
	log := j.Logger.With("run_id", run.ID, "period", p.String())
	if at.Before(p.End()) {
		// Allowed (an early close, or a replay with a past --at), but usage reported after it is billed
		// only by a rerun: say so where cron's and ops' logs will show it.
		log.Warn("closing a period before it ends: usage reported after this close is billed only by a rerun",
			"at", at.Format(time.RFC3339), "period_end", p.End().Format(time.RFC3339))
	} else if until := p.End().Add(j.ReportWindow); at.Before(until) {
		// A GPU interval overlapping the period may be reported until then (--max-gpu-interval + 1h
		// after its end): one reported after this close is billed only by a rerun.
		log.Warn("closing a period before all of its GPU usage can have been reported: GPU intervals reported after this close are billed only by a rerun",
			"at", at.Format(time.RFC3339), "reported_until", until.Format(time.RFC3339))
	}
	sum := &CloseSummary{Run: run}
	err = j.close(ctx, log, p, at, opts, run, sum)
	end := j.now()
	run.FinishedAt = &end
	run.Status = invoices.RunSucceeded
	if err != nil {
		run.Status, run.Error = invoices.RunFailed, err.Error()
	}
	// The run record must be finished even when ctx was cancelled mid-way.
	if ferr := j.Store.FinishRun(context.WithoutCancel(ctx), run); ferr != nil && err == nil {
		err = fmt.Errorf("close %s: finish run: %w", p, ferr)
	}
	if err != nil {
		return sum, err
	}
	log.Info("close finished", "issued", len(sum.Issued), "already_issued", sum.Existing,
		"amount_due", run.Totals.AmountDue.String(), "rejects", len(sum.Rejects))
	return sum, nil
}

func (j *Jobs) close(ctx context.Context, log *slog.Logger, p rating.Period, at time.Time, opts CloseOptions,
	run *invoices.Run, sum *CloseSummary) error {
	accts, err := j.Store.Accounts(ctx)
	if err != nil {
		return fmt.Errorf("close %s: load accounts: %w", p, err)
	}
	byID, known := knownAccounts(accts)
	res, err := j.readUsage(ctx, log, opts.ReadAhead, rating.PeriodWindow(p), known)
	if err != nil {
		return fmt.Errorf("close %s: %w", p, err)
	}
	run.Manifest, run.Counts = res.Manifest, res.Counts
	sum.Rejects = res.Rejects
	if err := j.Store.SaveRead(ctx, run, res.Rejects); err != nil {
		return fmt.Errorf("close %s: record the read: %w", p, err)
	}
	dir := filepath.Join(j.OutDir, p.String())
	rejectsPath := filepath.Join(dir, "rejects.csv")
	if int64(len(res.Rejects)) > opts.MaxRejects {
		if err := WriteFileAtomic(rejectsPath, func(w io.Writer) error { return j.Exporter.WriteRejectsCSV(w, res.Rejects) }); err != nil {
			return err
		}
		sum.Files = append(sum.Files, rejectsPath)
		return fmt.Errorf("close %s: %d rejects, --max-rejects is %d; see %s: %w", p, len(res.Rejects), opts.MaxRejects,
			rejectsPath, ErrTooManyRejects)
	}

	existing, err := j.Store.Documents(ctx, p)
	if err != nil {
		return fmt.Errorf("close %s: load documents: %w", p, err)
	}
	has := map[string]bool{}
	for _, d := range existing {
		if d.Effective() {
			has[d.Account] = true
		}
	}
	// The exports start in the middle of issuing (below); an output directory that cannot be made
	// fails the close before anything is issued, as it did when they started first.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("close %s: exports: %w", p, err)
	}
	// Drafts are built on all cores but one (each account's lines and credits are its own) and issued
	// in ascending account order as they are ready, closeBatchAccounts accounts per transaction, so
	// numbering is reproducible: the same usage and accounts give every account the same number
	// whatever the batch size and however fast the drafting goes.
	started := time.Now()
	// One core fewer than there are: issuing, on a goroutine of its own, is what the close waits for.
	procs := baseProcs()
	drafts := j.startDrafts(res.Aggregate, p, byID, at, procs-1)
	if r, ok := j.Store.(interface{ Remote() bool }); ok && r.Remote() {
		// From here on more goroutines compute than there are cores — the drafting ones, then the two
		// exports and the workbook's deflater — while the issuing goroutine waits on the database
		// server some seven times a batch. With every P taken by a computing goroutine, the issuing
		// one, woken by its reply, waited in the run queue for a P to come free, up to the
		// scheduler's 10 ms time slice. Two Ps more than cores leave it one, and the OS, which runs a
		// thread that has just woken promptly, shares the cores. Bench month on PostgreSQL, 5
		// alternating closes each: from the end of the read to the end of the close 1.34-1.41 s
		// against 1.37-1.54 s. SQLite's issuing computes in-process and did not gain.
		defer moreProcs(2)()
	}
	// The drafts will hold everything the rest of the close needs of the usage: once the drafting
	// goroutines are done, let the collector have the workers' groups and symbol tables rather than
	// mark them on every cycle of the issuing and exports.
	res.Aggregate = nil
	size := j.closeBatch
	if size <= 0 {
		size = closeBatchAccounts
	}
	// invoices.json and the workbook are written while the invoices are issued, on the cores the
	// database work leaves idle: the documents the period already has first, then each batch once
	// committed — the order of the report they are checked against at the end. They start once every
	// invoice is drafted (the workbook needs the period's document and line counts up front) and are
	// handed the batches issued by then.
	var ex *closeExports
	exStarted := false
	startExports := func() error {
		exStarted = true
		var err error
		if ex, err = j.streamCloseExports(ctx, dir, p, at, existing, drafts.wait(), has); err != nil {
			return fmt.Errorf("close %s: exports: %w", p, err)
		}
		if ex != nil {
			ex.add(ex.views(sum.Issued))
		}
		return nil
	}
	defer func() {
		if ex != nil {
			ex.abort()
		}
	}()
	batch := make([]*invoices.Document, 0, size)
	batches := 0
	issue := func() error {
		from := len(sum.Issued)
		if err := j.issueBatch(ctx, log, p, batch, run, sum); err != nil {
			return err
		}
		if ex != nil {
			ex.add(ex.views(sum.Issued[from:]))
		}
		batch, batches = batch[:0], batches+1
		if !exStarted && drafts.done() {
			return startExports()
		}
		return nil
	}
	for {
		doc, ok := drafts.next()
		if !ok {
			break
		}
		if has[doc.Account] {
			sum.Existing++
			continue
		}
		doc.RunID = run.ID
		batch = append(batch, doc)
		if len(batch) == size {
			if err := issue(); err != nil {
				return err
			}
		}
	}
	if len(batch) > 0 {
		if err := issue(); err != nil {
			return err
		}
	}
	if !exStarted {
		if err := startExports(); err != nil {
			return err
		}
	}
	log.Debug("close: invoices issued", "issued", len(sum.Issued), "already_issued", sum.Existing, "batches", batches,
		"batch_accounts", size, "draft_elapsed", drafts.finished.Sub(started), "issue_elapsed", time.Since(started))
	// Make the invoices durable while standing is evaluated and the exports are finished, rather
	// than in the middle of issuing or when the store is closed.
	var ckpt checkpoints
	ckpt.then(j.Store.Checkpoint)
	defer func() {
		if err := ckpt.wait(); err != nil {
			log.Warn("close: checkpoint after issuing failed; the database will checkpoint later, at the latest when it is closed", "error", err)
		}
	}()

	rows, err := j.sweep(ctx, log, at, run.ID)
	if err != nil {
		return fmt.Errorf("close %s: %w", p, err)
	}
	sum.Standing = rows

	log.Debug("close: standing swept", "accounts", len(rows), "since_read", time.Since(started))
	docs := append(existing, sum.Issued...)
	if sum.meanwhile > 0 {
		// Another writer invoiced accounts of ours while we issued (see issueBatch): neither existing
		// nor sum.Issued has their documents, which the exports must list. Report the period as
		// stored, and write the exports from that report rather than from what was streamed.
		if docs, err = j.Store.Documents(ctx, p); err != nil {
			return fmt.Errorf("close %s: load documents: %w", p, err)
		}
		if ex != nil {
			ex.abort()
			ex = nil
		}
	}
	rep, err := j.reportOf(ctx, p, at, docs)
	if err != nil {
		return fmt.Errorf("close %s: %w", p, err)
	}
	// From here on the close writes only its run record (and releases its lock): empty the WAL while
	// the exports are finished, which leaves closing the store nothing to sync or delete.
	ckpt.then(j.Store.TruncateWAL)
	// The workbook's Run sheet shows the run as it will be recorded once the exports are written.
	shown := *run
	end := j.now()
	shown.FinishedAt, shown.Status = &end, invoices.RunSucceeded
	rep.Run = &shown
	rep.Rejects = res.Rejects
	if ex != nil {
		log.Debug("close: report built", "since_read", time.Since(started))
		// A close whose lock went may run beside another now, whose exports these would overwrite.
		files, err := ex.finish(rep, func() error { return j.Store.CheckLock(ctx, invoices.PeriodLock(p)) })
		log.Debug("close: exports finished", "since_read", time.Since(started))
		switch {
		case err == nil:
			if err := WriteFileAtomic(rejectsPath, func(w io.Writer) error { return j.Exporter.WriteRejectsCSV(w, rep.Rejects) }); err != nil {
				return fmt.Errorf("close %s: exports: %w", p, err)
			}
			sum.Files = append(sum.Files, files[0], files[1], rejectsPath)
			return nil
		case errors.Is(err, ErrReportChanged):
			// The report came out differently from the documents streamed (a payment recorded during the
			// close changed a status, say): write every export again from the report.
			log.Warn("close: the report changed while its exports were written; writing them again", "error", err)
		default:
			return fmt.Errorf("close %s: exports: %w", p, err)
		}
	}
	if err := j.Store.CheckLock(ctx, invoices.PeriodLock(p)); err != nil {
		return fmt.Errorf("close %s: exports: %w", p, err)
	}
	files, err := j.writeExports(dir, p, rep)
	sum.Files = append(sum.Files, files...)
	if err != nil {
		return fmt.Errorf("close %s: exports: %w", p, err)
	}
	return nil
}

// checkpoints runs a close's checkpoints in the background, one after another, each once the one
// before has succeeded.
type checkpoints struct{ last chan error }

// then starts f once the checkpoints started before are done, unless one of them failed.
func (c *checkpoints) then(f func(context.Context) error) {
	prev, next := c.last, make(chan error, 1)
	c.last = next
	go func() {
		var err error
		if prev != nil {
			err = <-prev
		}
		if err == nil {
			err = f(context.Background())
		}
		next <- err
	}()
}

// wait waits for the checkpoints started and returns the first error.
func (c *checkpoints) wait() error {
	if c.last == nil {
		return nil
	}
	return <-c.last
}

// streamCloseExports starts the exports of a close that will issue drafts to the accounts has does not
// hold, after the period's existing documents, which it hands them first; nil when the exporter
// cannot stream.
func (j *Jobs) streamCloseExports(ctx context.Context, dir string, p rating.Period, at time.Time,
	existing, drafts []invoices.Document, has map[string]bool) (*closeExports, error) {
	if _, ok := j.Exporter.(StreamingExporter); !ok {
		return nil, nil
	}
	payments, err := j.Store.Payments(ctx)
	if err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	docs, lines := len(existing), 0
	for i := range existing {
		lines += len(existing[i].Lines)
	}
	for i := range drafts {
		if !has[drafts[i].Account] {
			docs++
			lines += len(drafts[i].Lines)
		}
	}
	ex, err := j.startCloseExports(dir, p, j.currency(), docs, lines, 64)
	if err != nil || ex == nil {
		return nil, err
	}
	ex.payments, ex.at = payments, at
	ex.add(ex.views(existing))
	return ex, nil
}

// closeBatchAccounts is how many accounts' invoices a close issues per transaction. On the benchmark
// month (5,000 accounts, 304,198 lines, 2 shared cores) batches of 50, 100 and 250 issue within the
// noise of one another (SQLite 2.3–2.8 s, PostgreSQL 4.9–6.8 s), about half the time a transaction
// per invoice takes: the per-document statements and round trips are gone at 50 already, and
// inserting the lines is what remains. 100 keeps a transaction to a few thousand lines, holding
// SQLite's write lock some 50 ms at a time.
const closeBatchAccounts = 100

// issueBatch issues one batch of a close's invoices in one transaction. A batch is all or nothing,
// so a crash or failure at any point leaves each account of it either invoiced with its number or
// untouched, never half-written: the next close issues exactly the accounts still without an
// invoice, in the same order and with the next numbers, which keeps DESIGN §8's promise — one
// effective invoice per account, gapless numbers, credits consumed once.
func (j *Jobs) issueBatch(ctx context.Context, log *slog.Logger, p rating.Period, batch []*invoices.Document, run *invoices.Run, sum *CloseSummary) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("close %s: stopped before issuing %s: %w", p, batch[0].Account, err)
	}
	if err := j.Store.CheckLock(ctx, invoices.PeriodLock(p)); err != nil {
		return fmt.Errorf("close %s: stopped before issuing %s: %w", p, batch[0].Account, err)
	}
	err := j.issueCreditsAfresh(ctx, log, batch, func() error { return j.Store.IssueBatch(ctx, batch) })
	if err == nil {
		for _, doc := range batch {
			run.Totals.Add(doc)
			sum.Issued = append(sum.Issued, *doc)
		}
		return nil
	}
	if !errors.Is(err, invoices.ErrAlreadyIssued) {
		return fmt.Errorf("close %s: issue %s–%s: %w", p, batch[0].Account, batch[len(batch)-1].Account, err)
	}
	// Another writer invoiced an account of the batch since the documents were read, which the period
	// lock should prevent. Nothing of the batch was written: issue it one invoice at a time, counting
	// the accounts invoiced meanwhile as already invoiced.
	log.Warn("close: an account of the batch was invoiced meanwhile; issuing the batch one invoice at a time",
		"first_account", batch[0].Account, "last_account", batch[len(batch)-1].Account, "error", err)
	for _, doc := range batch {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("close %s: stopped before issuing %s: %w", p, doc.Account, err)
		}
		if err := j.Store.CheckLock(ctx, invoices.PeriodLock(p)); err != nil {
			return fmt.Errorf("close %s: stopped before issuing %s: %w", p, doc.Account, err)
		}
		// The batch's refusal named one account; another's credits may have been consumed meanwhile
		// too (the store reports an account invoiced meanwhile first).
		one := []*invoices.Document{doc}
		if err := j.issueCreditsAfresh(ctx, log, one, func() error { return j.Store.Issue(ctx, doc) }); err != nil {
			if errors.Is(err, invoices.ErrAlreadyIssued) {
				sum.Existing++
				sum.meanwhile++
				continue
			}
			return fmt.Errorf("close %s: issue %s: %w", p, doc.Account, err)
		}
		run.Totals.Add(doc)
		sum.Issued = append(sum.Issued, *doc)
	}
	return nil
}

// issueCreditsAfresh calls issue, which issues docs, and while it is refused with an error wrapping
// invoices.ErrGrantOverdrawn applies the credits of docs afresh and calls it again, up to three
// times. It returns issue's last error, or reapplyCredits'.
func (j *Jobs) issueCreditsAfresh(ctx context.Context, log *slog.Logger, docs []*invoices.Document, issue func() error) error {
	err := issue()
	for tries := 0; errors.Is(err, invoices.ErrGrantOverdrawn) && tries < 3; tries++ {
		// Another run consumed credits of the documents' accounts after they were drafted — a close of
		// another month issuing at the same time (its lock is not ours) — and nothing of them was
		// written: apply the credits afresh, from the grants as they stand now, and issue them again.
		log.Warn("close: credits of the batch were consumed meanwhile by another run; applying them afresh",
			"first_account", docs[0].Account, "last_account", docs[len(docs)-1].Account, "error", err)
		if err := j.reapplyCredits(ctx, docs); err != nil {
			return fmt.Errorf("apply credits afresh: %w", err)
		}
		err = issue()
	}
	return err
}

// reapplyCredits applies credits to the drafted invoices docs afresh (DESIGN §6 step 4) from their
// accounts' grants as the store holds them now.
func (j *Jobs) reapplyCredits(ctx context.Context, docs []*invoices.Document) error {
	accts, err := j.Store.Accounts(ctx)
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	byID, _ := knownAccounts(accts)
	for _, d := range docs {
		a := byID[d.Account]
		if a == nil {
			return fmt.Errorf("account %s: %w", d.Account, invoices.ErrNotFound)
		}
		d.ApplyCredits(a.Grants)
	}
	return nil
}

// writeExports writes DIR/P/invoices.json, billrun-P.xlsx and rejects.csv.
func (j *Jobs) writeExports(dir string, p rating.Period, rep *invoices.Report) ([]string, error) {
	exports := []struct {
		name  string
		write func(io.Writer) error
	}{
		{"invoices.json", func(w io.Writer) error { return j.Exporter.WriteJSON(w, rep) }},
		{"billrun-" + p.String() + ".xlsx", func(w io.Writer) error { return j.Exporter.WriteXLSX(w, rep) }},
		{"rejects.csv", func(w io.Writer) error { return j.Exporter.WriteRejectsCSV(w, rep.Rejects) }},
	}
	// The files are independent: write them at once (each through its own temporary file and rename).
	var g errgroup.Group
	files := make([]string, len(exports))
	for i, f := range exports {
		files[i] = filepath.Join(dir, f.name)
		g.Go(func() error { return WriteFileAtomic(files[i], f.write) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return files, nil
}

// extraProcs tracks the closes that run with more Ps than cores (moreProcs), so that closes running
// at once in one process (billrun schedule catching up two months) give GOMAXPROCS back as it was
// before the first of them, not as another had left it.
var extraProcs struct {
	sync.Mutex
	users int // closes holding extra Ps
	base  int // GOMAXPROCS before the first of them
}

// baseProcs returns GOMAXPROCS as it is when no close holds extra Ps.
func baseProcs() int {
	extraProcs.Lock()
	defer extraProcs.Unlock()
	if extraProcs.users > 0 {
		return extraProcs.base
	}
	return runtime.GOMAXPROCS(0)
}

// moreProcs sets GOMAXPROCS to extra more than baseProcs until the returned func is called. Setting
// GOMAXPROCS stops the runtime from following the CPU limit it runs under (a container's quota, the
// CPU affinity), as it does by default; so the last close to give its Ps back hands GOMAXPROCS to the
// runtime's default again (runtime.SetDefaultGOMAXPROCS) rather than set the number it found — unless
// the GOMAXPROCS variable fixed it, which the runtime never updates anyway. billrun schedule, running
// closes in a long-lived process, keeps following its pod's CPU limit.
func moreProcs(extra int) (restore func()) {
	extraProcs.Lock()
	defer extraProcs.Unlock()
	if extraProcs.users == 0 {
		extraProcs.base = runtime.GOMAXPROCS(0)
	}
	extraProcs.users++
	runtime.GOMAXPROCS(extraProcs.base + extra)
	return func() {
		extraProcs.Lock()
		defer extraProcs.Unlock()
		if extraProcs.users--; extraProcs.users > 0 {
			return
		}
		if os.Getenv("GOMAXPROCS") == "" {
			runtime.SetDefaultGOMAXPROCS()
		} else {
			runtime.GOMAXPROCS(extraProcs.base)
		}
	}
}
