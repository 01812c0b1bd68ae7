package rating

import (
	"bytes"
	"fmt"
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
		var str string
		var id Sym
		if i%2 == 0 {
			str, id = s.Intern(buf)
		} else {
			str, id = s.InternHashed(buf, s.Prefetch(buf))
		}
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

// TestSymbolsPrefetch checks that a hash from Prefetch stays good while the table grows before the
// string is interned, and that InternHashed finds what Intern added and the other way round.
func TestSymbolsPrefetch(t *testing.T) {
	s := NewSymbols()
	h := s.Prefetch([]byte("acct_00001"))
	for i := range 10_000 { // several doublings of the table
		s.Intern(fmt.Appendf(nil, "acct_%05d", i+2))
	}
	str, id := s.InternHashed([]byte("acct_00001"), h)
	if str != "acct_00001" || id == 0 {
		t.Fatalf("InternHashed after growth = %q, %d", str, id)
	}
	if _, again := s.Intern([]byte("acct_00001")); again != id {
		t.Errorf("Intern = Sym %d, InternHashed gave %d", again, id)
	}
	b := []byte("acct_00500")
	_, want := s.Intern(b)
	if _, got := s.InternHashed(b, s.Prefetch(b)); got != want {
		t.Errorf("InternHashed(Prefetch) = Sym %d, Intern gave %d", got, want)
	}
	if str, id := s.InternHashed(nil, s.Prefetch(nil)); str != "" || id != 0 {
		t.Errorf("the empty string: %q, %d; want \"\", 0", str, id)
	}
}
