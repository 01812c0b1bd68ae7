package textcache

import (
	"fmt"
	"strings"
	"testing"
)

// quote is a stand-in encoder that counts its calls.
type quote struct{ calls int }

func (q *quote) encode(dst []byte, s string) []byte {
	q.calls++
	return fmt.Appendf(dst, "%q", s)
}

// TestAppend: the same string is encoded once and copied after; an equal string at another address is
// encoded on its own (and gives the same bytes); the output is what encode gives either way.
func TestAppend(t *testing.T) {
	var c Cache
	var q quote
	a := "llama-v3p1-8b-instruct, input tokens"
	b := strings.Clone(a) // equal, at another address
	var got []byte
	for range 3 {
		got = c.Append(got, a, q.encode)
	}
	if q.calls != 1 {
		t.Errorf("the same string 3 times: %d encodes, want 1", q.calls)
	}
	got = c.Append(got, b, q.encode)
	if q.calls != 2 {
		t.Errorf("an equal string at another address: %d encodes in all, want 2", q.calls)
	}
	if want := strings.Repeat(fmt.Sprintf("%q", a), 4); string(got) != want {
		t.Errorf("Append gave %s, want %s", got, want)
	}
}

// TestAppendSubstrings: strings that start at the same address but differ in length — a string and
// its prefix — are different strings.
func TestAppendSubstrings(t *testing.T) {
	var c Cache
	var q quote
	s := "accounts/fireworks/models/deepseek-v3"
	var got []byte
	for _, x := range []string{s, s[:8], s, s[:8]} {
		got = c.Append(got, x, q.encode)
	}
	want := fmt.Sprintf("%q%q%q%q", s, s[:8], s, s[:8])
	if string(got) != want {
		t.Errorf("Append gave %s, want %s", got, want)
	}
}

// TestAppendMany: more distinct strings than slots, met twice in turn, all come out right — whether
// a slot still holds a string's encoding or another took it — and the repeats of those still held
// are not encoded again.
func TestAppendMany(t *testing.T) {
	var c Cache
	var q quote
	texts := make([]string, 3<<slotBits)
	for i := range texts {
		texts[i] = fmt.Sprintf("model-%d, output tokens", i)
	}
	var got, want []byte
	for range 2 {
		for _, s := range texts {
			got = c.Append(got, s, q.encode)
			want = fmt.Appendf(want, "%q", s)
		}
	}
	if string(got) != string(want) {
		t.Fatal("Append gave other bytes than encode")
	}
	if q.calls < len(texts) || q.calls > 2*len(texts) {
		t.Errorf("%d encodes for %d strings met twice", q.calls, len(texts))
	}
	q.calls = 0
	for range 2 {
		c.Append(nil, texts[0], q.encode)
	}
	if q.calls > 1 {
		t.Errorf("a string met twice in a row: %d encodes, want at most 1", q.calls)
	}
}

// TestAppendEmpty: the empty string is passed to encode every time.
func TestAppendEmpty(t *testing.T) {
	var c Cache
	var q quote
	got := c.Append(nil, "", q.encode)
	got = c.Append(got, "", q.encode)
	if string(got) != `""""` || q.calls != 2 {
		t.Errorf("Append of \"\" twice gave %s with %d encodes, want \"\"\"\" with 2", got, q.calls)
	}
}

func BenchmarkAppend(b *testing.B) {
	var c Cache
	var q quote
	s := "accounts/fireworks/models/llama-v3p1-70b-instruct, batch cached input tokens"
	buf := make([]byte, 0, 256)
	for b.Loop() {
		buf = c.Append(buf[:0], s, q.encode)
	}
}
