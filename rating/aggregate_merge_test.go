package rating

import (
	"fmt"
	"maps"
	"math"
	"testing"
)

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
