package jobs

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// TestPeriodDrift: of the day after October (dt=2026-11-01), an object added or changed since the close
// is October's drift only when October's read took a line from it; removed objects and objects of
// October's own days always are.
func TestPeriodDrift(t *testing.T) {
	oct := rating.Period{Year: 2026, Month: time.October}
	drift := []invoices.ObjectDrift{
		{Key: "dt=2026-10-31/a.jsonl", Change: "added"},        // October's own day
		{Key: "dt=2026-11-01/gpu.jsonl", Change: "added"},      // holds an interval overlapping October
		{Key: "dt=2026-11-01/nov.jsonl", Change: "added"},      // November's events only
		{Key: "dt=2026-11-01/nov2.jsonl", Change: "changed"},   // November's events only
		{Key: "dt=2026-11-01/old.jsonl", Change: "removed"},    // gone: not read at all
		{Key: "raw/dt=2026-11-01/nov3.jsonl", Change: "added"}, // under a prefix, November's only
	}
	res := &UsageResult{
		Manifest: []rating.Object{{Key: "dt=2026-10-31/a.jsonl"}, {Key: "dt=2026-11-01/gpu.jsonl"},
			{Key: "dt=2026-11-01/nov.jsonl"}, {Key: "dt=2026-11-01/nov2.jsonl"}, {Key: "raw/dt=2026-11-01/nov3.jsonl"}},
		Taken: []int64{0, 1, 0, 0, 0},
	}
	var got []string
	for _, d := range periodDrift(oct, slices.Clone(drift), res) {
		got = append(got, d.Key)
	}
	want := []string{"dt=2026-10-31/a.jsonl", "dt=2026-11-01/gpu.jsonl", "dt=2026-11-01/old.jsonl"}
	if !slices.Equal(got, want) {
		t.Errorf("periodDrift = %v, want %v", got, want)
	}
	// A reader that does not count per object leaves the drift as it is.
	if n := len(periodDrift(oct, slices.Clone(drift), &UsageResult{Manifest: res.Manifest})); n != len(drift) {
		t.Errorf("without Taken: %d objects, want all %d", n, len(drift))
	}
}

// TestWriteFileAtomicCleansUp: a write leaves a readable file (0644, not CreateTemp's 0600) and removes
// the temporary files of the same export that a process killed mid-write left behind: at once when
// the file names a process of this host that is gone (or this process, whose own file was just
// renamed), else once it is old enough not to be a live writer's.
func TestWriteFileAtomicCleansUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "invoices.json")
	stale, fresh := filepath.Join(dir, ".invoices.json.tmp-111"), filepath.Join(dir, ".invoices.json.tmp-222")
	other := filepath.Join(dir, ".billrun-2026-10.xlsx.tmp-333")
	// A process that has ended: its pid names no process any more.
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	named := func(pid int, host string) string {
		return filepath.Join(dir, fmt.Sprintf(".invoices.json.tmp-%d@%s-12345", pid, host))
	}
	deadHere, self := named(ended.ProcessState.Pid(), host), named(os.Getpid(), host)
	liveHere, elsewhere := named(os.Getppid(), host), named(ended.ProcessState.Pid(), host+"-other")
	for _, f := range []string{stale, fresh, other, deadHere, self, liveHere, elsewhere} {
		if err := os.WriteFile(f, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	for _, f := range []string{stale, other} {
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteFileAtomic(path, func(w io.Writer) error { _, err := io.WriteString(w, "{}"); return err }); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("written file: %v, mode %v; want 0644", err, st.Mode().Perm())
	}
	for f, want := range map[string]bool{stale: false, fresh: true, other: true, deadHere: false, self: false,
		liveHere: true, elsewhere: true} {
		if _, err := os.Stat(f); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", filepath.Base(f), err == nil, want)
		}
	}
}
