package store

import "testing"

// TestBufferList: a buffer put back is the one a later Get returns, emptied, up to the list's
// capacity; one over maxKeptBuffer is not kept.
func TestBufferList(t *testing.T) {
	l := bufferList{free: make(chan *[]byte, 1)}
	a := l.Get()
	*a = append(*a, "lines"...)
	l.Put(a)
	if b := l.Get(); b != a || len(*b) != 0 || cap(*b) == 0 {
		t.Errorf("Get after Put = %p (len %d, cap %d), want %p emptied with its capacity", b, len(*b), cap(*b), a)
	}
	l.Put(a)
	l.Put(new([]byte)) // the list is full: dropped
	if b := l.Get(); b != a {
		t.Errorf("Get = %p, want the first buffer put, %p", b, a)
	}
	big := make([]byte, 0, maxKeptBuffer+1)
	l.Put(&big)
	if b := l.Get(); b == &big {
		t.Error("a buffer over maxKeptBuffer was kept")
	}
}
