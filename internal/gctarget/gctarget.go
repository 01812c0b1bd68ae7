// Package gctarget lets the phases of a run that keep a large heap alive ask the garbage collector to
// collect less often (runtime/debug.SetGCPercent), without stepping on one another: billrun schedule
// runs closes at once in one process, and their reads and issuing overlap.
//
// The collector's target is the largest percent held, or what it was before the first hold when none
// is; the last hold to be released puts that back, whatever order the holds are released in. When the
// GOGC environment variable is set, the user's choice stands and holds change nothing.
package gctarget

import (
	"os"
	"runtime/debug"
	"slices"
	"sync"
)

var state struct {
	sync.Mutex
	held []int // percents held, in no order
	base int   // the percent before the first hold
}

// Raise holds the collector's target at percent or more until release is called (once). A percent
// below the one in force when nothing is held has no effect.
func Raise(percent int) (release func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	state.Lock()
	defer state.Unlock()
	if len(state.held) == 0 {
		// Read by setting a percent apply replaces at once: setting a negative one would wait for a
		// collection's mark phase in progress to end, with the lock held.
		state.base = debug.SetGCPercent(max(percent, 0))
	}
	state.held = append(state.held, percent)
	apply()
	var once sync.Once
	return func() {
		once.Do(func() {
			state.Lock()
			defer state.Unlock()
			i := slices.Index(state.held, percent)
			state.held = slices.Delete(state.held, i, i+1)
			apply()
		})
	}
}

// apply sets the target the holds call for; state is locked. A collector turned off (a negative
// percent) stays off.
func apply() {
	p := state.base
	if p >= 0 {
		for _, h := range state.held {
			p = max(p, h)
		}
	}
	debug.SetGCPercent(p)
}
