package rating

import (
	"errors"
	"fmt"
	"time"
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
	rates ServerlessRates
	price string // gpu, fine_tuning: canonical unit price
	err   error
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
// missing, or a quantity overflows; agg is then unchanged.
func (r *Rater) Add(ev *Event, agg *Aggregate) (RejectCode, string) {
	if r.accounts != nil && !r.accounts[ev.Account] {
		return RejectUnknownAccount, fmt.Sprintf("account %s does not exist", ev.Account)
	}
	var adds [6]struct {
		k LineKey
		q Quantity
	}
	n := 0
	add := func(k LineKey, q Quantity) {
		if q.Units == 0 && q.Nanos == 0 {
			return
		}
		adds[n].k, adds[n].q = k, q
		n++
	}
	switch ev.Type {
	case KindServerless:
		v := r.pb.VersionAt(ev.TS)
		if v < 0 {
			return RejectNoPrice, fmt.Sprintf("no price book version in effect at %s", ev.TS.Format(time.RFC3339))
		}
		c := r.serverless(v, ev.Model, ev.BaseModel)
		if c.err != nil {
			return RejectNoPrice, c.err.Error()
		}
		in, cached, out := MeterInput, MeterCachedInput, MeterOutput
		mult := c.rates.BatchMultiplier
		inP, cachedP, outP := c.rates.Input, c.rates.CachedInput, c.rates.Output
		if ev.Batch {
			in, cached, out = MeterBatchInput, MeterBatchCachedInput, MeterBatchOutput
			inP, cachedP, outP = inP.Mul(mult), cachedP.Mul(mult), outP.Mul(mult)
		}
		base := ""
		if ev.BaseModel != "" {
			base = ev.BaseModel
		}
		k := LineKey{Account: ev.Account, Kind: KindServerless, Product: ev.Model, BaseModel: base}
		k.Meter, k.UnitPrice = in, inP.String()
		add(k, Quantity{Units: ev.InputTokens - ev.CachedInputTokens})
		k.Meter, k.UnitPrice = cached, cachedP.String()
		add(k, Quantity{Units: ev.CachedInputTokens})
		k.Meter, k.UnitPrice = out, outP.String()
		add(k, Quantity{Units: ev.OutputTokens})
	case KindFineTuning:
		v := r.pb.VersionAt(ev.TS)
		if v < 0 {
			return RejectNoPrice, fmt.Sprintf("no price book version in effect at %s", ev.TS.Format(time.RFC3339))
		}
		c := r.fineTuning(v, ev.BaseModel, ev.Method)
		if c.err != nil {
			return RejectNoPrice, c.err.Error()
		}
		tokens := ev.TrainingTokens * ev.Epochs
		if ev.Epochs != 0 && tokens/ev.Epochs != ev.TrainingTokens {
			return RejectInvalidValue, "training_tokens × epochs is too large"
		}
		k := LineKey{Account: ev.Account, Kind: KindFineTuning, Product: ev.Job, BaseModel: ev.BaseModel,
			Meter: MeterTrainingTokens, UnitPrice: c.price}
		add(k, Quantity{Units: tokens})
	case KindGPU:
		from, to := ev.Start, ev.End
		if from.Before(r.window.From) {
			from = r.window.From
		}
		if to.After(r.window.To) {
			to = r.window.To
		}
		for from.Before(to) {
			v := r.pb.VersionAt(from)
			if v < 0 {
				return RejectNoPrice, fmt.Sprintf("no price book version in effect at %s", from.Format(time.RFC3339))
			}
			end := to
			if ve := r.pb.VersionEnd(v); !ve.IsZero() && ve.Before(end) {
				end = ve
			}
			c := r.gpu(v, ev.GPUType)
			if c.err != nil {
				return RejectNoPrice, c.err.Error()
			}
			q, ok := gpuQuantity(ev.GPUCount, int64(end.Sub(from)))
			if !ok {
				return RejectInvalidValue, "gpu_count × interval is too large"
			}
			if n == len(adds) {
				return RejectInvalidValue, "interval spans too many price versions"
			}
			add(LineKey{Account: ev.Account, Kind: KindGPU, Product: ev.GPUType, Deployment: ev.Deployment,
				Meter: MeterGPUSeconds, UnitPrice: c.price}, q)
			from = end
		}
	default:
		return RejectUnknownType, fmt.Sprintf("unknown type %q", ev.Type)
	}
	for i := 0; i < n; i++ {
		if !agg.Add(adds[i].k, adds[i].q) {
			for j := 0; j < i; j++ { // undo, so a rejected event leaves no trace
				q := agg.Lines[adds[j].k]
				agg.Lines[adds[j].k] = subQuantity(q, adds[j].q)
			}
			return RejectInvalidValue, "quantity total overflows"
		}
	}
	return "", ""
}

func subQuantity(a, b Quantity) Quantity {
	u, n := a.Units-b.Units, a.Nanos-b.Nanos
	if n < 0 {
		n += nanosPerSecond
		u--
	}
	return Quantity{Units: u, Nanos: n}
}

func (r *Rater) serverless(v int, model, base string) rateCacheVal {
	key := rateCacheKey{version: v, kind: KindServerless, model: model, base: base}
	if c, ok := r.cache[key]; ok {
		return c
	}
	rates, err := r.pb.ServerlessRates(v, model, base)
	c := rateCacheVal{rates: rates, err: err}
	r.cache[key] = c
	return c
}

func (r *Rater) gpu(v int, gpuType string) rateCacheVal {
	key := rateCacheKey{version: v, kind: KindGPU, model: gpuType}
	if c, ok := r.cache[key]; ok {
		return c
	}
	p, err := r.pb.GPURate(v, gpuType)
	c := rateCacheVal{price: p.String(), err: err}
	r.cache[key] = c
	return c
}

func (r *Rater) fineTuning(v int, base, method string) rateCacheVal {
	key := rateCacheKey{version: v, kind: KindFineTuning, base: base, aux: method}
	if c, ok := r.cache[key]; ok {
		return c
	}
	p, err := r.pb.FineTuningRate(v, base, method)
	c := rateCacheVal{price: p.String(), err: err}
	r.cache[key] = c
	return c
}

// IsNoPrice reports whether err is a missing-price error.
func IsNoPrice(err error) bool { return errors.Is(err, ErrNoPrice) }
