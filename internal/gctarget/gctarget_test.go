package gctarget

import (
	"runtime/debug"
	"testing"
)

// percent returns the collector's target without changing it.
func percent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

func TestRaiseAndRelease(t *testing.T) {
	t.Setenv("GOGC", "")
	old := debug.SetGCPercent(150)
	defer debug.SetGCPercent(old)

	a := Raise(200)
	if got := percent(); got != 200 {
		t.Fatalf("one hold of 200: percent %d, want 200", got)
	}
	b := Raise(400)
	if got := percent(); got != 400 {
		t.Fatalf("holds of 200 and 400: percent %d, want 400", got)
	}
	low := Raise(50) // below the base: no effect
	if got := percent(); got != 400 {
		t.Fatalf("holds of 200, 400 and 50: percent %d, want 400", got)
	}
	b()
	b() // a second call changes nothing
	if got := percent(); got != 200 {
		t.Fatalf("400 released, 200 and 50 held: percent %d, want 200", got)
	}
	a()
	if got := percent(); got != 150 {
		t.Fatalf("50 held: percent %d, want the base 150", got)
	}
	low()
	if got := percent(); got != 150 {
		t.Fatalf("nothing held: percent %d, want the 150 it was", got)
	}

	// Released in the order they were taken: the first release must not put back the base while the
	// second still holds, nor the last leave its percent behind.
	a, b = Raise(300), Raise(300)
	a()
	if got := percent(); got != 300 {
		t.Fatalf("one of two holds of 300 released: percent %d, want 300", got)
	}
	b()
	if got := percent(); got != 150 {
		t.Fatalf("both released: percent %d, want the 150 it was", got)
	}
}

func TestRaiseKeepsGOGC(t *testing.T) {
	old := debug.SetGCPercent(80)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "80")
	release := Raise(400)
	if got := percent(); got != 80 {
		t.Errorf("with GOGC set: percent %d during a hold, want 80", got)
	}
	release()
	if got := percent(); got != 80 {
		t.Errorf("with GOGC set: percent %d after a hold, want 80", got)
	}
}

func TestRaiseKeepsCollectionOff(t *testing.T) {
	t.Setenv("GOGC", "")
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	release := Raise(400)
	if got := percent(); got != -1 {
		t.Errorf("collection off: percent %d during a hold, want -1", got)
	}
	release()
	if got := percent(); got != -1 {
		t.Errorf("collection off: percent %d after a hold, want -1", got)
	}
}
