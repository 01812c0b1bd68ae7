//go:build unix

package usage

import (
	"syscall"
	"unsafe"
)

// hugePageMinBytes is the table size from which slotsAlloc asks for transparent huge pages: the
// tables are probed at random, so fewer TLB misses pay off once a table spans many pages.
const hugePageMinBytes = 1 << 20

// slotsAlloc returns n zeroed slots in an anonymous private mapping, outside the Go heap (the slots
// hold no pointers). It falls back to the heap if the mapping fails.
func slotsAlloc(n int) []dedupSlot {
	size := n * dedupSlotBytes
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]dedupSlot, n)
	}
	if size >= hugePageMinBytes {
		_ = madviseHuge(mem)
	}
	return unsafe.Slice((*dedupSlot)(unsafe.Pointer(unsafe.SliceData(mem))), n)
}

// slotsFree unmaps slots returned by slotsAlloc; slots from the heap fallback are left to the GC.
func slotsFree(s []dedupSlot) {
	if len(s) == 0 {
		return
	}
	mem := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*dedupSlotBytes)
	_ = syscall.Munmap(mem) // EINVAL for heap memory: then the GC frees it
}
