package rating

import (
	"math"
	"math/bits"
	"sort"

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
	q       [numMeters]Quantity
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
)

// Aggregate is the mergeable result of rating usage: quantities summed per line key. It is the value
// a shard would serialize and a final step merge (DESIGN §12). Events accumulate per product group on
// the hot path and are folded into line keys when the aggregate is read.
type Aggregate struct {
	lines  map[LineKey]Quantity
	groups map[groupKey]*meterGroup
	// fast indexes groups by the symbols of fastOwner (Rater.AddInterned); a group is in groups or in
	// fast, never both, and fold sums both into lines.
	fast      map[symKey]*meterGroup
	fastOwner *Rater
	// overflow is set when a fold found a sum too large; reads report it through Merge.
	overflow bool
}

// NewAggregate returns an empty Aggregate.
func NewAggregate() *Aggregate {
	return &Aggregate{lines: make(map[LineKey]Quantity), groups: make(map[groupKey]*meterGroup)}
}

// Reset empties the aggregate, keeping its allocated maps.
func (a *Aggregate) Reset() {
	clear(a.lines)
	clear(a.groups)
	clear(a.fast)
	a.overflow = false
}

// resetFast starts a new symbol index for rater r; groups already indexed keep their sums and are
// folded as usual.
func (a *Aggregate) resetFast(r *Rater) {
	if len(a.fast) > 0 {
		a.fold()
	}
	if a.fast == nil {
		a.fast = make(map[symKey]*meterGroup)
	}
	a.fastOwner = r
}

// groupFor returns the accumulator of k, creating it: in fast under fk when fast is set, else in groups.
func (a *Aggregate) groupFor(k groupKey, fast bool, fk symKey) *meterGroup {
	if !fast {
		return a.group(k)
	}
	g := &meterGroup{key: k, fast: true, fk: fk}
	a.fast[fk] = g
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
		a.fast[g.fk] = g
	} else {
		a.groups[g.key] = g
	}
}

// group returns the accumulator of k, creating it.
func (a *Aggregate) group(k groupKey) *meterGroup {
	g := a.groups[k]
	if g == nil {
		g = &meterGroup{key: k}
		a.groups[k] = g
	}
	return g
}

// fold moves the hot-path groups into line keys.
func (a *Aggregate) fold() {
	if n := len(a.groups) + len(a.fast); len(a.lines) == 0 && n > 0 {
		// Most groups fill one to three meters: size the map once rather than grow it step by step.
		a.lines = make(map[LineKey]Quantity, 2*n)
	}
	for _, g := range a.groups {
		a.foldGroup(g)
	}
	clear(a.groups)
	for _, g := range a.fast {
		a.foldGroup(g)
	}
	clear(a.fast)
}

func (a *Aggregate) foldGroup(g *meterGroup) {
	k := &g.key
	for m := range numMeters {
		q := g.q[m]
		if q.Units == 0 && q.Nanos == 0 {
			continue
		}
		lk := LineKey{Account: k.account, Kind: k.kind, Product: k.product, BaseModel: k.base,
			Deployment: k.deployment, Meter: meterByIndex[m], UnitPrice: k.prices.unit[m]}
		if !a.Add(lk, q) {
			a.overflow = true
		}
	}
}

// LineMap returns the quantities per line key.
func (a *Aggregate) LineMap() map[LineKey]Quantity {
	a.fold()
	return a.lines
}

// Add adds q to the line k. It returns false, changing nothing, when the sum would overflow.
func (a *Aggregate) Add(k LineKey, q Quantity) bool {
	s, ok := a.lines[k].add(q)
	if !ok {
		return false
	}
	a.lines[k] = s
	return true
}

// Merge adds every line of o into a. It returns false when a sum overflows.
func (a *Aggregate) Merge(o *Aggregate) bool {
	a.fold()
	for k, q := range o.LineMap() {
		if !a.Add(k, q) {
			return false
		}
	}
	return !a.overflow && !o.overflow
}

// Accounts returns the accounts with usage, in ascending order.
func (a *Aggregate) Accounts() []string {
	seen := make(map[string]bool)
	var ids []string
	for k := range a.LineMap() {
		if !seen[k.Account] {
			seen[k.Account] = true
			ids = append(ids, k.Account)
		}
	}
	sort.Strings(ids)
	return ids
}

// ByAccount splits the aggregate per account.
func (a *Aggregate) ByAccount() map[string]map[LineKey]Quantity {
	out := make(map[string]map[LineKey]Quantity)
	for k, q := range a.LineMap() {
		m := out[k.Account]
		if m == nil {
			m = make(map[LineKey]Quantity)
			out[k.Account] = m
		}
		m[k] = q
	}
	return out
}

// MeterTotals returns the total quantity per meter, for run counts.
func (a *Aggregate) MeterTotals() map[Meter]decimal.Decimal {
	out := make(map[Meter]decimal.Decimal)
	for k, q := range a.LineMap() {
		out[k.Meter] = out[k.Meter].Add(q.Decimal())
	}
	return out
}
