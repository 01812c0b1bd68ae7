package rating

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

// raterBenchEvents returns n events of October 2026 over accounts accounts, 90% serverless, 8% GPU
// (intervals crossing into the day after, some before the window), 2% fine-tuning (a job per event),
// plus their Syms from one table per role, the way the usage reader interns them. Some events name
// an unknown account or model, so rejects are exercised too.
func raterBenchEvents(n, accounts int) ([]Event, []EventSyms) {
	rng := rand.New(rand.NewPCG(3, 4))
	var acct, product, base, aux Symbols
	for _, s := range []*Symbols{&acct, &product, &base, &aux} {
		*s = *NewSymbols()
	}
	models := []string{handLlama8B, handLlama3B, handDeepseek, handFTPlain, handUnknownModel}
	gpus := []string{"H100-80GB", "H200-141GB", "B200-180GB"}
	evs := make([]Event, n)
	syms := make([]EventSyms, n)
	oct := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	for i := range evs {
		ts := oct.Add(time.Duration(rng.Int64N(int64(31 * 24 * time.Hour))))
		ev := Event{ID: fmt.Sprint("ev-", i), TS: ts, Account: fmt.Sprintf("acct_%05d", 1+rng.IntN(accounts)+rng.IntN(2)*rng.IntN(2)*accounts/100)}
		switch r := rng.IntN(100); {
		case r < 90:
			ev.Type, ev.Model = KindServerless, models[rng.IntN(len(models))]
			if ev.Model == handFTPlain {
				ev.BaseModel = handLlama8B
			}
			ev.InputTokens = rng.Int64N(8000)
			ev.CachedInputTokens = ev.InputTokens / 3
			ev.OutputTokens = rng.Int64N(2000)
			ev.Batch = r < 6
		case r < 98:
			ev.Type, ev.GPUType, ev.GPUCount = KindGPU, gpus[rng.IntN(len(gpus))], 1+rng.Int64N(8)
			ev.Deployment = fmt.Sprint("dep-", rng.IntN(3))
			if rng.IntN(10) == 0 { // around the price version boundary of 2026-09-01
				ts = time.Date(2026, 9, 1, 0, rng.IntN(60), 0, 0, time.UTC)
				ev.TS = ts
			}
			ev.End = ts.Truncate(time.Minute)
			ev.Start = ev.End.Add(-time.Duration(1+rng.IntN(90)) * time.Minute)
		default:
			ev.Type, ev.Job, ev.BaseModel, ev.Method = KindFineTuning, fmt.Sprint("job-", i), handLlama8B, "lora_sft"
			ev.TrainingTokens, ev.Epochs = rng.Int64N(1e7), 1+rng.Int64N(3)
		}
		evs[i] = ev
		sy := EventSyms{}
		_, sy.Account = acct.Intern([]byte(ev.Account))
		switch ev.Type {
		case KindServerless:
			_, sy.Product = product.Intern([]byte(ev.Model))
			_, sy.Base = base.Intern([]byte(ev.BaseModel))
		case KindGPU:
			_, sy.Product = product.Intern([]byte(ev.GPUType))
			_, sy.Aux = aux.Intern([]byte(ev.Deployment))
		case KindFineTuning:
			_, sy.Product = product.Intern([]byte(ev.Job))
			_, sy.Base = base.Intern([]byte(ev.BaseModel))
			_, sy.Aux = aux.Intern([]byte(ev.Method))
		}
		syms[i] = sy
	}
	return evs, syms
}

func raterBenchAccounts(accounts int) map[string]bool {
	known := make(map[string]bool, accounts)
	for i := 1; i <= accounts; i++ {
		known[fmt.Sprintf("acct_%05d", i)] = true
	}
	return known
}

// TestAddInternedMatchesAdd checks the hot path rates exactly as Add: the same lines and the same
// rejects, event by event.
func TestAddInternedMatchesAdd(t *testing.T) {
	pb := handPriceBook(t)
	evs, syms := raterBenchEvents(50_000, 500)
	window := Window{From: time.Date(2026, 8, 31, 23, 30, 0, 0, time.UTC), To: time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)}
	slow, fast := NewRater(pb, window, raterBenchAccounts(500)), NewRater(pb, window, raterBenchAccounts(500))
	aggSlow, aggFast := NewAggregate(), NewAggregate()
	rejects := 0
	for i := range evs {
		c1, m1 := slow.Add(&evs[i], aggSlow)
		c2, m2 := fast.AddInterned(&evs[i], syms[i], aggFast)
		if c1 != c2 || m1 != m2 {
			t.Fatalf("event %d %+v: Add = %s %q, AddInterned = %s %q", i, evs[i], c1, m1, c2, m2)
		}
		if c1 != "" {
			rejects++
		}
	}
	if rejects == 0 || rejects == len(evs) {
		t.Fatalf("%d of %d events rejected; want some of both", rejects, len(evs))
	}
	if a, b := aggSlow.LineMap(), aggFast.LineMap(); !maps.Equal(a, b) {
		t.Fatalf("AddInterned built %d lines, Add %d; they differ", len(b), len(a))
	}
}

// TestAddHintedMatchesAdd checks the read's batched path — Lookup for a batch of events, then
// AddHinted for each in order — rates exactly as Add: the same rejects event by event and the same
// lines. Batches contain first events of new groups and repeated keys, so hints are both found and
// missing, and groups created within a batch are found by the events after them.
func TestAddHintedMatchesAdd(t *testing.T) {
	pb := handPriceBook(t)
	evs, syms := raterBenchEvents(50_000, 500)
	window := Window{From: time.Date(2026, 8, 31, 23, 30, 0, 0, time.UTC), To: time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)}
	slow, fast := NewRater(pb, window, raterBenchAccounts(500)), NewRater(pb, window, raterBenchAccounts(500))
	aggSlow, aggFast := NewAggregate(), NewAggregate()
	const batch = 512
	hints := make([]Hint, batch)
	found := 0
	for lo := 0; lo < len(evs); lo += batch {
		hi := min(lo+batch, len(evs))
		for i := lo; i < hi; i++ {
			hints[i-lo] = fast.Lookup(&evs[i], syms[i], aggFast)
			if hints[i-lo].g != nil {
				found++
			}
		}
		for i := lo; i < hi; i++ {
			c1, m1 := slow.Add(&evs[i], aggSlow)
			c2, m2 := fast.AddHinted(&evs[i], syms[i], aggFast, hints[i-lo])
			if c1 != c2 || m1 != m2 {
				t.Fatalf("event %d %+v: Add = %s %q, AddHinted = %s %q", i, evs[i], c1, m1, c2, m2)
			}
		}
	}
	if found == 0 || found == len(evs) {
		t.Fatalf("Lookup found a group for %d of %d events; want some but not all", found, len(evs))
	}
	if a, b := aggSlow.LineMap(), aggFast.LineMap(); !maps.Equal(a, b) {
		t.Fatalf("AddHinted built %d lines, Add %d; they differ", len(b), len(a))
	}
}

// BenchmarkRaterAdd rates 1M events over 5,000 accounts into one fresh aggregate per op, by strings
// (Add) and by interned symbols (AddInterned, the read's hot path). Metrics: ns/event and allocs/event
// (new groups and lines included).
func BenchmarkRaterAdd(b *testing.B) {
	pb := handPriceBook(&testing.T{})
	const n, accounts = 1_000_000, 5000
	evs, syms := raterBenchEvents(n, accounts)
	known := raterBenchAccounts(accounts)
	for _, interned := range []bool{false, true} {
		name := "Add"
		if interned {
			name = "AddInterned"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				r, agg := NewRater(pb, handOct(), known), NewAggregate()
				for i := range evs {
					if interned {
						r.AddInterned(&evs[i], syms[i], agg)
					} else {
						r.Add(&evs[i], agg)
					}
				}
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*n), "allocs/event")
		})
	}
}
