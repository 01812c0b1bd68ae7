package usage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"billrun/internal/gctarget"
	"billrun/rating"
)

const (
	// DefaultMaxGPUInterval is the longest GPU interval accepted when Options.MaxGPUInterval is zero.
	DefaultMaxGPUInterval = time.Hour
	// maxMaxGPUInterval keeps every GPU interval that overlaps a window reported in the partitions a
	// read covers: its report time is at most end + 1h < window end + MaxGPUInterval + 1h, within the
	// day after the window.
	maxMaxGPUInterval = MaxGPUIntervalLimit
	// lateReportAfter is how long after its end a GPU interval may be reported (DESIGN §11).
	lateReportAfter = time.Hour
	// progressInterval is how often Options.Progress is called during a read.
	progressInterval = 200 * time.Millisecond
)

// ReportWindow is how long after a window's end usage of the window may still be reported: a GPU
// interval overlapping it starts before its end, lasts at most maxGPUInterval (0: the default) and is
// reported at most an hour after it ends (DESIGN §11). A read at or after end + ReportWindow finds
// every GPU interval that overlaps the window, once its producers have written it.
func ReportWindow(maxGPUInterval time.Duration) time.Duration {
	if maxGPUInterval == 0 {
		maxGPUInterval = DefaultMaxGPUInterval
	}
	return maxGPUInterval + lateReportAfter
}

// MaxGPUIntervalLimit is the largest Options.MaxGPUInterval (--max-gpu-interval) allowed: every GPU
// interval overlapping a window must be reported in the partitions its read covers.
const MaxGPUIntervalLimit = 23 * time.Hour

// Options configure Read.
type Options struct {
	// PriceBook rates the events; required and validated.
	PriceBook *rating.PriceBook
	// Window is the half-open time range billed: a period, or the month start up to a sweep's `at`.
	Window rating.Window
	// Accounts are the known accounts; events of others are rejected unknown_account. Nil: all known.
	Accounts map[string]bool
	// MaxGPUInterval is the longest GPU interval accepted (interval_too_long beyond); 0 means 1h. At
	// most 23h, so that intervals overlapping the window are reported in the partitions read.
	MaxGPUInterval time.Duration
	// Workers bounds how many objects are decoded at once; 0 means runtime.GOMAXPROCS(0).
	Workers int
	// Progress, when set, is called from one goroutine about every 200 ms and once at the end (Done).
	Progress func(Progress)
	// Logger receives per-object debug lines and a summary; nil discards them.
	Logger *slog.Logger
}

// Validate reports the first problem with the options, phrased as what to fix.
func (o Options) Validate() error {
	switch {
	case o.PriceBook == nil:
		return errors.New("usage: options: a price book is required")
	case o.Window.From.IsZero() || o.Window.To.IsZero():
		return errors.New("usage: options: the window needs a start and an end")
	case o.Window.To.Before(o.Window.From):
		return fmt.Errorf("usage: options: window end %s is before its start %s",
			o.Window.To.UTC().Format(time.RFC3339), o.Window.From.UTC().Format(time.RFC3339))
	case o.MaxGPUInterval < 0 || o.MaxGPUInterval > maxMaxGPUInterval:
		return fmt.Errorf("usage: options: max GPU interval %s must be between 0 (default 1h) and %s, so that every "+
			"interval overlapping the window is reported in the partitions read", o.MaxGPUInterval, maxMaxGPUInterval)
	case o.Workers < 0:
		return fmt.Errorf("usage: options: workers %d must not be negative", o.Workers)
	}
	return nil
}

// Progress is a snapshot of a running Read, for a progress bar.
type Progress struct {
	// Pass is 1, or 2 while the objects are read again to reject conflicting duplicates.
	Pass int
	// ObjectsDone and BytesDone count what the current pass has finished reading; BytesDone counts
	// raw (compressed) bytes.
	ObjectsDone, ObjectsTotal int
	BytesDone, BytesTotal     int64
	// Events counts the non-blank lines the current pass has seen.
	Events int64
	// Elapsed is the time since Read started.
	Elapsed time.Duration
	// Done is set on the last call, made when Read returns (with or without an error).
	Done bool
}

// Result is what a Read saw and rated.
type Result struct {
	// Aggregate holds the accepted events' quantities per line key.
	Aggregate *rating.Aggregate
	// Rejects are the rejected lines, sorted by object key then line.
	Rejects []rating.Reject
	// Counts summarizes the read. Lines counts the non-blank lines read, ignored ones included;
	// EventsTaken the lines in scope, so EventsTaken = Accepted + Duplicates + Rejected; Bytes the raw
	// (compressed) bytes read; RejectsByCode holds only codes that occurred.
	Counts rating.Counts
	// Manifest lists every object read, sorted by key, with its size and its ETag (for objects listed
	// without one, "sha256:<hex>" of the bytes read).
	Manifest []rating.Object
	// Taken holds, for each object of Manifest, how many of its lines were in scope (accepted,
	// duplicates or rejected): 0 for an object the read only looked through, such as one of the day
	// after a period holding only the next period's events.
	Taken []int64
}

// ErrTotalOverflow is returned by Read when a line's total (tokens or GPU-seconds of one account and
// line) does not fit in 64 bits. It fails the read rather than rejecting the event that crosses the
// limit: that event is valid, and which one it is depends on how the workers split the objects.
var ErrTotalOverflow = errors.New("usage: a quantity total overflows 64 bits")

// ErrLineTooLong is wrapped by the error Read returns for a line longer than 16 MiB.
var ErrLineTooLong = errors.New("line longer than 16 MiB")

// Dates returns the partition dates ("YYYY-MM-DD") a read of w covers: every UTC date from the date of
// w.From to the date of w.To inclusive — for a period P, P.start … P.end (the day after, for GPU
// intervals reported after they end); for a sweep window ending at a non-midnight `at`, the month start
// … the date of `at`.
func Dates(w rating.Window) []string {
	var out []string
	last := dateOf(w.To)
	for d := dateOf(w.From); !d.After(last); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

// dateOf returns midnight UTC of t's UTC date.
func dateOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// readGCPercent is the garbage collector's target while a read runs, unless GOGC is set: twice the
// runtime's default. A read's heap is its workers' accumulators and symbol tables, which live until
// the read ends — each collection marks all of them again and slows the workers with its write
// barriers. At 200 the benchmark month's rate (5,000 accounts) runs ~5% faster, 3.24-3.39 s against
// 3.34-3.55 s in 8 alternating runs, with 5-10 MB more peak RSS; the rest of a close keeps the
// default, which holds its peak RSS down (at 200 throughout, a close peaked at 370-500 MB, not 290).
const readGCPercent = 200

// CollectLessOften raises the collector's target to readGCPercent, as Read does while it runs, and
// returns what releases it (gctarget: reads that overlap in one process put back what was there
// before the first, whatever order they end in). A caller whose heap stays the read's until it ends
// — rate drafting the read's invoices and exiting — may hold it over both.
func CollectLessOften() (release func()) { return gctarget.Raise(readGCPercent) }

// maxMisnamedShown is how many of the objects left out as misnamed Read's warning names.
const maxMisnamedShown = 10

// Read reads the usage of opts.Window from src: it lists the partitions Dates returns, decodes the
// objects in parallel (gzip and zstd by extension), validates every line, applies the partition scope
// rules of DESIGN §11, deduplicates events by id across everything it takes, and rates accepted events
// into a mergeable aggregate. Conflicting copies of an id (same id, different content) are all
// rejected duplicate_conflict and none is billed: when pass 1 finds any, a second pass reads every
// object again knowing them, and its result replaces the first.
//
// Bad lines are rejects in the Result, never errors. Read returns an error for invalid options, a
// listing or open failure, or an object that cannot be read to its end as listed — a corrupt or
// truncated gzip or zstd stream, a short read, a line over 16 MiB — naming the object (and line).
func Read(ctx context.Context, src Source, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxGPUInterval == 0 {
		opts.MaxGPUInterval = DefaultMaxGPUInterval
	}
	if opts.Workers == 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Window = rating.Window{From: opts.Window.From.UTC(), To: opts.Window.To.UTC()}
	start := time.Now()
	defer CollectLessOften()()

	dates := Dates(opts.Window)
	objs, misnamed, err := src.List(ctx, dates)
	if err != nil {
		return nil, fmt.Errorf("usage: list %s: %w", src, err)
	}
	if len(misnamed) > 0 {
		// Left out, as the contract names usage by its extension, but said: these look like usage, and
		// their events are not in the bill.
		shown := misnamed[:min(len(misnamed), maxMisnamedShown)]
		opts.Logger.Warn("usage: objects that look like usage but are not named <name>.jsonl, .jsonl.gz or .jsonl.zst are left out: rename them to have their events billed",
			slog.String("source", src.String()), slog.Int("objects", len(misnamed)),
			slog.String("keys", strings.Join(shown, " ")))
	}
	if len(objs) == 0 && len(dates) > 0 {
		// Not an error — a month can have no usage, and a sweep early on the 1st reads one empty day —
		// but a mistyped prefix looks just like this, and a close would go on to issue nothing.
		opts.Logger.Warn("usage: no usage objects found: check the source if usage was expected",
			slog.String("source", src.String()), slog.String("from", "dt="+dates[0]),
			slog.String("to", "dt="+dates[len(dates)-1]))
	}
	objs = slices.Clone(objs)
	slices.SortStableFunc(objs, func(a, b rating.Object) int { return strings.Compare(a.Key, b.Key) })
	r := &reader{src: src, opts: opts, objs: objs, seed: maphash.MakeSeed(), start: start}
	r.scopes = make([]scope, len(objs))
	inDates := make(map[string]bool, len(dates))
	for _, d := range dates {
		inDates[d] = true
	}
	for i, o := range objs {
		if i > 0 && objs[i-1].Key == o.Key {
			return nil, fmt.Errorf("usage: list %s: object %s listed twice", src, o.Key)
		}
		d, ds, ok := partitionOf(o.Key)
		if !ok || !inDates[ds] {
			return nil, fmt.Errorf("usage: list %s: object %s is not in a requested dt=YYYY-MM-DD partition", src, o.Key)
		}
		r.scopes[i] = r.scopeOf(d, ds)
		r.bytesTotal += o.Size
	}

	r.passNo.Store(1)
	stopProgress := r.startProgress()
	defer stopProgress()

	p1, err := r.pass(ctx, 1, nil)
	if err != nil {
		return nil, err
	}
	res := p1
	if len(p1.conflicts) > 0 {
		opts.Logger.Info("usage: conflicting duplicates found; reading again to reject every copy",
			slog.Int("conflicting_ids", len(p1.conflicts)))
		p2, err := r.pass(ctx, 2, p1.conflicts)
		if err != nil {
			return nil, err
		}
		for i := range objs {
			if p1.etags[i] != p2.etags[i] {
				return nil, fmt.Errorf("usage: read %s: the object changed between the two passes of the read", objs[i].Key)
			}
		}
		res = p2
	}
	out, err := r.result(res)
	if err != nil {
		return nil, err
	}
	c := out.Counts
	opts.Logger.Info("usage: read", slog.String("source", src.String()), slog.Int64("objects", c.Objects),
		slog.Int64("bytes", c.Bytes), slog.Int64("lines", c.Lines), slog.Int64("events_taken", c.EventsTaken),
		slog.Int64("accepted", c.Accepted), slog.Int64("duplicates", c.Duplicates),
		slog.Int64("rejected", c.Rejected), slog.Int("passes", res.n),
		slog.Duration("elapsed", time.Since(start)))
	return out, nil
}

// reader is one Read: its options, objects and progress counters.
type reader struct {
	src    Source
	opts   Options
	objs   []rating.Object // sorted by key
	scopes []scope         // per object
	seed   maphash.Seed
	start  time.Time

	bytesTotal int64
	// progress of the current pass
	passNo      atomic.Int32
	objectsDone atomic.Int64
	bytesDone   atomic.Int64
	events      atomic.Int64
}

// scope says which partition rules of DESIGN §11 apply to an object's lines.
type scope struct {
	date    time.Time // the partition date, midnight UTC
	dayEnd  time.Time // midnight UTC after date
	dt      string    // the partition date as in the key
	special bool      // one of the rules below applies, so lines need a look before validation
	// dayAfter: the partition is on or after the window end's date and the window ends at midnight,
	// so only GPU events overlapping the window are taken.
	dayAfter bool
	// endDay: the window ends during this partition's day, so lines with ts at or after the end are
	// ignored unless they are GPU events overlapping the window.
	endDay bool
	// startDay: the window starts on this partition's day, so GPU events ending at or before the start
	// are ignored.
	startDay bool
}

func (r *reader) scopeOf(d time.Time, dt string) scope {
	w := r.opts.Window
	toDate := dateOf(w.To)
	toMidnight := w.To.Equal(toDate)
	s := scope{date: d, dayEnd: d.AddDate(0, 0, 1), dt: dt}
	s.dayAfter = toMidnight && !d.Before(toDate)
	s.endDay = !toMidnight && d.Equal(toDate)
	s.startDay = d.Equal(dateOf(w.From))
	s.special = s.dayAfter || s.endDay || s.startDay
	return s
}

// readAheadOff turns off the read-ahead of a pass's last objects, for the benchmark that measures it.
var readAheadOff = false

// passResult is one pass's findings, per worker, before they are merged.
type passResult struct {
	n         int
	workers   []*worker
	etags     []string // computed checksums, per object ("" when listed with an ETag)
	bytes     []int64  // raw bytes read, per object
	taken     []int64  // lines in scope, per object
	conflicts map[idKey]struct{}
}

// pass reads every object once. In pass 1 conflicts is nil and the result's conflicts are the ids
// found with differing copies; in pass 2 every copy of those ids is rejected.
func (r *reader) pass(ctx context.Context, n int, conflicts map[idKey]struct{}) (*passResult, error) {
	r.passNo.Store(int32(n))
	r.objectsDone.Store(0)
	r.bytesDone.Store(0)
	r.events.Store(0)

	p := &passResult{n: n, etags: make([]string, len(r.objs)), bytes: make([]int64, len(r.objs)), taken: make([]int64, len(r.objs))}
	ps := &passState{r: r, res: p, known: conflicts, dedup: new(dedupSet),
		idle: make(chan *worker, r.opts.Workers)}
	if conflicts == nil {
		ps.found = make(map[idKey]struct{})
	}
	defer ps.closeWorkers()
	defer ps.dedup.free()

	// Largest objects first, so the pass does not end waiting on one big object.
	order := make([]int, len(r.objs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(r.objs[b].Size, r.objs[a].Size) })

	// The last Workers−1 objects (all of them, when there are fewer) are each decompressed on a
	// goroutine of their own while their lines are decoded: the workers that finish before them would
	// otherwise leave their cores idle.
	aheadFrom := len(order) - (r.opts.Workers - 1)
	if readAheadOff {
		aheadFrom = len(order)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Workers)
	for k, oi := range order {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			w, err := ps.worker()
			if err != nil {
				return err
			}
			defer func() { ps.idle <- w }()
			return w.readObject(gctx, oi, k >= aheadFrom)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ps.found != nil {
		ps.rejectedConflicts()
	}
	if ps.changed.Load() {
		return nil, errors.New("usage: the usage changed between the two passes of the read (new conflicting " +
			"duplicates appeared); read again")
	}
	p.workers = ps.workers
	p.conflicts = ps.found
	r.opts.Logger.Debug("usage: pass done", slog.Int("pass", n), slog.Int("ids", ps.dedup.len()),
		slog.Int64("dedup_bytes", ps.dedup.bytes()))
	return p, nil
}

// passState is what the workers of one pass share.
type passState struct {
	r     *reader
	res   *passResult
	dedup *dedupSet
	known map[idKey]struct{} // pass 2: the conflicting ids, read-only

	changed  atomic.Bool // pass 2 met a conflict pass 1 did not
	reserved atomic.Bool // the dedup set was sized from an estimate

	mu      sync.Mutex
	found   map[idKey]struct{} // pass 1: conflicting ids found so far
	workers []*worker
	idle    chan *worker
}

// worker returns an idle worker, or a new one: the errgroup limit bounds how many exist.
func (ps *passState) worker() (*worker, error) {
	select {
	case w := <-ps.idle:
		return w, nil
	default:
	}
	w, err := newWorker(ps)
	if err != nil {
		return nil, err
	}
	ps.mu.Lock()
	ps.workers = append(ps.workers, w)
	ps.mu.Unlock()
	return w, nil
}

func (ps *passState) closeWorkers() {
	for _, w := range ps.workers {
		w.close()
	}
}

// rejectedConflicts adds to the conflicts of pass 1 the ids of which a rejected copy (worker.
// rejectedCopy) differs from the copies dedup took. It runs once every worker is done.
func (ps *passState) rejectedConflicts() {
	for _, w := range ps.workers {
		for _, c := range w.rejectedCopies {
			if content, ok := ps.dedup.lookup(c.key); ok && content != c.content {
				ps.found[c.key] = struct{}{}
			}
		}
		w.rejectedCopies = nil
	}
}

func (ps *passState) addConflict(k idKey) {
	ps.mu.Lock()
	ps.found[k] = struct{}{}
	ps.mu.Unlock()
}

// result merges the workers of the final pass into a Result.
func (r *reader) result(p *passResult) (*Result, error) {
	out := &Result{Manifest: make([]rating.Object, len(r.objs)), Taken: p.taken}
	c := &out.Counts
	c.Objects = int64(len(r.objs))
	for i, o := range r.objs {
		if o.ETag == "" {
			o.ETag = p.etags[i]
		}
		out.Manifest[i] = o
		c.Bytes += p.bytes[i]
	}
	var rejects, raterRejects []lineReject
	var copies []conflictCopy
	aggs := make([]*rating.Aggregate, 0, len(p.workers))
	for _, w := range p.workers {
		if w.overflow {
			return nil, ErrTotalOverflow
		}
		c.Lines += w.lines
		c.EventsTaken += w.taken
		c.Accepted += w.accepted
		c.Duplicates += w.duplicates
		rejects = append(rejects, w.rejects...)
		raterRejects = append(raterRejects, w.raterRejects...)
		copies = append(copies, w.copies...)
		aggs = append(aggs, w.agg)
	}
	agg, ok := rating.MergeAll(aggs, r.opts.Workers)
	if !ok {
		return nil, ErrTotalOverflow
	}
	out.Aggregate = agg
	rejects = append(rejects, firstPerID(raterRejects)...)
	rejects = append(rejects, r.conflictRejects(copies)...)
	slices.SortFunc(rejects, func(a, b lineReject) int {
		return cmp.Or(cmp.Compare(a.obj, b.obj), cmp.Compare(a.line, b.line))
	})
	c.RejectsByCode = make(map[rating.RejectCode]int64)
	out.Rejects = make([]rating.Reject, len(rejects))
	for i, rj := range rejects {
		out.Rejects[i] = rating.Reject{Object: r.objs[rj.obj].Key, Line: rj.line, EventID: storableText(rj.id), Code: rj.code,
			Message: storableText(rj.msg)}
		c.RejectsByCode[rj.code]++
	}
	c.Rejected = int64(len(rejects))
	c.Meters = out.Aggregate.MeterTotals()
	return out, nil
}

// storableText is s as every store and export can keep it: a reject's event id and message come from
// the bad line itself, and PostgreSQL refuses text holding a NUL or invalid UTF-8 (one such line
// would fail the whole close, where SQLite kept it). A NUL becomes the six characters \u0000, as the
// line most likely wrote it, and each invalid byte sequence U+FFFD.
func storableText(s string) string {
	if !strings.ContainsRune(s, 0) && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", `\u0000`)
}

// lineReject is a reject before its object index becomes a key.
type lineReject struct {
	obj  int
	line int64
	id   string
	code rating.RejectCode
	msg  string
}

// firstPerID keeps, of the rater rejects of each id, the one at the first position. Copies of an id with
// equal content get the same verdict from the rater, but which copy a worker rates first depends on
// timing; reporting the first copy keeps rejects reproducible. The other copies count as duplicates.
func firstPerID(rs []lineReject) []lineReject {
	best := make(map[string]int, len(rs))
	var out []lineReject
	for _, rj := range rs {
		i, ok := best[rj.id]
		if !ok {
			best[rj.id] = len(out)
			out = append(out, rj)
			continue
		}
		if b := out[i]; rj.obj < b.obj || rj.obj == b.obj && rj.line < b.line {
			out[i] = rj
		}
	}
	return out
}

// conflictCopy is a copy of a conflicting id seen in pass 2.
type conflictCopy struct {
	key  idKey
	obj  int
	line int64
	id   string
	// rejected: the copy has a reject of its own (worker.rejectedCopy); the others' messages name it,
	// but it gets no duplicate_conflict reject, so that every copy is one reject.
	rejected bool
}

// maxNamedCopies bounds how many other copies a duplicate_conflict message names.
const maxNamedCopies = 3

// conflictRejects turns every copy of a conflicting id into one duplicate_conflict reject naming the
// other copies.
func (r *reader) conflictRejects(copies []conflictCopy) []lineReject {
	slices.SortFunc(copies, func(a, b conflictCopy) int {
		return cmp.Or(cmp.Compare(a.key.hi, b.key.hi), cmp.Compare(a.key.lo, b.key.lo),
			cmp.Compare(a.obj, b.obj), cmp.Compare(a.line, b.line))
	})
	var out []lineReject
	for i := 0; i < len(copies); {
		j := i + 1
		for j < len(copies) && copies[j].key == copies[i].key {
			j++
		}
		group := copies[i:j]
		for k, cp := range group {
			if cp.rejected {
				continue
			}
			var others []string
			for l, o := range group {
				if l == k {
					continue
				}
				if len(others) == maxNamedCopies {
					others = append(others, fmt.Sprintf("%d more", len(group)-1-maxNamedCopies))
					break
				}
				others = append(others, fmt.Sprintf("%s line %d", r.objs[o.obj].Key, o.line))
			}
			msg := fmt.Sprintf("event id %q has %d copies whose content differs (also %s); none is billed",
				cp.id, len(group), strings.Join(others, ", "))
			if len(group) == 1 { // the other copies were ignored this time: the data changed between passes
				msg = fmt.Sprintf("event id %q has copies whose content differs; none is billed", cp.id)
			}
			out = append(out, lineReject{obj: cp.obj, line: cp.line, id: cp.id,
				code: rating.RejectDuplicateConflict, msg: msg})
		}
		i = j
	}
	return out
}

// startProgress starts the goroutine that reports progress, if asked for. The returned func stops it
// after the final report.
func (r *reader) startProgress() (stop func()) {
	if r.opts.Progress == nil {
		return func() {}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	report := func(final bool) {
		r.opts.Progress(Progress{Pass: int(r.passNo.Load()), ObjectsDone: int(r.objectsDone.Load()),
			ObjectsTotal: len(r.objs), BytesDone: r.bytesDone.Load(), BytesTotal: r.bytesTotal,
			Events: r.events.Load(), Elapsed: time.Since(r.start), Done: final})
	}
	go func() {
		defer close(done)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report(false)
			case <-quit:
				report(true)
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
