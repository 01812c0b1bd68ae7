package rating

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/shopspring/decimal"
)

// Line is one rated invoice line: a quantity of a meter at a unit price, with its amount rounded once,
// to cents, half away from zero. Discount lines have no quantity, unit or unit price.
type Line struct {
	Kind        Kind
	Product     string
	BaseModel   string
	Deployment  string
	Meter       Meter
	Description string
	Quantity    decimal.Decimal
	Unit        string
	UnitPrice   decimal.Decimal
	Unrounded   decimal.Decimal // quantity × unit price ÷ unit size, before rounding
	Amount      Cents
}

// Key returns the line's identity within an invoice, used to compare documents line by line: DESIGN §6's
// (kind, product, meter, unit price), and the deployment of a GPU line. The base model is not part of
// it: events of one product that name different base models but get the same unit price are one line.
func (l Line) Key() string {
	if l.Kind == KindDiscount {
		return "discount|on_demand"
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s", l.Kind, l.Product, l.Deployment, l.Meter, l.UnitPrice.String())
}

// unrounded amounts keep at least this many decimal places. A token line's quotient (÷ 10^6) ends. A
// GPU line's x ÷ 3600, for x with p decimal places, ends after p + 4 places or from there repeats one
// digit other than 9 (3600 = 2^4 × 5^2 × 9, and r/9 = 0.rrr… for r < 9): rounded at p + 5 places or
// more, the repeat only changes its own last digit, so rounding that to cents is rounding the exact
// quotient once (DESIGN §5). gpuPlaces gives the places; 24 covers prices of up to 10 decimals with
// quantities in nanos.
const unroundedPlaces = 24

// gpuPlaces is the number of decimal places a GPU line's x ÷ 3600 is kept to: unroundedPlaces, or p + 5
// for x with p decimal places when that is more (a unit price of more than 10 decimals).
func gpuPlaces(x decimal.Decimal) int32 {
	return max(unroundedPlaces, -x.Exponent()+5)
}

// BuildLines rates the aggregate lines of one account: quantity × unit price ÷ unit size, each line
// rounded on its own. Lines with quantity 0 are omitted. The order is stable: kind, deployment, product,
// meter, unit price. Keys that differ only in their base model are one line (see Line.Key).
func BuildLines(lines map[LineKey]Quantity) []Line {
	es := make([]lineEntry, 0, len(lines))
	for k, q := range lines {
		es = append(es, lineEntry{key: lineKeyOf(&k), q: q})
	}
	return buildSorted(es)
}

// lineEntry is a quantity of one line key, from an aggregate's line map or from one meter of a group,
// with the key's fields inline so that sorting entries reads no other memory.
type lineEntry struct {
	key entryKey
	q   Quantity
}

// entryKey is a LineKey with its meter's rank in an invoice's order (meterOrder).
type entryKey struct {
	lineNames
	account, price string
	meter          Meter
	rank           int8
}

// lineNames are what name a line, in the order an invoice sorts lines by; base is not part of a line's
// identity (see Line.Key) and comes last.
type lineNames struct {
	kind                      Kind
	deployment, product, base string
}

func lineKeyOf(k *LineKey) entryKey {
	return entryKey{lineNames: lineNames{kind: k.Kind, deployment: k.Deployment, product: k.Product, base: k.BaseModel},
		account: k.Account, price: k.UnitPrice, meter: k.Meter, rank: int8(meterOrder(k.Meter))}
}

// compareNames orders lines by their names: discount lines last, then kind, deployment and product.
func compareNames(a, b *lineNames) int {
	if ad, bd := a.kind == KindDiscount, b.kind == KindDiscount; ad != bd {
		if bd {
			return -1
		}
		return 1
	}
	if c := strings.Compare(string(a.kind), string(b.kind)); c != 0 {
		return c
	}
	if c := strings.Compare(a.deployment, b.deployment); c != 0 {
		return c
	}
	return strings.Compare(a.product, b.product)
}

// compareLineKeys orders entries as LineLess orders the lines they become, and is 0 exactly for the
// entries of one line: keys that LineLess cannot tell apart (another account, or a price spelt
// differently) then by price text and account. The base model is not compared (see Line.Key).
func compareLineKeys(a, b *entryKey) int {
	if c := compareNames(&a.lineNames, &b.lineNames); c != 0 {
		return c
	}
	if a.meter != b.meter {
		if a.rank != b.rank {
			return int(a.rank) - int(b.rank)
		}
		return strings.Compare(string(a.meter), string(b.meter))
	}
	if a.price != b.price {
		if c := parsePriceVal(a.price).d.Cmp(parsePriceVal(b.price).d); c != 0 {
			return c
		}
		return strings.Compare(a.price, b.price)
	}
	return strings.Compare(a.account, b.account)
}

// compareEntries is compareLineKeys, then the base model: the order entries are sorted in, so that
// those of one line are adjacent and in a reproducible order.
func compareEntries(a, b *entryKey) int {
	if c := compareLineKeys(a, b); c != 0 {
		return c
	}
	return strings.Compare(a.base, b.base)
}

// buildSorted sorts es, sums the quantities of equal keys and rates each key as BuildLines does. The
// lines come out in BuildLines's order without sorting them (lines are large, entries are not). What
// is sorted is the entries' indices: an entry is ~140 bytes, and sorting them moved and copied them
// for every comparison — half of drafting's time.
func buildSorted(es []lineEntry) []Line {
	idx := make([]int32, len(es))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return compareEntries(&es[a].key, &es[b].key) })
	// Runs of equal keys, each summed into one line. Sums cannot overflow where the entries come from an
	// aggregate (its meter totals were checked); should one, the run keeps its sum so far, as addLine
	// leaves a line unchanged.
	ends := make([]int32, 0, len(idx)/2+1)
	for i := 1; i <= len(idx); i++ {
		if i == len(idx) || compareLineKeys(&es[idx[i-1]].key, &es[idx[i]].key) != 0 {
			ends = append(ends, int32(i))
		}
	}
	// One spare slot: rating an account appends its discount line.
	out := make([]Line, 0, len(ends)+1)
	start := int32(0)
	for _, end := range ends {
		first := &es[idx[start]]
		sum := first.q
		key := first.key
		for _, k := range idx[start+1 : end] {
			if s, ok := sum.add(es[k].q); ok {
				sum = s
			}
			if es[k].key.base != key.base {
				key.base = mergedBase(es, idx[start:end])
			}
		}
		if l, ok := buildLine(&key, sum); ok {
			out = append(out, l)
		}
		start = end
	}
	return out
}

// mergedBase is the base model of a line whose entries (es at run, sorted by base) name different
// ones: the distinct base models other than none, in order, joined by ", " — a serverless event that
// names no base model and one that names its own model as its base are priced alike.
func mergedBase(es []lineEntry, run []int32) string {
	var bases []string
	for _, k := range run {
		if b := es[k].key.base; b != "" && (len(bases) == 0 || bases[len(bases)-1] != b) {
			bases = append(bases, b)
		}
	}
	return strings.Join(bases, ", ")
}

// buildLine rates quantity q of key k; false when the quantity is zero.
func buildLine(k *entryKey, q Quantity) (Line, bool) {
	qd := q.Decimal()
	if qd.IsZero() {
		return Line{}, false
	}
	pv := parsePriceVal(k.price)
	price := pv.d
	l := Line{Kind: k.kind, Product: k.product, BaseModel: k.base, Deployment: k.deployment,
		Meter: k.meter, Quantity: qd, UnitPrice: price}
	var raw decimal.Decimal
	var fast bool
	switch k.kind {
	case KindGPU:
		l.Unit = "GPU-hour"
		if raw, l.Amount, fast = gpuAmountFast(q, pv); !fast {
			x := qd.Mul(price)
			raw = x.DivRound(decimal.NewFromInt(secondsPerGPUHour), gpuPlaces(x))
		}
	default:
		l.Unit = "1M tokens"
		if raw, l.Amount, fast = tokenAmountFast(q, pv); !fast {
			raw = qd.Mul(price).Shift(-6)
		}
	}
	l.Unrounded = raw
	if !fast {
		l.Amount = RoundCents(raw)
	}
	l.Description = describe(k)
	return l, true
}

// The fast paths of BuildLines compute in 128-bit integers what the decimal path computes in big
// integers, for a quantity and a price whose coefficients fit: the same Unrounded value and exponent,
// and the same amount, rounded half away from zero (all values are positive). Anything else — a zero
// or negative price, a price with more than 15 decimals or a positive exponent, an intermediate that
// does not fit in 128 bits, an amount beyond an int64 — takes the decimal path.

// quantity128 returns q's value in nanos (q.Units × 10⁹ + q.Nanos), the coefficient of q.Decimal().
func quantity128(q Quantity) (hi, lo uint64, ok bool) {
	if q.Units < 0 || q.Nanos < 0 || q.Nanos >= nanosPerSecond {
		return 0, 0, false
	}
	hi, lo = bits.Mul64(uint64(q.Units), nanosPerSecond)
	var c uint64
	lo, c = bits.Add64(lo, uint64(q.Nanos), 0)
	hi += c
	return hi, lo, true
}

// mul128 returns (hi, lo) × m and false when it does not fit in 128 bits.
func mul128(hi, lo, m uint64) (uint64, uint64, bool) {
	h1, l1 := bits.Mul64(lo, m)
	h2, l2 := bits.Mul64(hi, m)
	if h2 != 0 {
		return 0, 0, false
	}
	h, c := bits.Add64(h1, l2, 0)
	if c != 0 {
		return 0, 0, false
	}
	return h, l1, true
}

// div128 returns (hi, lo) ÷ d, truncated, and the remainder.
func div128(hi, lo, d uint64) (uint64, uint64, uint64) {
	qh, r := hi/d, hi%d
	ql, r := bits.Div64(r, lo, d)
	return qh, ql, r
}

// pow10u64 holds 10^0 … 10^19.
var pow10u64 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// divPow10 returns (hi, lo) ÷ 10^n, truncated: floor(floor(x ÷ a) ÷ b) = floor(x ÷ ab).
func divPow10(hi, lo uint64, n int) (uint64, uint64) {
	for n > 0 {
		s := min(n, 19)
		hi, lo, _ = div128(hi, lo, pow10u64[s])
		n -= s
	}
	return hi, lo
}

// roundCents128 is RoundCents of the decimal (hi, lo) × 10^exp, for exp ≤ -3: truncate to three
// places, add 5, truncate to two (Decimal.Round). False when the cents do not fit in an int64.
func roundCents128(hi, lo uint64, exp int32) (Cents, bool) {
	th, tl := divPow10(hi, lo, int(-exp-3))
	if th != 0 || tl > math.MaxInt64-5 {
		return 0, false
	}
	return Cents((tl + 5) / 10), true
}

// decimal128 returns the decimal (hi, lo) × 10^exp.
func decimal128(hi, lo uint64, exp int32) decimal.Decimal {
	if hi == 0 && lo <= math.MaxInt64 {
		return decimal.New(int64(lo), exp)
	}
	v := new(big.Int).SetUint64(hi)
	v.Lsh(v, 64)
	v.Or(v, new(big.Int).SetUint64(lo))
	return decimal.NewFromBigInt(v, exp)
}

// product128 returns the coefficient of q × p (quantity in nanos times the price's coefficient), and
// false when p has no fast form, q does not fit, the product does not fit in 128 bits or is zero.
func product128(q Quantity, p priceVal) (hi, lo uint64, ok bool) {
	if !p.fast {
		return 0, 0, false
	}
	qh, ql, ok := quantity128(q)
	if !ok {
		return 0, 0, false
	}
	hi, lo, ok = mul128(qh, ql, p.coef)
	return hi, lo, ok && (hi != 0 || lo != 0)
}

// tokenAmountFast is qd.Mul(price).Shift(-6) and its RoundCents: the coefficient q × price with the
// exponent -9 + price exponent - 6.
func tokenAmountFast(q Quantity, p priceVal) (decimal.Decimal, Cents, bool) {
	vh, vl, ok := product128(q, p)
	if !ok {
		return decimal.Decimal{}, 0, false
	}
	exp := p.exp - 15
	c, ok := roundCents128(vh, vl, exp)
	if !ok {
		return decimal.Decimal{}, 0, false
	}
	return decimal128(vh, vl, exp), c, true
}

// gpuAmountFast is qd.Mul(price).DivRound(3600, unroundedPlaces) and its RoundCents: the product's
// coefficient scaled to 10^-unroundedPlaces (times 10^(15 + price exponent)), divided by 3600 and
// rounded half up on the remainder, with the exponent -unroundedPlaces.
func gpuAmountFast(q Quantity, p priceVal) (decimal.Decimal, Cents, bool) {
	vh, vl, ok := product128(q, p)
	if !ok {
		return decimal.Decimal{}, 0, false
	}
	// The product's exponent is -9 + p.exp; QuoRem scales it by 10^(unroundedPlaces - 9 + p.exp). A
	// product with more than unroundedPlaces - 5 places needs more places (gpuPlaces): the slow path.
	e := unroundedPlaces - 9 + int(p.exp)
	if e < 5 || e > 19 {
		return decimal.Decimal{}, 0, false
	}
	if vh, vl, ok = mul128(vh, vl, pow10u64[e]); !ok {
		return decimal.Decimal{}, 0, false
	}
	qh, ql, r := div128(vh, vl, secondsPerGPUHour)
	if 2*r >= secondsPerGPUHour {
		var c uint64
		ql, c = bits.Add64(ql, 1, 0)
		qh += c
		if qh < c {
			return decimal.Decimal{}, 0, false
		}
	}
	c, ok := roundCents128(qh, ql, -unroundedPlaces)
	if !ok {
		return decimal.Decimal{}, 0, false
	}
	return decimal128(qh, ql, -unroundedPlaces), c, true
}

// LineLess reports whether a comes before b on an invoice.
func LineLess(a, b Line) bool { return lineLess(&a, &b) }

func lineLess(a, b *Line) bool {
	if (a.Kind == KindDiscount) != (b.Kind == KindDiscount) {
		return b.Kind == KindDiscount
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Deployment != b.Deployment {
		return a.Deployment < b.Deployment
	}
	if a.Product != b.Product {
		return a.Product < b.Product
	}
	if a.Meter != b.Meter {
		return meterOrder(a.Meter) < meterOrder(b.Meter)
	}
	if !a.UnitPrice.Equal(b.UnitPrice) {
		return a.UnitPrice.LessThan(b.UnitPrice)
	}
	return a.BaseModel < b.BaseModel
}

func meterOrder(m Meter) int {
	switch m {
	case MeterInput:
		return 0
	case MeterCachedInput:
		return 1
	case MeterOutput:
		return 2
	case MeterBatchInput:
		return 3
	case MeterBatchCachedInput:
		return 4
	case MeterBatchOutput:
		return 5
	case MeterGPUSeconds:
		return 6
	case MeterTrainingTokens:
		return 7
	}
	return 8
}

func describe(k *entryKey) string {
	switch k.kind {
	case KindGPU:
		return k.product + " on deployment " + k.deployment + ", GPU-seconds"
	case KindFineTuning:
		return "fine-tuning job " + k.product + " on " + k.base + ", training tokens"
	}
	key := descKey{product: k.product, base: k.base, meter: k.meter}
	if d, ok := descCache.Load(key); ok {
		return d.(string)
	}
	d := describeServerless(k)
	if descCacheLen.Load() < descCacheMax {
		if _, loaded := descCache.LoadOrStore(key, d); !loaded {
			descCacheLen.Add(1)
		}
	}
	return d
}

// descCache holds the descriptions of serverless lines, which repeat across accounts, by product,
// base model and meter; descCacheMax bounds it.
var (
	descCache    sync.Map // descKey → string
	descCacheLen atomic.Int64
)

const descCacheMax = 1 << 12

type descKey struct {
	product, base string
	meter         Meter
}

func describeServerless(k *entryKey) string {
	var meter string
	switch k.meter {
	case MeterInput:
		meter = "input tokens"
	case MeterCachedInput:
		meter = "cached input tokens"
	case MeterOutput:
		meter = "output tokens"
	case MeterBatchInput:
		meter = "batch input tokens"
	case MeterBatchCachedInput:
		meter = "batch cached input tokens"
	case MeterBatchOutput:
		meter = "batch output tokens"
	}
	if k.base != "" && k.base != k.product {
		return k.product + " (priced as " + k.base + "), " + meter
	}
	return k.product + ", " + meter
}

// priceCache holds the unit prices BuildLines has parsed, by their string: a read has a handful of
// distinct prices and hundreds of thousands of lines. Decimals are immutable, so sharing one is safe.
var priceCache sync.Map // string → priceVal

// priceCacheMax bounds the cache; prices beyond it are parsed every time.
const priceCacheMax = 1 << 12

var priceCacheLen atomic.Int64

// priceVal is a parsed unit price: the decimal, and for the fast paths of BuildLines its coefficient
// and exponent when the price is positive, its coefficient fits in a uint64 and its exponent is in
// [-15, 0].
type priceVal struct {
	d    decimal.Decimal
	coef uint64
	exp  int32
	fast bool
}

// parsePriceVal returns decimal.RequireFromString(s) with its fast form, cached.
func parsePriceVal(s string) priceVal {
	if v, ok := priceCache.Load(s); ok {
		return v.(priceVal)
	}
	d := decimal.RequireFromString(s)
	v := priceVal{d: d}
	if c := d.Coefficient(); d.Sign() > 0 && c.IsUint64() && d.Exponent() <= 0 && d.Exponent() >= -15 {
		v.coef, v.exp, v.fast = c.Uint64(), d.Exponent(), true
	}
	if priceCacheLen.Load() < priceCacheMax {
		if _, loaded := priceCache.LoadOrStore(s, v); !loaded {
			priceCacheLen.Add(1)
		}
	}
	return v
}

// GPUSeconds returns the total GPU-seconds of the GPU lines.
func GPUSeconds(ls []Line) decimal.Decimal {
	sum := decimal.Zero
	for _, l := range ls {
		if l.Kind == KindGPU {
			sum = sum.Add(l.Quantity)
		}
	}
	return sum
}

// DiscountLine returns the bulk on-demand discount line of DESIGN §6 step 2 for lines: the larger of
// contractPercent and the volume tier that the lines' GPU-hours reach in the version at windowStart,
// applied to the sum of the GPU line amounts only, as −round(percent ÷ 100 × sum). It returns false when
// there is nothing to discount.
func (pb *PriceBook) DiscountLine(ls []Line, contractPercent decimal.Decimal, version int) (Line, bool) {
	var gpuSum Cents
	for _, l := range ls {
		if l.Kind == KindGPU {
			gpuSum += l.Amount
		}
	}
	pct := pb.VolumePercent(version, GPUSeconds(ls))
	if contractPercent.GreaterThan(pct) {
		pct = contractPercent
	}
	if gpuSum == 0 || !pct.IsPositive() {
		return Line{}, false
	}
	// percent ÷ 100 × sum, exact: a product and a shift of the decimal point (Div keeps 16 places).
	raw := pct.Mul(gpuSum.Decimal()).Shift(-2)
	amt := -RoundCents(raw)
	if amt == 0 {
		return Line{}, false
	}
	return Line{Kind: KindDiscount, Product: "on_demand", Meter: MeterDiscount,
		Description: fmt.Sprintf("bulk on-demand discount %s%% of GPU usage %s", pct.String(), gpuSum),
		Unrounded:   raw.Neg(), Amount: amt}, true
}

// Sum returns the sum of the line amounts.
func Sum(ls []Line) Cents {
	var s Cents
	for _, l := range ls {
		s += l.Amount
	}
	return s
}
