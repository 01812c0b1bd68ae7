package usage

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math/bits"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"billrun/rating"
)

const (
	// readBufferBytes is the line reader's buffer; longer lines are assembled in a growing buffer.
	readBufferBytes = 256 << 10
	// rawBufferBytes is the buffer of a gzip object's raw bytes.
	rawBufferBytes = 256 << 10
	// maxLineBytes is the longest line accepted (without its newline); a longer one fails the read.
	maxLineBytes = 16 << 20
	// zstdMaxWindowBytes bounds the memory a zstd stream may ask for (its window); zstd's default level
	// uses 8 MiB at most, --long=27 128 MiB.
	zstdMaxWindowBytes = 128 << 20
	// ctxCheckLines is how many lines pass between checks for cancellation and progress updates.
	ctxCheckLines = 1024
	// reserveSampleBytes is how many raw bytes of one object a worker reads before the read estimates
	// its events from them and sizes the dedup set once (dedupSet.reserve); smaller reads just grow it.
	reserveSampleBytes = 1 << 20
	// minRawBytesPerID bounds the estimate: no object stores an event in fewer raw bytes, so a sample
	// of very compressible lines cannot reserve more than the read could hold.
	minRawBytesPerID = 16
)

// lineScale is the fixed-point scale of line counts in the estimate: a buffered fraction of a line is
// kept as 1/1024ths, without floating point.
const lineScale = 1024

// estimateScaled extrapolates the scaled lines (lines × lineScale) of a sample — sampleBytes raw bytes
// of one object — to the read's total raw bytes: scaled × total ÷ (sample × lineScale) in 128-bit
// integer arithmetic, capped at totalBytes / minRawBytesPerID.
func estimateScaled(scaled, sampleBytes, totalBytes int64) int64 {
	limit := totalBytes / minRawBytesPerID
	if sampleBytes <= 0 || scaled < 0 || totalBytes <= 0 {
		return limit
	}
	hi, lo := bits.Mul64(uint64(scaled), uint64(totalBytes))
	div := uint64(sampleBytes) * lineScale
	if hi >= div {
		return limit
	}
	q, _ := bits.Div64(hi, lo, div)
	if q > uint64(limit) {
		return limit
	}
	return int64(q)
}

// estimateIDs estimates the read's events from the object being read: lines (lineBytes bytes with
// their newlines) read so far out of rawRead raw bytes. The readers ahead of the lines hold bytes not
// yet turned into lines — raw bytes in the gzip input buffer, decompressed bytes in the line reader —
// and counting those as read would underestimate the events per raw byte by up to a quarter, so that
// the dedup tables, sized from the estimate, outgrow it and grow by half near the end of the read.
// With a read-ahead (ra), rawRead is ignored: the raw bytes behind the chunk being read are its
// position, recorded by the read-ahead goroutine (w.raw is that goroutine's to touch), and the
// chunk's unread bytes are ahead of the lines too.
func (w *worker) estimateIDs(lines, lineBytes, rawRead int64, compressed bool, totalBytes int64, ra *readAhead) int64 {
	scaled := lines * lineScale
	ahead := int64(w.br.Buffered())
	if ra != nil {
		pos, unread := ra.Pos()
		rawRead, ahead = pos, ahead+int64(unread)
	}
	if !compressed {
		rawRead -= ahead
	} else {
		if w.raw != nil && ra == nil {
			rawRead -= int64(w.raw.Buffered())
		}
		if lineBytes > 0 {
			// The decompressed bytes buffered ahead, as lines of the sample's mean length.
			scaled += scaled * ahead / lineBytes
		}
	}
	return estimateScaled(scaled, rawRead, totalBytes)
}

// reservedHook, set by tests, is told the estimate the dedup set is sized from.
var reservedHook func(ids int64)

// dedupBatchSize is how many events a worker decodes before it asks the dedup set for their verdicts.
const dedupBatchSize = 512

// pendingEvent is a decoded event waiting for its dedup verdict.
type pendingEvent struct {
	d            decoded // d.id is stale: the id is arena[idOff:idEnd]
	oi           int
	line         int64
	idOff, idEnd int32
	hint         rating.Hint // the group Lookup found for a first copy
}

// worker decodes and rates objects one at a time. Each has its own rater, aggregate and decompressors;
// the dedup set and conflict set are shared.
type worker struct {
	ps      *passState
	rater   *rating.Rater
	agg     *rating.Aggregate
	scratch *rating.Aggregate // rates duplicates to learn their verdict without billing them
	dec     decoder
	hasher  contentHasher
	// The events waiting for their dedup verdict: batch[:nb], with reqs[:nb] their inserts and their
	// ids in arena. Verdicts are asked for a batch at a time (dedupSet.insertBatch).
	batch  []pendingEvent
	reqs   []dedupReq
	nb     int
	arena  []byte
	dbatch dedupBatch
	br     *bufio.Reader
	long   []byte        // a line longer than the read buffer
	raw    *bufio.Reader // buffers a gzip object's raw bytes in large reads
	gz     *gzip.Reader
	zs     *zstd.Decoder

	lines, taken, accepted, duplicates int64
	rejects                            []lineReject
	raterRejects                       []lineReject
	copies                             []conflictCopy
	// rejectedCopies are the lines of pass 1 rejected before dedup that have a valid id: each conflicts
	// with the copies of its id that dedup took if its content differs from theirs (passState.
	// rejectedConflicts).
	rejectedCopies []rejectedCopy

	// overflow records that adding a first copy would have overflowed a line's total
	// (rating.TotalOverflow): the read then fails, whatever the split of events among workers.
	overflow bool
}

func newWorker(ps *passState) (*worker, error) {
	r := ps.r
	rater := rating.NewRater(r.opts.PriceBook, r.opts.Window, r.opts.Accounts)
	return &worker{
		ps:      ps,
		rater:   rater,
		agg:     rating.NewAggregate(),
		scratch: rating.NewAggregate(),
		dec:     decoder{syms: newDecoderSyms(r.seed)},
		batch:   make([]pendingEvent, dedupBatchSize),
		reqs:    make([]dedupReq, dedupBatchSize),
		hasher:  contentHasher{seed: r.seed},
		br:      bufio.NewReaderSize(nil, readBufferBytes),
	}, nil
}

func (w *worker) close() {
	if w.zs != nil {
		w.zs.Close()
	}
}

// countingReader counts (and, when h is set, hashes) the raw bytes of an object as they are read.
type countingReader struct {
	r        io.Reader
	n        atomic.Int64 // read by the decoding goroutine while a readAhead reads on another
	h        hash.Hash
	progress *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
		if c.h != nil {
			c.h.Write(p[:n])
		}
		c.progress.Add(int64(n))
	}
	return n, err
}

// readObject reads one object to its end, line by line. With ahead, the object is decompressed on a
// goroutine of its own (readAhead) while its lines are decoded: for an object that would otherwise
// leave a core idle.
func (w *worker) readObject(ctx context.Context, oi int, ahead bool) error {
	r := w.ps.r
	obj := r.objs[oi]
	if err := ctx.Err(); err != nil {
		return err
	}
	began, takenBefore := time.Now(), w.taken
	// The object's own context: a read-ahead goroutine blocked in the body's Read when the decoding
	// stops early (a line too long) is woken by its end, not by the pass's, which errgroup ends only
	// once this worker has returned.
	octx, stop := context.WithCancel(ctx)
	defer stop()
	rc, err := r.src.Open(octx, obj)
	if err != nil {
		return fmt.Errorf("usage: open %s: %w", obj.Key, err)
	}
	defer rc.Close()
	cr := &countingReader{r: rc, progress: &r.bytesDone}
	if obj.ETag == "" {
		cr.h = sha256.New()
	}
	var body io.Reader = cr
	var rest io.Reader = cr // what is left of the object once the lines are read
	compressed := true
	switch {
	case strings.HasSuffix(obj.Key, ".gz"):
		// gzip would read through a 4 KiB buffer of its own; one of rawBufferBytes costs fewer calls.
		if w.raw == nil {
			w.raw = bufio.NewReaderSize(cr, rawBufferBytes)
		} else {
			w.raw.Reset(cr)
		}
		defer w.raw.Reset(nil)
		rest = w.raw
		if w.gz == nil {
			w.gz, err = gzip.NewReader(w.raw)
		} else {
			err = w.gz.Reset(w.raw)
		}
		if err == io.EOF && cr.n.Load() == 0 {
			return fmt.Errorf("usage: read %s: empty compressed object: %w", obj.Key, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return fmt.Errorf("usage: read %s: %w", obj.Key, eofIsUnexpected(err))
		}
		body = w.gz
	case strings.HasSuffix(obj.Key, ".zst"):
		if w.zs == nil {
			w.zs, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1),
				zstd.WithDecoderMaxWindow(zstdMaxWindowBytes))
			if err != nil {
				return fmt.Errorf("usage: read %s: %w", obj.Key, err)
			}
		}
		if err := w.zs.Reset(cr); err != nil {
			return fmt.Errorf("usage: read %s: %w", obj.Key, err)
		}
		body = w.zs
	default:
		compressed = false
	}
	var ra *readAhead
	if ahead {
		// The raw bytes the decompressor has consumed, for estimateIDs: taken on the read-ahead's
		// goroutine, which alone touches w.raw while it runs.
		pos := func() int64 { return cr.n.Load() }
		if raw := w.raw; raw != nil && rest == raw {
			pos = func() int64 { return cr.n.Load() - int64(raw.Buffered()) }
		}
		ra = newReadAhead(body, pos)
		defer func() {
			stop() // wakes the goroutine if it waits on the body: the object is not read any further
			ra.Close()
		}()
		body = ra
	}
	w.br.Reset(body)
	defer w.br.Reset(nil)

	sc := &r.scopes[oi]
	var lineNo, pending, lineBytes int64
	for {
		line, err := w.readLine()
		if err != nil && err != io.EOF {
			if errors.Is(err, ErrLineTooLong) {
				return fmt.Errorf("usage: read %s line %d: %w", obj.Key, lineNo+1, err)
			}
			return fmt.Errorf("usage: read %s after line %d: %w", obj.Key, lineNo, err)
		}
		if len(line) > 0 || err == nil {
			lineNo++
			lineBytes += int64(len(line)) + 1
			if !isBlank(line) {
				w.lines++
				pending++
				w.line(oi, lineNo, line, sc)
			}
			if lineNo%ctxCheckLines == 0 {
				r.events.Add(pending)
				pending = 0
				if err := ctx.Err(); err != nil {
					return err
				}
				if cr.n.Load() >= reserveSampleBytes && !w.ps.reserved.Load() && w.ps.reserved.CompareAndSwap(false, true) {
					ids := w.estimateIDs(lineNo, lineBytes, cr.n.Load(), compressed, r.bytesTotal, ra)
					if reservedHook != nil {
						reservedHook(ids)
					}
					w.ps.dedup.reserve(ids)
				}
			}
		}
		if err == io.EOF {
			break
		}
	}
	r.events.Add(pending)
	w.flush()
	if ra != nil {
		ra.Close() // the read-ahead goroutine is done with the object's readers before rest is read
	}
	// Read whatever the decompressor left (a gzip trailer is already checked), so size and checksum
	// cover the whole object.
	if _, err := io.Copy(io.Discard, rest); err != nil {
		return fmt.Errorf("usage: read %s: %w", obj.Key, err)
	}
	if compressed && cr.n.Load() == 0 {
		return fmt.Errorf("usage: read %s: empty compressed object: %w", obj.Key, io.ErrUnexpectedEOF)
	}
	if cr.n.Load() != obj.Size {
		return fmt.Errorf("usage: read %s: read %d bytes, but the object is listed with %d: it is truncated or "+
			"changed while being read: %w", obj.Key, cr.n.Load(), obj.Size, io.ErrUnexpectedEOF)
	}
	if cr.h != nil {
		w.ps.res.etags[oi] = "sha256:" + hex.EncodeToString(cr.h.Sum(nil))
	}
	w.ps.res.bytes[oi] = cr.n.Load()
	w.ps.res.taken[oi] = w.taken - takenBefore
	r.objectsDone.Add(1)
	if cap(w.long) > readBufferBytes {
		w.long = nil
	}
	r.opts.Logger.Debug("usage: object read", slog.String("object", obj.Key), slog.Int64("bytes", cr.n.Load()),
		slog.Int64("lines", lineNo), slog.Duration("elapsed", time.Since(began)))
	return nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLine returns the next line without its newline. At the end it returns io.EOF with the last
// line's bytes, if any. Lines longer than maxLineBytes return ErrLineTooLong.
func (w *worker) readLine() ([]byte, error) {
	line, err := w.br.ReadSlice('\n')
	if err == nil {
		return line[:len(line)-1], nil
	}
	if err != bufio.ErrBufferFull {
		return line, err
	}
	w.long = append(w.long[:0], line...)
	for {
		line, err = w.br.ReadSlice('\n')
		w.long = append(w.long, line...)
		n := len(w.long)
		if err == nil {
			n-- // the newline
		}
		if n > maxLineBytes {
			return nil, ErrLineTooLong
		}
		switch err {
		case nil:
			return w.long[:n], nil
		case bufio.ErrBufferFull:
		default:
			return w.long, err
		}
	}
}

// isBlank reports whether a line holds nothing but whitespace (space, tab, CR, VT, FF).
func isBlank(line []byte) bool {
	for _, c := range line {
		switch c {
		case ' ', '\t', '\r', '\v', '\f':
		default:
			return false
		}
	}
	return true
}

// line handles one non-blank line of object oi: decode, scope, validation, and dedup and rating once
// the line's batch is full (flush).
func (w *worker) line(oi int, lineNo int64, line []byte, sc *scope) {
	ps := w.ps
	p := &w.batch[w.nb]
	d := &p.d
	code, msg := w.dec.decode(line, d)
	ev := &d.ev
	if sc.special && !ps.r.inScope(line, code, ev, sc) {
		return
	}
	parsed := code == ""
	if parsed {
		code, msg = ps.r.validate(ev, sc)
	}
	if code != "" {
		w.taken++
		w.rejects = append(w.rejects, lineReject{obj: oi, line: lineNo, id: string(d.id), code: code, msg: msg})
		if d.idOK {
			w.rejectedCopy(oi, lineNo, d, parsed)
		}
		return
	}
	if !w.rater.Takes(ev) {
		return
	}
	w.taken++
	k := idHash(d.id)
	if ps.known != nil {
		if _, bad := ps.known[k]; bad {
			w.copies = append(w.copies, conflictCopy{key: k, obj: oi, line: lineNo, id: string(d.id)})
			return
		}
	}
	p.oi, p.line = oi, lineNo
	p.idOff = int32(len(w.arena))
	w.arena = append(w.arena, d.id...)
	p.idEnd = int32(len(w.arena))
	w.reqs[w.nb] = dedupReq{key: k, content: w.hasher.sum(d)}
	w.nb++
	if w.nb == len(w.batch) {
		w.flush()
	}
}

// rejectedCopy is a line rejected before dedup (a decode or partition reject) whose id is valid.
type rejectedCopy struct {
	key     idKey
	content uint64
}

// rejectedCopy records a line rejected before dedup that has a valid id. It is still a copy of its
// event: when the copies dedup takes differ from it, the id is a conflict (DESIGN §3: two copies
// with the same id but different content are all rejected, never silently picked), so the valid
// copies are rejected duplicate_conflict while this one keeps its own reject — one reject per copy
// (§11). A copy whose event parsed (rejected wrong_partition, late_report, interval_too_long, or a
// report before its end) has its content compared; one that did not parse differs from every valid
// copy. In pass 2, a copy of a conflicting id is listed with the others so their messages name it.
func (w *worker) rejectedCopy(oi int, lineNo int64, d *decoded, parsed bool) {
	k := idHash(d.id)
	if w.ps.known != nil {
		if _, bad := w.ps.known[k]; bad {
			w.copies = append(w.copies, conflictCopy{key: k, obj: oi, line: lineNo, id: string(d.id), rejected: true})
		}
		return
	}
	content := uint64(unparsedContent)
	if parsed {
		content = w.hasher.sum(d)
	}
	w.rejectedCopies = append(w.rejectedCopies, rejectedCopy{key: k, content: content})
}

// flush asks the dedup set for the verdicts of the pending events and rates them in line order: a
// first copy into the aggregate, an exact copy into scratch (to learn its rater verdict without
// billing it), a conflicting copy nowhere.
func (w *worker) flush() {
	if w.nb == 0 {
		return
	}
	ps := w.ps
	reqs := w.reqs[:w.nb]
	ps.dedup.insertBatch(reqs, &w.dbatch)
	// Look up the groups of the first copies before rating any, so the lookups' cache misses overlap.
	for i := range reqs {
		if p := &w.batch[i]; reqs[i].res == seenNew && p.d.interned {
			p.hint = w.rater.Lookup(&p.d.ev, p.d.syms, w.agg)
		}
	}
	for i := range reqs {
		p := &w.batch[i]
		switch reqs[i].res {
		case seenSame:
			w.duplicates++
			if code, msg := w.rate(&p.d, w.scratch); code != "" {
				w.raterRejects = append(w.raterRejects, lineReject{obj: p.oi, line: p.line,
					id: string(w.arena[p.idOff:p.idEnd]), code: code, msg: msg})
			} else {
				w.scratch.Reset()
			}
			continue
		case seenDifferent:
			if ps.found != nil {
				ps.addConflict(reqs[i].key)
			} else {
				// Pass 2 knows every conflicting id of pass 1: the data changed in between.
				ps.changed.Store(true)
			}
			continue
		}
		if code, msg := w.rateHinted(p); code != "" {
			if code == rating.TotalOverflow {
				w.overflow = true
				continue
			}
			w.raterRejects = append(w.raterRejects, lineReject{obj: p.oi, line: p.line,
				id: string(w.arena[p.idOff:p.idEnd]), code: code, msg: msg})
			continue
		}
		w.accepted++
	}
	w.nb = 0
	w.arena = w.arena[:0]
}

// rate rates the decoded event into agg: by its symbols when the fast path interned them.
func (w *worker) rate(d *decoded, agg *rating.Aggregate) (rating.RejectCode, string) {
	if d.interned {
		return w.rater.AddInterned(&d.ev, d.syms, agg)
	}
	return w.rater.Add(&d.ev, agg)
}

// rateHinted rates a first copy into the aggregate, with the group its lookup found.
func (w *worker) rateHinted(p *pendingEvent) (rating.RejectCode, string) {
	if p.d.interned {
		h := p.hint
		p.hint = rating.Hint{}
		return w.rater.AddHinted(&p.d.ev, p.d.syms, w.agg, h)
	}
	return w.rater.Add(&p.d.ev, w.agg)
}

// look is the lenient view of a line the scope rules need before validation.
type look struct {
	gpu                     bool
	ts, start, end          time.Time
	hasTS, hasStart, hasEnd bool
}

// lookAt returns the lenient view: from the decoded event when the line is valid, otherwise from
// whatever of type, ts, start and end parses.
func lookAt(line []byte, code rating.RejectCode, ev *rating.Event) look {
	if code == "" {
		l := look{gpu: ev.Type == rating.KindGPU, ts: ev.TS, hasTS: true}
		if l.gpu {
			l.start, l.end, l.hasStart, l.hasEnd = ev.Start, ev.End, true, true
		}
		return l
	}
	var l look
	m, code, _ := jsonObject(line)
	if code != "" {
		return l
	}
	var typ string
	if r, ok := m["type"]; ok && json.Unmarshal(r, &typ) == nil {
		l.gpu = typ == string(rating.KindGPU)
	}
	parse := func(name string) (time.Time, bool) {
		var s string
		if r, ok := m[name]; ok && json.Unmarshal(r, &s) == nil {
			return parseTimeRef(s)
		}
		return time.Time{}, false
	}
	l.ts, l.hasTS = parse("ts")
	l.start, l.hasStart = parse("start")
	l.end, l.hasEnd = parse("end")
	return l
}

// inScope applies the partition rules of DESIGN §11 to a line of a special partition; false means the
// line belongs to another window and is ignored: not validated, not counted as taken, not rejected.
func (r *reader) inScope(line []byte, code rating.RejectCode, ev *rating.Event, sc *scope) bool {
	w := r.opts.Window
	l := lookAt(line, code, ev)
	overlaps := l.gpu && l.hasStart && l.hasEnd && l.start.Before(w.To) && l.end.After(w.From)
	switch {
	case sc.dayAfter && !overlaps:
		return false
	case sc.endDay && l.hasTS && !l.ts.Before(w.To) && !overlaps:
		return false
	case sc.startDay && l.gpu && l.hasEnd && !l.end.After(w.From) && tookBefore(l, w.From):
		return false
	}
	return true
}

// tookBefore reports whether the close of the month before the one starting at from took the GPU line
// l from this, its day-after partition: whether l overlaps that month as its dayAfter rule decides.
// Only those lines are the earlier close's (DESIGN §11); one it could not place — no start, or a
// start that is not before from — is this read's to validate and reject, or no close would.
func tookBefore(l look, from time.Time) bool {
	return l.hasStart && l.start.Before(from) && l.end.After(from.AddDate(0, -1, 0))
}

// validate applies the checks that need the partition and the options (DESIGN §11).
func (r *reader) validate(ev *rating.Event, sc *scope) (rating.RejectCode, string) {
	// The UTC day of the partition is [date, dayEnd): two comparisons rather than dateOf's calendar
	// arithmetic, on every event.
	if ev.TS.Before(sc.date) || !ev.TS.Before(sc.dayEnd) {
		return rating.RejectWrongPartition, fmt.Sprintf("ts %s is on %s (UTC), but the event is in partition dt=%s",
			ev.TS.Format(time.RFC3339Nano), ev.TS.Format(time.DateOnly), sc.dt)
	}
	if ev.Type != rating.KindGPU {
		return "", ""
	}
	if ev.TS.Before(ev.End) {
		return rating.RejectInvalidValue, fmt.Sprintf("ts %s is before end %s: a GPU interval is reported when it ends",
			ev.TS.Format(time.RFC3339Nano), ev.End.Format(time.RFC3339Nano))
	}
	if ev.TS.After(ev.End.Add(lateReportAfter)) {
		return rating.RejectLateReport, fmt.Sprintf("reported at %s, more than %s after its end %s",
			ev.TS.Format(time.RFC3339Nano), lateReportAfter, ev.End.Format(time.RFC3339Nano))
	}
	if d := ev.End.Sub(ev.Start); d > r.opts.MaxGPUInterval {
		return rating.RejectIntervalTooLong, fmt.Sprintf("interval %s – %s lasts %s, longer than the maximum %s",
			ev.Start.Format(time.RFC3339Nano), ev.End.Format(time.RFC3339Nano), d, r.opts.MaxGPUInterval)
	}
	return "", ""
}
