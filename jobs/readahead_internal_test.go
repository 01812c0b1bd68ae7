package jobs

import (
	"testing"
	"time"

	"billrun/rating"
)

// TestTakeDropsADiscardedRead: a read ahead the close does not take (the accounts changed) lets go of
// its result, so the discarded aggregate is not kept alive through the close's own read.
func TestTakeDropsADiscardedRead(t *testing.T) {
	w := rating.PeriodWindow(rating.Period{Year: 2026, Month: time.October})
	r := &ReadAhead{window: w, known: map[string]bool{"acct_a": true}, cancel: func() {}, done: make(chan struct{}),
		res: &UsageResult{}}
	close(r.done)
	if _, ok, _ := r.take(w, map[string]bool{"acct_a": true, "acct_b": true}); ok {
		t.Fatal("a read for other accounts was taken")
	}
	if r.res != nil {
		t.Error("the discarded read's result is still held")
	}
}
