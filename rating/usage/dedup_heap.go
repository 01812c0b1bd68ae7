//go:build !unix

package usage

// slotsAlloc returns n zeroed slots on the Go heap (platforms without anonymous mappings).
func slotsAlloc(n int) []dedupSlot { return make([]dedupSlot, n) }

// slotsFree leaves s to the garbage collector.
func slotsFree([]dedupSlot) {}
