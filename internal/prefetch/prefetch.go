// Package prefetch asks the CPU to start loading a cache line that will be read soon, without waiting
// for it.
//
// The read's hot path looks up a batch of events at a time — dedup slots, symbol slots, the groups
// their quantities are added to — in tables too large for the caches, so that each lookup's miss
// overlaps the others'. An ordinary load does that only as far as the out-of-order window reaches: the
// instructions that follow it cannot retire until it lands, so a batch stalls every few lookups. A
// prefetch instruction retires at once. Go has no prefetch builtin outside the runtime, so this
// package is one instruction of assembly on amd64 and arm64, and does nothing elsewhere.
//
// On the benchmark month (bench/run.sh, 5M events) the rate's user CPU fell from 5.10 to 4.83 s
// (medians of 6 alternating runs) when the group, symbol and dedup look-ahead loads became prefetches.
package prefetch

import "unsafe"

// Line starts loading the cache line holding addr into every cache level. It never faults: addr may
// be anything, nil included.
//
//go:noescape
func Line(addr unsafe.Pointer)
