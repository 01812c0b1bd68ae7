package jobs

import (
	"slices"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// TestPeriodDrift: of the day after October (dt=2026-11-01), an object added or changed since the close
// is October's drift only when October's read took a line from it; removed objects and objects of
// October's own days always are.
func TestPeriodDrift(t *testing.T) {
	oct := rating.Period{Year: 2026, Month: time.October}
	drift := []invoices.ObjectDrift{
		{Key: "dt=2026-10-31/a.jsonl", Change: "added"},        // October's own day
		{Key: "dt=2026-11-01/gpu.jsonl", Change: "added"},      // holds an interval overlapping October
		{Key: "dt=2026-11-01/nov.jsonl", Change: "added"},      // November's events only
		{Key: "dt=2026-11-01/nov2.jsonl", Change: "changed"},   // November's events only
		{Key: "dt=2026-11-01/old.jsonl", Change: "removed"},    // gone: not read at all
		{Key: "raw/dt=2026-11-01/nov3.jsonl", Change: "added"}, // under a prefix, November's only
	}
	res := &UsageResult{
		Manifest: []rating.Object{{Key: "dt=2026-10-31/a.jsonl"}, {Key: "dt=2026-11-01/gpu.jsonl"},
			{Key: "dt=2026-11-01/nov.jsonl"}, {Key: "dt=2026-11-01/nov2.jsonl"}, {Key: "raw/dt=2026-11-01/nov3.jsonl"}},
		Taken: []int64{0, 1, 0, 0, 0},
	}
	var got []string
	for _, d := range periodDrift(oct, slices.Clone(drift), res) {
		got = append(got, d.Key)
	}
	want := []string{"dt=2026-10-31/a.jsonl", "dt=2026-11-01/gpu.jsonl", "dt=2026-11-01/old.jsonl"}
	if !slices.Equal(got, want) {
		t.Errorf("periodDrift = %v, want %v", got, want)
	}
	// A reader that does not count per object leaves the drift as it is.
	if n := len(periodDrift(oct, slices.Clone(drift), &UsageResult{Manifest: res.Manifest})); n != len(drift) {
		t.Errorf("without Taken: %d objects, want all %d", n, len(drift))
	}
}
