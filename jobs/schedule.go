package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"billrun/invoices"
	"billrun/rating"
)

// Default cron specs of `billrun schedule`: standard five-field specs, evaluated in UTC.
const (
	DefaultCloseSpec     = "0 2 1 * *" // 02:00 UTC on the 1st: close the previous month
	DefaultSweepSpec     = "0 * * * *" // every hour: the standing sweep
	DefaultReconcileSpec = "0 6 * * *" // 06:00 UTC every day: reconcile the previous month
)

const (
	// claimLeaseGrace is added to a job's timeout to make its claim's lease. A job's context ends at its
	// timeout, so a claim still marked running after the lease belongs to a scheduler that died, and a
	// retry may take it over.
	claimLeaseGrace = 5 * time.Minute
	// bookkeepingTimeout bounds the claim of a firing, the record of its end and the catch-up check,
	// which run outside the job's own timeout.
	bookkeepingTimeout = 30 * time.Second
	// stopGrace is how long a shutdown waits for jobs to return once their contexts were cancelled.
	stopGrace = 30 * time.Second
)

// ErrShutdownTimeout is returned by Scheduler.Run when jobs were still running at the end of the
// shutdown timeout and had to be cancelled.
var ErrShutdownTimeout = errors.New("shutdown timeout passed with jobs running; they were cancelled")

// Firing is one run of a scheduled job.
type Firing struct {
	Job         string
	ScheduledAt time.Time // the cron time it fell due, UTC: the key of its claim
	StartedAt   time.Time // when this scheduler started it, by its clock, UTC (jobs run at ScheduledAt; a catch-up close not interrupted before at this, in whole seconds)
	CatchUp     bool      // run on start because the firing had not been done (ScheduledJob.Missed)
}

// RunFunc runs one firing of a job. ctx ends at the job's timeout, or when a shutdown's deadline passes:
// the job must then stop at a safe point. It returns the run record it made, if any (its counts and
// totals feed the metrics), and an error wrapping invoices.ErrLocked when another run holds its lock,
// which makes the firing skipped rather than failed.
type RunFunc func(ctx context.Context, f Firing) (*invoices.Run, error)

// ScheduledJob is one job of the scheduler.
type ScheduledJob struct {
	Name    string        // "close", "sweep", "reconcile": names its claims, logs and metrics
	Spec    string        // standard five-field cron spec, in UTC; "" disables the job
	Timeout time.Duration // the deadline of each run
	Run     RunFunc       // nil: the job is not available in this build and is not registered
	// Missed, when set, reports whether the firing at scheduledAt has not been done. On start the
	// scheduler asks it about the job's latest firing and, if so, runs that firing at once (catch-up).
	Missed func(ctx context.Context, scheduledAt time.Time) (bool, error)
}

// FiringStatus is how a firing ended.
type FiringStatus string

// Firing statuses.
const (
	FiringSucceeded FiringStatus = "succeeded"
	FiringFailed    FiringStatus = "failed"
	FiringPanicked  FiringStatus = "panicked"        // the job panicked; the panic was recovered
	FiringLocked    FiringStatus = "skipped_locked"  // another run held the job's run lock
	FiringClaimed   FiringStatus = "skipped_claimed" // another scheduler had claimed the firing
)

// FiringResult is how a firing ended.
type FiringResult struct {
	Firing
	FinishedAt time.Time
	Status     FiringStatus
	Err        error
	Run        *invoices.Run // the job's run record, when it made one
}

// JobState is what the scheduler knows of a job: what /healthz shows.
type JobState struct {
	Name        string
	Spec        string
	Enabled     bool
	Timeout     time.Duration
	Next        time.Time     // the next firing; zero when disabled
	Running     *Firing       // the firing running now, if any
	Last        *FiringResult // the latest firing this scheduler handled, if any
	LastSuccess time.Time     // when the latest successful firing of this scheduler finished
}

// ScheduleStore is what the scheduler needs from the database: claims of firings, so that schedulers
// sharing the database run each firing once. invoices/store implements it. Times are the scheduler's.
type ScheduleStore interface {
	// ClaimScheduled claims the firing of job at scheduledAt for holder until leaseUntil and reports
	// whether holder got it: only the first claim of a firing does.
	ClaimScheduled(ctx context.Context, job string, scheduledAt time.Time, holder string, now, leaseUntil time.Time) (bool, error)
	// ReclaimScheduled is ClaimScheduled for a retry: it also takes a firing whose attempt failed or was
	// skipped, or whose holder's lease ended before now.
	ReclaimScheduled(ctx context.Context, job string, scheduledAt time.Time, holder string, now, leaseUntil time.Time) (bool, error)
	// FinishScheduled records the end of holder's attempt: status "succeeded", "failed" or "skipped".
	FinishScheduled(ctx context.Context, job string, scheduledAt time.Time, holder, status, errText string, finishedAt time.Time) error
}

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	Jobs            []ScheduledJob
	Store           ScheduleStore
	Logger          *slog.Logger
	Now             func() time.Time   // the clock; nil: time.Now
	ShutdownTimeout time.Duration      // how long Run lets running jobs finish after its context ends
	Holder          string             // names this scheduler in claims; "": host/pid/random
	OnFinish        func(FiringResult) // called after every firing, e.g. for metrics; may be nil
}

// Scheduler runs jobs on cron schedules in UTC, robfig/cron driving them at their times. Each firing is
// claimed in the database first, so schedulers sharing it run each firing once, and runs with its own
// timeout; a job that finds its run lock held is skipped.
//
// Which firing is due is computed from the injected clock, not from cron's timers: cron only wakes a
// job, which then runs its latest firing at or before Now that it has not handled. Tests call Start and
// Tick with a fake clock and never sleep; Run lets cron call the same code.
type Scheduler struct {
	cfg     SchedulerConfig
	log     *slog.Logger
	cron    *cron.Cron
	entries []*entry

	mu         sync.Mutex
	workCtx    context.Context // parent of every job's context; not cancelled by Run's context
	cancelWork context.CancelCauseFunc
	catchUps   sync.WaitGroup
	stopping   chan struct{} // closed when Run's shutdown begins
	// offset is the scheduler's clock minus the wall clock, measured by Start (nanoseconds): cron's
	// timers run on the wall clock, so each job's schedule is shifted by it (clockSchedule) to wake cron
	// when a firing falls due by the scheduler's clock — with --at, the clock of `billrun schedule`
	// runs ahead of or behind the wall clock by a constant.
	offset atomic.Int64
}

type entry struct {
	job     ScheduledJob
	enabled bool
	sched   cron.Schedule
	wrapped cron.Job // Recover(SkipIfStillRunning(runDue)): what cron and Tick call
	log     *slog.Logger

	// guarded by Scheduler.mu
	handled     time.Time // firings up to here were handled or skipped
	pending     []Firing  // catch-up firings to run before anything else
	running     *Firing
	last        *FiringResult
	lastSuccess time.Time
}

// NewScheduler validates cfg and builds the scheduler: cron in UTC, logging through cfg.Logger, every
// job wrapped in panic recovery and skip-if-still-running. A job with an empty spec or a nil Run is
// disabled and logged as such. It returns an error naming the job whose spec or timeout is invalid.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Logger == nil {
		return nil, errors.New("jobs: scheduler needs a store and a logger")
	}
	if cfg.ShutdownTimeout < 0 {
		return nil, fmt.Errorf("jobs: shutdown timeout %s: want 0 or more", cfg.ShutdownTimeout)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		cfg.Holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8])
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger, stopping: make(chan struct{})}
	clog := cronLogger{cfg.Logger}
	// Built explicitly, never cron's defaults (local time, no recovery, logging to stdout). The chain is
	// Recover(SkipIfStillRunning(job)), as cron.WithChain(Recover, SkipIfStillRunning) would build it;
	// SkipIfStillRunning is applied per job so that its "skip" log names the job.
	s.cron = cron.New(cron.WithLocation(time.UTC), cron.WithLogger(clog), cron.WithChain(cron.Recover(clog)))
	seen := map[string]bool{}
	for _, job := range cfg.Jobs {
		if job.Name == "" || seen[job.Name] {
			return nil, fmt.Errorf("jobs: scheduled job %q: want a unique, non-empty name", job.Name)
		}
		seen[job.Name] = true
		e := &entry{job: job, log: cfg.Logger.With("job", job.Name)}
		s.entries = append(s.entries, e)
		if job.Spec == "" || job.Run == nil {
			continue
		}
		sched, err := ParseSpec(job.Spec)
		if err != nil {
			return nil, fmt.Errorf("jobs: scheduled job %s: %w", job.Name, err)
		}
		if job.Timeout <= 0 {
			return nil, fmt.Errorf("jobs: scheduled job %s: timeout %s: want more than 0", job.Name, job.Timeout)
		}
		e.enabled, e.sched = true, sched
		skip := cron.SkipIfStillRunning(cronLogger{e.log})
		id := s.cron.Schedule(clockSchedule{s: s, inner: sched}, skip(cron.FuncJob(func() { s.runDue(e) })))
		e.wrapped = s.cron.Entry(id).WrappedJob
	}
	return s, nil
}

// ParseSpec parses a standard five-field cron spec ("0 2 1 * *") or a descriptor such as @hourly,
// evaluated in UTC. It returns an error for a spec that does not parse, that names a time zone (TZ=,
// CRON_TZ=: billrun's schedules are in UTC), or that is an interval (@every): its firings would depend
// on when each scheduler started, so schedulers sharing a database could not agree on them.
func ParseSpec(spec string) (cron.Schedule, error) {
	if s := strings.TrimSpace(spec); strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return nil, fmt.Errorf("cron spec %q: schedules are in UTC; remove the time zone", spec)
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("cron spec %q: %w", spec, err)
	}
	if _, ok := sched.(*cron.SpecSchedule); !ok {
		return nil, fmt.Errorf("cron spec %q: intervals (@every) are not supported; give fixed times, e.g. \"*/30 * * * *\"", spec)
	}
	return sched, nil
}

// clockSchedule is a job's schedule as cron sees it: cron computes wake-ups from the wall clock, and
// the firings are times of the scheduler's clock, offset from it by Scheduler.offset. Without the shift,
// a scheduler whose clock is not the wall clock (`billrun schedule --at`) was woken at the wall
// clock's firing times: a firing due by its clock ran up to an interval late — an hour for the sweep,
// a month for the close — and /healthz showed a next firing that passed without running.
type clockSchedule struct {
	s     *Scheduler
	inner cron.Schedule
}

func (c clockSchedule) Next(wall time.Time) time.Time {
	off := time.Duration(c.s.offset.Load())
	next := c.inner.Next(wall.Add(off))
	if next.IsZero() {
		return next
	}
	return next.Add(-off)
}

// LastFiring returns the latest firing of sched at or before now (UTC), or false when there is none
// within five years.
func LastFiring(sched cron.Schedule, now time.Time) (time.Time, bool) {
	now = now.UTC()
	// Widen the window until it holds a firing, then walk forward to the last one in it: a few steps
	// for hourly, daily or monthly specs.
	for _, back := range []time.Duration{time.Hour, 25 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 5 * 366 * 24 * time.Hour} {
		t := sched.Next(now.Add(-back))
		if t.IsZero() || t.After(now) {
			continue
		}
		for {
			n := sched.Next(t)
			if n.IsZero() || n.After(now) {
				return t, true
			}
			t = n
		}
	}
	return time.Time{}, false
}

func (s *Scheduler) now() time.Time { return s.cfg.Now().UTC() }

// Start prepares the scheduler at the current time: firings after it are due as they come, and for
// every job with a Missed check, its latest firing at or before now is queued to run first when
// Missed reports it not done (catch-up). Start runs nothing itself. Run calls it; tests call it and
// then Tick. Jobs' contexts derive from ctx's values but are not cancelled with it: Run's shutdown
// cancels them. It returns an error when a Missed check fails, or when called twice.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.workCtx != nil {
		s.mu.Unlock()
		return errors.New("jobs: scheduler already started")
	}
	s.workCtx, s.cancelWork = context.WithCancelCause(context.WithoutCancel(ctx))
	now := s.now()
	// The scheduler's clock is read before the wall clock, so the offset is never above the true one
	// and cron never wakes a job before its firing is due by the scheduler's clock.
	s.offset.Store(int64(now.Sub(time.Now())))
	for _, e := range s.entries {
		e.handled = now
	}
	s.mu.Unlock()

	for _, e := range s.entries {
		if !e.enabled {
			reason := "no schedule (empty spec)"
			if e.job.Run == nil {
				reason = "not available in this build"
			}
			e.log.Info("scheduled job disabled", "reason", reason)
			continue
		}
		if e.job.Missed == nil {
			continue
		}
		at, ok := LastFiring(e.sched, now)
		if !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, bookkeepingTimeout)
		missed, err := e.job.Missed(cctx, at)
		cancel()
		if err != nil {
			return fmt.Errorf("schedule: catch-up check of %s firing %s: %w", e.job.Name, at.Format(time.RFC3339), err)
		}
		if missed {
			e.log.Info("catching up a missed firing", "scheduled_at", at)
			s.mu.Lock()
			e.pending = append(e.pending, Firing{Job: e.job.Name, ScheduledAt: at, CatchUp: true})
			s.mu.Unlock()
		}
	}
	return nil
}

// Tick runs, before it returns, every firing due by the scheduler's clock: queued catch-ups, then for
// each job its latest firing since the previous tick (earlier ones missed meanwhile are skipped, as cron
// does). Each goes through the wrapped job cron calls: panic recovery, skip if still running, the claim.
// It returns an error when the scheduler was not started.
func (s *Scheduler) Tick() error {
	s.mu.Lock()
	started := s.workCtx != nil
	s.mu.Unlock()
	if !started {
		return errors.New("jobs: Tick before Start")
	}
	for _, e := range s.entries {
		if e.enabled {
			e.wrapped.Run()
		}
	}
	return nil
}

// Run starts the scheduler (Start), runs catch-ups and any firing that fell due meanwhile at once, and
// lets cron run the jobs at their times until ctx ends. Then it stops taking new firings and waits for running jobs; when they have not
// finished within the shutdown timeout it cancels their contexts — jobs stop at a safe point, so no
// document is left half-issued — and returns an error wrapping ErrShutdownTimeout. It returns nil
// after a clean drain.
func (s *Scheduler) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	s.cron.Start()
	// Entries returns once cron's loop has computed each entry's first wake-up from its own clock,
	// which is later than Start's: a firing that fell due in between (while the catch-up checks ran,
	// say) would get no wake-up of its own and be coalesced into the next one — a month later for the
	// close. So after it, every job with a catch-up queued or a firing due since Start runs now; a
	// firing due later is cron's, and one taken here is handled, so cron's wake-up finds it done.
	s.cron.Entries()
	for _, e := range s.entries {
		if s.hasDue(e) {
			s.catchUps.Go(e.wrapped.Run)
		}
	}
	for _, st := range s.Jobs() {
		if st.Enabled {
			s.log.Info("scheduled job registered", "job", st.Name, "spec", st.Spec, "timeout", st.Timeout, "next", st.Next)
		}
	}
	<-ctx.Done()
	return s.shutdown()
}

// Stopping returns a channel that is closed when Run begins its shutdown.
func (s *Scheduler) Stopping() <-chan struct{} { return s.stopping }

func (s *Scheduler) shutdown() error {
	close(s.stopping)
	s.log.Info("scheduler stopping: no new firings; waiting for running jobs", "shutdown_timeout", s.cfg.ShutdownTimeout,
		"running", s.runningJobs())
	cronDone := s.cron.Stop()
	drained := make(chan struct{})
	go func() {
		<-cronDone.Done()
		s.catchUps.Wait()
		close(drained)
	}()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-drained:
		s.cancelWork(errors.New("scheduler stopped"))
		s.log.Info("scheduler stopped: drained")
		return nil
	case <-timer.C:
	}
	// The jobs running at the deadline are the ones that have to be cancelled. There may be none — a
	// shutdown timeout of 0 with the scheduler idle (the timer then fires before the drain is seen), or
	// a job that ended just then: the drain is clean, and the cancellation only stops a firing that
	// would otherwise start now.
	running := s.runningJobs()
	if len(running) > 0 {
		s.log.Warn("shutdown timeout passed; cancelling running jobs", "running", running)
	}
	s.cancelWork(ErrShutdownTimeout)
	select {
	case <-drained:
	case <-time.After(stopGrace):
		still := s.runningJobs()
		s.log.Error("jobs did not return after cancellation; exiting anyway", "running", still)
		if len(running) == 0 {
			running = append(still, "a firing's claim or record")
		}
	}
	if len(running) == 0 {
		s.log.Info("scheduler stopped: drained")
		return nil
	}
	return fmt.Errorf("schedule: %w: %s", ErrShutdownTimeout, strings.Join(running, ", "))
}

func (s *Scheduler) runningJobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, e := range s.entries {
		if e.running != nil {
			names = append(names, e.job.Name)
		}
	}
	return names
}

// Jobs returns the state of every job, in configuration order.
func (s *Scheduler) Jobs() []JobState {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]JobState, 0, len(s.entries))
	for _, e := range s.entries {
		st := JobState{Name: e.job.Name, Spec: e.job.Spec, Enabled: e.enabled, Timeout: e.job.Timeout,
			LastSuccess: e.lastSuccess}
		if e.enabled {
			st.Next = e.sched.Next(now)
		}
		if e.running != nil {
			f := *e.running
			st.Running = &f
		}
		if e.last != nil {
			r := *e.last
			st.Last = &r
		}
		out = append(out, st)
	}
	return out
}

// runDue runs what is due for e at the time of the call, one firing after the other: cron's wake-up of
// the job, and Tick's. Firings that fall due while it runs are skipped by SkipIfStillRunning and
// coalesced into the next wake-up — except for a job with a Missed check (the close), whose next
// wake-up may be a month away: the latest of its firings that fell due meanwhile runs as soon as the
// running one ends (a catch-up that ran past 02:00 on the 1st, say, would otherwise leave that
// month unclosed until a restart), unless the scheduler is stopping.
func (s *Scheduler) runDue(e *entry) {
	for {
		due := s.takeDue(e, s.now())
		for _, f := range due {
			s.fire(e, f)
		}
		if len(due) == 0 || e.job.Missed == nil {
			return
		}
		select {
		case <-s.stopping:
			return
		default:
		}
	}
}

// hasDue reports whether e is enabled and has a catch-up queued or a firing due by now.
func (s *Scheduler) hasDue(e *entry) bool {
	if !e.enabled {
		return false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	next := e.sched.Next(e.handled)
	return len(e.pending) > 0 || !next.IsZero() && !next.After(now)
}

// takeDue returns e's queued catch-ups and its latest firing in (handled, now], and marks them handled.
func (s *Scheduler) takeDue(e *entry, now time.Time) []Firing {
	s.mu.Lock()
	defer s.mu.Unlock()
	due := e.pending
	e.pending = nil
	if next := e.sched.Next(e.handled); !next.IsZero() && !next.After(now) {
		latest, _ := LastFiring(e.sched, now)
		if latest.After(next) {
			e.log.Warn("firings missed while the scheduler was busy or paused; running the latest",
				"first_missed", next, "scheduled_at", latest)
		}
		e.handled = latest
		due = append(due, Firing{Job: e.job.Name, ScheduledAt: latest})
	}
	return due
}

// fire claims f and runs it with the job's timeout, recording how it ended.
func (s *Scheduler) fire(e *entry, f Firing) {
	log := e.log.With("scheduled_at", f.ScheduledAt)
	if f.CatchUp {
		log = log.With("catch_up", true)
	}
	f.StartedAt = s.now()
	claim := s.cfg.Store.ClaimScheduled
	if f.CatchUp {
		claim = s.cfg.Store.ReclaimScheduled
	}
	cctx, cancel := context.WithTimeout(s.workCtx, bookkeepingTimeout)
	got, err := claim(cctx, f.Job, f.ScheduledAt, s.cfg.Holder, f.StartedAt, f.StartedAt.Add(e.job.Timeout+claimLeaseGrace))
	cancel()
	if err != nil {
		s.finish(e, log, FiringResult{Firing: f, Status: FiringFailed, Err: fmt.Errorf("schedule %s: %w", f.Job, err)})
		return
	}
	if !got {
		s.finish(e, log, FiringResult{Firing: f, Status: FiringClaimed})
		return
	}

	s.mu.Lock()
	e.running = &f
	s.mu.Unlock()
	run, err := s.call(e, f)
	res := FiringResult{Firing: f, Run: run, Err: err, Status: FiringSucceeded}
	claimStatus := "succeeded"
	var pe *panicError
	switch {
	case errors.As(err, &pe):
		res.Status, claimStatus = FiringPanicked, "failed"
	case errors.Is(err, invoices.ErrLocked):
		res.Status, claimStatus = FiringLocked, "skipped"
	case err != nil:
		res.Status, claimStatus = FiringFailed, "failed"
	}
	errText := ""
	if err != nil {
		errText = err.Error()
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(s.workCtx), bookkeepingTimeout)
	if ferr := s.cfg.Store.FinishScheduled(fctx, f.Job, f.ScheduledAt, s.cfg.Holder, claimStatus, errText, s.now()); ferr != nil {
		// The firing's own outcome stands; a retry may run it again, which every job tolerates.
		log.Warn("recording the end of the firing failed", "error", ferr)
	}
	cancel()
	s.finish(e, log, res)
}

// call runs the job under its timeout, turning a panic into a panicError: recovered here rather than
// by cron.Recover alone, so that it is recorded, and because SkipIfStillRunning would never run the
// job again after a panic went through it.
func (s *Scheduler) call(e *entry, f Firing) (run *invoices.Run, err error) {
	ctx, cancel := context.WithTimeoutCause(s.workCtx, e.job.Timeout,
		fmt.Errorf("%s: timeout %s passed", e.job.Name, e.job.Timeout))
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: debug.Stack()}
		}
	}()
	return e.job.Run(ctx, f)
}

// finish records res as e's last firing, logs it once and tells OnFinish.
func (s *Scheduler) finish(e *entry, log *slog.Logger, res FiringResult) {
	res.FinishedAt = s.now()
	s.mu.Lock()
	e.running = nil
	e.last = &res
	if res.Status == FiringSucceeded {
		e.lastSuccess = res.FinishedAt
	}
	s.mu.Unlock()

	attrs := []any{"status", string(res.Status), "duration", res.FinishedAt.Sub(res.StartedAt)}
	if res.Run != nil {
		attrs = append(attrs, "run_id", res.Run.ID)
	}
	var pe *panicError
	switch {
	case errors.As(res.Err, &pe):
		log.Error("scheduled job panicked", append(attrs, "error", res.Err, "stack", string(pe.stack))...)
	case res.Status == FiringFailed:
		log.Error("scheduled job failed", append(attrs, "error", res.Err)...)
	case res.Status == FiringLocked:
		log.Info("scheduled job skipped: another run holds its lock", append(attrs, "error", res.Err)...)
	case res.Status == FiringClaimed:
		log.Info("scheduled job skipped: another scheduler claimed the firing", attrs...)
	default:
		log.Info("scheduled job finished", attrs...)
	}
	if s.cfg.OnFinish != nil {
		s.cfg.OnFinish(res)
	}
}

// panicError is a recovered panic of a job.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// cronLogger adapts slog to cron.Logger. cron's routine messages (start, wake, run, schedule) go to
// Debug; a skipped firing to Info; errors (a recovered panic) to Error.
type cronLogger struct{ log *slog.Logger }

var _ cron.Logger = cronLogger{}

func (l cronLogger) Info(msg string, keysAndValues ...any) {
	if msg == "skip" {
		l.log.Info("cron: firing skipped: the job's previous run is still running", keysAndValues...)
		return
	}
	l.log.Debug("cron: "+msg, keysAndValues...)
}

func (l cronLogger) Error(err error, msg string, keysAndValues ...any) {
	l.log.Error("cron: "+msg, slices.Concat([]any{"error", err}, keysAndValues)...)
}

// catchUpAt is the --at of a caught-up close of p. One that finishes a close of p that was
// interrupted after it issued invoices (its latest attempt, a close, did not succeed — killed, stopped
// by SIGTERM, failed — and p has documents) runs at that close's --at, so that all the period's
// invoices carry one issue date, as an uninterrupted close gives them. Otherwise no invoice of p was
// issued, and it runs at the time the scheduler starts it, in whole seconds: dated at the missed firing,
// invoices issued days late would be due, or past due, before anyone received them — and an invoice is
// dated when it is issued.
func (j *Jobs) catchUpAt(ctx context.Context, p rating.Period, f Firing) time.Time {
	r, err := j.Store.LatestAttempt(ctx, p)
	if err == nil && r.Kind == invoices.RunClose && r.Status != invoices.RunSucceeded {
		var issued bool
		if issued, err = j.Store.HasDocuments(ctx, p); err == nil && issued {
			return r.At.UTC()
		}
	}
	if err != nil && !errors.Is(err, invoices.ErrNotFound) {
		j.Logger.Warn("schedule: could not tell whether the catch-up close finishes an interrupted one; it runs at its start time",
			"period", p.String(), "error", err)
	}
	return f.StartedAt.UTC().Truncate(time.Second)
}

// PreviousPeriod returns the month before the one containing t: the period a close or reconcile firing
// at t works on.
func PreviousPeriod(t time.Time) rating.Period { return rating.PeriodOf(t.UTC()).Prev() }

// ScheduledClose returns the scheduler's close job. A firing closes the month before its scheduled
// time (PreviousPeriod), with that scheduled time as the run's --at (issue and due dates, standing):
// a run DESIGN §10 can reproduce exactly (`close --at 2026-11-01T02:00:00Z`), rather than one dated
// when this scheduler got to start it, to the nanosecond. When another run holds the period it waits
// for it (under the job's timeout) — a reconcile, export, sweep or rerun of the period holds its lock
// too, and a firing skipped for one would leave the month unclosed until the scheduler restarts, a
// month's invoices not issued — and is skipped only if that run closed the period. A firing whose period has no succeeded close, nor a succeeded rerun of every
// account, is Missed: the scheduler catches it up on start (a rerun of some accounts, which issues
// nothing for the others, does not close the month), at catchUpAt.
func (j *Jobs) ScheduledClose(spec string, timeout time.Duration, maxRejects int64) ScheduledJob {
	return ScheduledJob{Name: "close", Spec: spec, Timeout: timeout,
		Run: func(ctx context.Context, f Firing) (*invoices.Run, error) {
			p, at := PreviousPeriod(f.ScheduledAt), f.ScheduledAt
			if f.CatchUp {
				at = j.catchUpAt(ctx, p, f)
			}
			sum, err := j.Close(ctx, p, CloseOptions{At: at, MaxRejects: maxRejects, Wait: true, UnlessClosed: true})
			if sum != nil {
				return sum.Run, err
			}
			return nil, err
		},
		Missed: func(ctx context.Context, scheduledAt time.Time) (bool, error) {
			p := PreviousPeriod(scheduledAt)
			closed, err := j.Store.Closed(ctx, p)
			if err != nil {
				return false, err
			}
			return !closed, nil
		},
	}
}

// ScheduledSweep returns the scheduler's sweep job: each firing sweeps standing at its scheduled time.
func (j *Jobs) ScheduledSweep(spec string, timeout time.Duration) ScheduledJob {
	return ScheduledJob{Name: "sweep", Spec: spec, Timeout: timeout,
		Run: func(ctx context.Context, f Firing) (*invoices.Run, error) {
			sum, err := j.Sweep(ctx, f.ScheduledAt, false)
			if sum != nil {
				return sum.Run, err
			}
			return nil, err
		},
	}
}
