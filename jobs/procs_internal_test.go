package jobs

import (
	"runtime"
	"testing"
)

// TestMoreProcsOverlapping: two closes holding extra Ps at once, released in either order, leave
// GOMAXPROCS as it was before the first; while either holds them it is the base plus the extra, and
// baseProcs is the base.
func TestMoreProcsOverlapping(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(base)
	for _, firstOut := range []bool{true, false} {
		a := moreProcs(2)
		b := moreProcs(2)
		if got := runtime.GOMAXPROCS(0); got != base+2 {
			t.Errorf("GOMAXPROCS with two closes holding extra Ps = %d, want %d", got, base+2)
		}
		if got := baseProcs(); got != base {
			t.Errorf("baseProcs() = %d, want %d", got, base)
		}
		if firstOut {
			a()
		} else {
			b()
		}
		if got := runtime.GOMAXPROCS(0); got != base+2 {
			t.Errorf("GOMAXPROCS with one close still holding extra Ps = %d, want %d", got, base+2)
		}
		if firstOut {
			b()
		} else {
			a()
		}
		if got := runtime.GOMAXPROCS(0); got != base {
			t.Errorf("GOMAXPROCS after both = %d, want %d", got, base)
		}
	}
}
