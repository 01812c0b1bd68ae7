package usage

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"strings"
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

func TestContentHash(t *testing.T) {
	// Each group holds lines of one content — written differently: key order, spacing, unknown fields,
	// a UTC offset, escapes (which the fast path leaves to the fallback), defaults written out — and
	// every group differs from the first of its type in one field. One decoder and one hasher take
	// all the lines, in order and then again in reverse, as a worker would.
	groups := [][]string{
		{svl("e1", "2026-10-05T14:03:07Z", "acct_1", 100, 20),
			`{"output_tokens":20, "input_tokens":100, "model":"m-small", "type":"serverless", "account":"acct_1", "ts":"2026-10-05T16:03:07+02:00", "id":"e1", "x":[1,{"y":null}]}`,
			strings.Replace(svl("e1", "2026-10-05T14:03:07Z", "acct_1", 100, 20), `"acct_1"`, `"acct\u005f1"`, 1),
			svl("e1", "2026-10-05T14:03:07Z", "acct_1", 100, 20, `"batch":false`, `"cached_input_tokens":0`, `"base_model":null`)},
		{svl("e1", "2026-10-05T14:03:07Z", "acct_2", 100, 20)},
		{svl("e1", "2026-10-05T14:03:08Z", "acct_1", 100, 20)},
		{svl("e1", "2026-10-05T14:03:07.5Z", "acct_1", 100, 20)},
		{svl("e1", "2026-10-05T14:03:07Z", "acct_1", 101, 20)},
		{svl("e1", "2026-10-05T14:03:07Z", "acct_1", 100, 21)},
		{svl("e1", "2026-10-05T14:03:07Z", "acct_1", 100, 20, `"cached_input_tokens":1`)},
		{svl("e1", "2026-10-05T14:03:07Z", "acct_1", 100, 20, `"batch":true`)},
		{svl("e1", "2026-10-05T14:03:07Z", "acct_1", 100, 20, `"base_model":"m-base"`)},
		{strings.Replace(svl("e1", "2026-10-05T14:03:07Z", "acct_1", 100, 20), "m-small", "m-large", 1),
			strings.Replace(svl("e1", "2026-10-05T14:03:07Z", "acct_1", 100, 20), `"m-small"`, `"m-l\u0061rge"`, 1)},
		{gpu(), gpu(`"extra":"x"`), strings.Replace(gpu(), `"dep-1"`, `"dep\u002d1"`, 1)},
		{strings.Replace(gpu(), `"dep-1"`, `"dep-2"`, 1)},
		{strings.Replace(gpu(), `"H100-80GB"`, `"A100-80GB"`, 1)},
		{strings.Replace(gpu(), `"gpu_count":2`, `"gpu_count":3`, 1)},
		{strings.Replace(gpu(), `13:00:00Z`, `12:00:00Z`, 1)},
		{strings.Replace(gpu(), `13:00:00Z`, `13:00:00.5Z`, 1)},
		{strings.Replace(gpu(), `14:00:00Z"`, `14:00:00.5Z"`, 1)},
		{strings.Replace(gpu(), `14:00:00Z"`, `13:30:00Z"`, 1)},
		{ft(), ft(`"epochs":1`, `"method":"lora_sft"`), ft(`"method":null`)},
		{strings.Replace(ft(), `"job-1"`, `"job-2"`, 1)},
		{strings.Replace(ft(), `"base-8b"`, `"base-70b"`, 1)},
		{strings.Replace(ft(), `1000`, `1001`, 1)},
		{ft(`"epochs":2`)},
		{ft(`"method":"full_sft"`)},
	}
	// And in each group, line 0 with its id escaped: the fallback decodes it, with no Syms, so every
	// string field of every type is hashed both ways.
	for gi := range groups {
		fallback := strings.Replace(groups[gi][0], `"id":"e1"`, `"id":"e\u0031"`, 1)
		if fallback == groups[gi][0] {
			t.Fatalf("group %d: no id to escape in %s", gi, fallback)
		}
		groups[gi] = append(groups[gi], fallback)
	}
	seed := maphash.MakeSeed()
	dec := decoder{syms: newDecoderSyms(seed)}
	h := contentHasher{seed: seed}
	type at struct{ g, l int }
	var order []at
	sums := make([][]uint64, len(groups))
	for gi := range groups {
		for li := range groups[gi] {
			order = append(order, at{gi, li})
		}
		sums[gi] = make([]uint64, len(groups[gi]))
	}
	for pass := range 2 {
		for i := range order {
			p := order[i]
			if pass == 1 {
				p = order[len(order)-1-i]
			}
			var d decoded
			if code, msg := dec.decode([]byte(groups[p.g][p.l]), &d); code != "" {
				t.Fatalf("group %d line %d: %s %s", p.g, p.l, code, msg)
			}
			sum := h.sum(&d)
			if pass == 0 {
				sums[p.g][p.l] = sum
			} else if sum != sums[p.g][p.l] {
				t.Errorf("group %d line %d: content hash %x after the others, %x before", p.g, p.l, sum, sums[p.g][p.l])
			}
		}
	}
	seen := map[uint64]int{}
	for gi, g := range sums {
		for li, s := range g {
			if s != g[0] {
				t.Errorf("group %d line %d %s: content hash differs from line 0's %s", gi, li, groups[gi][li], groups[gi][0])
			}
		}
		if other, dup := seen[g[0]]; dup {
			t.Errorf("groups %d and %d have different content and the same hash:\n%s\n%s", other, gi, groups[other][0], groups[gi][0])
		}
		seen[g[0]] = gi
	}
}
