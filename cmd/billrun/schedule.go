package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"billrun/invoices"
	"billrun/invoices/accountsfile"
	"billrun/invoices/store"
	"billrun/jobs"
	"billrun/rating"
)

var _ jobs.ScheduleStore = (*store.Store)(nil)

// Defaults of `billrun schedule` beyond the cron specs (jobs.Default*Spec).
const (
	defaultListen           = ":8080"
	defaultCloseTimeout     = 4 * time.Hour
	defaultSweepTimeout     = 50 * time.Minute // below the hourly period
	defaultReconcileTimeout = time.Hour
	defaultShutdownTimeout  = 5 * time.Minute
	// disabled, as a spec or --listen, turns the job or the listener off. An empty flag value does too,
	// but an empty environment variable cannot be told from an unset one.
	disabled = "off"
	// httpShutdownTimeout bounds the HTTP server's shutdown once the scheduler has drained.
	httpShutdownTimeout = 5 * time.Second
)

// scheduleConfig holds the flags of `billrun schedule` beyond the shared ones.
type scheduleConfig struct {
	closeSpec, sweepSpec, reconcileSpec          string
	closeTimeout, sweepTimeout, reconcileTimeout time.Duration
	shutdownTimeout                              time.Duration
	listen                                       string
}

func runSchedule(ctx context.Context, e *environment, args []string) error {
	c, sc, err := e.parseSchedule(args)
	if err != nil {
		return err
	}
	log := e.logger(c)
	st, err := openStore(ctx, c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := e.newDaemon(ctx, c, sc, log, st, st, scheduleClock(c.at, time.Now))
	if err != nil {
		return err
	}
	return d.run(ctx, sc.listen)
}

// parseSchedule parses the flags of `billrun schedule` and checks them.
func (e *environment) parseSchedule(args []string) (*config, *scheduleConfig, error) {
	var c config
	fs := e.flags("schedule", "schedule [flags]", &c,
		flagSpec{db: true, usage: true, prices: true, accounts: true, out: true, rejects: true, at: true})
	sc := &scheduleConfig{}
	// Defaults only: parse sets every flag not on the command line from its BILLRUN_* variable.
	str := func(p *string, name, def, usage string) { fs.StringVar(p, name, def, usage+" (env "+envName(name)+")") }
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		fs.DurationVar(p, name, def, usage+" (env "+envName(name)+")")
	}
	str(&sc.closeSpec, "schedule-close", jobs.DefaultCloseSpec, `cron spec, UTC, of the close of the previous month; "off" disables`)
	str(&sc.sweepSpec, "schedule-sweep", jobs.DefaultSweepSpec, `cron spec, UTC, of the standing sweep; "off" disables`)
	str(&sc.reconcileSpec, "schedule-reconcile", jobs.DefaultReconcileSpec, `cron spec, UTC, of the reconcile of the previous month; "off" disables`)
	dur(&sc.closeTimeout, "close-timeout", defaultCloseTimeout, "deadline of each scheduled close")
	dur(&sc.sweepTimeout, "sweep-timeout", defaultSweepTimeout, "deadline of each scheduled sweep")
	dur(&sc.reconcileTimeout, "reconcile-timeout", defaultReconcileTimeout, "deadline of each scheduled reconcile")
	dur(&sc.shutdownTimeout, "shutdown-timeout", defaultShutdownTimeout, "on SIGTERM, how long a running job may finish before it is cancelled at a safe point")
	str(&sc.listen, "listen", defaultListen, `address of /healthz and /metrics; "off" disables`)
	if err := e.parse(fs, &c, args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, usagef("schedule takes no arguments, got %q", fs.Args())
	}
	if _, err := c.atTime(); err != nil {
		return nil, nil, err
	}
	for _, p := range []*string{&sc.closeSpec, &sc.sweepSpec, &sc.reconcileSpec, &sc.listen} {
		if strings.TrimSpace(*p) == disabled {
			*p = ""
		}
	}
	// Errors name the flag, or its BILLRUN_* variable when the value came from there. A listen address
	// that cannot name a port is bad usage found now, not after the store opened and imported.
	if sc.listen != "" {
		if _, port, err := net.SplitHostPort(sc.listen); err != nil {
			return nil, nil, usagef("%s %q: %v (want HOST:PORT, e.g. :8080, or off)", c.flagName("listen"), sc.listen, err)
		} else if _, err := net.LookupPort("tcp", port); err != nil {
			return nil, nil, usagef("%s %q: port %q: %v (want HOST:PORT, e.g. :8080, or off)", c.flagName("listen"), sc.listen, port, err)
		}
	}
	for _, s := range []struct{ name, spec string }{{"schedule-close", sc.closeSpec}, {"schedule-sweep", sc.sweepSpec},
		{"schedule-reconcile", sc.reconcileSpec}} {
		if s.spec == "" {
			continue
		}
		if _, err := jobs.ParseSpec(s.spec); err != nil {
			return nil, nil, usagef("%s: %v (five fields: minute hour day-of-month month day-of-week)", c.flagName(s.name), err)
		}
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"close-timeout", sc.closeTimeout}, {"sweep-timeout", sc.sweepTimeout}, {"reconcile-timeout", sc.reconcileTimeout}} {
		if t.d <= 0 {
			return nil, nil, usagef("%s %s: want a positive duration", c.flagName(t.name), t.d)
		}
	}
	if sc.shutdownTimeout < 0 {
		return nil, nil, usagef("%s %s: want 0 or more", c.flagName("shutdown-timeout"), sc.shutdownTimeout)
	}
	if err := c.resolveDefaults(true, true); err != nil {
		return nil, nil, err
	}
	return &c, sc, nil
}

// scheduleClock is the scheduler's clock: the wall clock, or with --at one that starts at --at and
// advances with it (DESIGN §10: every command takes --at as the current time). At start the scheduler
// catches up the close's latest firing at or before that time — a rehearsal of a month close, say —
// and later firings come when that clock reaches them (jobs.Scheduler shifts cron's wall-clock timers
// by the offset). at was checked by parseSchedule.
func scheduleClock(at string, wall func() time.Time) func() time.Time {
	if at == "" {
		return wall
	}
	t, err := rating.ParseRFC3339(at)
	if err != nil {
		return wall
	}
	start := wall()
	return func() time.Time { return t.Add(wall().Sub(start)) }
}

func envName(flagName string) string {
	return "BILLRUN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// daemon is `billrun schedule` wired: the jobs, the scheduler, its metrics and its HTTP handler.
type daemon struct {
	jobs    *jobs.Jobs
	sched   *jobs.Scheduler
	handler http.Handler
	log     *slog.Logger
}

// newDaemon wires the scheduler: the jobs on st (after importing --accounts, if set), claims in
// claims (the same database), the clock now, metrics and the /healthz and /metrics handler.
func (e *environment) newDaemon(ctx context.Context, c *config, sc *scheduleConfig, log *slog.Logger, st jobs.Store,
	claims jobs.ScheduleStore, now func() time.Time) (*daemon, error) {
	j, err := e.wire(ctx, c, log, st)
	if err != nil {
		return nil, err
	}
	if c.accounts != "" {
		// Recorded as an import run, as `accounts import` is (DESIGN §8: every command that changes data
		// is a run), at the scheduler's clock.
		imp, err := accountsfile.Load(c.accounts)
		if err != nil {
			return nil, err
		}
		if _, _, err := j.ImportAccountsRun(ctx, imp, now(), c.accounts); err != nil {
			return nil, err
		}
	}
	reg := prometheus.NewRegistry()
	m := newScheduleMetrics(reg)
	sched, err := jobs.NewScheduler(jobs.SchedulerConfig{
		Jobs: []jobs.ScheduledJob{
			j.ScheduledClose(sc.closeSpec, sc.closeTimeout, c.maxRejects),
			j.ScheduledSweep(sc.sweepSpec, sc.sweepTimeout),
			j.ScheduledReconcile(sc.reconcileSpec, sc.reconcileTimeout, func(rec *invoices.Reconciliation) error {
				_, _, err := writeReconciliation(c.out, rec, j.PriceBook.Currency)
				return err
			}),
		},
		Store: claims, Logger: log, Now: now, ShutdownTimeout: sc.shutdownTimeout, OnFinish: m.observe,
	})
	if err != nil {
		return nil, err
	}
	reg.MustRegister(stateCollector{sched})
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", healthHandler(sched, now))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	return &daemon{jobs: j, sched: sched, handler: mux, log: log}, nil
}

// run serves /healthz and /metrics on listen (unless empty) and runs the scheduler until ctx ends and
// running jobs have drained; then it stops the server.
func (d *daemon) run(ctx context.Context, listen string) error {
	if listen == "" {
		return d.sched.Run(ctx)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("schedule: --listen %s: %w", listen, err)
	}
	srv := &http.Server{Handler: d.handler, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	d.log.Info("serving /healthz and /metrics", "listen", ln.Addr().String())
	runErr := d.sched.Run(ctx)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && runErr == nil {
		runErr = fmt.Errorf("schedule: stop http server: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) && runErr == nil {
		runErr = fmt.Errorf("schedule: http server: %w", err)
	}
	return runErr
}

// --- /healthz --------------------------------------------------------------------------------------

type healthJSON struct {
	Status string          `json:"status"` // ok, or stopping once SIGTERM was received
	Time   string          `json:"time"`
	Jobs   []jobHealthJSON `json:"jobs"`
}

type jobHealthJSON struct {
	Name        string       `json:"name"`
	Enabled     bool         `json:"enabled"`
	Spec        string       `json:"spec"`
	Timeout     string       `json:"timeout"`
	Next        *string      `json:"next"`
	Running     *firingJSON  `json:"running"`
	LastRun     *lastRunJSON `json:"last_run"`
	LastSuccess *string      `json:"last_success"`
}

type firingJSON struct {
	ScheduledAt string `json:"scheduled_at"`
	StartedAt   string `json:"started_at"`
	CatchUp     bool   `json:"catch_up"`
}

type lastRunJSON struct {
	firingJSON
	FinishedAt string `json:"finished_at"`
	Status     string `json:"status"`
	Error      string `json:"error"`
	RunID      string `json:"run_id"`
}

// healthHandler answers 200 with each job's state while the process runs, also while it drains (a
// liveness failure then would only kill a job that is finishing); failed runs show in last_run and in
// the metrics, which is where alerts belong.
func healthHandler(sched *jobs.Scheduler, now func() time.Time) http.Handler {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	opt := func(t time.Time) *string {
		if t.IsZero() {
			return nil
		}
		s := ts(t)
		return &s
	}
	firing := func(f jobs.Firing) firingJSON {
		return firingJSON{ScheduledAt: ts(f.ScheduledAt), StartedAt: ts(f.StartedAt), CatchUp: f.CatchUp}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := healthJSON{Status: "ok", Time: ts(now()), Jobs: []jobHealthJSON{}}
		select {
		case <-sched.Stopping():
			h.Status = "stopping"
		default:
		}
		for _, st := range sched.Jobs() {
			j := jobHealthJSON{Name: st.Name, Enabled: st.Enabled, Spec: st.Spec, Timeout: st.Timeout.String(),
				Next: opt(st.Next), LastSuccess: opt(st.LastSuccess)}
			if st.Running != nil {
				f := firing(*st.Running)
				j.Running = &f
			}
			if r := st.Last; r != nil {
				j.LastRun = &lastRunJSON{firingJSON: firing(r.Firing), FinishedAt: ts(r.FinishedAt), Status: string(r.Status)}
				if r.Err != nil {
					j.LastRun.Error = r.Err.Error()
				}
				if r.Run != nil {
					j.LastRun.RunID = r.Run.ID
				}
			}
			h.Jobs = append(h.Jobs, j)
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(h)
	})
}

// --- /metrics --------------------------------------------------------------------------------------

// scheduleMetrics are the Prometheus metrics of the scheduled runs, updated after every firing.
type scheduleMetrics struct {
	runs        *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	lines       *prometheus.CounterVec
	bytes       *prometheus.CounterVec
	events      *prometheus.CounterVec
	documents   *prometheus.CounterVec
	amount      *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
}

func newScheduleMetrics(reg *prometheus.Registry) *scheduleMetrics {
	m := &scheduleMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrun_schedule_runs_total",
			Help: "Firings of scheduled jobs by how they ended: succeeded, failed, panicked, skipped_locked, skipped_claimed."},
			[]string{"job", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "billrun_schedule_run_duration_seconds",
			Help:    "Duration of the scheduled runs this scheduler ran.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400}}, []string{"job"}),
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrun_schedule_usage_lines_read_total",
			Help: "Raw usage lines read by scheduled runs."}, []string{"job"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrun_schedule_usage_bytes_read_total",
			Help: "Raw usage bytes read by scheduled runs."}, []string{"job"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrun_schedule_usage_events_total",
			Help: "Usage events read by scheduled runs, by outcome: accepted, duplicate or rejected."}, []string{"job", "outcome"}),
		documents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "billrun_schedule_documents_issued_total",
			Help: "Documents issued by scheduled runs."}, []string{"job"}),
		amount: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "billrun_schedule_last_run_amount_cents",
			Help: "Money the latest close of a scheduled job issued, in USD cents, by amount: subtotal, discount, credits_applied, amount_due."},
			[]string{"job", "amount"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "billrun_schedule_last_success_timestamp_seconds",
			Help: "Unix time at which the latest successful firing of a job finished."}, []string{"job"}),
	}
	reg.MustRegister(m.runs, m.duration, m.lines, m.bytes, m.events, m.documents, m.amount, m.lastSuccess,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe counts a firing's result. Amounts stay integer cents up to here; the float64 is only the
// metric's wire value (exact for any amount below 2^53 cents).
func (m *scheduleMetrics) observe(res jobs.FiringResult) {
	m.runs.WithLabelValues(res.Job, string(res.Status)).Inc()
	if res.Status == jobs.FiringClaimed {
		return // another scheduler ran it
	}
	m.duration.WithLabelValues(res.Job).Observe(res.FinishedAt.Sub(res.StartedAt).Seconds())
	if res.Status == jobs.FiringSucceeded {
		m.lastSuccess.WithLabelValues(res.Job).Set(float64(res.FinishedAt.UnixMilli()) / 1000)
	}
	r := res.Run
	if r == nil {
		return
	}
	m.lines.WithLabelValues(res.Job).Add(float64(r.Counts.Lines))
	m.bytes.WithLabelValues(res.Job).Add(float64(r.Counts.Bytes))
	m.events.WithLabelValues(res.Job, "accepted").Add(float64(r.Counts.Accepted))
	m.events.WithLabelValues(res.Job, "duplicate").Add(float64(r.Counts.Duplicates))
	m.events.WithLabelValues(res.Job, "rejected").Add(float64(r.Counts.Rejected))
	m.documents.WithLabelValues(res.Job).Add(float64(r.Totals.Documents))
	if r.Kind == invoices.RunClose || r.Kind == invoices.RunRerun {
		for amount, cents := range map[string]int64{"subtotal": int64(r.Totals.Subtotal), "discount": int64(r.Totals.Discount),
			"credits_applied": int64(r.Totals.CreditsApplied), "amount_due": int64(r.Totals.AmountDue)} {
			m.amount.WithLabelValues(res.Job, amount).Set(float64(cents))
		}
	}
}

// stateCollector exports the scheduler's view of its jobs at scrape time.
type stateCollector struct{ sched *jobs.Scheduler }

var (
	nextRunDesc = prometheus.NewDesc("billrun_schedule_next_run_timestamp_seconds",
		"Unix time of the next firing of an enabled job.", []string{"job"}, nil)
	runningDesc = prometheus.NewDesc("billrun_schedule_job_running",
		"1 while a firing of the job runs in this scheduler, else 0.", []string{"job"}, nil)
)

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- nextRunDesc; ch <- runningDesc }

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.sched.Jobs() {
		if !st.Enabled {
			continue
		}
		ch <- prometheus.MustNewConstMetric(nextRunDesc, prometheus.GaugeValue, float64(st.Next.Unix()), st.Name)
		running := 0.0
		if st.Running != nil {
			running = 1
		}
		ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, running, st.Name)
	}
}
