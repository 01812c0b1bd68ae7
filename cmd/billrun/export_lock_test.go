package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExportWritesNoFileBeforeItHoldsTheLock: an export to a file takes the period's lock before it
// creates anything on disk. With --wait=false on a locked period it exits 5 and leaves neither the
// file, nor a temporary file, nor --out's directory; while it waits for the lock there is no
// temporary file beside --out either — a close finishing in that directory would take one that has
// been waiting longer than staleTempAge for left behind and remove it, and the export would then
// fail once it got the lock.
func TestExportWritesNoFileBeforeItHoldsTheLock(t *testing.T) {
	dir := t.TempDir()
	args := closeArgs(t, dir, accountsFixture(t))
	if text, err := runCapture(args...); err != nil {
		t.Fatalf("close: %v\n%s", err, text)
	}
	_, release := holdPeriod(t, dir)
	defer release()
	exportDir := filepath.Join(dir, "exports", "2026-10")
	out := filepath.Join(exportDir, "billrun-2026-10.xlsx")
	export := append([]string{"export", "--period", "2026-10", "--at", fixtureAt, "--format", "xlsx", "--out", out},
		fixtureArgs(t, dir)[:2]...)
	text, err := runCapture(append(export, "--wait=false")...)
	if code := exitCode(err); code != exitLocked {
		t.Fatalf("export --wait=false while the period is locked: exit %d (%v), want %d\n%s", code, err, exitLocked, text)
	}
	if _, err := os.Stat(exportDir); !os.IsNotExist(err) {
		t.Errorf("export --wait=false while the period is locked left %s (%v), want nothing written", exportDir, err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := runCapture(export...)
		done <- err
	}()
	// The export is waiting for the lock (it polls every 200 ms) well before this.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		names, _ := filepath.Glob(filepath.Join(exportDir, ".billrun-2026-10.xlsx.tmp-*"))
		if len(names) > 0 {
			t.Errorf("export waiting for the lock has created %s already", strings.Join(names, ", "))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("export once the lock was released: %v", err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("export once the lock was released: %v", err)
	}
	if names, _ := filepath.Glob(filepath.Join(exportDir, ".*tmp-*")); len(names) > 0 {
		t.Errorf("export left temporary files: %s", strings.Join(names, ", "))
	}
}
