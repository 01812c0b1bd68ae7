//go:build !unix

package usage

// slotsAlloc returns n zeroed slots on the Go heap (platforms without anonymous mappings).
func slotsAlloc(n int) ([]dedupSlot, []byte) { return make([]dedupSlot, n), nil }

// slotsFree leaves the slots to the garbage collector.
func slotsFree([]byte) {}
