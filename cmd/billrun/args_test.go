package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"billrun/rating"
	"billrun/rating/usage"
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

// runEnv runs billrun with the environment vars.
func runEnv(vars map[string]string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return vars[k] }, &out, &errb)
	return out.String() + errb.String(), err
}

// TestEveryFlagFromTheEnvironment: DESIGN §10 — flags, then BILLRUN_* variables, then defaults — for
// flags the commands define themselves too (export's --format and --out here), and a value a flag
// refuses is bad usage naming the variable, not a silent default.
func TestEveryFlagFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	if out, err := runCapture("migrate", "--db", db); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	// export --period 2026-10 of an empty period: BILLRUN_FORMAT picks JSON, BILLRUN_OUT the file.
	file := filepath.Join(dir, "period.json")
	if out, err := runEnv(map[string]string{"BILLRUN_FORMAT": "json", "BILLRUN_OUT": file},
		"export", "--period", "2026-10", "--db", db); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(file); err != nil || !bytes.Contains(b, []byte(`"schema"`)) {
		t.Errorf("BILLRUN_OUT=%s BILLRUN_FORMAT=json: %v, %.80q", file, err, b)
	}
	// A flag on the command line beats its variable.
	if out, err := runEnv(map[string]string{"BILLRUN_FORMAT": "xlsx"}, "export", "--period", "2026-10", "--db", db,
		"--format", "csv"); err != nil || strings.HasPrefix(out, "{") {
		t.Errorf("--format csv with BILLRUN_FORMAT=xlsx: %v\n%.200s", err, out)
	}
	for _, c := range []struct {
		vars map[string]string
		args []string
		want string
	}{
		{map[string]string{"BILLRUN_MAX_REJECTS": "abc"}, []string{"rate", "--period", "2026-10", "--db", db}, `BILLRUN_MAX_REJECTS="abc": want a whole number`},
		{map[string]string{"BILLRUN_WORKERS": "two"}, []string{"rate", "--period", "2026-10", "--db", db}, "BILLRUN_WORKERS"},
		{map[string]string{"BILLRUN_MAX_GPU_INTERVAL": "1hour"}, []string{"sweep", "--db", db}, `BILLRUN_MAX_GPU_INTERVAL="1hour": want a duration`},
		{map[string]string{"BILLRUN_WAIT": "yes"}, []string{"close", "--period", "2026-10", "--db", db}, `BILLRUN_WAIT="yes": want true or false`},
		{map[string]string{"BILLRUN_DRY_RUN": "maybe"}, []string{"rerun", "--period", "2026-10", "--db", db}, "BILLRUN_DRY_RUN"},
		// Values checked after parsing name where they came from too: the variable, or the flag.
		{map[string]string{"BILLRUN_LOG_LEVEL": "loud"}, []string{"standing", "--db", db}, "BILLRUN_LOG_LEVEL"},
		{nil, []string{"standing", "--db", db, "--log-format", "xml"}, "--log-format"},
		{map[string]string{"BILLRUN_AT": "yesterday"}, []string{"migrate", "--db", db}, "BILLRUN_AT"},
		{nil, []string{"migrate", "--db", db, "--at", "yesterday"}, "--at"},
		{map[string]string{"BILLRUN_DB": "mysql://x"}, []string{"export", "--period", "2026-10"}, "BILLRUN_DB"},
		{map[string]string{"BILLRUN_PERIOD": "2026-13"}, []string{"export", "--db", db}, "BILLRUN_PERIOD"},
		{map[string]string{"BILLRUN_FORMAT": "yaml"}, []string{"export", "--period", "2026-10", "--db", db}, "BILLRUN_FORMAT"},
		{map[string]string{"BILLRUN_FORMAT": "yaml"}, []string{"standing", "--history", "--db", db}, "BILLRUN_FORMAT"},
		// --progress takes auto, always or never; anything else was drawn as always.
		{map[string]string{"BILLRUN_PROGRESS": "bogus"}, []string{"rate", "--period", "2026-10", "--db", db}, "BILLRUN_PROGRESS"},
		{nil, []string{"rate", "--period", "2026-10", "--db", db, "--progress", "bogus"}, "--progress"},
		// A URL of another scheme is not a path: it was read as one, and failed with exit 1.
		{nil, []string{"rate", "--period", "2026-10", "--db", db, "--usage", "ftp://x"}, "--usage"},
	} {
		out, err := runEnv(c.vars, c.args...)
		if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v billrun %s: exit %d, %v; want %d naming %s\n%s", c.vars, strings.Join(c.args, " "), code, err,
				exitUsage, c.want, out)
		}
	}
}

// TestEveryCommandTakesAt: DESIGN §10 — every command takes --at T; a bad one is bad usage.
func TestEveryCommandTakesAt(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "billrun.db")
	for _, args := range [][]string{
		{"migrate", "--db", db},
		{"standing", "--db", db, "--format", "json"},
		{"standing", "--db", db, "--history"},
		{"export", "--period", "2026-10", "--db", db, "--format", "json"},
	} {
		if out, err := runCapture(append(args, "--at", "2026-11-02T00:00:00Z")...); err != nil {
			t.Errorf("billrun %s --at …: %v\n%s", strings.Join(args, " "), err, out)
		}
		// RFC 3339 5.6: "T" and "Z" may be lower case.
		if out, err := runCapture(append(args, "--at", "2026-11-02t00:00:00z")...); err != nil {
			t.Errorf("billrun %s --at 2026-11-02t00:00:00z: %v\n%s", strings.Join(args, " "), err, out)
		}
		if _, err := runCapture(append(args, "--at", "2026-11-02")...); exitCode(err) != exitUsage {
			t.Errorf("billrun %s --at 2026-11-02: %v, want exit %d", strings.Join(args, " "), err, exitUsage)
		}
	}
	if _, err := runCapture("schedule", "--db", db, "--listen", "off", "--at", "soon"); exitCode(err) != exitUsage {
		t.Errorf("schedule --at soon: %v, want exit %d", err, exitUsage)
	}
}

// TestScheduleClock: with --at the scheduler's clock starts there and advances with the wall clock.
func TestScheduleClock(t *testing.T) {
	wall := time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC)
	clock := func() time.Time { return wall }
	if got := scheduleClock("", clock)(); !got.Equal(wall) {
		t.Errorf("no --at: %s, want the wall clock %s", got, wall)
	}
	now := scheduleClock("2026-11-01T01:59:00Z", clock)
	if got := now(); got != time.Date(2026, 11, 1, 1, 59, 0, 0, time.UTC) {
		t.Errorf("at start: %s, want --at", got)
	}
	wall = wall.Add(90 * time.Second)
	if got := now(); got != time.Date(2026, 11, 1, 2, 0, 30, 0, time.UTC) {
		t.Errorf("90 s later: %s, want --at + 90 s", got)
	}
}

// TestFailedRerunSaysSo: a rerun that fails (here on a corrupt usage object) prints FAILED, as close
// does, not "applied", and exits 1.
func TestFailedRerunSaysSo(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	usageDir := filepath.Join(dir, "usage")
	if err := os.CopyFS(usageDir, os.DirFS(filepath.Join(root, "fixtures/usage"))); err != nil {
		t.Fatal(err)
	}
	args := []string{"--db", "sqlite:" + filepath.Join(dir, "billrun.db"), "--usage", usageDir,
		"--prices", filepath.Join(root, "fixtures/prices.yaml"), "--out", filepath.Join(dir, "out")}
	if out, err := runCapture(append([]string{"close", "--period", "2026-10", "--at", fixtureAt,
		"--accounts", filepath.Join(root, "fixtures/accounts.yaml")}, args...)...); err != nil {
		t.Fatalf("close: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(usageDir, "dt=2026-10-20", "late.jsonl.gz"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runStdout(append([]string{"rerun", "--period", "2026-10", "--at", "2026-11-05T04:00:00Z"}, args...)...)
	if exitCode(err) != exitError {
		t.Fatalf("rerun over a corrupt object: %v, want exit %d", err, exitError)
	}
	if !strings.Contains(out, "billrun rerun 2026-10 — FAILED") || strings.Contains(out, "applied") {
		t.Errorf("rerun output does not say it failed:\n%s", out)
	}
}

// TestBadFlagValuesAreUsageErrors: values a flag cannot take are bad usage (exit 2) before anything
// runs — a negative --max-rejects had stopped a clean close with exit 3, the others failed with exit 1
// after a run was recorded — and a DSN's password is never printed (DESIGN §10), wherever it was given.
func TestBadFlagValuesAreUsageErrors(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "billrun.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"close", "--period", "2026-10", "--db", db, "--max-rejects", "-1"}, "--max-rejects -1"},
		{[]string{"rate", "--period", "2026-10", "--db", db, "--max-gpu-interval", "-1h"}, "--max-gpu-interval -1h"},
		{[]string{"sweep", "--db", db, "--max-gpu-interval", "24h"}, "--max-gpu-interval 24h"},
		{[]string{"rate", "--period", "2026-10", "--db", db, "--workers", "-3"}, "--workers -3"},
		{[]string{"standing", "--db", "mysql://u:MySecret@h/x"}, "want sqlite:PATH or postgres://"},
		{[]string{"standing", "--db", "sqlite:"}, "needs a path"},
		{[]string{"standing", "--db", "postgres://u:MySecret@h:badport/x"}, "--db postgres://u:xxxxx@h:badport/x"},
		{[]string{"rate", "--period", "2026-10", "--db", db, "--usage", "file://usage"}, "want file:///abs/path"},
		// A DSN where none belongs (`billrun migrate $DATABASE_URL`, --db forgotten) is named without
		// its password too.
		{[]string{"migrate", "--db", db, "postgres://u:MySecret@h/x"}, `unexpected argument "postgres://u:xxxxx@h/x"`},
		{[]string{"accounts", "import", "a.yaml", "postgres://u:MySecret@h/x", "--db", db}, `got "postgres://u:xxxxx@h/x"`},
		{[]string{"rate", "--period", "2026-10", "--db", db, "--usage", "postgres://u:MySecret@h/x"}, `--usage "postgres://u:xxxxx@h/x"`},
	} {
		out, err := runCapture(c.args...)
		if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("billrun %s: exit %d, %v; want %d naming %q", strings.Join(c.args, " "), code, err, exitUsage, c.want)
		}
		if strings.Contains(out+fmt.Sprint(err), "MySecret") {
			t.Errorf("billrun %s printed the DSN's password", strings.Join(c.args, " "))
		}
	}
}

// TestParseRFC3339: "t" and "z" in lower case name the same instant as upper case (RFC 3339 5.6).
func TestParseRFC3339(t *testing.T) {
	lower, err1 := rating.ParseRFC3339("2026-11-01t02:00:00.5z")
	upper, err2 := rating.ParseRFC3339("2026-11-01T02:00:00.5Z")
	if err1 != nil || err2 != nil || !lower.Equal(upper) {
		t.Errorf("ParseRFC3339: %v (%v), %v (%v); want the same instant", lower, err1, upper, err2)
	}
	if _, err := rating.ParseRFC3339("2026-11-01 02:00:00Z"); err == nil {
		t.Error("a space for T was accepted")
	}
}

// TestURLScheme: --usage is a URL only when it starts with a scheme of RFC 3986 and ://; a path with
// :// further along, or a drive letter, is a path (it was refused as a URL of scheme "./dir/a").
func TestURLScheme(t *testing.T) {
	for _, c := range []struct {
		in     string
		scheme string
		ok     bool
	}{
		{"s3://bucket/prefix", "s3", true}, {"file:///abs", "file", true}, {"ftp://x", "ftp", true},
		{"git+ssh://h/x", "git+ssh", true}, {"./dir/a://b", "", false}, {"dir/a://b", "", false},
		{`C:\x`, "", false}, {"c://x", "", false}, {"1a://x", "", false}, {"fixtures/usage", "", false},
	} {
		if scheme, ok := urlScheme(c.in); scheme != c.scheme || ok != c.ok {
			t.Errorf("urlScheme(%q) = %q, %v; want %q, %v", c.in, scheme, ok, c.scheme, c.ok)
		}
	}
}

// TestProgressEmptyIsAuto: --progress "" (or an empty BILLRUN_PROGRESS) is auto, not always: no bar
// when stderr is not a terminal.
func TestProgressEmptyIsAuto(t *testing.T) {
	var b bytes.Buffer
	e := &environment{stderr: &b}
	for _, p := range []string{"", "auto", "never"} {
		if f := e.progressFunc(&config{progress: p}); f != nil {
			t.Errorf("--progress %q with stderr not a terminal: a progress bar", p)
		}
	}
	if f := e.progressFunc(&config{progress: "always"}); f == nil {
		t.Error("--progress always: no progress bar")
	}
}

// TestProgressShowsTheBytesRead: the bar's percentage is that of the latest sample, not the one
// before: samples come faster than the bar redraws, and of the two updates per sample only the first
// is drawn (the bar showed 0% throughout a read shorter than its redraw period).
func TestProgressShowsTheBytesRead(t *testing.T) {
	var b bytes.Buffer
	e := &environment{stderr: &b}
	f := e.progressFunc(&config{progress: "always"})
	f(usage.Progress{ObjectsTotal: 4, BytesTotal: 4000})                                  // the bar starts: 0%
	f(usage.Progress{ObjectsTotal: 4, ObjectsDone: 2, BytesTotal: 4000, BytesDone: 2000}) // within the period: not drawn
	b.Reset()
	time.Sleep(250 * time.Millisecond) // past the bar's 200 ms redraw period
	f(usage.Progress{ObjectsTotal: 4, ObjectsDone: 3, BytesTotal: 4000, BytesDone: 3000})
	if out := b.String(); !strings.Contains(out, "75%") {
		t.Errorf("after 3,000 of 4,000 bytes the bar shows %q, want 75%%", out)
	}
}

// TestHelpIsNotBadUsage: exit 2 is bad usage of the command line (DESIGN §10); asking for help is
// not. Every command's -h/--help prints its usage and exits 0, the `accounts` group's too (it exited
// 2 with "want the subcommand import"); a missing or unknown subcommand stays bad usage.
func TestHelpIsNotBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"close", "--help"}, {"rate", "-h"}, {"rerun", "--help"}, {"reconcile", "--help"}, {"export", "--help"},
		{"sweep", "--help"}, {"schedule", "--help"}, {"standing", "--help"}, {"migrate", "--help"},
		{"accounts", "import", "--help"}, {"accounts", "--help"}, {"accounts", "-h"}, {"accounts", "help"},
	} {
		// Asked for, the usage goes to stdout (it pages and greps), and nothing to stderr.
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		if code := exitCode(err); code != exitOK || !strings.Contains(stdout.String(), "Usage: billrun") || stderr.Len() > 0 {
			t.Errorf("billrun %s: exit %d (%v), want %d and the usage on stdout\nstdout:\n%s\nstderr:\n%s",
				strings.Join(args, " "), code, err, exitOK, stdout.String(), stderr.String())
		}
	}
	for _, args := range [][]string{{"accounts"}, {"accounts", "export"}, {"bogus"}, {"close", "--bogus"},
		{"accounts", "import", "x.yaml", "--bogus"}} {
		// A mistake: the usage goes to stderr, with the error, and nothing to stdout.
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		if exitCode(err) != exitUsage || !strings.Contains(stderr.String(), "Usage: billrun") || stdout.Len() > 0 {
			t.Errorf("billrun %s: exit %d (%v), want %d and the usage on stderr\nstdout:\n%s\nstderr:\n%s",
				strings.Join(args, " "), exitCode(err), err, exitUsage, stdout.String(), stderr.String())
		}
	}
}
