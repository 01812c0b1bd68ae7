package rating

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestSymbolsIntern interns strings of every length up to well past a chunk — packed into chunks,
// or copied on their own — from a buffer that is overwritten after each call, and checks every string
// keeps its bytes, its Sym, and is found again by its bytes.
func TestSymbolsIntern(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	s := NewSymbols()
	var want []string // by Sym
	want = append(want, "")
	buf := make([]byte, 0, 2*symChunk)
	for i := range 20_000 {
		n := rng.IntN(64)
		if i%97 == 0 {
			n = rng.IntN(2 * symChunk)
		}
		buf = buf[:0]
		for range n {
			buf = append(buf, byte('a'+rng.IntN(26)))
		}
		str, id := s.Intern(buf)
		if str != string(buf) {
			t.Fatalf("Intern(%q) = %q", buf, str)
		}
		if int(id) == len(want) {
			want = append(want, string(buf))
		} else if want[id] != string(buf) {
			t.Fatalf("Intern(%q) = Sym %d, which is %q", buf, id, want[id])
		}
		for j := range buf { // the caller's bytes change; the interned string must not
			buf[j] = '#'
		}
	}
	if s.Len() != len(want) {
		t.Fatalf("Len() = %d, want %d", s.Len(), len(want))
	}
	for id, w := range want {
		if got := s.String(Sym(id)); got != w {
			t.Fatalf("String(%d) = %q, want %q", id, got, w)
		}
		if str, got := s.Intern(bytes.Clone([]byte(w))); got != Sym(id) || str != w {
			t.Fatalf("Intern(%q) again = %q, %d; want Sym %d", w, str, got, id)
		}
	}
	if s.Len() != len(want) {
		t.Fatalf("Len() = %d after interning the same strings again, want %d", s.Len(), len(want))
	}
}
