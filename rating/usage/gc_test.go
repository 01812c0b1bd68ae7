package usage

import (
	"runtime/debug"
	"testing"
)

// TestCollectLessOften: a read raises the collector's target to readGCPercent and puts back what it
// was; with GOGC set, the user's choice stands.
func TestCollectLessOften(t *testing.T) {
	old := debug.SetGCPercent(150)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "")
	restore := CollectLessOften()
	if got := debug.SetGCPercent(readGCPercent); got != readGCPercent {
		t.Errorf("GC percent during a read = %d, want %d", got, readGCPercent)
	}
	restore()
	if got := debug.SetGCPercent(150); got != 150 {
		t.Errorf("GC percent after a read = %d, want the 150 it was", got)
	}
	t.Setenv("GOGC", "80")
	restore = CollectLessOften()
	if got := debug.SetGCPercent(150); got != 150 {
		t.Errorf("GC percent during a read with GOGC set = %d, want the 150 it was", got)
	}
	restore()
}
