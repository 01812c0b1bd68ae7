package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store"
)

// TestSQLiteLeaseOfADeadHolder: a lease left by a process of this host that no longer exists (a close
// killed with SIGKILL) is taken over at once, so a retried close goes ahead instead of exiting 5 until
// the lease expires; one held by a live process, or by another host, still holds.
func TestSQLiteLeaseOfADeadHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := store.Open(t.Context(), "sqlite:"+path, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Skipf("no hostname: %v", err)
	}
	ended := osexec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}
	leave := func(holder string) {
		t.Helper()
		until := time.Now().UTC().Add(10 * time.Minute).Format("2006-01-02T15:04:05.000000000Z07:00")
		if _, err := raw.Exec(`INSERT INTO run_locks (key, holder, expires_at) VALUES ('period:2026-10', ?, ?)
			ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`, holder, until); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name, holder string
		free         bool
	}{
		{"a live process of this host", fmt.Sprintf("%s/%d/livelive", host, os.Getppid()), false},
		{"another host", fmt.Sprintf("%s-elsewhere/%d/otherhst", host, ended.ProcessState.Pid()), false},
		{"a process of this host that ended", fmt.Sprintf("%s/%d/deaddead", host, ended.ProcessState.Pid()), true},
	} {
		leave(c.holder)
		release, err := s.Lock(t.Context(), "period:2026-10", false)
		switch {
		case c.free && err != nil:
			t.Errorf("lease of %s: %v, want it taken over", c.name, err)
		case !c.free && !errors.Is(err, invoices.ErrLocked):
			t.Errorf("lease of %s: %v, want ErrLocked", c.name, err)
		}
		if release != nil {
			release()
		}
	}
}
