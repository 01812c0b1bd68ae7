package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStrayArgumentIsUsageError: a word that is not a flag is bad usage (exit 2), never a reason to
// ignore the flags after it. Go's flag parsing stops at the first such word; without the check
// `rerun --period 2026-10 acct_1 --dry-run` reran every account for real and exited 0, and `close
// --period 2026-10 extra --db …` closed on the default database.
func TestStrayArgumentIsUsageError(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	for _, c := range []struct {
		stray string
		args  []string
	}{
		{"acct_1", []string{"rerun", "--period", "2026-10", "--db", db, "acct_1", "--dry-run"}},
		{"extra", []string{"close", "--period", "2026-10", "extra", "--db", db}},
		{"x", []string{"rate", "--period", "2026-10", "--db", db, "x"}},
		{"x", []string{"reconcile", "--period", "2026-10", "--db", db, "x"}},
		{"x", []string{"sweep", "--db", db, "x"}},
		{"x", []string{"export", "--period", "2026-10", "--db", db, "x"}},
		{"x", []string{"standing", "--db", db, "x"}},
		{"x", []string{"migrate", "--db", db, "x"}},
		{"x", []string{"schedule", "--db", db, "x"}},
		{"b.yaml", []string{"accounts", "import", "a.yaml", "--db", db, "b.yaml"}},
	} {
		out, err := runCapture(c.args...)
		if code := exitCode(err); code != exitUsage {
			t.Errorf("billrun %s: exit %d (%v), want %d\n%s", strings.Join(c.args, " "), code, err, exitUsage, out)
		} else if !strings.Contains(err.Error()+out, c.stray) {
			t.Errorf("billrun %s: %v does not name %q", strings.Join(c.args, " "), err, c.stray)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "billrun.db")); !os.IsNotExist(err) {
		t.Errorf("a command with a stray argument opened the database: %v", err)
	}
}
