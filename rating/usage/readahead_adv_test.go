package usage

import (
	"billrun/rating"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bigLines returns n valid events with incompressible padding, so that a gzip of them is over a MiB.
func bigLines(n int) []byte {
	rng := rand.New(rand.NewPCG(5, 6))
	var sb strings.Builder
	pad := make([]byte, 60)
	for i := range n {
		for j := range pad {
			pad[j] = byte(rng.Uint32())
		}
		sb.WriteString(svl(fmt.Sprintf("e%d", i), "2026-10-05T10:00:00Z", "acct_1", 1, 0, `"pad":"`+hex.EncodeToString(pad)+`"`))
		sb.WriteByte('\n')
	}
	return []byte(sb.String())
}

// TestReadAheadSampleReserve: one object over a MiB read by 2 workers is read ahead, and the dedup
// estimate taken after its first MiB must not touch the readers the read-ahead goroutine is using
// (a data race on w.raw), nor count the bytes read ahead as read (it sized the set for a fifth of the
// ids of an uncompressed object).
func TestReadAheadSampleReserve(t *testing.T) {
	content := bigLines(20000)
	for _, key := range []string{"dt=2026-10-05/a.jsonl.gz", "dt=2026-10-05/a.jsonl"} {
		data := content
		if strings.HasSuffix(key, ".gz") {
			data = gzipped(t, content)
		}
		if len(data) < reserveSampleBytes+100000 {
			t.Fatalf("%d bytes: too small", len(data))
		}
		src := newMemSource(map[string][]byte{key: data})
		var estimate int64
		reservedHook = func(ids int64) { estimate = ids }
		res, err := readMem(t, src, Options{Workers: 2})
		reservedHook = nil
		if err != nil {
			t.Fatal(err)
		}
		if res.Counts.Accepted != 20000 {
			t.Errorf("%s: accepted %d, want 20000", key, res.Counts.Accepted)
		}
		// The lines are alike, so the sample's estimate is close to the count: the bytes the
		// read-ahead holds are not counted as read.
		if estimate < 18000 || estimate > 22000 {
			t.Errorf("%s: the dedup set was sized for %d ids, want about 20000", key, estimate)
		}
	}
}

// TestReadAheadFaultMidObject: a body failing mid-object with read-ahead on (a single object with 2
// workers; the last objects of a pass) fails the read with the source's error, naming the object.
func TestReadAheadFaultMidObject(t *testing.T) {
	content := bigLines(20000)
	gz := gzipped(t, content)
	for _, at := range []int{0, 10, 100000, len(gz) / 2, len(gz) - 1} {
		files := map[string][]byte{"dt=2026-10-05/a.jsonl.gz": gz, "dt=2026-10-06/b.jsonl": content[:len(content)/3],
			"dt=2026-10-07/c.jsonl": content[:len(content)/4]}
		for _, key := range []string{"dt=2026-10-05/a.jsonl.gz", "dt=2026-10-07/c.jsonl"} {
			src := newMemSource(files)
			src.failAt[key] = min(at, len(files[key])-1)
			_, err := readMem(t, src, Options{Workers: 2})
			if !errors.Is(err, errConnReset) || !strings.Contains(err.Error(), key) {
				t.Errorf("fail %s at %d: Read = %v, want the read error naming it", key, at, err)
			}
		}
	}
}

// TestReadAheadNoLeak: reads that fail in every way an object read ahead can (a body error, a line too
// long, a corrupt stream, a cancelled context) leave no read-ahead goroutine behind.
func TestReadAheadNoLeak(t *testing.T) {
	content := bigLines(3000)
	gz := gzipped(t, content)
	long := append(append([]byte{}, content...), bytes.Repeat([]byte("x"), maxLineBytes+1)...)
	before := runtime.NumGoroutine()
	for i := range 5 {
		src := newMemSource(map[string][]byte{"dt=2026-10-05/a.jsonl.gz": gz, "dt=2026-10-06/b.jsonl": long,
			"dt=2026-10-07/c.jsonl.gz": gz[:len(gz)/2], "dt=2026-10-08/d.jsonl": content})
		src.failAt["dt=2026-10-08/d.jsonl"] = len(content) / 2
		ctx, cancel := context.WithCancel(context.Background())
		if i%2 == 1 {
			go cancel()
		}
		_, err := Read(ctx, src, Options{PriceBook: testPriceBook(t), Window: octWindow(), Workers: 3})
		cancel()
		if err == nil {
			t.Fatal("Read succeeded")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after the reads, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// stallSource serves one object whose body delivers data, then stalls until the context the object
// was opened with ends, as an HTTP body on a connection that stopped sending does.
type stallSource struct {
	obj  rating.Object
	data []byte
}

func (s *stallSource) List(context.Context, []string) ([]rating.Object, []string, error) {
	return []rating.Object{s.obj}, nil, nil
}

func (s *stallSource) Open(ctx context.Context, obj rating.Object) (io.ReadCloser, error) {
	return io.NopCloser(io.MultiReader(bytes.NewReader(s.data), ctxReader{ctx})), nil
}

func (s *stallSource) String() string { return "stall://" }

type ctxReader struct{ ctx context.Context }

func (r ctxReader) Read([]byte) (int, error) {
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

// TestReadAheadStalledBodyAfterLongLine: an object read ahead whose line is too long fails the read
// even when its body has stalled after that line. The decoding goroutine's early exit waited for the
// read-ahead goroutine, blocked in the body's Read until the read's context ended — which errgroup
// does only once that very worker returns: the read hung for good. (A slow body, or the S3 reader's
// resumptions, held the error back as long.)
func TestReadAheadStalledBodyAfterLongLine(t *testing.T) {
	// The long line, then more than a chunk of lines: the chunks holding the line reach the decoder,
	// and the read-ahead goroutine waits in the body's Read for the rest of the next one.
	data := append(bytes.Repeat([]byte("x"), maxLineBytes+1), '\n')
	data = append(data, bytes.Repeat([]byte("{}\n"), readAheadBytes/2)...)
	src := &stallSource{obj: rating.Object{Key: "dt=2026-10-05/a.jsonl", Size: int64(len(data)) + 100, ETag: `"a"`}, data: data}
	done := make(chan error, 1)
	go func() {
		_, err := Read(context.Background(), src, Options{PriceBook: testPriceBook(t), Window: octWindow(), Workers: 2})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLineTooLong) {
			t.Errorf("Read = %v, want ErrLineTooLong", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Read still running 30 s after its object's line was found too long")
	}
}
