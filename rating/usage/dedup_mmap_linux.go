package usage

import "syscall"

func madviseHuge(mem []byte) error { return syscall.Madvise(mem, syscall.MADV_HUGEPAGE) }
