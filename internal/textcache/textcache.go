// Package textcache remembers the encodings of the strings an encoder met last, by the strings'
// addresses, so that the same string encoded again is copied rather than escaped again.
//
// A month's invoice lines share a few hundred distinct texts among hundreds of thousands of lines — a
// product, its meter and unit, the description of a serverless line — and they share them as the same
// string, not equal copies: the read interns each id once, and the rater builds one description per
// product, base model and meter. Yet every export and the store encode every line's texts on their own:
// XML escaping and the checks of the XLSX cell's text, JSON escaping. A Cache turns the repeats into a
// comparison of two words and a copy.
//
// Keying by address is sound because Go strings are immutable and a slot keeps its string alive, so no
// other string can take its address while it holds it. Equal strings at different addresses are simply
// encoded again. A Cache is not safe for concurrent use; each encoder keeps its own.
package textcache

import "unsafe"

// slotBits sets the number of slots, 1<<slotBits: enough for the texts of a month's serverless lines
// (the benchmark month has ~100 products, 7 base models, 9 meters, a few hundred descriptions) without
// holding more than a few tens of kilobytes.
const slotBits = 10

// Cache holds the encodings of up to 1<<slotBits strings, a slot each by address; a string whose slot
// another took is encoded again. The zero value is empty and ready for use.
type Cache struct {
	slots [1 << slotBits]slot
}

type slot struct {
	s   string
	enc []byte
}

// Append appends encode(dst, s)'s encoding of s to dst: a copy of the encoding the cache holds for s
// (the same string, by address and length), or else the result of encode, which the cache then holds
// for s. encode must append to dst and depend on s alone, and a Cache must be used with one encode
// function throughout. Empty strings are never cached, and a nil Cache caches nothing.
func (c *Cache) Append(dst []byte, s string, encode func(dst []byte, s string) []byte) []byte {
	if c == nil || s == "" {
		return encode(dst, s)
	}
	p := unsafe.StringData(s)
	sl := &c.slots[(uint64(uintptr(unsafe.Pointer(p)))*0x9e3779b97f4a7c15)>>(64-slotBits)]
	if unsafe.StringData(sl.s) == p && len(sl.s) == len(s) {
		return append(dst, sl.enc...)
	}
	start := len(dst)
	dst = encode(dst, s)
	sl.s = s
	sl.enc = append(sl.enc[:0], dst[start:]...)
	return dst
}
