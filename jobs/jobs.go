package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"billrun/internal/process"
	"billrun/invoices"
	"billrun/rating"
)

// UsageReader reads and rates raw usage for a window: rating/usage behind a small adapter.
type UsageReader interface {
	// Read reads every partition the window needs and returns the aggregate, rejects, counts and
	// manifest. accounts is the set of known accounts (nil: every account is known). A corrupt or
	// unreadable object is an error naming it.
	Read(ctx context.Context, w rating.Window, accounts map[string]bool) (*UsageResult, error)
}

// UsageResult is what a read of usage produced.
type UsageResult struct {
	Aggregate *rating.Aggregate
	Rejects   []rating.Reject
	Counts    rating.Counts
	Manifest  []rating.Object
	// Taken holds, per Manifest object, how many of its lines were in scope (accepted, duplicates or
	// rejected); nil when the reader does not say (every object then counts as taken from).
	Taken []int64
}

// Exporter writes the finance exports.
type Exporter interface {
	WriteJSON(w io.Writer, r *invoices.Report) error
	WriteXLSX(w io.Writer, r *invoices.Report) error
	WriteInvoicesCSV(w io.Writer, r *invoices.Report) error
	WriteRejectsCSV(w io.Writer, rejects []rating.Reject) error
	WriteStandingJSON(w io.Writer, rows []invoices.Standing) error
}

// Jobs runs billrun's commands. Construct it with every field set; Clock defaults to time.Now and is
// only used for run start and end times — business time is always the command's `at`.
type Jobs struct {
	Store         Store
	Usage         UsageReader
	Exporter      Exporter
	PriceBook     *rating.PriceBook
	PriceBookHash string
	OutDir        string
	Logger        *slog.Logger
	Clock         func() time.Time
	// ReportWindow is how long after a period's end GPU usage of it may still be reported
	// (usage.ReportWindow: --max-gpu-interval + 1h); a close before then warns. 0: only a close
	// before the period's end warns.
	ReportWindow time.Duration

	closeBatch  int // invoices per issuing transaction of a close; 0: closeBatchAccounts
	draftChunk  int // accounts per drafting chunk; 0: draftChunkAccounts
	streamBatch int // lines per batch of a report streamed from the store; 0: streamBatchLines
}

// ErrTooManyRejects is returned when a run's rejects exceed --max-rejects (exit code 3).
var ErrTooManyRejects = errors.New("rejects exceed --max-rejects")

func (j *Jobs) now() time.Time {
	if j.Clock != nil {
		return j.Clock().UTC()
	}
	return time.Now().UTC()
}

func newRunID(kind invoices.RunKind, at time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%s", kind, at.UTC().Format("20060102T150405Z"), hex.EncodeToString(b[:]))
}

// lock takes the run lock of a period and maps contention to invoices.ErrLocked.
func (j *Jobs) lock(ctx context.Context, key string, wait bool) (func(), error) {
	release, _, err := j.lockWith(j.Store.Lock, ctx, key, wait)
	return release, err
}

// lockReading is lock for a run that only reads under the lock (Store.LockReading).
func (j *Jobs) lockReading(ctx context.Context, key string, wait bool) (func(), error) {
	release, _, err := j.lockWith(j.Store.LockReading, ctx, key, wait)
	return release, err
}

// lockWith takes key with lock, and reports whether it had to wait for another holder. A caller that
// waits for it is told, once, who holds it: a close or an export waiting on another run's lock would
// otherwise sit silent for as long as that run takes.
func (j *Jobs) lockWith(lock func(context.Context, string, bool) (func(), error), ctx context.Context, key string, wait bool) (release func(), waited bool, err error) {
	release, err = lock(ctx, key, false)
	if wait && errors.Is(err, invoices.ErrLocked) {
		j.Logger.Info("waiting for the run that holds the lock to finish", "lock", key, "held", err.Error())
		waited = true
		release, err = lock(ctx, key, true)
	}
	if err != nil {
		if errors.Is(err, invoices.ErrLocked) {
			return nil, waited, fmt.Errorf("%s: %w", key, err)
		}
		return nil, waited, fmt.Errorf("lock %s: %w", key, err)
	}
	return release, waited, nil
}

// abandonRuns records as failed the closes, reruns and sweeps of p a killed process left marked
// running: the caller holds p's lock, which each of them takes, so none is live. (A standing pass of
// a close or rerun of another period is left to that run's next attempt: Store.AbandonRuns.) A
// failure to do so is logged, never the run's failure.
func (j *Jobs) abandonRuns(ctx context.Context, p rating.Period) {
	n, err := j.Store.AbandonRuns(ctx, p, []invoices.RunKind{invoices.RunClose, invoices.RunRerun, invoices.RunSweep}, j.now())
	switch {
	case err != nil:
		j.Logger.Warn("could not record abandoned runs as failed", "period", p.String(), "error", err)
	case n > 0:
		j.Logger.Warn("recorded runs a killed process left running as failed", "period", p.String(), "runs", n)
	}
}

// knownAccounts returns the accounts by id and the set of ids.
func knownAccounts(accts []invoices.Account) (map[string]*invoices.Account, map[string]bool) {
	byID := make(map[string]*invoices.Account, len(accts))
	known := make(map[string]bool, len(accts))
	for i := range accts {
		byID[accts[i].ID] = &accts[i]
		known[accts[i].ID] = true
	}
	return byID, known
}

// rateAccount turns one account's aggregate lines into invoice lines with the bulk on-demand discount
// of the window starting at windowStart (contract in force then, volume tiers of the version then).
func (j *Jobs) rateAccount(acct *invoices.Account, ls []rating.Line, windowStart time.Time) []rating.Line {
	pct := decimalZero
	if acct != nil {
		pct = acct.ContractPercent(windowStart)
	}
	if d, ok := j.PriceBook.DiscountLine(ls, pct, j.PriceBook.VersionAt(windowStart)); ok {
		ls = append(ls, d)
	}
	return ls
}

// WriteFileAtomic writes path through a temporary file and a rename, so a crash never leaves a
// half-written export.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := createTemp(path)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return commitTemp(f.Name(), path)
}

// tempPrefix is how the names of path's temporary files begin: .NAME.tmp-
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// tempWriter names this process in the temporary files it writes: PID@HOST.
var tempWriter = func() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%d@%s", os.Getpid(), host)
}()

// createTemp creates a temporary file for path, in its directory, named after the process writing
// it: .NAME.tmp-PID@HOST-RANDOM.
func createTemp(path string) (*os.File, error) {
	return os.CreateTemp(filepath.Dir(path), tempPrefix(path)+tempWriter+"-*")
}

// commitTemp makes the closed temporary file tmp path: readable by finance's tools (CreateTemp makes
// it 0600; 0644 as os.WriteFile would), renamed over path, and then the temporary files of path that
// a killed writer left behind removed.
func commitTemp(tmp, path string) error {
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	removeStaleTemps(path)
	return nil
}

// staleTempAge is how old a temporary file of the same export must be before it counts as left behind
// when its writer cannot be checked (another host, or a name without one): exports take seconds, and
// a live writer's file is never that old.
const staleTempAge = 10 * time.Minute

// removeStaleTemps deletes the temporary files of the export at path that a process killed while
// writing it left behind (an invoices.json's could be ~100 MB); the write that just replaced path
// calls it. A file whose writer was a process of this host that no longer exists — or this process
// itself, whose own file for path was just renamed, so the file is a killed namesake's (a restarted
// container's pid 1) — goes at once, so the retry of a killed close leaves none; any other once it
// is staleTempAge old.
func removeStaleTemps(path string) {
	prefix := tempPrefix(path)
	names, _ := filepath.Glob(filepath.Join(filepath.Dir(path), prefix+"*"))
	for _, name := range names {
		if writerGone(strings.TrimPrefix(filepath.Base(name), prefix)) {
			_ = os.Remove(name)
		} else if st, err := os.Stat(name); err == nil && time.Since(st.ModTime()) > staleTempAge {
			_ = os.Remove(name)
		}
	}
}

// writerGone reports whether a temporary file named PID@HOST-RANDOM after its prefix was written by
// this process or by a process of this host that no longer exists.
func writerGone(suffix string) bool {
	at, dash := strings.IndexByte(suffix, '@'), strings.LastIndexByte(suffix, '-')
	if at <= 0 || dash < at {
		return false // written before files named their writer
	}
	pid, err := strconv.Atoi(suffix[:at])
	if err != nil {
		return false
	}
	host := suffix[at+1 : dash]
	return suffix[:at]+"@"+host == tempWriter || process.GoneHere(host, pid)
}
