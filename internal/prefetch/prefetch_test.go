package prefetch

import (
	"testing"
	"unsafe"
)

// TestLine checks that a prefetch changes nothing it points at and does not fault on nil.
func TestLine(t *testing.T) {
	b := []byte{1, 2, 3}
	Line(unsafe.Pointer(&b[1]))
	if b[0] != 1 || b[1] != 2 || b[2] != 3 {
		t.Fatalf("the prefetched bytes changed: %v", b)
	}
	Line(nil)
}

func BenchmarkLine(b *testing.B) {
	buf := make([]byte, 1<<20)
	i := 0
	for b.Loop() {
		Line(unsafe.Pointer(&buf[i]))
		i = (i + 4096 + 64) & (len(buf) - 1)
	}
}
