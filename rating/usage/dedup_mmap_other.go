//go:build unix && !linux

package usage

func madviseHuge([]byte) error { return nil }
