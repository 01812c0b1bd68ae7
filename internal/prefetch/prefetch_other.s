//go:build !amd64 && !arm64

#include "textflag.h"

// func Line(addr unsafe.Pointer): a no-op where billrun has no prefetch instruction.
TEXT ·Line(SB), NOSPLIT|NOFRAME, $0-8
	RET
