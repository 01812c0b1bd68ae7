package usage

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"sync"
	"unsafe"

	"billrun/internal/prefetch"
	"billrun/rating"
)

// Dedup (DESIGN §3): an event id is kept exactly when it is at most 15 bytes long (the id itself, with
// its length), and otherwise as a 127-bit hash — the first 16 bytes of its SHA-256 with one bit used as
// the tag that tells the two forms apart — stable across processes (so a future shard split by id
// agrees with it) and with collision odds below 1e-20 at a billion events. Next to it is a 64-bit hash
// of the event's content, which tells an exact copy from a conflicting one. A content-hash collision
// could only make two different copies look equal, with odds of 2^-64 per pair of copies of one id; an
// id-hash collision, which could drop a real event, is what the 127 bits rule out. Short ids — the
// common case, e.g. "ev-" and ten hex digits — cost no hashing at all.

// idKey is an event id: the id's bytes and length when it is short (shortIDTag set in hi), otherwise
// its 127-bit hash (shortIDTag clear). The all-zero value marks an empty table slot, so a hash that is
// all zero is stored as 1 (odds 2^-127 of merging it with another id).
type idKey struct{ hi, lo uint64 }

// shortIDTag marks an idKey holding the id itself: the top bit of its last byte, whose low bits hold
// the length.
const shortIDTag = 1 << 63

// maxShortID is the longest id kept as itself.
const maxShortID = 15

func idHash(id []byte) idKey {
	if len(id) <= maxShortID {
		var b [16]byte
		copy(b[:], id)
		b[15] = byte(len(id))
		return idKey{lo: binary.LittleEndian.Uint64(b[0:8]), hi: binary.LittleEndian.Uint64(b[8:16]) | shortIDTag}
	}
	sum := sha256.Sum256(id)
	k := idKey{lo: binary.LittleEndian.Uint64(sum[0:8]), hi: binary.LittleEndian.Uint64(sum[8:16]) &^ shortIDTag}
	if k == (idKey{}) {
		k.lo = 1
	}
	return k
}

// spread mixes both halves of a key into a well-distributed 64-bit hash for picking its shard and
// slot: short keys are raw id bytes, far from uniform.
func (k idKey) spread() uint64 {
	return fmix64(k.lo ^ fmix64(k.hi))
}

// fmix64 is MurmurHash3's 64-bit finalizer: a bijection that mixes every input bit into every output bit.
func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// contentHasher hashes the canonical content of an event: every field DESIGN §3 defines, after parsing
// (times as UTC instants, defaults applied), so key order, spacing and unknown fields do not matter.
// The seed is per Read; the hash is only compared within one run.
//
// The content is a few 64-bit words — the type, the numbers and times, and for each string its strSum
// — hashed once more as bytes. Two copies that differ get equal hashes only if one of their differing
// strings' strSums or the final hash collides: odds of about 2^-63 per pair of copies of one id. The
// fast path's strSums cost nothing: they are the hashes it interned the strings with (decoded.sums);
// the fallback computes them.
type contentHasher struct {
	seed  maphash.Seed
	words [contentWords]uint64
}

// contentWords is the most words an event's content takes (a GPU event's).
const contentWords = 12

// strSum is the hash of one string of an event's content: maphash with the read's seed, which every
// symbol table of the read's decoders hashes with too; 0 for the empty string.
func strSum(seed maphash.Seed, s string) uint64 {
	if s == "" {
		return 0
	}
	return maphash.String(seed, s)
}

// kindWord is the first word of an event's content: its type (decoders take no other).
func kindWord(k rating.Kind) uint64 {
	switch k {
	case rating.KindServerless:
		return 1
	case rating.KindGPU:
		return 2
	case rating.KindFineTuning:
		return 3
	}
	return 0
}

// sum returns the content hash of d's event.
func (h *contentHasher) sum(d *decoded) uint64 {
	ev := &d.ev
	ss := d.sums
	if !d.interned {
		ss = eventSums{account: strSum(h.seed, ev.Account)}
		switch ev.Type {
		case rating.KindServerless:
			ss.product, ss.base = strSum(h.seed, ev.Model), strSum(h.seed, ev.BaseModel)
		case rating.KindGPU:
			ss.product, ss.aux = strSum(h.seed, ev.GPUType), strSum(h.seed, ev.Deployment)
		case rating.KindFineTuning:
			ss.product, ss.base, ss.aux = strSum(h.seed, ev.Job), strSum(h.seed, ev.BaseModel), strSum(h.seed, ev.Method)
		}
	}
	w := &h.words
	w[0] = kindWord(ev.Type)
	w[1] = uint64(ev.TS.Unix())
	w[2] = uint64(ev.TS.Nanosecond())
	w[3] = ss.account
	w[4] = ss.product
	w[5] = ss.base
	w[6] = ss.aux
	n := 7
	switch ev.Type {
	case rating.KindServerless:
		w[7] = uint64(ev.InputTokens)
		w[8] = uint64(ev.OutputTokens)
		w[9] = uint64(ev.CachedInputTokens)
		w[10] = 0
		if ev.Batch {
			w[10] = 1
		}
		n = 11
	case rating.KindGPU:
		w[7] = uint64(ev.GPUCount)
		w[8] = uint64(ev.Start.Unix())
		w[9] = uint64(ev.Start.Nanosecond())
		w[10] = uint64(ev.End.Unix())
		w[11] = uint64(ev.End.Nanosecond())
		n = 12
	case rating.KindFineTuning:
		w[7] = uint64(ev.TrainingTokens)
		w[8] = uint64(ev.Epochs)
		n = 9
	}
	sum := maphash.Bytes(h.seed, unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n*8))
	if sum == unparsedContent {
		sum = 1 // odds 2^-64 of merging it with another content
	}
	return sum
}

// unparsedContent stands for the content of a rejected line whose event did not parse (decode
// rejected it): it differs from every parsed event's content hash (sum never returns it), since a
// copy that misses a field, or has a value no valid copy can have, differs from every valid copy.
const unparsedContent = 0

// seenResult is what the dedup set knew of an id before an insert.
type seenResult uint8

const (
	seenNew       seenResult = iota // first copy
	seenSame                        // a copy with the same content was seen before
	seenDifferent                   // a copy with different content was seen before: a conflict
)

const (
	dedupShardBits = 4
	dedupShards    = 1 << dedupShardBits
	// dedupMinSlots is a shard's first table size.
	dedupMinSlots = 64
	// A shard's table grows by half when it would be more than 6/7 full, so a table is between 4/7
	// and 6/7 full: 24-byte slots cost 28–42 bytes per id.
	dedupMaxLoadNum, dedupMaxLoadDen = 6, 7
	// reserve sizes tables to be at most 4/5 full: 30 bytes per id, with room for an estimate 7% low
	// before a table grows.
	dedupReserveLoadNum, dedupReserveLoadDen = 4, 5
	// hugePageBytes is the size of a transparent huge page.
	hugePageBytes = 2 << 20
	// hugeGrowMinBytes is the table size from which a growing table is rounded to whole huge pages:
	// rounding to the nearest one then changes the growth factor 1.5 by at most 1/16.
	hugeGrowMinBytes = 16 << 20
)

// dedupSet is the set of ids a read has taken, each with its content hash: 16 shards, each an
// open-addressing table (linear probing) of fixed 24-byte slots behind its own mutex. Shards are picked
// by the top bits of the key's spread hash, slots by the bits below, so the two are independent.
//
// The tables live outside the Go heap (see slotsAlloc): they are most of a read's memory, hold no
// pointers, and are freed the moment a shard outgrows one, so they neither inflate the garbage
// collector's heap goal nor wait for a collection to be returned. Growing touches fresh memory, which
// is slow on virtual machines, so a read that can estimate its size calls reserve once early on. free
// must be called when the set is no longer used.
type dedupSet struct {
	shards [dedupShards]dedupShard
}

type dedupShard struct {
	mu    sync.Mutex
	slots []dedupSlot
	mem   []byte // the mapping behind slots, nil on the heap
	n     int
	_     [8]byte // keeps neighbouring shards' mutexes off one cache line
}

type dedupSlot struct {
	key     idKey
	content uint64
}

// dedupSlotBytes is the size of a dedupSlot.
const dedupSlotBytes = 24

// insert records that a copy of id k with the given content hash was taken, and reports what was
// known of k before.
func (s *dedupSet) insert(k idKey, content uint64) seenResult {
	h := k.spread()
	sh := &s.shards[h>>(64-dedupShardBits)]
	h <<= dedupShardBits
	sh.mu.Lock()
	if (sh.n+1)*dedupMaxLoadDen > len(sh.slots)*dedupMaxLoadNum {
		sh.resize(growSlots(len(sh.slots)))
	}
	slots := sh.slots
	i := slotIndex(h, len(slots))
	for {
		slot := &slots[i]
		switch slot.key {
		case idKey{}:
			slot.key, slot.content = k, content
			sh.n++
			sh.mu.Unlock()
			return seenNew
		case k:
			same := slot.content == content
			sh.mu.Unlock()
			if same {
				return seenSame
			}
			return seenDifferent
		}
		if i++; i == len(slots) {
			i = 0
		}
	}
}

// lookup returns the content hash recorded for id k, if k was inserted. It must not run concurrently
// with inserts.
func (s *dedupSet) lookup(k idKey) (uint64, bool) {
	h := k.spread()
	sh := &s.shards[h>>(64-dedupShardBits)]
	slots := sh.slots
	if len(slots) == 0 {
		return 0, false
	}
	i := slotIndex(h<<dedupShardBits, len(slots))
	for {
		switch slots[i].key {
		case idKey{}:
			return 0, false
		case k:
			return slots[i].content, true
		}
		if i++; i == len(slots) {
			i = 0
		}
	}
}

// dedupReq is one insert of a batch (insertBatch): the key and content hash in, the verdict out.
type dedupReq struct {
	key     idKey
	content uint64
	res     seenResult
}

// dedupBatch is the scratch space of insertBatch, kept by its caller.
type dedupBatch struct {
	hash  []uint64 // spread hash per request
	order []int32  // request indexes grouped by shard, in request order within a shard
}

// insertBatch inserts every request in turn, as insert would in the order given, and sets its
// verdict: copies of one id within the batch get the verdicts sequential inserts give them. The
// requests are grouped by shard, each shard locked once, and the slots a shard's requests start
// probing at are prefetched before any of them is inserted, so that their cache misses overlap rather
// than follow one another.
func (s *dedupSet) insertBatch(reqs []dedupReq, b *dedupBatch) {
	n := len(reqs)
	if cap(b.hash) < n {
		b.hash = make([]uint64, n)
		b.order = make([]int32, n)
	}
	hash, order := b.hash[:n], b.order[:n]
	var counts [dedupShards + 1]int32
	for i := range reqs {
		h := reqs[i].key.spread()
		hash[i] = h
		counts[h>>(64-dedupShardBits)+1]++
	}
	for i := 1; i <= dedupShards; i++ {
		counts[i] += counts[i-1]
	}
	starts := counts
	for i := range reqs {
		sh := hash[i] >> (64 - dedupShardBits)
		order[counts[sh]] = int32(i)
		counts[sh]++
	}
	for shi := range dedupShards {
		group := order[starts[shi]:starts[shi+1]]
		if len(group) == 0 {
			continue
		}
		sh := &s.shards[shi]
		sh.mu.Lock()
		for (sh.n+len(group))*dedupMaxLoadDen > len(sh.slots)*dedupMaxLoadNum {
			sh.resize(growSlots(len(sh.slots)))
		}
		slots := sh.slots
		// Prefetch the first slot of every probe, so that the misses overlap.
		for _, ri := range group {
			prefetch.Line(unsafe.Pointer(&slots[slotIndex(hash[ri]<<dedupShardBits, len(slots))]))
		}
		for _, ri := range group {
			r := &reqs[ri]
			r.res = sh.insertLocked(r.key, r.content, hash[ri]<<dedupShardBits)
		}
		sh.mu.Unlock()
	}
}

// insertLocked inserts k into the shard, which is locked and has room; h is its spread hash shifted
// past the shard bits.
func (sh *dedupShard) insertLocked(k idKey, content uint64, h uint64) seenResult {
	slots := sh.slots
	i := slotIndex(h, len(slots))
	for {
		slot := &slots[i]
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
		if i++; i == len(slots) {
			i = 0
		}
	}
}

// growSlots returns the next table size after n slots: half as large again, at least dedupMinSlots,
// and whole huge pages for large tables.
func growSlots(n int) int {
	n += n / 2
	if n < dedupMinSlots {
		return dedupMinSlots
	}
	if size := n * dedupSlotBytes; size >= hugeGrowMinBytes {
		n = (size + hugePageBytes/2) / hugePageBytes * hugePageBytes / dedupSlotBytes
	}
	return n
}

// reserve makes room for about ids distinct ids in total, so the tables need not grow on the way:
// each shard that is smaller gets a table for its share at most 4/5 full, in whole huge pages once
// it spans one. The new tables are mapped and touched before the shard is locked — the kernel zeroes
// every page on its first touch, tens of megabytes in all — so the workers inserting meanwhile wait
// only for the move of the few ids already in a shard.
func (s *dedupSet) reserve(ids int64) {
	per := ids/dedupShards + 1
	n := int(per * dedupReserveLoadDen / dedupReserveLoadNum)
	if size := n * dedupSlotBytes; size >= hugePageBytes {
		n = (size + hugePageBytes - 1) / hugePageBytes * hugePageBytes / dedupSlotBytes
	}
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		small := n > len(sh.slots)
		sh.mu.Unlock()
		if !small {
			continue
		}
		slots, mem := slotsAlloc(n)
		prefault(slots)
		sh.mu.Lock()
		if n > len(sh.slots) {
			sh.moveTo(slots, mem)
		} else {
			slotsFree(mem)
		}
		sh.mu.Unlock()
	}
}

// prefault touches every page of slots once.
func prefault(slots []dedupSlot) {
	const slotsPerPage = 4096 / dedupSlotBytes
	for i := 0; i < len(slots); i += slotsPerPage {
		slots[i].content = 0
	}
}

// resize moves the shard's ids into a new table of n slots.
func (sh *dedupShard) resize(n int) {
	sh.moveTo(slotsAlloc(n))
}

// moveTo moves the shard's ids into slots, an empty table backed by mem (as slotsAlloc returns them),
// and frees the old table.
func (sh *dedupShard) moveTo(slots []dedupSlot, mem []byte) {
	oldSlots, oldMem := sh.slots, sh.mem
	sh.slots, sh.mem = slots, mem
	n := len(slots)
	for _, slot := range oldSlots {
		if slot.key == (idKey{}) {
			continue
		}
		i := slotIndex(slot.key.spread()<<dedupShardBits, n)
		for sh.slots[i].key != (idKey{}) {
			if i++; i == n {
				i = 0
			}
		}
		sh.slots[i] = slot
	}
	slotsFree(oldMem)
}

// slotIndex maps the high bits of h uniformly onto [0, n) without a division (Lemire's multiply-shift).
func slotIndex(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

// free releases the tables; the set is empty afterwards.
func (s *dedupSet) free() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		slotsFree(sh.mem)
		sh.slots, sh.mem, sh.n = nil, nil, 0
		sh.mu.Unlock()
	}
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
		n += int64(len(s.shards[i].slots)) * dedupSlotBytes
	}
	return n
}
