package rating

import (
	"fmt"
	"hash/maphash"
	"math"
	"time"
	"unsafe"

	"billrun/internal/prefetch"
)

// Window is the half-open usage time range a run bills: a period, or a month up to a sweep's `at`.
type Window struct {
	From, To time.Time
}

// PeriodWindow returns the window of a whole period.
func PeriodWindow(p Period) Window { return Window{From: p.Start(), To: p.End()} }

// Rater turns validated events into aggregate lines: it checks the account, resolves prices in the
// version in effect at usage time, splits GPU intervals at the window and at version boundaries, and adds
// the quantities. A Rater caches price lookups and is not safe for concurrent use: give each worker one.
type Rater struct {
	pb       *PriceBook
	window   Window
	accounts map[string]bool
	cache    map[rateCacheKey]rateCacheVal
}

type rateCacheKey struct {
	version          int
	kind             Kind
	model, base, aux string
}

type rateCacheVal struct {
	prices *priceSet
	err    error
}

// NewRater returns a Rater for window with the given known accounts (nil map: every account is known).
func NewRater(pb *PriceBook, window Window, accounts map[string]bool) *Rater {
	return &Rater{pb: pb, window: window, accounts: accounts, cache: make(map[rateCacheKey]rateCacheVal)}
}

// Window returns the rater's window.
func (r *Rater) Window() Window { return r.window }

// Takes reports whether ev falls in the window at all: serverless and fine-tuning events by ts, GPU
// events when [start, end) overlaps it.
func (r *Rater) Takes(ev *Event) bool {
	if ev.Type == KindGPU {
		return ev.Start.Before(r.window.To) && ev.End.After(r.window.From)
	}
	return !ev.TS.Before(r.window.From) && ev.TS.Before(r.window.To)
}

// Add rates ev into agg. It returns a reject code and message when the account is unknown, a price is
// missing or a quantity of the event is too large, and TotalOverflow when adding it would overflow a
// line's total; agg is then unchanged.
func (r *Rater) Add(ev *Event, agg *Aggregate) (RejectCode, string) {
	return r.add(ev, nil, agg)
}

// AddInterned is Add for an event whose strings were interned: syms holds their Syms (see EventSyms).
// It rates exactly as Add does, but finds the event's group with one integer-keyed lookup instead of
// hashing its strings, so it is the hot path of a read. Within each role and event type, the Syms
// given to one aggregate by one rater must stand for one string each and equal strings must get equal
// Syms — one Symbols per role and type (or one for all) does that; Syms of different types may
// coincide, since groups are keyed by type too. Events decoded any other way go through Add.
func (r *Rater) AddInterned(ev *Event, syms EventSyms, agg *Aggregate) (RejectCode, string) {
	return r.add(ev, &syms, agg)
}

// Hint is what Lookup found for an event: the group AddHinted adds it to, when there was one.
type Hint struct{ g *meterGroup }

// Lookup finds the group an interned serverless event would be added to in agg, if there is one,
// changing nothing. A read looks up a whole batch of events before rating them with AddHinted: the
// lookups of a batch are independent, so their cache misses overlap, and each add then goes straight to
// its group. The hint stays valid while agg only gains events from r (groups never move).
func (r *Rater) Lookup(ev *Event, syms EventSyms, agg *Aggregate) Hint {
	if ev.Type != KindServerless || agg.fastOwner != r {
		return Hint{}
	}
	v := r.pb.VersionAt(ev.TS)
	if v < 0 {
		return Hint{}
	}
	g := agg.hot.get(serverlessKey(v, &syms))
	if g != nil {
		prefetch.Line(unsafe.Pointer(&g.units[0])) // what the add reads, started now
	}
	return Hint{g: g}
}

// serverlessKey is the symbol key of a serverless event's group at price version v.
func serverlessKey(v int, syms *EventSyms) symKey {
	return symKey{kind: symServerless, version: int32(v), account: syms.Account, product: syms.Product, base: syms.Base}
}

// AddHinted is AddInterned with the hint Lookup returned for ev: it rates exactly as AddInterned does.
func (r *Rater) AddHinted(ev *Event, syms EventSyms, agg *Aggregate, h Hint) (RejectCode, string) {
	if h.g != nil && agg.fastOwner == r {
		return r.addServerless(ev, h.g)
	}
	return r.add(ev, &syms, agg)
}

// add rates ev into agg; with syms, groups are looked up by symbols first.
func (r *Rater) add(ev *Event, syms *EventSyms, agg *Aggregate) (RejectCode, string) {
	if syms != nil && agg.fastOwner != r {
		agg.resetFast(r)
	}
	switch ev.Type {
	case KindServerless:
		v := r.pb.VersionAt(ev.TS)
		var g *meterGroup
		var fk symKey
		if syms != nil && v >= 0 {
			fk = serverlessKey(v, syms)
			g = agg.fastGroup(fk)
		}
		if g == nil {
			if code, msg := r.admit(ev, v); code != "" {
				return code, msg
			}
			c := r.serverless(v, ev.Model, ev.BaseModel)
			if c.err != nil {
				return RejectNoPrice, c.err.Error()
			}
			g = agg.groupFor(groupKey{account: ev.Account, product: ev.Model, base: ev.BaseModel, kind: KindServerless, prices: c.prices}, syms != nil, fk)
		}
		return r.addServerless(ev, g)
	case KindFineTuning:
		v := r.pb.VersionAt(ev.TS)
		var g *meterGroup
		var fk symKey
		if syms != nil && v >= 0 {
			fk = symKey{kind: symFineTuning, version: int32(v), account: syms.Account, product: syms.Product, base: syms.Base, aux: syms.Aux}
			g = agg.fastGroup(fk)
		}
		if g == nil {
			if code, msg := r.admit(ev, v); code != "" {
				return code, msg
			}
			c := r.fineTuning(v, ev.BaseModel, ev.Method)
			if c.err != nil {
				return RejectNoPrice, c.err.Error()
			}
			if _, ok := trainingTokens(ev); !ok {
				return RejectInvalidValue, "training_tokens × epochs is too large"
			}
			g = agg.groupFor(groupKey{account: ev.Account, product: ev.Job, base: ev.BaseModel, kind: KindFineTuning, prices: c.prices}, syms != nil, fk)
		}
		tokens, ok := trainingTokens(ev)
		if !ok {
			return RejectInvalidValue, "training_tokens × epochs is too large"
		}
		if !g.add(miTrainingTokens, Quantity{Units: tokens}) {
			return TotalOverflow, "quantity total overflows"
		}
	case KindGPU:
		if code, msg := r.addGPU(ev, syms, agg); code != "" {
			return code, msg
		}
	default:
		if code, msg := r.checkAccount(ev.Account); code != "" {
			return code, msg
		}
		return RejectUnknownType, fmt.Sprintf("unknown type %q", ev.Type)
	}
	return "", ""
}

// addServerless adds a serverless event's tokens to its group g.
func (r *Rater) addServerless(ev *Event, g *meterGroup) (RejectCode, string) {
	base := miInput
	if ev.Batch {
		base = miBatchInput
	}
	// All three sums are checked before any is stored, so a rejected event leaves no trace.
	u := g.units[base : base+3 : base+3]
	in, ok1 := addUnits(u[0], ev.InputTokens-ev.CachedInputTokens)
	cached, ok2 := addUnits(u[1], ev.CachedInputTokens)
	out, ok3 := addUnits(u[2], ev.OutputTokens)
	if !ok1 || !ok2 || !ok3 {
		return TotalOverflow, "quantity total overflows"
	}
	u[0], u[1], u[2] = in, cached, out
	return "", ""
}

// trainingTokens returns training_tokens × epochs, and false when it overflows.
func trainingTokens(ev *Event) (int64, bool) {
	tokens := ev.TrainingTokens * ev.Epochs
	if ev.Epochs != 0 && tokens/ev.Epochs != ev.TrainingTokens {
		return 0, false
	}
	return tokens, true
}

// checkAccount returns unknown_account for an account the rater does not know.
// admit is what the slow path checks before resolving a price for a serverless or fine-tuning event:
// a known account and a price version in effect at ts (version index v).
func (r *Rater) admit(ev *Event, v int) (RejectCode, string) {
	if code, msg := r.checkAccount(ev.Account); code != "" {
		return code, msg
	}
	if v < 0 {
		return RejectNoPrice, fmt.Sprintf("no price book version in effect at %s", ev.TS.Format(time.RFC3339))
	}
	return "", ""
}

func (r *Rater) checkAccount(account string) (RejectCode, string) {
	if r.accounts != nil && !r.accounts[account] {
		return RejectUnknownAccount, fmt.Sprintf("account %s does not exist", account)
	}
	return "", ""
}

// addGPU rates a GPU event: its interval clipped to the window and split at price version boundaries,
// each piece on the line of its version's price.
func (r *Rater) addGPU(ev *Event, syms *EventSyms, agg *Aggregate) (RejectCode, string) {
	type piece struct {
		g *meterGroup
		q Quantity
	}
	// Most intervals are one piece; an interval crosses as many boundaries as versions begin within
	// it, and the pieces beyond the first four go to the heap.
	var buf [4]piece
	pieces := buf[:0]
	from, to := ev.Start, ev.End
	if from.Before(r.window.From) {
		from = r.window.From
	}
	if to.After(r.window.To) {
		to = r.window.To
	}
	checked := false
	for from.Before(to) {
		v := r.pb.VersionAt(from)
		end := to
		if v >= 0 {
			if ve := r.pb.VersionEnd(v); !ve.IsZero() && ve.Before(end) {
				end = ve
			}
		}
		var g *meterGroup
		var fk symKey
		if syms != nil && v >= 0 {
			fk = symKey{kind: symGPU, version: int32(v), account: syms.Account, product: syms.Product, aux: syms.Aux}
			g = agg.fastGroup(fk)
		}
		if g == nil {
			if !checked {
				if code, msg := r.checkAccount(ev.Account); code != "" {
					return code, msg
				}
				checked = true
			}
			if v < 0 {
				return RejectNoPrice, fmt.Sprintf("no price book version in effect at %s", from.Format(time.RFC3339))
			}
			c := r.gpu(v, ev.GPUType)
			if c.err != nil {
				return RejectNoPrice, c.err.Error()
			}
			q, ok := gpuQuantity(ev.GPUCount, int64(end.Sub(from)))
			if !ok {
				return RejectInvalidValue, "gpu_count × interval is too large"
			}
			// A new group is indexed only once every piece is known to be accepted, so a rejected
			// event leaves no trace.
			pieces = append(pieces, piece{q: q, g: agg.pendingGroup(groupKey{account: ev.Account, product: ev.GPUType,
				deployment: ev.Deployment, kind: KindGPU, prices: c.prices}, syms != nil, fk)})
			from = end
			continue
		}
		q, ok := gpuQuantity(ev.GPUCount, int64(end.Sub(from)))
		if !ok {
			return RejectInvalidValue, "gpu_count × interval is too large"
		}
		pieces = append(pieces, piece{g: g, q: q})
		from = end
	}
	if len(pieces) == 0 && !checked {
		if code, msg := r.checkAccount(ev.Account); code != "" {
			return code, msg
		}
	}
	// Check every piece before changing anything, so a rejected event leaves no trace.
	for i := range pieces {
		if _, ok := pieces[i].g.quantity(miGPUSeconds).add(pieces[i].q); !ok {
			return TotalOverflow, "quantity total overflows"
		}
	}
	for i := range pieces {
		g := pieces[i].g
		if g.pending {
			agg.commitGroup(g)
		}
		g.add(miGPUSeconds, pieces[i].q)
	}
	return "", ""
}

// addUnits is Quantity.add for whole units: u+o, and false (u unchanged) on overflow.
func addUnits(u, o int64) (int64, bool) {
	if o > math.MaxInt64-u {
		return u, false
	}
	return u + o, true
}

func (r *Rater) serverless(v int, model, base string) rateCacheVal {
	key := rateCacheKey{version: v, kind: KindServerless, model: model, base: base}
	if c, ok := r.cache[key]; ok {
		return c
	}
	rates, err := r.pb.ServerlessRates(v, model, base)
	c := rateCacheVal{err: err, prices: &priceSet{}}
	if err == nil {
		m := rates.BatchMultiplier
		c.prices.unit[miInput] = rates.Input.String()
		c.prices.unit[miCachedInput] = rates.CachedInput.String()
		c.prices.unit[miOutput] = rates.Output.String()
		c.prices.unit[miBatchInput] = rates.Input.Mul(m).String()
		c.prices.unit[miBatchCachedInput] = rates.CachedInput.Mul(m).String()
		c.prices.unit[miBatchOutput] = rates.Output.Mul(m).String()
	}
	r.cache[key] = c
	return c
}

func (r *Rater) gpu(v int, gpuType string) rateCacheVal {
	key := rateCacheKey{version: v, kind: KindGPU, model: gpuType}
	if c, ok := r.cache[key]; ok {
		return c
	}
	p, err := r.pb.GPURate(v, gpuType)
	c := rateCacheVal{err: err, prices: &priceSet{}}
	c.prices.unit[miGPUSeconds] = p.String()
	r.cache[key] = c
	return c
}

func (r *Rater) fineTuning(v int, base, method string) rateCacheVal {
	key := rateCacheKey{version: v, kind: KindFineTuning, base: base, aux: method}
	if c, ok := r.cache[key]; ok {
		return c
	}
	p, err := r.pb.FineTuningRate(v, base, method)
	c := rateCacheVal{err: err, prices: &priceSet{}}
	c.prices.unit[miTrainingTokens] = p.String()
	r.cache[key] = c
	return c
}

// Sym is a small integer standing for a string interned in a Rater's Symbols; 0 is the empty string.
type Sym uint32

// Symbols interns the strings of events (accounts, models, GPU types, deployments, jobs, methods) for one
// Rater: equal bytes always give the same string and Sym, so a read keeps one copy of each and the
// rater's hot path keys its groups by integers. It grows with the distinct strings seen, which the
// aggregate's lines hold anyway. Not safe for concurrent use.
//
// The table is open-addressed with linear probing, keyed on the raw bytes: a lookup hashes them once and
// compares strings only on a matching 32-bit tag, with no conversion to a string key.
type Symbols struct {
	seed  maphash.Seed
	slots []symSlot // len is a power of two (or 0 before the first string); id 0 marks an empty slot
	strs  []string
	chunk []byte // the chunk new strings are packed into (keep)
}

// symSlot is one slot of Symbols: the string (so a probe reads no other memory than the slot and the
// bytes it compares), the high half of its hash, and its Sym.
type symSlot struct {
	str string
	tag uint32
	id  Sym
}

// symMinSlots is a table's first size.
const symMinSlots = 64

// NewSymbols returns an empty symbol table.
func NewSymbols() *Symbols {
	return &Symbols{seed: maphash.MakeSeed(), slots: make([]symSlot, symMinSlots), strs: []string{""}}
}

// NewSymbolsSeeded returns an empty symbol table that hashes with seed. Tables that share a seed give
// equal strings equal hashes (Prefetch, Hash), so a caller may use those hashes beyond the table.
func NewSymbolsSeeded(seed maphash.Seed) *Symbols {
	return &Symbols{seed: seed, slots: make([]symSlot, symMinSlots), strs: []string{""}}
}

// Hash returns b's hash for InternHashed: maphash.Bytes with the table's seed.
func (s *Symbols) Hash(b []byte) uint64 {
	s.init()
	return maphash.Bytes(s.seed, b)
}

// Intern returns the string equal to b and its Sym, adding it on first sight.
func (s *Symbols) Intern(b []byte) (string, Sym) {
	if len(b) == 0 {
		return "", 0
	}
	s.init()
	return s.InternHashed(b, maphash.Bytes(s.seed, b))
}

// init readies an empty table: its hash seed, its first slots, and Sym 0 for the empty string.
func (s *Symbols) init() {
	if len(s.slots) == 0 {
		s.seed = maphash.MakeSeed()
		s.slots = make([]symSlot, symMinSlots)
		if len(s.strs) == 0 {
			s.strs = []string{""}
		}
	}
}

// Prefetch returns b's hash for InternHashed and starts loading the first slot interning b will probe
// (the string's bytes, packed in a few chunks, stay in cache). A decoder prefetches an event's strings
// before it interns the first of them, so that their cache misses overlap instead of following one
// another.
func (s *Symbols) Prefetch(b []byte) uint64 {
	s.init()
	h := maphash.Bytes(s.seed, b)
	prefetch.Line(unsafe.Pointer(&s.slots[h&uint64(len(s.slots)-1)]))
	return h
}

// InternHashed is Intern for bytes whose hash Prefetch returned (by this table).
func (s *Symbols) InternHashed(b []byte, h uint64) (string, Sym) {
	if len(b) == 0 {
		return "", 0
	}
	tag := uint32(h >> 32)
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := s.slots[i]
		if sl.id == 0 {
			break
		}
		if sl.tag == tag && sl.str == string(b) {
			return sl.str, sl.id
		}
	}
	str := s.keep(b)
	id := Sym(len(s.strs))
	s.strs = append(s.strs, str)
	if len(s.strs)*4 > len(s.slots)*3 {
		s.grow()
	} else {
		s.place(h, str, id)
	}
	return str, id
}

// symChunk is the size of the chunks Symbols copies its strings into; a longer string is copied on
// its own.
const symChunk = 16 << 10

// keep returns a string copy of b. Strings are packed into chunks, one after another, rather than
// allocated one by one among everything else on the heap: a table's strings then take as few cache
// lines as their bytes need, which is what a lookup's comparison reads. Chunk bytes are written once,
// before the string that covers them is made, and never again.
func (s *Symbols) keep(b []byte) string {
	if len(b) > symChunk/4 {
		return string(b)
	}
	if len(s.chunk)+len(b) > cap(s.chunk) {
		s.chunk = make([]byte, 0, symChunk)
	}
	off := len(s.chunk)
	s.chunk = append(s.chunk, b...)
	return unsafe.String(&s.chunk[off], len(b))
}

// place puts str and its id, of hash h, in the first empty slot of its probe sequence.
func (s *Symbols) place(h uint64, str string, id Sym) {
	mask := uint64(len(s.slots) - 1)
	i := h & mask
	for s.slots[i].id != 0 {
		i = (i + 1) & mask
	}
	s.slots[i] = symSlot{str: str, tag: uint32(h >> 32), id: id}
}

// grow doubles the slots and places every string again (the newest included).
func (s *Symbols) grow() {
	s.slots = make([]symSlot, 2*len(s.slots))
	for id := 1; id < len(s.strs); id++ {
		s.place(maphash.String(s.seed, s.strs[id]), s.strs[id], Sym(id))
	}
}

// String returns the string of id ("" for an id the table never returned).
func (s *Symbols) String(id Sym) string {
	if int(id) < len(s.strs) {
		return s.strs[id]
	}
	return ""
}

// Len returns the number of strings interned, the empty string included.
func (s *Symbols) Len() int { return len(s.strs) }

// EventSyms are the Syms of an event's strings, by role: Product is the model (serverless), the GPU
// type (gpu) or the job (fine_tuning); Base the base model (serverless, fine_tuning); Aux the deployment
// (gpu) or the method (fine_tuning). Roles an event's type does not have are 0.
type EventSyms struct {
	Account, Product, Base, Aux Sym
}
