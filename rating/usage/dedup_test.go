package usage

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestDedupSet(t *testing.T) {
	var s dedupSet
	defer s.free()
	const n = 200_000
	for i := range n {
		if got := s.insert(idHash([]byte(fmt.Sprint("id-", i))), uint64(i)); got != seenNew {
			t.Fatalf("insert(new id %d) = %d, want seenNew", i, got)
		}
	}
	for i := range n {
		k := idHash([]byte(fmt.Sprint("id-", i)))
		if got := s.insert(k, uint64(i)); got != seenSame {
			t.Fatalf("insert(id %d again) = %d, want seenSame", i, got)
		}
		if got := s.insert(k, uint64(i)+1); got != seenDifferent {
			t.Fatalf("insert(id %d, other content) = %d, want seenDifferent", i, got)
		}
	}
	if s.len() != n {
		t.Errorf("len = %d, want %d", s.len(), n)
	}
}

func TestIDHash(t *testing.T) {
	long := "0123456789abcdef"
	for _, c := range []struct{ a, b string }{
		{"", "\x00"}, {"a", "a\x00"}, {"ev-1", "ev-10"}, {long[:15], long}, {long, long + "x"},
		{"abcdefghijklmno", "abcdefghijklmnp"},
	} {
		if idHash([]byte(c.a)) == idHash([]byte(c.b)) {
			t.Errorf("idHash(%q) = idHash(%q), want different keys", c.a, c.b)
		}
	}
	for _, id := range []string{"", "x", long[:15], long, long + long} {
		if k := idHash([]byte(id)); k == (idKey{}) || k != idHash([]byte(id)) {
			t.Errorf("idHash(%q) = %v: zero or unstable", id, k)
		}
		if short := idHash([]byte(id)).hi&shortIDTag != 0; short != (len(id) <= maxShortID) {
			t.Errorf("idHash(%q) short = %t, want %t", id, short, len(id) <= maxShortID)
		}
	}
}

func TestDedupSetConcurrent(t *testing.T) {
	var s dedupSet
	defer s.free()
	var wg sync.WaitGroup
	var mu sync.Mutex
	news := 0
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := 0
			for i := range 50_000 {
				// every worker inserts every id: exactly one sees it first
				if s.insert(idHash([]byte(fmt.Sprint((i+w*7)%50_000))), 1) == seenNew {
					mine++
				}
			}
			mu.Lock()
			news += mine
			mu.Unlock()
		}()
	}
	wg.Wait()
	if news != 50_000 || s.len() != 50_000 {
		t.Errorf("%d first copies, %d ids; want 50000 each", news, s.len())
	}
}

// TestDedupSetMemory checks the growth per distinct id stays within the 48-byte budget at every size.
func TestDedupSetMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 2M ids")
	}
	var s dedupSet
	defer s.free()
	worst := 0.0
	for i := 1; i <= 2_000_000; i++ {
		s.insert(idHash(fmt.Appendf(nil, "ev-%09d", i)), 0)
		if i >= 100_000 && i%50_000 == 0 {
			if per := float64(s.bytes()) / float64(i); per > worst {
				worst = per
			}
		}
	}
	t.Logf("dedup set: %.1f bytes per id at 2M ids, worst %.1f from 100k ids on", float64(s.bytes())/2e6, worst)
	if worst > 48 {
		t.Errorf("dedup set uses up to %.1f bytes per id, want at most 48", worst)
	}
}

// BenchmarkDedupInsert inserts 2M fresh ids (hash included) into a set that grows to hold them, or
// that reserve sized for them up front, as Read does once it can estimate the ids of a large read.
func BenchmarkDedupInsert(b *testing.B) {
	const ids = 2_000_000
	keys := make([]idKey, ids)
	for i := range keys {
		keys[i] = idHash(fmt.Appendf(nil, "ev-%09d", i))
	}
	for _, reserved := range []bool{false, true} {
		b.Run(fmt.Sprintf("reserved=%t", reserved), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var s dedupSet
				if reserved {
					s.reserve(ids)
				}
				for _, k := range keys {
					s.insert(k, 0)
				}
				s.free()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*ids), "ns/id")
		})
	}
}

// TestDedupInsertBatch checks that batched inserts give the verdicts of inserting one at a time, copies
// of an id within one batch included, across table growth.
func TestDedupInsertBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var one, batched dedupSet
	defer one.free()
	defer batched.free()
	var b dedupBatch
	for round := range 200 {
		reqs := make([]dedupReq, 1+rng.IntN(600))
		for i := range reqs {
			id := fmt.Sprintf("ev-%d", rng.IntN(20000))
			if rng.IntN(4) == 0 {
				id += "-with-a-long-suffix-hashed"
			}
			reqs[i] = dedupReq{key: idHash([]byte(id)), content: uint64(rng.IntN(3))}
		}
		want := make([]seenResult, len(reqs))
		for i, r := range reqs {
			want[i] = one.insert(r.key, r.content)
		}
		batched.insertBatch(reqs, &b)
		for i, r := range reqs {
			if r.res != want[i] {
				t.Fatalf("round %d, request %d: batched verdict %d, one at a time %d", round, i, r.res, want[i])
			}
		}
	}
	if one.len() != batched.len() {
		t.Fatalf("batched set holds %d ids, the other %d", batched.len(), one.len())
	}
}
