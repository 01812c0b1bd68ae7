package usage

import (
	"io"
	"sync"
)

// Read-ahead sizes: chunks of readAheadBytes, up to readAheadDepth of them decompressed ahead of the
// lines being decoded (1.25 MB per object read this way).
const (
	readAheadBytes = 256 << 10
	readAheadDepth = 4
)

// readAhead reads src on a goroutine of its own, a few chunks ahead of its reader, so that
// decompressing an object and decoding its lines run on two cores at once. A read does this for the
// objects that would otherwise leave a core idle: a month in fewer objects than workers, and the last
// objects of a pass, which the other workers finish before. Read returns src's bytes in order, then the
// error that ended src (io.EOF at its end) once they are all read. Close stops the goroutine and waits
// for it: only then may the caller touch src, or what src reads from, again.
type readAhead struct {
	full      chan readChunk // chunks read, in order; the last one carries src's error
	free      chan []byte    // buffers to fill again
	done      chan struct{}  // closed by Close
	exited    chan struct{}  // closed when the goroutine has returned
	closeOnce sync.Once

	cur []byte // the unread part of the current chunk's buffer is cur[off:]
	off int
	err error // the error after cur
	pos int64 // the position after cur (see newReadAhead)
}

type readChunk struct {
	b   []byte
	err error
	pos int64
}

// newReadAhead starts reading src ahead. pos, when set, is called on the read-ahead goroutine after
// each chunk is read and returns the position (such as the raw bytes of the object consumed) behind
// it: the reader learns it from Pos, without touching what src reads from while the goroutine does.
func newReadAhead(src io.Reader, pos func() int64) *readAhead {
	ra := &readAhead{full: make(chan readChunk, readAheadDepth), free: make(chan []byte, readAheadDepth+1),
		done: make(chan struct{}), exited: make(chan struct{})}
	for range readAheadDepth + 1 {
		ra.free <- make([]byte, readAheadBytes)
	}
	go ra.fill(src, pos)
	return ra
}

// Pos returns the position pos returned after the chunk being read, and how many of its bytes are
// not read yet: the bytes read so far correspond to the position less those.
func (ra *readAhead) Pos() (pos int64, unread int) { return ra.pos, len(ra.cur) - ra.off }

// fill reads src into free buffers until src ends or fails, or Close is called.
func (ra *readAhead) fill(src io.Reader, pos func() int64) {
	defer close(ra.exited)
	for {
		var buf []byte
		select {
		case buf = <-ra.free:
		case <-ra.done:
			return
		}
		n := 0
		var err error
		for n < len(buf) && err == nil {
			var m int
			m, err = src.Read(buf[n:])
			n += m
		}
		var at int64
		if pos != nil {
			at = pos()
		}
		select {
		case ra.full <- readChunk{b: buf[:n], err: err, pos: at}:
		case <-ra.done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (ra *readAhead) Read(p []byte) (int, error) {
	for ra.off == len(ra.cur) {
		if ra.cur != nil {
			ra.free <- ra.cur[:cap(ra.cur)] // never blocks: free holds every buffer
			ra.cur = nil
		}
		if ra.err != nil {
			return 0, ra.err
		}
		c := <-ra.full
		ra.cur, ra.off, ra.err, ra.pos = c.b, 0, c.err, c.pos
	}
	n := copy(p, ra.cur[ra.off:])
	ra.off += n
	return n, nil
}

// Close stops the goroutine and waits until it has returned. It may be called more than once.
func (ra *readAhead) Close() {
	ra.closeOnce.Do(func() { close(ra.done) })
	<-ra.exited
}
