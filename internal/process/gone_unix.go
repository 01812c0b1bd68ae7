//go:build unix

package process

import (
	"errors"
	"syscall"
)

// Gone reports whether no process with this pid exists on this machine (kill with signal 0: ESRCH).
// A process that exists but is another user's (EPERM) is alive.
func Gone(pid int) bool {
	return pid > 0 && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
