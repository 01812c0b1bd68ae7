package rating

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// lineTexts spells out every field of every line, in order.
func lineTexts(ls []Line) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = fmt.Sprintf("%s|%s|%s|%s|%s|%s|q=%s|%s|p=%s|u=%s|%d", l.Kind, l.Product, l.BaseModel, l.Deployment,
			l.Meter, l.Description, l.Quantity, l.Unit, l.UnitPrice, l.Unrounded, l.Amount)
	}
	return out
}

// TestMergeAll checks that MergeAll sums like a chain of Merge calls, leaves its inputs alone, and
// reports an overflow.
func TestMergeAll(t *testing.T) {
	mk := func(seed int) *Aggregate {
		a := NewAggregate()
		for i := range 500 {
			k := LineKey{Account: fmt.Sprintf("acct_%03d", (i*7+seed)%60), Kind: KindServerless,
				Product: fmt.Sprintf("m%d", i%5), Meter: MeterInput, UnitPrice: "0.2"}
			a.Add(k, Quantity{Units: int64(i + seed), Nanos: int64(i) * 1000})
		}
		return a
	}
	aggs := []*Aggregate{mk(1), mk(2), mk(3)}
	want := NewAggregate()
	for _, a := range []*Aggregate{mk(1), mk(2), mk(3)} {
		if !want.Merge(a) {
			t.Fatal("Merge overflowed")
		}
	}
	for _, workers := range []int{1, 2, 8} {
		got, ok := MergeAll(aggs, workers)
		if !ok {
			t.Fatalf("workers=%d: MergeAll overflowed", workers)
		}
		if !maps.Equal(got.LineMap(), want.LineMap()) {
			t.Errorf("workers=%d: MergeAll differs from Merge", workers)
		}
		if !maps.Equal(aggs[0].LineMap(), mk(1).LineMap()) {
			t.Errorf("workers=%d: MergeAll changed an input", workers)
		}
		if got, want := fmt.Sprint(got.Accounts()), fmt.Sprint(want.Accounts()); got != want {
			t.Errorf("workers=%d: accounts %s, want %s", workers, got, want)
		}
	}
	k := LineKey{Account: "a", Meter: MeterInput}
	x, y := NewAggregate(), NewAggregate()
	x.Add(k, Quantity{Units: math.MaxInt64})
	y.Add(k, Quantity{Units: 1})
	if _, ok := MergeAll([]*Aggregate{x, y}, 2); ok {
		t.Error("MergeAll missed an overflow")
	}
}

// TestMergeAllLazy checks the lines MergeAll leaves unfolded — read one account at a time through
// AccountLines, or all at once — equal those of a chain of Merge calls over
// aggregates the rater built (groups, not lines), with the same accounts and meter totals.
func TestMergeAllLazy(t *testing.T) {
	pb := handPriceBook(t)
	evs, syms := raterBenchEvents(30_000, 300)
	window := Window{From: time.Date(2026, 8, 31, 23, 30, 0, 0, time.UTC), To: time.Date(2026, 10, 20, 0, 0, 0, 0, time.UTC)}
	build := func() []*Aggregate {
		aggs := make([]*Aggregate, 3)
		raters := make([]*Rater, 3)
		for i := range aggs {
			aggs[i], raters[i] = NewAggregate(), NewRater(pb, window, raterBenchAccounts(300))
		}
		for i := range evs {
			raters[i%3].AddInterned(&evs[i], syms[i], aggs[i%3])
		}
		return aggs
	}
	want := NewAggregate()
	for _, a := range build() {
		if !want.Merge(a) {
			t.Fatal("Merge overflowed")
		}
	}
	got, ok := MergeAll(build(), 2)
	if !ok {
		t.Fatal("MergeAll overflowed")
	}
	if g, w := fmt.Sprint(got.Accounts()), fmt.Sprint(want.Accounts()); g != w {
		t.Fatalf("accounts %s, want %s", g, w)
	}
	if g, w := fmt.Sprint(got.MeterTotals()), fmt.Sprint(want.MeterTotals()); g != w {
		t.Errorf("meter totals %s, want %s", g, w)
	}
	for _, acct := range want.Accounts() {
		if g, w := got.AccountLines(acct), want.AccountLines(acct); !maps.Equal(g, w) {
			t.Fatalf("account %s: %d lines, want %d; they differ", acct, len(g), len(w))
		}
	}
	if got.AccountLines("acct_99999") != nil {
		t.Error("an account without usage has lines")
	}
	// BuildAccountLines sums the unfolded groups by sorting them; the reference rates each line of the
	// map Merge summed and sorts the lines, as BuildLines did before it sorted keys instead.
	for _, acct := range want.Accounts() {
		var ref []Line
		for k, q := range want.AccountLines(acct) {
			if l, ok := buildLine(new(lineKeyOf(&k)), q); ok {
				ref = append(ref, l)
			}
		}
		SortLines(ref)
		if g, w := lineTexts(got.BuildAccountLines(acct)), lineTexts(ref); !slices.Equal(g, w) {
			t.Fatalf("account %s: BuildAccountLines\n  %s\nwant\n  %s", acct, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
		}
		if g, w := lineTexts(BuildLines(want.AccountLines(acct))), lineTexts(ref); !slices.Equal(g, w) {
			t.Fatalf("account %s: BuildLines\n  %s\nwant\n  %s", acct, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
		}
	}
	if ls := got.BuildAccountLines("acct_99999"); ls == nil || len(ls) != 0 {
		t.Errorf("an account without usage: %v, want no lines (an empty slice, as BuildLines gives)", ls)
	}
	if !maps.Equal(got.LineMap(), want.LineMap()) {
		t.Error("folded all at once, the lines differ from Merge's")
	}
}

// TestMergeAllMeterTotalOverflow checks that lines whose sum per meter overflows, while no line does,
// still merge: MergeAll then folds every line at once.
func TestMergeAllMeterTotalOverflow(t *testing.T) {
	half := Quantity{Units: math.MaxInt64/2 + 1}
	x, y := NewAggregate(), NewAggregate()
	x.Add(LineKey{Account: "a", Meter: MeterInput}, half)
	y.Add(LineKey{Account: "b", Meter: MeterInput}, half)
	got, ok := MergeAll([]*Aggregate{x, y}, 2)
	if !ok {
		t.Fatal("MergeAll reported an overflow no line has")
	}
	if g := got.AccountLines("b")[LineKey{Account: "b", Meter: MeterInput}]; g != half {
		t.Errorf("account b: %v, want %v", g, half)
	}
}

// BenchmarkMergeAndBuild merges the aggregates of two workers that rated 1M events of 5,000 accounts
// and builds every account's invoice lines on two goroutines, the way a close drafts after a read:
// the step between the read and issuing. lazy is MergeAll (lines folded per account as they are
// built, summed in a map per account), sorted is MergeAll with BuildAccountLines (summed by sorting),
// eager sums every line up front (mergeEager, what MergeAll did before).
// Metric: ns/account.
func BenchmarkMergeAndBuild(b *testing.B) {
	pb := handPriceBook(b)
	const n, accounts = 1_000_000, 5000
	evs, syms := raterBenchEvents(n, accounts)
	known := raterBenchAccounts(accounts)
	aggs := []*Aggregate{NewAggregate(), NewAggregate()}
	raters := []*Rater{NewRater(pb, handOct(), known), NewRater(pb, handOct(), known)}
	for i := range evs {
		raters[i%2].AddInterned(&evs[i], syms[i], aggs[i%2])
	}
	for _, mode := range []string{"sorted", "lazy", "eager"} {
		b.Run(mode, func(b *testing.B) {
			lines := 0
			for b.Loop() {
				merge := MergeAll
				if mode == "eager" {
					merge = mergeEager
				}
				merged, ok := merge(aggs, 2)
				if !ok {
					b.Fatal("overflow")
				}
				ids := merged.Accounts()
				counts := make([]int, len(ids))
				forEach(2, 2, func(w int) {
					for i := w; i < len(ids); i += 2 {
						if mode == "sorted" {
							counts[i] = len(merged.BuildAccountLines(ids[i]))
						} else {
							counts[i] = len(BuildLines(merged.AccountLines(ids[i])))
						}
					}
				})
				lines = 0
				for _, c := range counts {
					lines += c
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*accounts), "ns/account")
			b.ReportMetric(float64(lines), "lines")
		})
	}
}
