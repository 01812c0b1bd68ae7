//go:build unix

package usage

import (
	"syscall"
	"unsafe"
)

// slotsAlloc returns n zeroed slots in an anonymous private mapping, outside the Go heap (the slots
// hold no pointers), and the mapping to free. A table of whole huge pages is aligned to them and asks
// for transparent huge pages: the tables are probed at random, and on a virtual machine both a TLB miss
// and the first touch of a small page are costly. It falls back to the heap if the mapping fails.
func slotsAlloc(n int) ([]dedupSlot, []byte) {
	size := n * dedupSlotBytes
	// A table of a huge page or more is mapped in whole, aligned huge pages (2 MiB is no multiple of a
	// slot, so the last one is partly unused).
	huge := size >= hugePageBytes
	span := size
	reserve := size
	if huge {
		span = (size + hugePageBytes - 1) / hugePageBytes * hugePageBytes
		reserve = span + hugePageBytes // room to align; the unused part is never touched
	}
	mem, err := syscall.Mmap(-1, 0, reserve, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]dedupSlot, n), nil
	}
	table := mem[:size]
	if huge {
		off := (hugePageBytes - int(uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%hugePageBytes)) % hugePageBytes
		_ = madviseHuge(mem[off : off+span])
		table = mem[off : off+size]
	}
	return unsafe.Slice((*dedupSlot)(unsafe.Pointer(unsafe.SliceData(table))), n), mem
}

// slotsFree unmaps a mapping returned by slotsAlloc (nil: heap memory, left to the GC).
func slotsFree(mem []byte) {
	if mem != nil {
		_ = syscall.Munmap(mem)
	}
}
