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
// missing, or a quantity overflows; agg is then unchanged.
func (r *Rater) Add(ev *Event, agg *Aggregate) (RejectCode, string) {
	if r.accounts != nil && !r.accounts[ev.Account] {
		return RejectUnknownAccount, fmt.Sprintf("account %s does not exist", ev.Account)
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
		g := agg.group(groupKey{account: ev.Account, product: ev.Model, base: ev.BaseModel, kind: KindServerless, prices: c.prices})
		base := miInput
		if ev.Batch {
			base = miBatchInput
		}
		next := g.q
		ok1 := addMeter(&next, base, Quantity{Units: ev.InputTokens - ev.CachedInputTokens})
		ok2 := addMeter(&next, base+1, Quantity{Units: ev.CachedInputTokens})
		ok3 := addMeter(&next, base+2, Quantity{Units: ev.OutputTokens})
		if !ok1 || !ok2 || !ok3 {
			return RejectInvalidValue, "quantity total overflows"
		}
		g.q = next
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
		g := agg.group(groupKey{account: ev.Account, product: ev.Job, base: ev.BaseModel, kind: KindFineTuning, prices: c.prices})
		next := g.q
		if !addMeter(&next, miTrainingTokens, Quantity{Units: tokens}) {
			return RejectInvalidValue, "quantity total overflows"
		}
		g.q = next
	case KindGPU:
		type piece struct {
			prices *priceSet
			q      Quantity
		}
		var pieces [4]piece
		n := 0
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
			if n == len(pieces) {
				return RejectInvalidValue, "interval spans too many price versions"
			}
			pieces[n] = piece{c.prices, q}
			n++
			from = end
		}
		// Check every piece before changing anything, so a rejected event leaves no trace.
		for i := 0; i < n; i++ {
			g := agg.group(groupKey{account: ev.Account, product: ev.GPUType, deployment: ev.Deployment, kind: KindGPU, prices: pieces[i].prices})
			if _, ok := g.q[miGPUSeconds].add(pieces[i].q); !ok {
				return RejectInvalidValue, "quantity total overflows"
			}
		}
		for i := 0; i < n; i++ {
			g := agg.group(groupKey{account: ev.Account, product: ev.GPUType, deployment: ev.Deployment, kind: KindGPU, prices: pieces[i].prices})
			g.q[miGPUSeconds], _ = g.q[miGPUSeconds].add(pieces[i].q)
		}
	default:
		return RejectUnknownType, fmt.Sprintf("unknown type %q", ev.Type)
	}
	return "", ""
}

// addMeter adds q to meter m of qs; it returns false on overflow.
func addMeter(qs *[numMeters]Quantity, m int, q Quantity) bool {
	s, ok := qs[m].add(q)
	if ok {
		qs[m] = s
	}
	return ok
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

// IsNoPrice reports whether err is a missing-price error.
func IsNoPrice(err error) bool { return errors.Is(err, ErrNoPrice) }
