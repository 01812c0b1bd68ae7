package rating

import (
	"hash/maphash"
	"maps"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/shopspring/decimal"
)

// Meter names what a line's quantity counts.
type Meter string

// The meters of DESIGN §6.
const (
	MeterInput            Meter = "input_tokens"
	MeterCachedInput      Meter = "cached_input_tokens"
	MeterOutput           Meter = "output_tokens"
	MeterBatchInput       Meter = "batch_input_tokens"
	MeterBatchCachedInput Meter = "batch_cached_input_tokens"
	MeterBatchOutput      Meter = "batch_output_tokens"
	MeterGPUSeconds       Meter = "gpu_seconds"
	MeterTrainingTokens   Meter = "training_tokens"
	MeterDiscount         Meter = "discount"
	nanosPerSecond              = 1_000_000_000
	tokensPerUnit               = 1_000_000
	secondsPerGPUHour           = 3600
)

// LineKey identifies one invoice line of one account: a (kind, product, meter, unit price) with the
// details that name it. UnitPrice is the canonical decimal string of the price per unit (1M tokens or
// one GPU-hour), so lines with different prices stay apart.
type LineKey struct {
	Account    string
	Kind       Kind
	Product    string // serverless: the event's model; gpu: GPU type; fine_tuning: the job
	BaseModel  string // serverless: the base a fine-tuned model is priced as; fine_tuning: the base model
	Deployment string // gpu only
	Meter      Meter
	UnitPrice  string
}

// Quantity is an exact non-negative amount of a meter: Units whole units plus Nanos billionths (only
// GPU-seconds have fractions).
type Quantity struct {
	Units int64
	Nanos int64
}

// Decimal returns q as a decimal number.
func (q Quantity) Decimal() decimal.Decimal {
	const maxUnits = 9_000_000_000 // so that Units × 10⁹ + Nanos fits in an int64
	if q.Units >= -maxUnits && q.Units <= maxUnits && q.Nanos > -nanosPerSecond && q.Nanos < nanosPerSecond {
		// The value and exponent (-9) the sum below has, without its intermediate numbers.
		return decimal.New(q.Units*nanosPerSecond+q.Nanos, -9)
	}
	return decimal.NewFromInt(q.Units).Add(decimal.New(q.Nanos, -9))
}

// add returns q+o and false on overflow.
func (q Quantity) add(o Quantity) (Quantity, bool) {
	n := q.Nanos + o.Nanos
	u, carry := q.Units, int64(0)
	if n >= nanosPerSecond {
		n -= nanosPerSecond
		carry = 1
	}
	if o.Units > math.MaxInt64-u-carry {
		return q, false
	}
	return Quantity{Units: u + o.Units + carry, Nanos: n}, true
}

// gpuQuantity returns count × nanos as GPU-seconds, and false on overflow.
func gpuQuantity(count, nanos int64) (Quantity, bool) {
	hi, lo := bits.Mul64(uint64(count), uint64(nanos))
	if hi >= nanosPerSecond {
		return Quantity{}, false
	}
	secs, rem := bits.Div64(hi, lo, nanosPerSecond)
	if secs > math.MaxInt64 {
		return Quantity{}, false
	}
	return Quantity{Units: int64(secs), Nanos: int64(rem)}, true
}

// meterIndex numbers the meters of one product group on the hot path.
const (
	miInput = iota
	miCachedInput
	miOutput
	miBatchInput
	miBatchCachedInput
	miBatchOutput
	miGPUSeconds
	miTrainingTokens
	numMeters
)

var meterByIndex = [numMeters]Meter{MeterInput, MeterCachedInput, MeterOutput, MeterBatchInput,
	MeterBatchCachedInput, MeterBatchOutput, MeterGPUSeconds, MeterTrainingTokens}

// priceSet holds the canonical unit price string of each meter of one resolved price (a rater caches
// one per model, GPU type or fine-tuning method and version), so the hot path never formats decimals.
type priceSet struct {
	unit [numMeters]string
}

// groupKey identifies the quantities of one account and product at one resolved price: one map lookup
// per event instead of one per meter.
type groupKey struct {
	account, product, base, deployment string
	kind                               Kind
	prices                             *priceSet
}

type meterGroup struct {
	// units holds each meter's whole units and nanos the billionths of GPU-seconds, the only meter
	// with fractions: 72 bytes where eight Quantities took 128, so more of the groups a read adds to
	// stay in cache (quantity and add give the meters as Quantities).
	units   [numMeters]int64
	nanos   int64
	key     groupKey
	fast    bool   // indexed in fast under fk rather than in groups
	fk      symKey // the group's key in fast
	pending bool   // created by a GPU piece not yet known to be accepted; not indexed yet
}

// symKey identifies a group by the Syms of a rater's symbol table and the price version: the key of the
// hot path, hashed as 24 bytes instead of four strings.
type symKey struct {
	kind                        uint8
	version                     int32
	account, product, base, aux Sym
}

// The kinds of a symKey.
const (
	symServerless uint8 = iota + 1
	symGPU
	symFineTuning
	symKinds // the number of kinds, 0 included
)

// Aggregate is the mergeable result of rating usage: quantities summed per line key. It is the value
// a shard would serialize and a final step merge (DESIGN §12). Events accumulate per product group on
// the hot path and are folded into line keys when the aggregate is read. Lines are kept per account,
// which is how invoices consume them, so that merges can run per account in parallel (MergeAll).
type Aggregate struct {
	accts  map[string]map[LineKey]Quantity // lines per account; no account has an empty map
	groups map[groupKey]*meterGroup
	// fast indexes groups by the symbols of fastOwner (Rater.AddInterned); a group is in groups or in
	// fast, never both, and fold sums both into lines.
	// One map per kind of symKey, so that the many one-off fine-tuning groups do not dilute the
	// serverless groups that nearly every event looks up.
	// Serverless and GPU groups — few, and looked up by nearly every event — are in hot instead, an
	// open-addressing table whose slots hold the key and the group, so a lookup costs one cache miss
	// where a Go map's control word and slot often cost two.
	fast      [symKinds]map[symKey]*meterGroup
	hot       hotIndex
	fastOwner *Rater
	// overflow is set when a fold found a sum too large; reads report it through Merge.
	overflow bool
	// slab holds the groups newGroup has yet to hand out.
	slab []meterGroup
	// lazy, set by MergeAll, holds the merged aggregates' groups and lines per account, not yet folded
	// into accts: AccountLines folds one account at a time, on the caller's goroutines, and anything
	// else that reads lines folds them all first (materialize).
	lazy *lazyLines
}

// lazyLines is what MergeAll leaves to fold: per account, the groups and line maps of every aggregate
// merged, read only; accounts lists those that have lines, in ascending order; totals are the sums
// per meter of every line, computed without overflow (which is what makes folding later safe: no line
// can exceed its meter's total).
type lazyLines struct {
	srcs     map[string]*lineSources
	accounts []string
	totals   map[Meter]Quantity
}

// lineSources are one account's groups and line maps, from every aggregate merged.
type lineSources struct {
	groups []*meterGroup
	lines  []map[LineKey]Quantity
}

// NewAggregate returns an empty Aggregate.
func NewAggregate() *Aggregate {
	return &Aggregate{accts: make(map[string]map[LineKey]Quantity), groups: make(map[groupKey]*meterGroup)}
}

// Reset empties the aggregate, keeping its allocated maps.
func (a *Aggregate) Reset() {
	a.lazy = nil
	clear(a.accts)
	clear(a.groups)
	for _, m := range a.fast {
		clear(m)
	}
	a.hot.clear()
	a.overflow = false
}

// resetFast starts a new symbol index for rater r; groups already indexed keep their sums and are
// folded as usual.
func (a *Aggregate) resetFast(r *Rater) {
	if a.fastLen() > 0 {
		a.fold()
	}
	for i := range a.fast {
		if a.fast[i] == nil {
			a.fast[i] = make(map[symKey]*meterGroup)
		}
	}
	a.fastOwner = r
}

// fastLen returns the number of groups indexed by symbols.
func (a *Aggregate) fastLen() int {
	n := a.hot.n
	for _, m := range a.fast {
		n += len(m)
	}
	return n
}

// fastGroup returns the group indexed under fk, or nil.
func (a *Aggregate) fastGroup(fk symKey) *meterGroup {
	if fk.kind == symFineTuning {
		return a.fast[fk.kind][fk]
	}
	return a.hot.get(fk)
}

// setFast indexes g under fk.
func (a *Aggregate) setFast(fk symKey, g *meterGroup) {
	if fk.kind == symFineTuning {
		a.fast[fk.kind][fk] = g
		return
	}
	a.hot.put(fk, g)
}

// hotIndex maps symKeys to groups: linear probing in a power-of-two table at most 3/4 full.
type hotIndex struct {
	slots []hotSlot
	n     int
}

type hotSlot struct {
	k symKey
	g *meterGroup // nil: empty
}

// hash mixes every field of k.
func (k symKey) hash() uint64 {
	x := uint64(k.account) | uint64(k.product)<<32
	y := uint64(k.base) | uint64(k.aux)<<32
	z := uint64(k.kind) | uint64(uint32(k.version))<<8
	return hotMix(x ^ hotMix(y^hotMix(z)))
}

// hotMix is MurmurHash3's 64-bit finalizer.
func hotMix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

func (t *hotIndex) get(k symKey) *meterGroup {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := k.hash() & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.g == nil {
			return nil
		}
		if s.k == k {
			return s.g
		}
	}
}

// put indexes g under k, replacing the group k had.
func (t *hotIndex) put(k symKey, g *meterGroup) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := k.hash() & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.g == nil {
			s.k, s.g = k, g
			t.n++
			return
		}
		if s.k == k {
			s.g = g
			return
		}
	}
}

func (t *hotIndex) grow() {
	old := t.slots
	t.slots = make([]hotSlot, max(64, 2*len(old)))
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.g == nil {
			continue
		}
		i := s.k.hash() & mask
		for t.slots[i].g != nil {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// each calls fn for every group.
func (t *hotIndex) each(fn func(*meterGroup)) {
	if t.n == 0 {
		return
	}
	for i := range t.slots {
		if g := t.slots[i].g; g != nil {
			fn(g)
		}
	}
}

// clear empties the index, keeping its table.
func (t *hotIndex) clear() {
	if t.n > 0 {
		clear(t.slots)
		t.n = 0
	}
}

// groupFor returns the accumulator of k, creating it: in fast under fk when fast is set, else in groups.
func (a *Aggregate) groupFor(k groupKey, fast bool, fk symKey) *meterGroup {
	if !fast {
		return a.group(k)
	}
	g := a.newGroup()
	g.key, g.fast, g.fk = k, true, fk
	a.setFast(fk, g)
	return g
}

// groupSlab is how many groups newGroup allocates at a time.
const groupSlab = 128

// newGroup returns a zero group from a's current slab: one allocation per groupSlab groups on the
// hot path rather than one per group.
func (a *Aggregate) newGroup() *meterGroup {
	if len(a.slab) == 0 {
		a.slab = make([]meterGroup, groupSlab)
	}
	g := &a.slab[0]
	a.slab = a.slab[1:]
	return g
}

// pendingGroup returns the accumulator of k like groupFor, but a new one is not indexed until
// commitGroup: the caller may still reject the event.
func (a *Aggregate) pendingGroup(k groupKey, fast bool, fk symKey) *meterGroup {
	if !fast {
		if g := a.groups[k]; g != nil {
			return g
		}
	}
	return &meterGroup{key: k, fast: fast, fk: fk, pending: true}
}

// commitGroup indexes a pending group.
func (a *Aggregate) commitGroup(g *meterGroup) {
	g.pending = false
	if g.fast {
		a.setFast(g.fk, g)
	} else {
		a.groups[g.key] = g
	}
}

// group returns the accumulator of k, creating it.
func (a *Aggregate) group(k groupKey) *meterGroup {
	g := a.groups[k]
	if g == nil {
		g = a.newGroup()
		g.key = k
		a.groups[k] = g
	}
	return g
}

// fold moves the hot-path groups into line keys.
func (a *Aggregate) fold() {
	a.materialize()
	for _, g := range a.groups {
		a.foldGroup(g)
	}
	clear(a.groups)
	for _, m := range a.fast {
		for _, g := range m {
			a.foldGroup(g)
		}
		clear(m)
	}
	a.hot.each(a.foldGroup)
	a.hot.clear()
}

func (a *Aggregate) foldGroup(g *meterGroup) {
	if !foldInto(a.accts, g) {
		a.overflow = true
	}
}

// foldInto adds the non-zero meters of g to the lines of accts; false when a sum overflowed (that line
// is left unchanged, the others are added).
func foldInto(accts map[string]map[LineKey]Quantity, g *meterGroup) bool {
	m := accts[g.key.account]
	if m == nil {
		if !g.hasQuantity() {
			return true
		}
		m = make(map[LineKey]Quantity, 4)
		accts[g.key.account] = m
	}
	return foldGroupLines(m, g)
}

// quantity returns meter mi of g.
func (g *meterGroup) quantity(mi int) Quantity {
	if mi == miGPUSeconds {
		return Quantity{Units: g.units[mi], Nanos: g.nanos}
	}
	return Quantity{Units: g.units[mi]}
}

// add adds q to meter mi of g (q has no nanos unless mi is GPU-seconds); false, changing nothing, on
// overflow, as Quantity.add.
func (g *meterGroup) add(mi int, q Quantity) bool {
	s, ok := g.quantity(mi).add(q)
	if ok {
		g.units[mi] = s.Units
		if mi == miGPUSeconds {
			g.nanos = s.Nanos
		}
	}
	return ok
}

// hasQuantity reports whether any meter of g is non-zero.
func (g *meterGroup) hasQuantity() bool {
	for mi := range numMeters {
		if q := g.quantity(mi); q.Units != 0 || q.Nanos != 0 {
			return true
		}
	}
	return false
}

// foldGroupLines adds the non-zero meters of g to m, its account's lines; false as foldInto.
func foldGroupLines(m map[LineKey]Quantity, g *meterGroup) bool {
	k := &g.key
	ok := true
	for mi := range numMeters {
		q := g.quantity(mi)
		if q.Units == 0 && q.Nanos == 0 {
			continue
		}
		lk := LineKey{Account: k.account, Kind: k.kind, Product: k.product, BaseModel: k.base,
			Deployment: k.deployment, Meter: meterByIndex[mi], UnitPrice: k.prices.unit[mi]}
		if !addLine(m, lk, q) {
			ok = false
		}
	}
	return ok
}

// addLine adds q to the line k of m; false, changing nothing, on overflow.
func addLine(m map[LineKey]Quantity, k LineKey, q Quantity) bool {
	s, ok := m[k].add(q)
	if !ok {
		return false
	}
	m[k] = s
	return true
}

// LineMap returns the quantities per line key, in a map of its own.
func (a *Aggregate) LineMap() map[LineKey]Quantity {
	a.fold()
	n := 0
	for _, m := range a.accts {
		n += len(m)
	}
	out := make(map[LineKey]Quantity, n)
	for _, m := range a.accts {
		for k, q := range m {
			out[k] = q
		}
	}
	return out
}

// Add adds q to the line k. It returns false, changing nothing, when the sum would overflow.
func (a *Aggregate) Add(k LineKey, q Quantity) bool {
	m := a.accts[k.Account]
	s, ok := m[k].add(q)
	if !ok {
		return false
	}
	if m == nil {
		m = make(map[LineKey]Quantity, 4)
		a.accts[k.Account] = m
	}
	m[k] = s
	return true
}

// Merge adds every line of o into a. It returns false when a sum overflows.
func (a *Aggregate) Merge(o *Aggregate) bool {
	a.fold()
	o.fold()
	for _, m := range o.accts {
		for k, q := range m {
			if !a.Add(k, q) {
				return false
			}
		}
	}
	return !a.overflow && !o.overflow
}

// MergeAll returns a new aggregate holding the sum of aggs, which it reads and must then be left
// unchanged while the result is used. It returns false when a sum overflows, as a chain of Merge calls
// would.
//
// The lines are not summed here: the result keeps every aggregate's groups and lines per account and
// folds an account's when they are asked for — AccountLines, on the caller's goroutines — or all of
// them, on up to workers goroutines, before any other read of lines.
// A month close reads each account's lines once, to draft its invoice; summing them all up front into a
// fresh map per account cost more than the drafting itself.
func MergeAll(aggs []*Aggregate, workers int) (*Aggregate, bool) {
	for _, a := range aggs {
		if a.overflow {
			return NewAggregate(), false
		}
		if a.lazy != nil {
			return mergeEager(aggs, workers)
		}
	}
	// Each aggregate is filed on a goroutine of its own, into per-account sources and meter sums of
	// its own, merged below in aggregate order.
	parts := make([]mergePart, len(aggs))
	forEach(len(aggs), workers, func(i int) { parts[i].file(aggs[i]) })
	srcs := make(map[string]*lineSources)
	if len(parts) > 0 {
		srcs = parts[0].srcs
	}
	var sums [numMeters]Quantity
	var seen [numMeters]bool
	totals := make(map[Meter]Quantity)
	ok := true
	for pi := range parts {
		p := &parts[pi]
		ok = ok && p.ok
		if pi > 0 {
			for acct, ls := range p.srcs {
				if dst := srcs[acct]; dst != nil {
					dst.groups = append(dst.groups, ls.groups...)
					dst.lines = append(dst.lines, ls.lines...)
				} else {
					srcs[acct] = ls
				}
			}
		}
		for mi := range numMeters {
			if p.seen[mi] {
				s, sok := sums[mi].add(p.sums[mi])
				sums[mi], seen[mi], ok = s, true, ok && sok
			}
		}
		for m, q := range p.lineSums {
			s, sok := totals[m].add(q)
			totals[m], ok = s, ok && sok
		}
	}
	for mi := range numMeters {
		if seen[mi] {
			s, sok := totals[meterByIndex[mi]].add(sums[mi])
			totals[meterByIndex[mi]], ok = s, ok && sok
		}
	}
	if !ok {
		// Some meter's total does not fit: fold everything now, which finds the line that overflows.
		return mergeEager(aggs, workers)
	}
	out := NewAggregate()
	lz := &lazyLines{srcs: srcs, totals: totals}
	for acct, ls := range srcs {
		if ls.hasLines() {
			lz.accounts = append(lz.accounts, acct)
		}
	}
	sort.Strings(lz.accounts)
	out.lazy = lz
	return out, true
}

// mergePart is what MergeAll files of one aggregate: its groups and line maps per account, and the
// sums of its groups' meters (by meter index) and of its line maps (by meter); ok is false when one
// of those sums overflowed.
type mergePart struct {
	srcs     map[string]*lineSources
	sums     [numMeters]Quantity
	seen     [numMeters]bool // meters with a non-zero group quantity
	lineSums map[Meter]Quantity
	ok       bool
}

func (p *mergePart) file(a *Aggregate) {
	p.srcs, p.lineSums, p.ok = make(map[string]*lineSources), make(map[Meter]Quantity), true
	src := func(account string) *lineSources {
		ls := p.srcs[account]
		if ls == nil {
			ls = new(lineSources)
			p.srcs[account] = ls
		}
		return ls
	}
	a.eachGroup(func(g *meterGroup) {
		ls := src(g.key.account)
		ls.groups = append(ls.groups, g)
		for mi := range numMeters {
			if q := g.quantity(mi); q.Units != 0 || q.Nanos != 0 {
				s, ok := p.sums[mi].add(q)
				p.sums[mi], p.seen[mi], p.ok = s, true, p.ok && ok
			}
		}
	})
	for acct, m := range a.accts {
		ls := src(acct)
		ls.lines = append(ls.lines, m)
		for k, q := range m {
			s, ok := p.lineSums[k.Meter].add(q)
			p.lineSums[k.Meter], p.ok = s, p.ok && ok
		}
	}
}

// eachGroup calls fn for every group of a, wherever it is indexed.
func (a *Aggregate) eachGroup(fn func(*meterGroup)) {
	for _, g := range a.groups {
		fn(g)
	}
	for _, m := range a.fast {
		for _, g := range m {
			fn(g)
		}
	}
	a.hot.each(fn)
}

// hasLines reports whether folding the sources gives at least one line: a group with a non-zero
// meter, or any line of a line map (Add keeps even a zero line).
func (ls *lineSources) hasLines() bool {
	for _, m := range ls.lines {
		if len(m) > 0 {
			return true
		}
	}
	for _, g := range ls.groups {
		if g.hasQuantity() {
			return true
		}
	}
	return false
}

// lineHint returns how many lines the sources fold into at most: every non-zero meter of every group,
// every line of every map (fewer when aggregates share lines).
func (ls *lineSources) lineHint() int {
	n := 0
	for _, g := range ls.groups {
		for mi := range numMeters {
			if q := g.quantity(mi); q.Units != 0 || q.Nanos != 0 {
				n++
			}
		}
	}
	for _, m := range ls.lines {
		n += len(m)
	}
	return n
}

// foldSources sums an account's sources into dst. It cannot overflow: MergeAll checked every meter's
// total, and no line exceeds its meter's total.
func foldSources(dst map[LineKey]Quantity, ls *lineSources) {
	if ls == nil {
		return
	}
	for _, g := range ls.groups {
		foldGroupLines(dst, g)
	}
	for _, m := range ls.lines {
		for k, q := range m {
			addLine(dst, k, q)
		}
	}
}

// materialize folds every account of a lazy aggregate into accts, on all cores.
func (a *Aggregate) materialize() {
	lz := a.lazy
	if lz == nil {
		return
	}
	a.lazy = nil
	lines := make([]map[LineKey]Quantity, len(lz.accounts))
	forEach(len(lz.accounts), runtime.GOMAXPROCS(0), func(i int) {
		m := make(map[LineKey]Quantity)
		foldSources(m, lz.srcs[lz.accounts[i]])
		lines[i] = m
	})
	for i, acct := range lz.accounts {
		a.accts[acct] = lines[i]
	}
}

// mergeEager is MergeAll summing every line at once, on up to workers goroutines (accounts are split
// between them): for aggregates already merged, and to find the line whose sum overflows.
func mergeEager(aggs []*Aggregate, workers int) (*Aggregate, bool) {
	for _, a := range aggs {
		a.materialize()
	}
	out := NewAggregate()
	for _, a := range aggs {
		if a.overflow {
			return out, false
		}
	}
	workers = max(1, min(workers, runtime.GOMAXPROCS(0)))
	parts := 1
	if workers > 1 {
		parts = 4 * workers
	}
	seed := maphash.MakeSeed()
	partOf := func(account string) int {
		if parts == 1 {
			return 0
		}
		return int(maphash.String(seed, account) % uint64(parts))
	}
	// Split every aggregate's groups and lines by part, one aggregate per goroutine.
	type split struct {
		groups [][]*meterGroup
		lines  [][]map[LineKey]Quantity
	}
	splits := make([]split, len(aggs))
	forEach(len(aggs), workers, func(i int) {
		a := aggs[i]
		sp := split{groups: make([][]*meterGroup, parts), lines: make([][]map[LineKey]Quantity, parts)}
		for _, g := range a.groups {
			p := partOf(g.key.account)
			sp.groups[p] = append(sp.groups[p], g)
		}
		for _, m := range a.fast {
			for _, g := range m {
				p := partOf(g.key.account)
				sp.groups[p] = append(sp.groups[p], g)
			}
		}
		a.hot.each(func(g *meterGroup) {
			p := partOf(g.key.account)
			sp.groups[p] = append(sp.groups[p], g)
		})
		for acct, m := range a.accts {
			p := partOf(acct)
			sp.lines[p] = append(sp.lines[p], m)
		}
		splits[i] = sp
	})
	// Sum each part on its own.
	results := make([]map[string]map[LineKey]Quantity, parts)
	var overflow atomic.Bool
	forEach(parts, workers, func(p int) {
		// Size every account's map for the most lines one aggregate has for it: the same lines mostly
		// come from every aggregate, so the sum would be far too much.
		hint := make(map[string]int)
		cnt := make(map[string]int)
		for i := range splits {
			clear(cnt)
			for _, g := range splits[i].groups[p] {
				for mi := range numMeters {
					if q := g.quantity(mi); q.Units != 0 || q.Nanos != 0 {
						cnt[g.key.account]++
					}
				}
			}
			for _, m := range splits[i].lines[p] {
				for k := range m {
					cnt[k.Account] += len(m)
					break
				}
			}
			for acct, n := range cnt {
				hint[acct] = max(hint[acct], n)
			}
		}
		accts := make(map[string]map[LineKey]Quantity, len(hint))
		for acct, n := range hint {
			accts[acct] = make(map[LineKey]Quantity, n)
		}
		for i := range splits {
			for _, g := range splits[i].groups[p] {
				if !foldInto(accts, g) {
					overflow.Store(true)
					return
				}
			}
			for _, m := range splits[i].lines[p] {
				for k, q := range m {
					dst := accts[k.Account]
					if dst == nil {
						dst = make(map[LineKey]Quantity, len(m))
						accts[k.Account] = dst
					}
					if !addLine(dst, k, q) {
						overflow.Store(true)
						return
					}
				}
			}
		}
		results[p] = accts
	})
	if overflow.Load() {
		return out, false
	}
	for _, accts := range results {
		maps.Copy(out.accts, accts)
	}
	return out, true
}

// forEach calls fn(0) … fn(n-1) on up to workers goroutines.
func forEach(n, workers int, fn func(int)) {
	if workers <= 1 || n <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// Accounts returns the accounts with usage, in ascending order.
func (a *Aggregate) Accounts() []string {
	if a.lazy != nil && len(a.groups) == 0 && a.fastLen() == 0 && len(a.accts) == 0 {
		return slices.Clone(a.lazy.accounts)
	}
	a.fold()
	ids := make([]string, 0, len(a.accts))
	for id := range a.accts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// ByAccount splits the aggregate per account, in maps of their own.
func (a *Aggregate) ByAccount() map[string]map[LineKey]Quantity {
	a.fold()
	out := make(map[string]map[LineKey]Quantity, len(a.accts))
	for id, m := range a.accts {
		out[id] = maps.Clone(m)
	}
	return out
}

// AccountLines returns the lines of one account (nil when it has none), to be read only. For an
// aggregate from MergeAll not yet folded, it sums the account's lines into a map of their own, sized
// for them, and changes nothing in the aggregate; otherwise the map is the aggregate's own, valid only
// until the aggregate changes. It is what ByAccount would hold for the account; unlike ByAccount, it
// may be called for different accounts concurrently once Accounts (or any other read) has been called.
func (a *Aggregate) AccountLines(account string) map[LineKey]Quantity {
	if lz := a.lazy; lz != nil && len(a.groups) == 0 && a.fastLen() == 0 && len(a.accts) == 0 {
		ls := lz.srcs[account]
		if ls == nil || !ls.hasLines() {
			return nil
		}
		lines := make(map[LineKey]Quantity, ls.lineHint())
		foldSources(lines, ls)
		return lines
	}
	if len(a.groups) > 0 || a.fastLen() > 0 || a.lazy != nil {
		a.fold()
	}
	return a.accts[account]
}

// BuildAccountLines returns BuildLines(a.AccountLines(account)). For an aggregate from MergeAll not yet
// folded it sums the account's groups and lines without a map: their non-zero meters are sorted in an
// invoice's order and runs of equal keys summed, which leaves the lines in order. Like AccountLines,
// it may be called for different accounts concurrently once Accounts has been called.
func (a *Aggregate) BuildAccountLines(account string) []Line {
	lz := a.lazy
	if lz == nil || len(a.groups) > 0 || a.fastLen() > 0 || len(a.accts) > 0 {
		return BuildLines(a.AccountLines(account))
	}
	ls := lz.srcs[account]
	if ls == nil || !ls.hasLines() {
		return BuildLines(nil)
	}
	buf := entryPool.Get().(*[]lineEntry)
	es := (*buf)[:0]
	for _, g := range ls.groups {
		k := &g.key
		for mi := range numMeters {
			q := g.quantity(mi)
			if q.Units == 0 && q.Nanos == 0 {
				continue
			}
			es = append(es, lineEntry{q: q, key: entryKey{lineNames: lineNames{kind: k.kind, deployment: k.deployment,
				product: k.product, base: k.base}, account: k.account, price: k.prices.unit[mi], meter: meterByIndex[mi],
				rank: meterRanks[mi]}})
		}
	}
	for _, m := range ls.lines {
		for k, q := range m {
			es = append(es, lineEntry{key: lineKeyOf(&k), q: q})
		}
	}
	out := buildSorted(es)
	clear(es) // the pooled buffer must not keep the strings alive
	*buf = es[:0]
	entryPool.Put(buf)
	return out
}

// meterRanks is meterOrder of each meter index.
var meterRanks = func() (r [numMeters]int8) {
	for mi, m := range meterByIndex {
		r[mi] = int8(meterOrder(m))
	}
	return r
}()

// entryPool holds the entry buffers of BuildAccountLines, one per goroutine drafting at a time.
var entryPool = sync.Pool{New: func() any { return new([]lineEntry) }}

// MeterTotals returns the total quantity per meter, for run counts.
func (a *Aggregate) MeterTotals() map[Meter]decimal.Decimal {
	if lz := a.lazy; lz != nil && len(a.groups) == 0 && a.fastLen() == 0 && len(a.accts) == 0 {
		out := make(map[Meter]decimal.Decimal, len(lz.totals))
		for m, q := range lz.totals {
			out[m] = q.Decimal()
		}
		return out
	}
	a.fold()
	// Sum exactly in integers — units and nanos apart — and fall back to decimals if that overflows;
	// the result is the decimal sum of every line's Quantity.Decimal, exponent -9 included.
	type sum struct{ units, nanos int64 }
	sums := make(map[Meter]*sum)
	exact := true
	for _, m := range a.accts {
		for k, q := range m {
			s := sums[k.Meter]
			if s == nil {
				s = new(sum)
				sums[k.Meter] = s
			}
			u, c1 := bits.Add64(uint64(s.units), uint64(q.Units), 0)
			n, c2 := bits.Add64(uint64(s.nanos), uint64(q.Nanos), 0)
			if q.Units < 0 || q.Nanos < 0 || c1 != 0 || c2 != 0 || int64(u) < 0 || int64(n) < 0 {
				exact = false
			}
			s.units, s.nanos = int64(u), int64(n)
		}
	}
	out := make(map[Meter]decimal.Decimal, len(sums))
	if !exact {
		for _, m := range a.accts {
			for k, q := range m {
				out[k.Meter] = out[k.Meter].Add(q.Decimal())
			}
		}
		return out
	}
	for meter, s := range sums {
		out[meter] = decimal.NewFromInt(s.units).Add(decimal.New(s.nanos, -9))
	}
	return out
}
