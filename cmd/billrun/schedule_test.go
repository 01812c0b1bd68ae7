package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/jobs"
	"billrun/rating"
)

// fakeClock is the scheduler's injected clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(s string) *fakeClock {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &fakeClock{t: t}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(s string) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func envFrom(vars map[string]string) *environment {
	return &environment{getenv: func(k string) string { return vars[k] }, stdout: io.Discard, stderr: io.Discard}
}

func TestScheduleFlags(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want scheduleConfig
	}{
		{name: "defaults", want: scheduleConfig{closeSpec: "0 2 1 * *", sweepSpec: "0 * * * *", reconcileSpec: "0 6 * * *",
			closeTimeout: 4 * time.Hour, sweepTimeout: 50 * time.Minute, reconcileTimeout: time.Hour,
			shutdownTimeout: 5 * time.Minute, listen: ":8080"}},
		{name: "environment",
			env: map[string]string{"BILLRUN_SCHEDULE_CLOSE": "off", "BILLRUN_SCHEDULE_SWEEP": "*/15 * * * *",
				"BILLRUN_SWEEP_TIMEOUT": "10m", "BILLRUN_SHUTDOWN_TIMEOUT": "90s", "BILLRUN_LISTEN": "off"},
			want: scheduleConfig{closeSpec: "", sweepSpec: "*/15 * * * *", reconcileSpec: "0 6 * * *",
				closeTimeout: 4 * time.Hour, sweepTimeout: 10 * time.Minute, reconcileTimeout: time.Hour,
				shutdownTimeout: 90 * time.Second, listen: ""}},
		{name: "flags win; an empty spec disables",
			env:  map[string]string{"BILLRUN_SCHEDULE_SWEEP": "*/15 * * * *", "BILLRUN_CLOSE_TIMEOUT": "1h"},
			args: []string{"--schedule-sweep", "0 */2 * * *", "--schedule-reconcile", "", "--close-timeout", "2h", "--listen", "127.0.0.1:9090"},
			want: scheduleConfig{closeSpec: "0 2 1 * *", sweepSpec: "0 */2 * * *", reconcileSpec: "",
				closeTimeout: 2 * time.Hour, sweepTimeout: 50 * time.Minute, reconcileTimeout: time.Hour,
				shutdownTimeout: 5 * time.Minute, listen: "127.0.0.1:9090"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := envFrom(tc.env).parseSchedule(tc.args)
			if err != nil {
				t.Fatalf("parseSchedule: %v", err)
			}
			if *got != tc.want {
				t.Errorf("parseSchedule = %+v,\nwant %+v", *got, tc.want)
			}
		})
	}
	// Each error names what the user set: the flag, or its variable when the value came from there.
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad spec", nil, []string{"--schedule-close", "0 2 1 *"}, `--schedule-close: cron spec "0 2 1 *"`},
		{"bad env spec", map[string]string{"BILLRUN_SCHEDULE_RECONCILE": "0 2 1 *"}, nil, `BILLRUN_SCHEDULE_RECONCILE: cron spec "0 2 1 *"`},
		{"time zone", nil, []string{"--schedule-sweep", "TZ=Europe/Paris 0 * * * *"}, "--schedule-sweep"},
		{"bad env duration", map[string]string{"BILLRUN_CLOSE_TIMEOUT": "4 hours"}, nil, "BILLRUN_CLOSE_TIMEOUT"},
		{"zero timeout", nil, []string{"--sweep-timeout", "0s"}, "--sweep-timeout 0s"},
		{"zero env timeout", map[string]string{"BILLRUN_RECONCILE_TIMEOUT": "0s"}, nil, "BILLRUN_RECONCILE_TIMEOUT 0s"},
		{"negative shutdown", nil, []string{"--shutdown-timeout", "-1s"}, "--shutdown-timeout -1s"},
		{"negative env shutdown", map[string]string{"BILLRUN_SHUTDOWN_TIMEOUT": "-1s"}, nil, "BILLRUN_SHUTDOWN_TIMEOUT -1s"},
		{"arguments", nil, []string{"now"}, `"now"`},
		{"listen without a port", nil, []string{"--listen", "notanaddr"}, `--listen "notanaddr"`},
		{"listen port out of range", map[string]string{"BILLRUN_LISTEN": "127.0.0.1:99999"}, nil, `BILLRUN_LISTEN "127.0.0.1:99999"`},
		{"listen port not a service", nil, []string{"--listen", "localhost:http-nope"}, `--listen "localhost:http-nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := envFrom(tc.env).parseSchedule(tc.args)
			if exitCode(err) != exitUsage || !strings.Contains(fmt.Sprint(err), tc.want) {
				t.Errorf("parseSchedule(%q) = %v (exit %d), want a usage error (exit 2) naming %s", tc.args, err, exitCode(err), tc.want)
			}
		})
	}
}

// fixtureDaemon wires `billrun schedule` on the fixtures with a fresh database (or the one at db),
// exports to out, the given clock, and st wrapped by wrap (nil: as it is). Its store is closed with the
// test.
func fixtureDaemon(t *testing.T, ctx context.Context, db, out string, clk *fakeClock, wrap func(jobs.Store) jobs.Store, extra ...string) *daemon {
	t.Helper()
	root, _ := filepath.Abs("../..")
	args := []string{"--db", "sqlite:" + db, "--usage", filepath.Join(root, "fixtures/usage"),
		"--prices", filepath.Join(root, "fixtures/prices.yaml"), "--accounts", filepath.Join(root, "fixtures/accounts.yaml"),
		"--out", out, "--listen", "off"}
	e := &environment{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: t.Output()}
	c, sc, err := e.parseSchedule(append(args, extra...))
	if err != nil {
		t.Fatalf("parseSchedule: %v", err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := openStore(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var js jobs.Store = st
	if wrap != nil {
		js = wrap(st)
	}
	d, err := e.newDaemon(ctx, c, sc, log, js, st, clk.Now)
	if err != nil {
		t.Fatalf("newDaemon: %v", err)
	}
	return d
}

// sigtermAfter is a store that delivers SIGTERM (cancels the scheduler's root context) right after
// its n-th document was issued, then holds that Issue until the job's context is cancelled — the
// shutdown timeout passing — so the close is stopped with exactly n documents issued.
type sigtermAfter struct {
	jobs.Store
	n       int32
	issued  atomic.Int32
	sigterm context.CancelFunc
}

func (s *sigtermAfter) Issue(ctx context.Context, doc *invoices.Document) error {
	if err := s.Store.Issue(ctx, doc); err != nil {
		return err
	}
	if s.issued.Add(1) == s.n {
		s.sigterm()
		<-ctx.Done()
	}
	return nil
}

// IssueBatch issues a close's batch up to the n-th document, then does what Issue does there; the
// rest of the batch is never issued, as when the real batch's transaction is cancelled.
func (s *sigtermAfter) IssueBatch(ctx context.Context, docs []*invoices.Document) error {
	left := int(s.n - s.issued.Load())
	if left <= 0 || left > len(docs) {
		if err := s.Store.IssueBatch(ctx, docs); err != nil {
			return err
		}
		s.issued.Add(int32(len(docs)))
		return nil
	}
	if err := s.Store.IssueBatch(ctx, docs[:left]); err != nil {
		return err
	}
	s.issued.Add(int32(left))
	s.sigterm()
	<-ctx.Done()
	return ctx.Err()
}

var october = rating.Period{Year: 2026, Month: time.October}

// TestScheduleSIGTERMMidCloseThenRestart: SIGTERM arrives while the scheduled close of October is
// issuing, and the shutdown timeout passes: the close stops after its 5th document, and the scheduler
// exits with ErrShutdownTimeout. Restarted, the scheduler catches the close up; the result equals an
// uninterrupted close in another database: the same numbers, accounts, lines and amounts, gapless,
// credits consumed once. Only the issue (and due) dates of the documents issued after the restart
// differ: they carry the restarted run's time.
func TestScheduleSIGTERMMidCloseThenRestart(t *testing.T) {
	dir := t.TempDir()
	db, out := filepath.Join(dir, "a.db"), filepath.Join(dir, "out-a")
	clk := newFakeClock("2026-11-01T02:00:00Z")

	ctx, sigterm := context.WithCancel(t.Context())
	wrapped := &sigtermAfter{n: 5, sigterm: sigterm}
	d := fixtureDaemon(t, t.Context(), db, out, clk, func(st jobs.Store) jobs.Store { wrapped.Store = st; return wrapped },
		"--shutdown-timeout", "0s")
	if err := d.sched.Run(ctx); !errors.Is(err, jobs.ErrShutdownTimeout) {
		t.Fatalf("Run after SIGTERM mid-close = %v, want ErrShutdownTimeout", err)
	}
	last := d.sched.Jobs()[0].Last
	if last == nil || last.Status != jobs.FiringFailed || !errors.Is(last.Err, context.Canceled) {
		t.Fatalf("close firing after SIGTERM: %+v, want failed by the cancellation", last)
	}
	docs, err := d.jobs.Store.Documents(t.Context(), october)
	if err != nil || len(docs) != 5 {
		t.Fatalf("after SIGTERM: %d documents (%v), want 5", len(docs), err)
	}
	if _, err := d.jobs.Store.LatestRun(t.Context(), october); !errors.Is(err, invoices.ErrNotFound) {
		t.Fatalf("LatestRun(2026-10) after the interrupted close = %v, want ErrNotFound", err)
	}

	// The restart, seven minutes later, catches the close up.
	clk.Set("2026-11-01T02:07:00Z")
	restarted := fixtureDaemon(t, t.Context(), db, out, clk, nil)
	if err := restarted.sched.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := restarted.sched.Tick(); err != nil {
		t.Fatal(err)
	}
	if last := restarted.sched.Jobs()[0].Last; last == nil || last.Status != jobs.FiringSucceeded || !last.CatchUp ||
		!last.ScheduledAt.Equal(time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)) {
		t.Fatalf("catch-up after the restart: %+v, want the 02:00 close succeeded", last)
	}

	// The uninterrupted close, in another database.
	clk.Set("2026-11-01T02:00:00Z")
	outB := filepath.Join(dir, "out-b")
	clean := fixtureDaemon(t, t.Context(), filepath.Join(dir, "b.db"), outB, clk, nil)
	if err := clean.sched.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := clean.sched.Tick(); err != nil {
		t.Fatal(err)
	}
	// The scheduled close is `billrun close --period prev --at` its scheduled time: its invoices.json
	// is the golden of TestCloseFixtures, byte for byte.
	cleanJSON, err := os.ReadFile(filepath.Join(outB, "2026-10", "invoices.json"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "invoices-2026-10.json", cleanJSON)

	got, want := ledger(t, restarted.jobs.Store), ledger(t, clean.jobs.Store)
	if len(want.docs) != 17 {
		t.Fatalf("uninterrupted close issued %d documents, want 17", len(want.docs))
	}
	for i, n := range want.numbers() {
		if wantN := fmt.Sprintf("INV-2026-%06d", i+1); n != wantN {
			t.Errorf("number %d = %s, want %s (gapless)", i, n, wantN)
		}
	}
	if !slices.Equal(got.numbers(), want.numbers()) {
		t.Errorf("numbers after SIGTERM and restart %v, want %v", got.numbers(), want.numbers())
	}
	for i := range min(len(got.docs), len(want.docs)) {
		g, w := got.docs[i], want.docs[i]
		// Both attempts are the 02:00 firing's, whose scheduled time is their --at: the invoices the
		// restart issued at 02:07 are dated 02:00 like the first five, as in the uninterrupted close.
		wantIssued := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
		if !g.IssuedAt.Equal(wantIssued) {
			t.Errorf("%s issued at %s, want %s", g.Number, g.IssuedAt, wantIssued)
		}
		g.ID, g.IssuedAt, g.DueAt, g.RunID = w.ID, w.IssuedAt, w.DueAt, w.RunID
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Errorf("document %d after SIGTERM and restart differs:\n got %s\nwant %s", i, gj, wj)
		}
	}
	if !slices.Equal(got.consumed, want.consumed) {
		t.Errorf("grant consumption after SIGTERM and restart %v, want %v", got.consumed, want.consumed)
	}
}

// ledgerView is what a close leaves: October's documents and every grant's consumption.
type ledgerView struct {
	docs     []invoices.Document
	consumed []string
}

func (l ledgerView) numbers() []string {
	var out []string
	for _, d := range l.docs {
		out = append(out, d.Number)
	}
	return out
}

func ledger(t *testing.T, st jobs.Store) ledgerView {
	t.Helper()
	docs, err := st.Documents(t.Context(), october)
	if err != nil {
		t.Fatal(err)
	}
	accts, err := st.Accounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var consumed []string
	for _, a := range accts {
		for _, g := range a.Grants {
			consumed = append(consumed, fmt.Sprintf("%s %d/%d", g.ID, g.Consumed, g.Amount))
		}
	}
	return ledgerView{docs: docs, consumed: consumed}
}

// scrape returns the samples of d's /metrics, by "name{labels}".
func scrape(t *testing.T, d *daemon) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	d.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// TestScheduleTwoReplicasOnFixtures: two schedulers on one database catch up the close and then tick
// together through the October close of the fixtures: every firing runs once, and their metrics say
// which ran it and which saw it claimed.
func TestScheduleTwoReplicasOnFixtures(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "billrun.db")
	clk := newFakeClock("2026-11-01T01:30:00Z")
	var replicas []*daemon
	for i := range 2 {
		d := fixtureDaemon(t, t.Context(), db, filepath.Join(dir, fmt.Sprint("out-", i)), clk, nil)
		if err := d.sched.Start(t.Context()); err != nil { // both find September's close missing
			t.Fatal(err)
		}
		replicas = append(replicas, d)
	}
	tickAll := func() {
		var wg sync.WaitGroup
		for _, d := range replicas {
			wg.Go(func() {
				if err := d.sched.Tick(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	tickAll()
	for now := clk.Now().Add(time.Minute); !now.After(time.Date(2026, 11, 1, 3, 30, 0, 0, time.UTC)); now = now.Add(time.Minute) {
		clk.Set(now.Format(time.RFC3339))
		tickAll()
	}
	sum := map[string]float64{}
	for _, d := range replicas {
		for k, v := range scrape(t, d) {
			if strings.HasPrefix(k, "billrun_schedule_runs_total") {
				sum[k] += v
			}
		}
	}
	want := map[string]float64{
		`billrun_schedule_runs_total{job="close",status="succeeded"}`:       2, // September's catch-up, October at 02:00
		`billrun_schedule_runs_total{job="close",status="skipped_claimed"}`: 2,
		`billrun_schedule_runs_total{job="sweep",status="succeeded"}`:       2, // 02:00 and 03:00
		`billrun_schedule_runs_total{job="sweep",status="skipped_claimed"}`: 2,
	}
	if !mapsEqual(sum, want) {
		t.Errorf("runs over both replicas %v, want %v", sum, want)
	}
	docs, err := replicas[0].jobs.Store.Documents(t.Context(), october)
	if err != nil || len(docs) != 17 {
		t.Errorf("October: %d documents (%v), want 17", len(docs), err)
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestScheduleHealthzAndMetrics: after a caught-up close, /healthz shows each job's last run and next
// firing, and /metrics the run, its usage counts and the amounts it billed, in cents.
func TestScheduleHealthzAndMetrics(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock("2026-11-01T02:00:00Z")
	d := fixtureDaemon(t, t.Context(), filepath.Join(dir, "billrun.db"), filepath.Join(dir, "out"), clk, nil)
	if err := d.sched.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := d.sched.Tick(); err != nil {
		t.Fatal(err)
	}
	clk.Set("2026-11-01T02:10:00Z")

	rec := httptest.NewRecorder()
	d.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	var h struct {
		Status string `json:"status"`
		Time   string `json:"time"`
		Jobs   []struct {
			Name    string  `json:"name"`
			Enabled bool    `json:"enabled"`
			Next    *string `json:"next"`
			LastRun *struct {
				ScheduledAt string `json:"scheduled_at"`
				StartedAt   string `json:"started_at"`
				FinishedAt  string `json:"finished_at"`
				CatchUp     bool   `json:"catch_up"`
				Status      string `json:"status"`
				Error       string `json:"error"`
				RunID       string `json:"run_id"`
			} `json:"last_run"`
			LastSuccess *string `json:"last_success"`
		} `json:"jobs"`
	}
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /healthz: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
		t.Fatalf("/healthz: %v\n%s", err, rec.Body)
	}
	if h.Status != "ok" || h.Time != "2026-11-01T02:10:00Z" || len(h.Jobs) != 3 {
		t.Fatalf("/healthz = %s", rec.Body)
	}
	closeJob, sweep, reconcile := h.Jobs[0], h.Jobs[1], h.Jobs[2]
	if closeJob.Name != "close" || closeJob.LastRun == nil || closeJob.LastRun.Status != "succeeded" || !closeJob.LastRun.CatchUp ||
		closeJob.LastRun.ScheduledAt != "2026-11-01T02:00:00Z" || closeJob.LastRun.StartedAt != "2026-11-01T02:00:00Z" ||
		!strings.HasPrefix(closeJob.LastRun.RunID, "close-") || closeJob.LastRun.Error != "" ||
		closeJob.Next == nil || *closeJob.Next != "2026-12-01T02:00:00Z" || closeJob.LastSuccess == nil {
		t.Errorf("/healthz close: %s", rec.Body)
	}
	if sweep.Name != "sweep" || sweep.LastRun != nil || sweep.Next == nil || *sweep.Next != "2026-11-01T03:00:00Z" {
		t.Errorf("/healthz sweep: %s", rec.Body)
	}
	if reconcile.Name != "reconcile" || !reconcile.Enabled || reconcile.Next == nil || *reconcile.Next != "2026-11-01T06:00:00Z" {
		t.Errorf("/healthz reconcile: %s", rec.Body)
	}

	docs, err := d.jobs.Store.Documents(t.Context(), october)
	if err != nil {
		t.Fatal(err)
	}
	var due, subtotal rating.Cents
	for _, doc := range docs {
		due += doc.AmountDue
		subtotal += doc.Subtotal
	}
	m := scrape(t, d)
	for name, want := range map[string]float64{
		`billrun_schedule_runs_total{job="close",status="succeeded"}`:             1,
		`billrun_schedule_documents_issued_total{job="close"}`:                    17,
		`billrun_schedule_last_run_amount_cents{amount="amount_due",job="close"}`: float64(due),
		`billrun_schedule_last_run_amount_cents{amount="subtotal",job="close"}`:   float64(subtotal),
		`billrun_schedule_usage_events_total{job="close",outcome="rejected"}`:     0,
		`billrun_schedule_usage_events_total{job="close",outcome="duplicate"}`:    1,
		`billrun_schedule_run_duration_seconds_count{job="close"}`:                1,
		`billrun_schedule_last_success_timestamp_seconds{job="close"}`:            float64(time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC).Unix()),
		`billrun_schedule_next_run_timestamp_seconds{job="sweep"}`:                float64(time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC).Unix()),
		`billrun_schedule_job_running{job="close"}`:                               0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if m[`billrun_schedule_usage_events_total{job="close",outcome="accepted"}`] <= 0 || m[`billrun_schedule_usage_lines_read_total{job="close"}`] <= 0 {
		t.Errorf("usage counters are empty: %v", m)
	}
	if due <= 0 {
		t.Errorf("October's amount due = %d cents, want more than 0", due)
	}
}

// logWatch is a log writer that reports the /metrics address and when the scheduler has started.
type logWatch struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	addr    string
	started chan string // receives the address once
	once    sync.Once
}

func (w *logWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *logWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for _, line := range strings.Split(string(p), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		switch rec["msg"] {
		case "serving /healthz and /metrics":
			w.addr, _ = rec["listen"].(string)
		case "scheduled job registered":
			w.once.Do(func() { w.started <- w.addr })
		}
	}
	return len(p), nil
}

// TestRunSchedule runs `billrun schedule` through run(): it serves /healthz, and on SIGTERM (its
// context ending) with nothing running it drains at once and exits 0.
func TestRunSchedule(t *testing.T) {
	dir := t.TempDir()
	root, _ := filepath.Abs("../..")
	started := make(chan string, 1)
	logs := &logWatch{started: started}
	ctx, sigterm := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"schedule", "--db", "sqlite:" + filepath.Join(dir, "billrun.db"),
			"--usage", filepath.Join(root, "fixtures/usage"), "--prices", filepath.Join(root, "fixtures/prices.yaml"),
			"--out", filepath.Join(dir, "out"), "--schedule-close", "off", "--listen", "127.0.0.1:0", "--log-format", "json"},
			func(string) string { return "" }, io.Discard, logs)
	}()
	var addr string
	select {
	case addr = <-started:
	case err := <-done:
		t.Fatalf("schedule exited before starting: %v\n%s", err, logs.String())
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"name": "sweep"`) {
		t.Errorf("GET /healthz: %d %s", resp.StatusCode, body)
	}
	sigterm()
	if err := <-done; err != nil || exitCode(err) != exitOK {
		t.Errorf("schedule after SIGTERM = %v (exit %d), want exit 0\n%s", err, exitCode(err), logs.String())
	}
	for _, want := range []string{`"msg":"scheduled job disabled","job":"close"`, `"msg":"scheduler stopped: drained"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

// TestScheduledReconcileWritesItsReport: a reconcile firing writes DIR/P/reconciliation.json and its
// workbook, as `billrun reconcile` does — the report on-call opens when the firing fails — dated at
// the firing's scheduled time.
func TestScheduledReconcileWritesItsReport(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	clk := newFakeClock("2026-11-01T02:00:00Z")
	d := fixtureDaemon(t, t.Context(), filepath.Join(dir, "a.db"), out, clk, nil)
	if err := d.sched.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := d.sched.Tick(); err != nil { // the 02:00 close
		t.Fatal(err)
	}
	clk.Set("2026-11-01T06:00:03Z") // the 06:00 reconcile, started a little late
	if err := d.sched.Tick(); err != nil {
		t.Fatal(err)
	}
	if last := d.sched.Jobs()[2].Last; last == nil || last.Status != jobs.FiringSucceeded {
		t.Fatalf("reconcile firing: %+v, want it succeeded", last)
	}
	b, err := os.ReadFile(filepath.Join(out, "2026-10", "reconciliation.json"))
	if err != nil {
		t.Fatalf("the scheduled reconcile wrote no report: %v", err)
	}
	if !bytes.Contains(b, []byte(`"at": "2026-11-01T06:00:00Z"`)) && !bytes.Contains(b, []byte(`"at":"2026-11-01T06:00:00Z"`)) {
		t.Errorf("reconciliation.json is not dated at the firing's scheduled time 06:00:00:\n%.300s", b)
	}
	if _, err := os.Stat(filepath.Join(out, "2026-10", "reconciliation-2026-10.xlsx")); err != nil {
		t.Errorf("no reconciliation workbook: %v", err)
	}
}

// TestScheduleImportIsARun: the accounts file `schedule --accounts` imports on start is recorded as an
// import run at the scheduler's clock, as `accounts import` is (DESIGN §8: every command that changes
// data is a run); it had written the accounts with no run at all.
func TestScheduleImportIsARun(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "billrun.db")
	fixtureDaemon(t, t.Context(), db, filepath.Join(dir, "out"), newFakeClock("2026-11-03T09:00:00Z"), nil)
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var kind, period, status, scope, at string
	if err := conn.QueryRow(`SELECT kind, period, status, scope, substr(at, 1, 19) FROM runs`).Scan(&kind, &period, &status,
		&scope, &at); err != nil {
		t.Fatalf("the import's run: %v", err)
	}
	if kind != "import" || period != "2026-11" || status != "succeeded" || !strings.HasPrefix(scope, "accounts file ") ||
		at != "2026-11-03T09:00:00" {
		t.Errorf("run = %s %s %s %q at %s; want a succeeded import of 2026-11, scope \"accounts file …\", at 2026-11-03T09:00:00",
			kind, period, status, scope, at)
	}
}
