package rating

import (
	"fmt"
	"sort"
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

// Key returns the line's identity within an invoice, used to compare documents line by line.
func (l Line) Key() string {
	if l.Kind == KindDiscount {
		return "discount|on_demand"
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s", l.Kind, l.Product, l.BaseModel, l.Deployment, l.Meter, l.UnitPrice.String())
}

// unrounded amounts keep this many decimal places; with unit sizes of 10^6 and 3600 the quotient's
// expansion either ends or repeats one digit other than 9, so rounding it to cents is exact.
const unroundedPlaces = 24

// BuildLines rates the aggregate lines of one account: quantity × unit price ÷ unit size, each line
// rounded on its own. Lines with quantity 0 are omitted. The order is stable: kind, deployment, product,
// base model, meter, unit price.
func BuildLines(lines map[LineKey]Quantity) []Line {
	out := make([]Line, 0, len(lines))
	for k, q := range lines {
		qd := q.Decimal()
		if qd.IsZero() {
			continue
		}
		price := parsePrice(k.UnitPrice)
		l := Line{Kind: k.Kind, Product: k.Product, BaseModel: k.BaseModel, Deployment: k.Deployment,
			Meter: k.Meter, Quantity: qd, UnitPrice: price}
		var raw decimal.Decimal
		switch k.Kind {
		case KindGPU:
			l.Unit = "GPU-hour"
			raw = qd.Mul(price).DivRound(decimal.NewFromInt(secondsPerGPUHour), unroundedPlaces)
		default:
			l.Unit = "1M tokens"
			raw = qd.Mul(price).Shift(-6)
		}
		l.Unrounded = raw
		l.Amount = RoundCents(raw)
		l.Description = describe(k)
		out = append(out, l)
	}
	SortLines(out)
	return out
}

// SortLines orders lines as they appear on an invoice; discount lines go last.
func SortLines(ls []Line) {
	sort.SliceStable(ls, func(i, j int) bool { return LineLess(ls[i], ls[j]) })
}

// LineLess reports whether a comes before b on an invoice.
func LineLess(a, b Line) bool {
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
	if a.BaseModel != b.BaseModel {
		return a.BaseModel < b.BaseModel
	}
	if a.Meter != b.Meter {
		return meterOrder(a.Meter) < meterOrder(b.Meter)
	}
	return a.UnitPrice.LessThan(b.UnitPrice)
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

func describe(k LineKey) string {
	switch k.Kind {
	case KindGPU:
		return k.Product + " on deployment " + k.Deployment + ", GPU-seconds"
	case KindFineTuning:
		return "fine-tuning job " + k.Product + " on " + k.BaseModel + ", training tokens"
	}
	key := descKey{product: k.Product, base: k.BaseModel, meter: k.Meter}
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

func describeServerless(k LineKey) string {
	var meter string
	switch k.Meter {
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
	if k.BaseModel != "" && k.BaseModel != k.Product {
		return k.Product + " (priced as " + k.BaseModel + "), " + meter
	}
	return k.Product + ", " + meter
}

// priceCache holds the unit prices BuildLines has parsed, by their string: a read has a handful of
// distinct prices and hundreds of thousands of lines. Decimals are immutable, so sharing one is safe.
var priceCache sync.Map // string → decimal.Decimal

// priceCacheMax bounds the cache; prices beyond it are parsed every time.
const priceCacheMax = 1 << 12

var priceCacheLen atomic.Int64

// parsePrice returns decimal.RequireFromString(s), cached.
func parsePrice(s string) decimal.Decimal {
	if d, ok := priceCache.Load(s); ok {
		return d.(decimal.Decimal)
	}
	d := decimal.RequireFromString(s)
	if priceCacheLen.Load() < priceCacheMax {
		if _, loaded := priceCache.LoadOrStore(s, d); !loaded {
			priceCacheLen.Add(1)
		}
	}
	return d
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
	hours := GPUSeconds(ls).DivRound(decimal.NewFromInt(secondsPerGPUHour), unroundedPlaces)
	pct := pb.VolumePercent(version, hours)
	if contractPercent.GreaterThan(pct) {
		pct = contractPercent
	}
	if gpuSum == 0 || !pct.IsPositive() {
		return Line{}, false
	}
	raw := pct.Div(decimal.NewFromInt(100)).Mul(gpuSum.Decimal())
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
