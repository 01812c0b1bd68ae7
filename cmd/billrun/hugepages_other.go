//go:build !linux

package main

// adviseHugeHeap does nothing where there is no madvise(MADV_HUGEPAGE); see hugepages_linux.go.
func adviseHugeHeap(string) bool { return false }
