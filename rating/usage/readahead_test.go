package usage

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

// TestReadAhead: a readAhead returns its source's bytes in order, whatever the sizes of the source's
// reads and of the reader's, then the error that ended the source, after the bytes that came with it.
func TestReadAhead(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	errBroken := errors.New("broken")
	for _, size := range []int{0, 1, readAheadBytes - 1, readAheadBytes, readAheadBytes + 1, 3*readAheadBytes + 17, (readAheadDepth + 3) * readAheadBytes} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for name, src := range map[string]io.Reader{
			"whole":    bytes.NewReader(data),
			"one byte": iotest.OneByteReader(bytes.NewReader(data)),
			"half":     iotest.HalfReader(bytes.NewReader(data)),
		} {
			ra := newReadAhead(src, nil)
			got, err := io.ReadAll(iotest.HalfReader(ra))
			ra.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%d bytes, %s reads: read %d bytes, %v; want them all", size, name, len(got), err)
			}
		}
		// A source that fails after its bytes: the reader gets every byte, then the error.
		ra := newReadAhead(io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errBroken)), nil)
		got, err := io.ReadAll(ra)
		ra.Close()
		if !errors.Is(err, errBroken) || !bytes.Equal(got, data) {
			t.Errorf("%d bytes then an error: read %d bytes, %v; want them all, then %v", size, len(got), err, errBroken)
		}
	}
}

// TestReadAheadClose: closing a readAhead before its source ends stops the goroutine without waiting
// for the source's end, and Close may be called again.
func TestReadAheadClose(t *testing.T) {
	endless := iotest.HalfReader(&repeatReader{})
	for _, before := range []int{0, 1, readAheadBytes + 5} {
		ra := newReadAhead(endless, nil)
		if _, err := io.ReadFull(ra, make([]byte, before)); err != nil {
			t.Fatal(err)
		}
		ra.Close()
		ra.Close()
	}
}

// repeatReader is an endless source of bytes.
type repeatReader struct{}

func (*repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	return len(p), nil
}
