package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/jobs"
	"billrun/rating"
	"billrun/rating/prices"
)

var _ jobs.ScheduleStore = (*store.Store)(nil)

func tm(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// clock is the injected clock. It answers in a zone west of UTC, so a schedule evaluated in local
// time instead of UTC would fire at the wrong hours.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

var westZone = time.FixedZone("UTC-7", -7*3600)

func newClock(s string) *clock { return &clock{t: tm(s)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.In(westZone)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), "sqlite:"+path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func tempDB(t *testing.T) string { return filepath.Join(t.TempDir(), "billrun.db") }

// results collects every firing's result, through OnFinish.
type results struct {
	mu  sync.Mutex
	all []jobs.FiringResult
}

func (r *results) add(res jobs.FiringResult) {
	r.mu.Lock()
	r.all = append(r.all, res)
	r.mu.Unlock()
}

// of returns the results of job with the given status, in order.
func (r *results) of(job string, status jobs.FiringStatus) []jobs.FiringResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []jobs.FiringResult
	for _, res := range r.all {
		if res.Job == job && res.Status == status {
			out = append(out, res)
		}
	}
	return out
}

func scheduledTimes(rs []jobs.FiringResult) []time.Time {
	var out []time.Time
	for _, r := range rs {
		out = append(out, r.ScheduledAt)
	}
	return out
}

type schedOpts struct {
	clock    *clock
	store    jobs.ScheduleStore
	holder   string
	shutdown time.Duration
	logger   *slog.Logger
}

func newScheduler(t *testing.T, o schedOpts, js ...jobs.ScheduledJob) (*jobs.Scheduler, *results) {
	t.Helper()
	res := &results{}
	log := o.logger
	if log == nil {
		log = testLogger(t)
	}
	s, err := jobs.NewScheduler(jobs.SchedulerConfig{Jobs: js, Store: o.store, Logger: log, Now: o.clock.Now,
		ShutdownTimeout: o.shutdown, Holder: o.holder, OnFinish: res.add})
	if err != nil {
		t.Fatalf("NewScheduler: %v", err)
	}
	return s, res
}

func start(t *testing.T, s *jobs.Scheduler) {
	t.Helper()
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
}

func tick(t *testing.T, s *jobs.Scheduler) {
	t.Helper()
	if err := s.Tick(); err != nil {
		t.Fatalf("Tick: %v", err)
	}
}

// okJob is a job that succeeds and records nothing: results come from OnFinish.
func okJob(name, spec string) jobs.ScheduledJob {
	return jobs.ScheduledJob{Name: name, Spec: spec, Timeout: time.Hour,
		Run: func(context.Context, jobs.Firing) (*invoices.Run, error) { return nil, nil }}
}

func TestLastFiring(t *testing.T) {
	tests := []struct {
		spec, now, want string
	}{
		{jobs.DefaultCloseSpec, "2026-11-01T02:00:00Z", "2026-11-01T02:00:00Z"},
		{jobs.DefaultCloseSpec, "2026-11-01T01:59:59Z", "2026-10-01T02:00:00Z"},
		{jobs.DefaultCloseSpec, "2026-11-27T04:41:28Z", "2026-11-01T02:00:00Z"},
		{jobs.DefaultCloseSpec, "2027-01-01T01:00:00Z", "2026-12-01T02:00:00Z"},
		{jobs.DefaultSweepSpec, "2026-11-27T04:41:28Z", "2026-11-27T04:00:00Z"},
		{jobs.DefaultReconcileSpec, "2026-11-27T05:59:00Z", "2026-11-26T06:00:00Z"},
		{"0 0 1 1 *", "2026-11-27T04:41:28Z", "2026-01-01T00:00:00Z"},
		{"* * * * *", "2026-11-27T04:41:28Z", "2026-11-27T04:41:00Z"},
		{"0 2 29 2 *", "2026-11-27T04:41:28Z", "2024-02-29T02:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.spec+" at "+tc.now, func(t *testing.T) {
			sched, err := jobs.ParseSpec(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := jobs.LastFiring(sched, tm(tc.now).In(westZone))
			if !ok || !got.Equal(tm(tc.want)) || got.Location() != time.UTC {
				t.Errorf("LastFiring(%q, %s) = %s, %v; want %s UTC", tc.spec, tc.now, got, ok, tc.want)
			}
		})
	}
}

func TestParseSpec(t *testing.T) {
	for _, spec := range []string{"", "0 2 1 *", "61 * * * *", "TZ=Europe/Paris 0 2 1 * *", "CRON_TZ=UTC 0 * * * *", "@every 1h30m junk", "@every 1h"} {
		if _, err := jobs.ParseSpec(spec); err == nil {
			t.Errorf("ParseSpec(%q) = nil error, want an error", spec)
		}
	}
	for _, spec := range []string{jobs.DefaultCloseSpec, jobs.DefaultSweepSpec, jobs.DefaultReconcileSpec, "@hourly", "@monthly", "*/15 * * * *"} {
		if _, err := jobs.ParseSpec(spec); err != nil {
			t.Errorf("ParseSpec(%q) = %v", spec, err)
		}
	}
}

func TestNewSchedulerValidates(t *testing.T) {
	st := openStore(t, tempDB(t))
	clk := newClock("2026-11-01T00:00:00Z")
	ok := okJob("sweep", jobs.DefaultSweepSpec)
	tests := []struct {
		name string
		jobs []jobs.ScheduledJob
		want string
	}{
		{"bad spec", []jobs.ScheduledJob{okJob("close", "0 2 32 * *")}, "close"},
		{"time zone", []jobs.ScheduledJob{okJob("close", "TZ=Europe/Paris 0 2 1 * *")}, "UTC"},
		{"duplicate", []jobs.ScheduledJob{ok, ok}, "unique"},
		{"no name", []jobs.ScheduledJob{okJob("", jobs.DefaultSweepSpec)}, "name"},
		{"no timeout", []jobs.ScheduledJob{{Name: "sweep", Spec: jobs.DefaultSweepSpec, Run: ok.Run}}, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := jobs.NewScheduler(jobs.SchedulerConfig{Jobs: tc.jobs, Store: st, Logger: testLogger(t), Now: clk.Now})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewScheduler = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// TestSchedulerFiresAtUTCTimes drives the scheduler minute by minute through November 2026 with an
// injected clock: close at 02:00 UTC on the 1st, sweep every hour, reconcile at 06:00 UTC every day.
func TestSchedulerFiresAtUTCTimes(t *testing.T) {
	clk := newClock("2026-10-31T23:30:00Z")
	s, res := newScheduler(t, schedOpts{clock: clk, store: openStore(t, tempDB(t))},
		okJob("close", jobs.DefaultCloseSpec), okJob("sweep", jobs.DefaultSweepSpec), okJob("reconcile", jobs.DefaultReconcileSpec))
	start(t, s)
	end := tm("2026-12-01T00:00:00Z")
	for now := tm("2026-10-31T23:31:00Z"); !now.After(end); now = now.Add(time.Minute) {
		clk.Set(now)
		tick(t, s)
	}

	var wantSweep, wantReconcile []time.Time
	for h := tm("2026-11-01T00:00:00Z"); !h.After(end); h = h.Add(time.Hour) {
		wantSweep = append(wantSweep, h)
		if h.Hour() == 6 {
			wantReconcile = append(wantReconcile, h)
		}
	}
	for _, tc := range []struct {
		job  string
		want []time.Time
	}{
		{"close", []time.Time{tm("2026-11-01T02:00:00Z")}},
		{"sweep", wantSweep},
		{"reconcile", wantReconcile},
	} {
		got := res.of(tc.job, jobs.FiringSucceeded)
		if !slices.EqualFunc(scheduledTimes(got), tc.want, time.Time.Equal) {
			t.Errorf("%s fired at %v,\nwant %v", tc.job, scheduledTimes(got), tc.want)
			continue
		}
		for _, r := range got {
			if r.ScheduledAt.Location() != time.UTC || !r.StartedAt.Equal(r.ScheduledAt) || r.CatchUp {
				t.Errorf("%s firing %+v: want UTC, started on time, no catch-up", tc.job, r.Firing)
			}
		}
	}
	if n := len(res.all); n != 1+len(wantSweep)+len(wantReconcile) {
		t.Errorf("%d firings in all, want %d", n, 1+len(wantSweep)+len(wantReconcile))
	}
	states := s.Jobs()
	if len(states) != 3 || !states[0].Next.Equal(tm("2026-12-01T02:00:00Z")) || !states[1].Next.Equal(tm("2026-12-01T01:00:00Z")) ||
		states[1].Last == nil || !states[1].Last.ScheduledAt.Equal(end) || !states[1].LastSuccess.Equal(end) {
		t.Errorf("Jobs() = %+v", states)
	}
}

// TestSchedulerCoalescesMissedFirings: a scheduler that was paused runs the latest due firing only.
func TestSchedulerCoalescesMissedFirings(t *testing.T) {
	clk := newClock("2026-11-10T10:15:00Z")
	s, res := newScheduler(t, schedOpts{clock: clk, store: openStore(t, tempDB(t))}, okJob("sweep", jobs.DefaultSweepSpec))
	start(t, s)
	clk.Set(tm("2026-11-10T15:20:00Z"))
	tick(t, s)
	tick(t, s)
	if got := scheduledTimes(res.of("sweep", jobs.FiringSucceeded)); len(got) != 1 || !got[0].Equal(tm("2026-11-10T15:00:00Z")) {
		t.Errorf("after a 5-hour pause the sweep fired at %v, want once at 15:00", got)
	}
}

// TestSchedulerDisabledJobs: an empty spec or a nil Run leaves the job unregistered, and says so.
func TestSchedulerDisabledJobs(t *testing.T) {
	var logs bytes.Buffer
	clk := newClock("2026-11-01T00:30:00Z")
	s, res := newScheduler(t, schedOpts{clock: clk, store: openStore(t, tempDB(t)), logger: slog.New(slog.NewTextHandler(&logs, nil))},
		okJob("close", ""), jobs.ScheduledJob{Name: "reconcile", Spec: jobs.DefaultReconcileSpec, Timeout: time.Hour},
		okJob("sweep", jobs.DefaultSweepSpec))
	start(t, s)
	clk.Set(tm("2026-11-02T07:00:00Z"))
	tick(t, s)
	if len(res.of("close", jobs.FiringSucceeded))+len(res.of("reconcile", jobs.FiringSucceeded)) != 0 || len(res.of("sweep", jobs.FiringSucceeded)) != 1 {
		t.Errorf("results %+v: want one sweep and nothing else", res.all)
	}
	for _, want := range []string{`job=close reason="no schedule (empty spec)"`, `job=reconcile reason="not available in this build"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
	for _, st := range s.Jobs() {
		if st.Enabled != (st.Name == "sweep") || (!st.Enabled && !st.Next.IsZero()) {
			t.Errorf("Jobs(): %+v", st)
		}
	}
}

// TestSchedulerRecoversPanic: a panicking job is recovered and recorded as panicked, the scheduler
// goes on, and the job runs again at its next firing (the skip-if-running guard was not left taken).
func TestSchedulerRecoversPanic(t *testing.T) {
	st := openStore(t, tempDB(t))
	clk := newClock("2026-11-10T10:15:00Z")
	calls := 0
	job := jobs.ScheduledJob{Name: "sweep", Spec: jobs.DefaultSweepSpec, Timeout: time.Hour,
		Run: func(context.Context, jobs.Firing) (*invoices.Run, error) {
			calls++
			if calls == 1 {
				var m map[string]int
				m["boom"]++ // a nil map write: a runtime panic
			}
			return nil, nil
		}}
	s, res := newScheduler(t, schedOpts{clock: clk, store: st, holder: "h1"}, job, okJob("close", jobs.DefaultCloseSpec))
	start(t, s)
	clk.Set(tm("2026-11-10T11:00:00Z"))
	tick(t, s)
	panicked := res.of("sweep", jobs.FiringPanicked)
	if len(panicked) != 1 || panicked[0].Err == nil || !strings.Contains(panicked[0].Err.Error(), "nil map") {
		t.Fatalf("results %+v: want one panicked sweep naming the panic", res.all)
	}
	if last := s.Jobs()[0].Last; last == nil || last.Status != jobs.FiringPanicked {
		t.Errorf("Jobs()[0].Last = %+v, want the panicked firing", last)
	}
	// The claim was closed as failed: a retry could take it, a plain claim cannot.
	if got, err := st.ClaimScheduled(t.Context(), "sweep", tm("2026-11-10T11:00:00Z"), "h2", clk.Now(), clk.Now()); err != nil || got {
		t.Errorf("ClaimScheduled of the panicked firing = %v, %v; want false", got, err)
	}
	if got, err := st.ReclaimScheduled(t.Context(), "sweep", tm("2026-11-10T11:00:00Z"), "h2", clk.Now(), clk.Now()); err != nil || !got {
		t.Errorf("ReclaimScheduled of the panicked firing = %v, %v; want true", got, err)
	}
	clk.Set(tm("2026-11-10T12:00:00Z"))
	tick(t, s)
	if ok := res.of("sweep", jobs.FiringSucceeded); len(ok) != 1 || !ok[0].ScheduledAt.Equal(tm("2026-11-10T12:00:00Z")) {
		t.Errorf("after the panic: %+v, want the 12:00 sweep to succeed", res.all)
	}
}

// TestSchedulerLockedAndTimeout: a job that finds its lock held is skipped, not failed; one that
// overruns its timeout sees its context end and fails.
func TestSchedulerLockedAndTimeout(t *testing.T) {
	st := openStore(t, tempDB(t))
	release, err := st.Lock(t.Context(), "sweep", false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	clk := newClock("2026-11-10T10:15:00Z")
	locked := jobs.ScheduledJob{Name: "sweep", Spec: jobs.DefaultSweepSpec, Timeout: time.Hour,
		Run: func(ctx context.Context, _ jobs.Firing) (*invoices.Run, error) {
			r, err := st.Lock(ctx, "sweep", false)
			if err != nil {
				return nil, err
			}
			r()
			return nil, nil
		}}
	slow := jobs.ScheduledJob{Name: "reconcile", Spec: jobs.DefaultSweepSpec, Timeout: time.Millisecond,
		Run: func(ctx context.Context, _ jobs.Firing) (*invoices.Run, error) {
			<-ctx.Done()
			return nil, fmt.Errorf("reconcile: %w", context.Cause(ctx))
		}}
	s, res := newScheduler(t, schedOpts{clock: clk, store: st}, locked, slow)
	start(t, s)
	clk.Set(tm("2026-11-10T11:00:00Z"))
	tick(t, s)
	if got := res.of("sweep", jobs.FiringLocked); len(got) != 1 || !errors.Is(got[0].Err, invoices.ErrLocked) {
		t.Errorf("results %+v: want the sweep skipped_locked", res.all)
	}
	if got := res.of("reconcile", jobs.FiringFailed); len(got) != 1 || !strings.Contains(got[0].Err.Error(), "timeout 1ms passed") {
		t.Errorf("results %+v: want the reconcile failed by its timeout", res.all)
	}
}

// TestTwoSchedulersShareDatabase: two schedulers on one SQLite file, ticking together through a day,
// run each firing once; the other one sees it claimed.
func TestTwoSchedulersShareDatabase(t *testing.T) {
	path := tempDB(t)
	clk := newClock("2026-11-01T00:30:00Z")
	var mu sync.Mutex
	ran := map[string]int{}
	count := func(name, spec string) jobs.ScheduledJob {
		j := okJob(name, spec)
		j.Run = func(_ context.Context, f jobs.Firing) (*invoices.Run, error) {
			mu.Lock()
			ran[f.Job+" "+f.ScheduledAt.Format(time.RFC3339)]++
			mu.Unlock()
			return nil, nil
		}
		return j
	}
	var scheds []*jobs.Scheduler
	var all []*results
	for i := range 2 {
		s, res := newScheduler(t, schedOpts{clock: clk, store: openStore(t, path), holder: fmt.Sprint("replica-", i)},
			count("close", jobs.DefaultCloseSpec), count("sweep", jobs.DefaultSweepSpec), count("reconcile", jobs.DefaultReconcileSpec))
		start(t, s)
		scheds, all = append(scheds, s), append(all, res)
	}
	for now := tm("2026-11-01T00:31:00Z"); now.Before(tm("2026-11-02T00:30:00Z")); now = now.Add(time.Minute) {
		clk.Set(now)
		var wg sync.WaitGroup
		for _, s := range scheds {
			wg.Go(func() { tick(t, s) })
		}
		wg.Wait()
	}
	want := 1 + 24 + 1 // close at 02:00, sweeps 01:00…00:00, reconcile at 06:00
	if len(ran) != want {
		t.Errorf("%d distinct firings ran, want %d: %v", len(ran), want, ran)
	}
	for k, n := range ran {
		if n != 1 {
			t.Errorf("%s ran %d times, want once", k, n)
		}
	}
	claimed := len(all[0].of("sweep", jobs.FiringClaimed)) + len(all[1].of("sweep", jobs.FiringClaimed))
	if claimed != 24 {
		t.Errorf("%d sweep firings were seen claimed by the other replica, want 24", claimed)
	}
}

// --- the scheduled close against a real store -------------------------------------------------------

// emptyUsage is a usage source with no events; failFirst makes its first read fail.
type emptyUsage struct {
	mu        sync.Mutex
	failFirst bool
	reads     int
}

func (u *emptyUsage) Read(context.Context, rating.Window, map[string]bool) (*jobs.UsageResult, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reads++
	if u.failFirst && u.reads == 1 {
		return nil, errors.New("usage: s3 unavailable")
	}
	return &jobs.UsageResult{Aggregate: rating.NewAggregate()}, nil
}

type nopExporter struct{}

func (nopExporter) WriteJSON(io.Writer, *invoices.Report) error            { return nil }
func (nopExporter) WriteXLSX(io.Writer, *invoices.Report) error            { return nil }
func (nopExporter) WriteInvoicesCSV(io.Writer, *invoices.Report) error     { return nil }
func (nopExporter) WriteRejectsCSV(io.Writer, []rating.Reject) error       { return nil }
func (nopExporter) WriteStandingJSON(io.Writer, []invoices.Standing) error { return nil }

func newJobs(t *testing.T, st jobs.Store, u jobs.UsageReader) *jobs.Jobs {
	t.Helper()
	pb, hash, err := prices.Load("../fixtures/prices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return &jobs.Jobs{Store: st, Usage: u, Exporter: nopExporter{}, PriceBook: pb, PriceBookHash: hash,
		OutDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
}

// TestCatchUpOnce: a scheduler started after the 02:00 close was missed runs it at once — at the time it
// starts it, 2026-11-03T09:00:00Z, since no close of the period was interrupted (dated Nov 1, its
// invoices would be due Nov 16 though sent on Nov 3) — started again (a restart), it does not; two
// started together run it once. (A close interrupted and caught up keeps the interrupted one's --at:
// cmd/billrun's TestScheduleSIGTERMMidCloseThenRestart.)
func TestCatchUpOnce(t *testing.T) {
	clk := newClock("2026-11-03T09:00:00Z")
	oct := rating.Period{Year: 2026, Month: time.October}
	t.Run("restart", func(t *testing.T) {
		path := tempDB(t)
		closes := 0
		for i := range 3 {
			st := openStore(t, path)
			j := newJobs(t, st, &emptyUsage{})
			s, res := newScheduler(t, schedOpts{clock: clk, store: st, holder: fmt.Sprint("start-", i)},
				j.ScheduledClose(jobs.DefaultCloseSpec, time.Hour, 0))
			start(t, s)
			tick(t, s)
			tick(t, s)
			got := res.of("close", jobs.FiringSucceeded)
			for _, r := range got {
				if !r.CatchUp || !r.ScheduledAt.Equal(tm("2026-11-01T02:00:00Z")) || r.Run == nil || r.Run.Period != oct ||
					!r.Run.At.Equal(tm("2026-11-03T09:00:00Z")) {
					t.Errorf("start %d: catch-up %+v (at %v), want the close of 2026-10 at the time it started", i, r, r.Run.At)
				}
			}
			closes += len(got)
			if len(res.all) != len(got) {
				t.Errorf("start %d: results %+v", i, res.all)
			}
		}
		if closes != 1 {
			t.Errorf("%d closes over three starts, want 1", closes)
		}
		if _, err := openStore(t, path).LatestRun(t.Context(), oct); err != nil {
			t.Errorf("LatestRun(2026-10) = %v, want the caught-up close", err)
		}
	})
	t.Run("two at once", func(t *testing.T) {
		path := tempDB(t)
		var scheds []*jobs.Scheduler
		var all []*results
		for i := range 2 {
			st := openStore(t, path)
			s, res := newScheduler(t, schedOpts{clock: clk, store: st, holder: fmt.Sprint("replica-", i)},
				newJobs(t, st, &emptyUsage{}).ScheduledClose(jobs.DefaultCloseSpec, time.Hour, 0))
			start(t, s) // both find the close missed
			scheds, all = append(scheds, s), append(all, res)
		}
		var wg sync.WaitGroup
		for _, s := range scheds {
			wg.Go(func() { tick(t, s) })
		}
		wg.Wait()
		ok := len(all[0].of("close", jobs.FiringSucceeded)) + len(all[1].of("close", jobs.FiringSucceeded))
		skipped := len(all[0].of("close", jobs.FiringClaimed)) + len(all[1].of("close", jobs.FiringClaimed))
		if ok != 1 || skipped != 1 {
			t.Errorf("two schedulers catching up: %d closes, %d skipped; want 1 and 1", ok, skipped)
		}
	})
	// A rerun of some accounts issues nothing for the others: the month is still to close. A rerun of
	// every account issues what a close would: it is closed.
	for _, tc := range []struct {
		scope   string
		closes  int
		comment string
	}{{"[acct_00001]", 1, "caught up"}, {"all", 0, "not caught up"}} {
		t.Run("after a succeeded rerun of "+tc.scope, func(t *testing.T) {
			path := tempDB(t)
			st := openStore(t, path)
			ctx := t.Context()
			end := tm("2026-11-02T10:05:00Z")
			rerun := &invoices.Run{ID: "rerun-manual", Kind: invoices.RunRerun, Period: oct, Scope: tc.scope,
				At: tm("2026-11-02T10:00:00Z"), StartedAt: tm("2026-11-02T10:00:00Z"), Status: invoices.RunRunning}
			if err := st.StartRun(ctx, rerun); err != nil {
				t.Fatal(err)
			}
			rerun.Status, rerun.FinishedAt = invoices.RunSucceeded, &end
			if err := st.FinishRun(ctx, rerun); err != nil {
				t.Fatal(err)
			}
			s, res := newScheduler(t, schedOpts{clock: clk, store: st, holder: "start"},
				newJobs(t, st, &emptyUsage{}).ScheduledClose(jobs.DefaultCloseSpec, time.Hour, 0))
			start(t, s)
			tick(t, s)
			if got := len(res.of("close", jobs.FiringSucceeded)); got != tc.closes {
				t.Errorf("%d closes, want %d (%s)", got, tc.closes, tc.comment)
			}
		})
	}
	t.Run("failed catch-up is retried on the next start", func(t *testing.T) {
		path := tempDB(t)
		usage := &emptyUsage{failFirst: true}
		var statuses []jobs.FiringStatus
		for i := range 3 {
			st := openStore(t, path)
			s, res := newScheduler(t, schedOpts{clock: clk, store: st, holder: fmt.Sprint("start-", i)},
				newJobs(t, st, usage).ScheduledClose(jobs.DefaultCloseSpec, time.Hour, 0))
			start(t, s)
			tick(t, s)
			for _, r := range res.all {
				statuses = append(statuses, r.Status)
			}
		}
		if want := []jobs.FiringStatus{jobs.FiringFailed, jobs.FiringSucceeded}; !slices.Equal(statuses, want) {
			t.Errorf("three starts after a failing first close: %v, want %v", statuses, want)
		}
	})
	t.Run("a retry of a close that issued nothing runs at its own start", func(t *testing.T) {
		// The catch-up at 2026-11-03T09:00 fails before issuing anything; the next start, on Nov 4 at
		// 10:00:00.5, finishes nothing that was dated: its close runs at 10:00:00 (whole seconds).
		path := tempDB(t)
		usage := &emptyUsage{failFirst: true}
		clk := newClock("2026-11-03T09:00:00Z")
		var ats []time.Time
		for i, now := range []string{"2026-11-03T09:00:00Z", "2026-11-04T10:00:00.5Z"} {
			clk.Set(tm(now))
			st := openStore(t, path)
			s, res := newScheduler(t, schedOpts{clock: clk, store: st, holder: fmt.Sprint("start-", i)},
				newJobs(t, st, usage).ScheduledClose(jobs.DefaultCloseSpec, time.Hour, 0))
			start(t, s)
			tick(t, s)
			for _, r := range res.all {
				if r.Run != nil {
					ats = append(ats, r.Run.At)
				}
			}
		}
		if len(ats) != 2 || !ats[0].Equal(tm("2026-11-03T09:00:00Z")) || !ats[1].Equal(tm("2026-11-04T10:00:00Z")) {
			t.Errorf("catch-up closes at %v, want 2026-11-03T09:00:00Z (failed) then 2026-11-04T10:00:00Z", ats)
		}
	})
}

// TestRunDrainsOnShutdown: when Run's context ends (SIGTERM), the running job finishes undisturbed
// within the shutdown timeout and Run returns nil.
func TestRunDrainsOnShutdown(t *testing.T) {
	clk := newClock("2026-11-03T09:00:00Z")
	started, release := make(chan struct{}), make(chan struct{})
	var ctxErr error
	job := jobs.ScheduledJob{Name: "close", Spec: jobs.DefaultCloseSpec, Timeout: time.Hour,
		Missed: func(context.Context, time.Time) (bool, error) { return true, nil },
		Run: func(ctx context.Context, _ jobs.Firing) (*invoices.Run, error) {
			close(started)
			<-release
			ctxErr = ctx.Err()
			return nil, ctxErr
		}}
	s, res := newScheduler(t, schedOpts{clock: clk, store: openStore(t, tempDB(t)), shutdown: time.Hour}, job)
	ctx, sigterm := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-started
	sigterm()
	<-s.Stopping()
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while the job was running", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Run after a clean drain = %v, want nil", err)
	}
	if ctxErr != nil || len(res.of("close", jobs.FiringSucceeded)) != 1 {
		t.Errorf("job context error %v, results %+v: want the job to finish undisturbed", ctxErr, res.all)
	}
}

// TestRunCancelsAfterShutdownTimeout: a job still running when the shutdown timeout passes has its
// context cancelled; Run reports it, and the firing's claim is left retryable.
func TestRunCancelsAfterShutdownTimeout(t *testing.T) {
	st := openStore(t, tempDB(t))
	clk := newClock("2026-11-03T09:00:00Z")
	started := make(chan struct{})
	job := jobs.ScheduledJob{Name: "close", Spec: jobs.DefaultCloseSpec, Timeout: time.Hour,
		Missed: func(context.Context, time.Time) (bool, error) { return true, nil },
		Run: func(ctx context.Context, _ jobs.Firing) (*invoices.Run, error) {
			close(started)
			<-ctx.Done()
			return nil, fmt.Errorf("close: stopped at a safe point: %w", context.Cause(ctx))
		}}
	s, res := newScheduler(t, schedOpts{clock: clk, store: st, shutdown: 0}, job)
	ctx, sigterm := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-started
	sigterm()
	if err := <-done; !errors.Is(err, jobs.ErrShutdownTimeout) || !strings.Contains(err.Error(), "close") {
		t.Errorf("Run = %v, want ErrShutdownTimeout naming close", err)
	}
	failed := res.of("close", jobs.FiringFailed)
	if len(failed) != 1 || !errors.Is(failed[0].Err, jobs.ErrShutdownTimeout) {
		t.Errorf("results %+v: want the close failed by the shutdown", res.all)
	}
	if got, err := st.ReclaimScheduled(t.Context(), "close", tm("2026-11-01T02:00:00Z"), "next", clk.Now(), clk.Now()); err != nil || !got {
		t.Errorf("ReclaimScheduled after the cancelled close = %v, %v; want true", got, err)
	}
}

// TestRunIdleShutdownWithZeroTimeout: --shutdown-timeout 0 means "cancel a running job at once", not
// "always fail". With nothing running when SIGTERM comes there is nothing to cancel: the drain is clean
// and Run returns nil (README: exit 0 after a clean drain, 1 only when a job had to be cancelled). The
// clock stands at 09:10, between two hourly sweeps, and the job has no catch-up, so no firing is due
// at any point of the test. Run used to race its zero timer against the drain, lose it nearly every
// time and report ErrShutdownTimeout with an empty list of jobs; so run it several times.
func TestRunIdleShutdownWithZeroTimeout(t *testing.T) {
	for i := range 5 {
		var logs bytes.Buffer
		clk := newClock("2026-11-03T09:10:00Z")
		s, res := newScheduler(t, schedOpts{clock: clk, store: openStore(t, tempDB(t)), shutdown: 0,
			logger: slog.New(slog.NewTextHandler(&logs, nil))}, okJob("sweep", jobs.DefaultSweepSpec))
		ctx, sigterm := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		sigterm()
		if err := <-done; err != nil {
			t.Fatalf("attempt %d: Run of an idle scheduler with shutdown timeout 0 = %v, want nil\n%s", i, err, logs.String())
		}
		if len(res.all) != 0 || strings.Contains(logs.String(), "cancelling running jobs") ||
			!strings.Contains(logs.String(), "scheduler stopped: drained") {
			t.Fatalf("attempt %d: results %+v; logs:\n%s\nwant no firing, no cancellation, a clean drain", i, res.all, logs.String())
		}
	}
}

// TestRunTakesFiringsDueDuringStart: a firing that falls due while Run is starting — here during the
// close's catch-up check, which takes the clock from 09:59:59 to 10:00:02 — runs at once. Start marks
// firings up to 09:59:59 as handled; cron, started after the check, computes its first wake-up from its
// own later clock, so it never wakes for the 10:00 sweep: that firing used to wait for the 11:00
// wake-up and be coalesced into it ("firings missed"), lost. (For the close, a start just before 02:00
// on the 1st lost the month's close until the next restart.) Want: the 10:00 sweep, once, without
// waiting for cron; and nothing for the close, whose check said it was done.
func TestRunTakesFiringsDueDuringStart(t *testing.T) {
	clk := newClock("2026-11-03T09:59:59Z")
	closeJob := okJob("close", jobs.DefaultCloseSpec)
	closeJob.Missed = func(context.Context, time.Time) (bool, error) {
		clk.Set(tm("2026-11-03T10:00:02Z")) // a slow check: the clock passes the 10:00 sweep
		return false, nil
	}
	swept := make(chan jobs.Firing, 10)
	sweep := jobs.ScheduledJob{Name: "sweep", Spec: jobs.DefaultSweepSpec, Timeout: time.Hour,
		Run: func(_ context.Context, f jobs.Firing) (*invoices.Run, error) { swept <- f; return nil, nil }}
	s, res := newScheduler(t, schedOpts{clock: clk, store: openStore(t, tempDB(t)), shutdown: time.Minute}, closeJob, sweep)
	ctx, sigterm := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case f := <-swept:
		if !f.ScheduledAt.Equal(tm("2026-11-03T10:00:00Z")) || f.CatchUp {
			t.Errorf("sweep firing %+v, want the 10:00 firing, not a catch-up", f)
		}
	case err := <-done:
		t.Fatalf("Run returned %v before the sweep ran", err)
	case <-time.After(5 * time.Second):
		t.Errorf("the 10:00 sweep, due while Run started, did not run within 5s")
	}
	sigterm()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if n := len(swept); n != 0 || len(res.of("close", jobs.FiringSucceeded)) != 0 {
		t.Errorf("results %+v: want the sweep once and no close", res.all)
	}
}

// TestCloseFiringDueWhileTheCloseRunsRunsAfterIt: the 02:00 close firing of the 1st, due while a
// catch-up close still runs, is skipped then (skip if still running) but runs as soon as the catch-up
// ends — the job's next wake-up is a month away, and coalescing into it would leave October unclosed.
func TestCloseFiringDueWhileTheCloseRunsRunsAfterIt(t *testing.T) {
	clk := newClock("2026-11-01T01:50:00Z") // the latest close firing, 2026-10-01T02:00, was missed
	entered, release := make(chan jobs.Firing, 4), make(chan struct{})
	closeJob := jobs.ScheduledJob{Name: "close", Spec: jobs.DefaultCloseSpec, Timeout: time.Hour,
		Run: func(_ context.Context, f jobs.Firing) (*invoices.Run, error) {
			entered <- f
			<-release
			return nil, nil
		},
		Missed: func(context.Context, time.Time) (bool, error) { return true, nil }}
	s, res := newScheduler(t, schedOpts{clock: clk, store: openStore(t, tempDB(t))}, closeJob)
	start(t, s)
	done := make(chan struct{})
	go func() { defer close(done); tick(t, s) }() // runs the catch-up, which blocks
	if f := <-entered; !f.ScheduledAt.Equal(tm("2026-10-01T02:00:00Z")) || !f.CatchUp {
		t.Fatalf("first firing %+v, want the catch-up of 2026-10-01T02:00", f)
	}
	clk.Set(tm("2026-11-01T02:10:00Z"))
	tick(t, s) // cron's 02:00 wake-up: skipped, the catch-up still runs
	release <- struct{}{}
	select {
	case f := <-entered:
		if !f.ScheduledAt.Equal(tm("2026-11-01T02:00:00Z")) || f.CatchUp {
			t.Errorf("second firing %+v, want the 2026-11-01T02:00 firing", f)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the 02:00 close firing, skipped while the catch-up ran, did not run after it")
	}
	release <- struct{}{}
	<-done
	if n := len(res.of("close", jobs.FiringSucceeded)); n != 2 {
		t.Errorf("%d close firings succeeded, want 2: %+v", n, res.all)
	}
}

// TestRunWakesOnTheSchedulersClock: a scheduler whose clock runs ahead of the wall clock (`billrun
// schedule --at`) fires when a firing falls due by its clock. The clock starts at 09:59:58.5 and
// advances with the wall clock, so the 10:00 sweep is due 1.5 s after Run starts (and the close's
// catch-up check says it has nothing to do). cron's timers run on the wall clock: unshifted, its wake-up
// for the job came at the wall clock's next full hour, so the 10:00 firing ran up to an hour late,
// by the scheduler's clock at 10:59 say, while /healthz showed next 11:00. Want: the 10:00 sweep,
// once, within a few seconds, started at or after 10:00 by the scheduler's clock.
func TestRunWakesOnTheSchedulersClock(t *testing.T) {
	base, wallStart := tm("2026-11-03T09:59:58.5Z"), time.Now()
	now := func() time.Time { return base.Add(time.Since(wallStart)) }
	swept := make(chan jobs.Firing, 10)
	sweep := jobs.ScheduledJob{Name: "sweep", Spec: jobs.DefaultSweepSpec, Timeout: time.Hour,
		Run: func(_ context.Context, f jobs.Firing) (*invoices.Run, error) { swept <- f; return nil, nil }}
	res := &results{}
	s, err := jobs.NewScheduler(jobs.SchedulerConfig{Jobs: []jobs.ScheduledJob{sweep}, Store: openStore(t, tempDB(t)),
		Logger: testLogger(t), Now: now, ShutdownTimeout: time.Minute, OnFinish: res.add})
	if err != nil {
		t.Fatal(err)
	}
	ctx, sigterm := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case f := <-swept:
		if !f.ScheduledAt.Equal(tm("2026-11-03T10:00:00Z")) || f.CatchUp || f.StartedAt.Before(f.ScheduledAt) {
			t.Errorf("sweep firing %+v, want the 10:00 firing, started at or after 10:00", f)
		}
	case err := <-done:
		t.Fatalf("Run returned %v before the sweep ran", err)
	case <-time.After(6 * time.Second):
		t.Errorf("the 10:00 sweep, due 1.5 s after start by the scheduler's clock, did not run within 6 s (Jobs: %+v)", s.Jobs())
	}
	sigterm()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if n := len(res.all); n != 1 {
		t.Errorf("results %+v: want the sweep once", res.all)
	}
}

// TestScheduledCloseWaitsForARunOfItsPeriod: a close firing that finds its period's lock held by a
// run that does not close it (a reconcile or export, reading; a sweep of the month) waits for it and
// closes the month, rather than skip and leave the month's invoices unissued until the scheduler
// restarts; one whose period a close by hand closed while it waited is skipped, and closes nothing.
func TestScheduledCloseWaitsForARunOfItsPeriod(t *testing.T) {
	oct := rating.Period{Year: 2026, Month: time.October}
	for _, tc := range []struct {
		name      string
		closeHeld bool // the holder closes the period before it releases the lock
		want      jobs.FiringStatus
		closes    int
	}{
		{"held by a reconcile", false, jobs.FiringSucceeded, 1},
		{"held by a close by hand", true, jobs.FiringLocked, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempDB(t)
			st, other := openStore(t, path), openStore(t, path)
			ctx := t.Context()
			take := other.LockReading
			if tc.closeHeld {
				take = other.Lock
			}
			release, err := take(ctx, invoices.PeriodLock(oct), false)
			if err != nil {
				t.Fatal(err)
			}
			clk := newClock("2026-11-01T01:59:59Z")
			s, res := newScheduler(t, schedOpts{clock: clk, store: st, holder: "replica-0"},
				newJobs(t, st, &emptyUsage{}).ScheduledClose(jobs.DefaultCloseSpec, time.Hour, 0))
			start(t, s)
			clk.Set(tm("2026-11-01T02:00:00Z"))
			done := make(chan struct{})
			go func() { defer close(done); tick(t, s) }()
			time.Sleep(500 * time.Millisecond)
			if tc.closeHeld {
				end := tm("2026-11-01T02:00:01Z")
				run := &invoices.Run{ID: "close-by-hand", Kind: invoices.RunClose, Period: oct, Scope: "all",
					At: tm("2026-11-01T02:00:00Z"), StartedAt: tm("2026-11-01T02:00:00Z"), Status: invoices.RunRunning}
				if err := other.StartRun(ctx, run); err != nil {
					t.Fatal(err)
				}
				run.Status, run.FinishedAt = invoices.RunSucceeded, &end
				if err := other.FinishRun(ctx, run); err != nil {
					t.Fatal(err)
				}
			}
			release()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the close firing did not return after the lock was released")
			}
			// (The scheduler also catches up the close of 2026-09 on start: an empty database.)
			var got []jobs.FiringResult
			for _, r := range res.of("close", tc.want) {
				if r.ScheduledAt.Equal(tm("2026-11-01T02:00:00Z")) {
					got = append(got, r)
				}
			}
			if len(got) != 1 {
				t.Fatalf("results %+v: want the 02:00 close firing %s", res.all, tc.want)
			}
			var closes int
			for _, r := range res.all {
				if r.Run != nil && r.Run.Kind == invoices.RunClose && r.Run.Period == oct {
					closes++
				}
			}
			if tc.closeHeld {
				closes++ // the close by hand
			}
			if closes != tc.closes {
				t.Errorf("%d closes of 2026-10, want %d; results %+v", closes, tc.closes, res.all)
			}
			if ok, err := st.Closed(ctx, oct); err != nil || !ok {
				t.Errorf("Closed(2026-10) = %v, %v; want the month closed", ok, err)
			}
		})
	}
}
