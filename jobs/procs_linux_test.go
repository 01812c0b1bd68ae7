package jobs

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestMain runs procsChild instead of the tests in the child process TestMoreProcsKeepsFollowingCPUs
// starts: the testing package sets GOMAXPROCS itself before any test runs, which stops the runtime's
// updates, so they can only be seen in a process it has not touched.
func TestMain(m *testing.M) {
	if os.Getenv(procsChildEnv) != "" {
		os.Exit(procsChild())
	}
	os.Exit(m.Run())
}

const procsChildEnv = "BILLRUN_TEST_PROCS_CHILD"

// procsChild holds extra Ps as a close does and gives them back, then narrows the process to one CPU
// and exits 0 if GOMAXPROCS follows within 5 s, 1 if not, 3 if there is only one CPU to begin with.
func procsChild() int {
	if runtime.GOMAXPROCS(0) < 2 || os.Getenv("GOMAXPROCS") != "" {
		return 3
	}
	moreProcs(2)()
	var mask [16]uint64
	mask[0] = 1 // CPU 0 only
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return 4
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if _, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask),
			uintptr(unsafe.Pointer(&mask))); errno != 0 {
			return 4
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if runtime.GOMAXPROCS(0) == 1 {
			return 0
		}
	}
	return 1
}

// TestMoreProcsKeepsFollowingCPUs: after a close held extra Ps and gave them back, GOMAXPROCS still
// follows the CPUs the process may use (the runtime's default since Go 1.25): setting it back by number
// would have stopped that for good, in billrun schedule's long-lived process too.
func TestMoreProcsKeepsFollowingCPUs(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "GOMAXPROCS=") }),
		procsChildEnv+"=1")
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	switch code {
	case 0:
	case 3:
		t.Skip("one CPU, or GOMAXPROCS set in the environment: nothing to follow")
	case 4:
		t.Skip("cannot set the CPU affinity here")
	default:
		t.Errorf("GOMAXPROCS stayed as it was after the process was narrowed to one CPU (child exit %d)", code)
	}
}
