package usage

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"sync"
	"time"

	"billrun/rating"
)

// Dedup (DESIGN §3): an event id is kept as a 128-bit hash — the first 16 bytes of its SHA-256, stable
// across processes (so a future shard split by id hash agrees with it) and with collision odds far below
// 1e-20 at a billion events — together with a 64-bit hash of the event's content, which tells an exact
// copy from a conflicting one. A content-hash collision could only make two different copies look equal,
// with odds of 2^-64 per pair of copies of one id; an id-hash collision, which could drop a real event,
// is what the 128 bits rule out.

// idKey is the 128-bit hash of an event id. The all-zero value marks an empty table slot, so a hash
// that is all zero is stored as 1 (odds 2^-127 of merging it with another id).
type idKey struct{ hi, lo uint64 }

func idHash(id []byte) idKey {
	sum := sha256.Sum256(id)
	k := idKey{binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16])}
	if k == (idKey{}) {
		k.lo = 1
	}
	return k
}

// contentHasher hashes the canonical content of an event: every field DESIGN §3 defines, after parsing
// (times as UTC instants, defaults applied), so key order, spacing and unknown fields do not matter.
// The seed is per Read; the hash is only compared within one run.
type contentHasher struct {
	seed maphash.Seed
	buf  []byte
}

func (h *contentHasher) sum(ev *rating.Event) uint64 {
	b := h.buf[:0]
	str := func(s string) {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	num := func(n int64) { b = binary.LittleEndian.AppendUint64(b, uint64(n)) }
	tm := func(t time.Time) {
		num(t.Unix())
		b = binary.LittleEndian.AppendUint32(b, uint32(t.Nanosecond()))
	}
	str(string(ev.Type))
	tm(ev.TS)
	str(ev.Account)
	switch ev.Type {
	case rating.KindServerless:
		str(ev.Model)
		str(ev.BaseModel)
		num(ev.InputTokens)
		num(ev.OutputTokens)
		num(ev.CachedInputTokens)
		if ev.Batch {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case rating.KindGPU:
		str(ev.Deployment)
		str(ev.GPUType)
		num(ev.GPUCount)
		tm(ev.Start)
		tm(ev.End)
	case rating.KindFineTuning:
		str(ev.Job)
		str(ev.BaseModel)
		num(ev.TrainingTokens)
		num(ev.Epochs)
		str(ev.Method)
	}
	h.buf = b
	return maphash.Bytes(h.seed, b)
}

// seenResult is what the dedup set knew of an id before an insert.
type seenResult uint8

const (
	seenNew       seenResult = iota // first copy
	seenSame                        // a copy with the same content was seen before
	seenDifferent                   // a copy with different content was seen before: a conflict
)

const (
	dedupShardBits = 6
	dedupShards    = 1 << dedupShardBits
	// dedupMinSlots is a shard's first table size.
	dedupMinSlots = 64
	// A shard's table grows by half when it would be more than 4/5 full, so a table is between 8/15
	// and 4/5 full: 24-byte slots cost 30–45 bytes per id.
	dedupMaxLoadNum, dedupMaxLoadDen = 4, 5
)

// dedupSet is the set of ids a read has taken, each with its content hash: 64 shards, each an
// open-addressing table (linear probing) of fixed 24-byte slots behind its own mutex. Shards are picked
// by the top bits of the id hash, slots by the low half, so the two are independent.
type dedupSet struct {
	shards [dedupShards]dedupShard
}

type dedupShard struct {
	mu    sync.Mutex
	slots []dedupSlot
	n     int
	_     [24]byte // keeps neighbouring shards' mutexes off one cache line
}

type dedupSlot struct {
	key     idKey
	content uint64
}

// insert records that a copy of id k with the given content hash was taken, and reports what was
// known of k before.
func (s *dedupSet) insert(k idKey, content uint64) seenResult {
	sh := &s.shards[k.hi>>(64-dedupShardBits)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if (sh.n+1)*dedupMaxLoadDen > len(sh.slots)*dedupMaxLoadNum {
		sh.grow()
	}
	i := slotIndex(k, len(sh.slots))
	for {
		slot := &sh.slots[i]
		switch slot.key {
		case idKey{}:
			slot.key, slot.content = k, content
			sh.n++
			return seenNew
		case k:
			if slot.content == content {
				return seenSame
			}
			return seenDifferent
		}
		if i++; i == len(sh.slots) {
			i = 0
		}
	}
}

func (sh *dedupShard) grow() {
	n := len(sh.slots) + len(sh.slots)/2
	if n < dedupMinSlots {
		n = dedupMinSlots
	}
	old := sh.slots
	sh.slots = make([]dedupSlot, n)
	for _, slot := range old {
		if slot.key == (idKey{}) {
			continue
		}
		i := slotIndex(slot.key, n)
		for sh.slots[i].key != (idKey{}) {
			if i++; i == n {
				i = 0
			}
		}
		sh.slots[i] = slot
	}
}

// slotIndex maps k uniformly onto [0, n) without a division (Lemire's multiply-shift).
func slotIndex(k idKey, n int) int {
	hi, _ := bits.Mul64(k.lo, uint64(n))
	return int(hi)
}

// len returns the number of distinct ids in the set.
func (s *dedupSet) len() int {
	n := 0
	for i := range s.shards {
		n += s.shards[i].n
	}
	return n
}

// bytes returns the memory held by the tables.
func (s *dedupSet) bytes() int64 {
	var n int64
	for i := range s.shards {
		n += int64(len(s.shards[i].slots)) * 24
	}
	return n
}
