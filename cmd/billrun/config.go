package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"billrun/invoices/store"
	"billrun/jobs"
	"billrun/rating"
	"billrun/rating/prices"
	"billrun/rating/usage"
)

// The demo defaults: only while --db is this local SQLite file do --usage, --prices and --accounts
// default to the bundled fixtures, so a production run never picks up demo data by omission.
const (
	defaultDB       = "sqlite:billrun.db"
	fixtureUsage    = "fixtures/usage"
	fixturePrices   = "fixtures/prices.yaml"
	fixtureAccounts = "fixtures/accounts.yaml"
)

type environment struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// config holds the flags shared by the commands. Each value comes from its flag, else its BILLRUN_*
// environment variable, else its default.
type config struct {
	db             string
	usage          string
	prices         string
	accounts       string
	out            string
	at             string
	maxRejects     int64
	maxGPUInterval time.Duration
	workers        int
	wait           bool
	logFormat      string
	logLevel       string
	s3PathStyle    bool
	progress       string

	set map[string]bool // flags given on the command line or through the environment
	env map[string]bool // of those, the flags their BILLRUN_* variable gave
}

// flagName names flag name as the user gave it, for errors: its BILLRUN_* variable when the value came
// from there, --name otherwise.
func (c *config) flagName(name string) string {
	if c.env[name] {
		return envName(name)
	}
	return "--" + name
}

type flagSpec struct {
	db, usage, prices, accounts, out, at, rejects, wait bool
}

func (e *environment) flags(name, synopsis string, c *config, spec flagSpec) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	c.set, c.env = map[string]bool{}, map[string]bool{}
	// Defaults only: parseArgs sets every flag not on the command line from its BILLRUN_* variable.
	if spec.db {
		fs.StringVar(&c.db, "db", defaultDB, "database: sqlite:PATH or postgres://USER:PASS@HOST/DB (env BILLRUN_DB)")
	}
	if spec.usage {
		fs.StringVar(&c.usage, "usage", "", "raw usage: s3://bucket/prefix, file:///abs/path or a path (env BILLRUN_USAGE;\n"+
			"default "+fixtureUsage+" only with the default --db)")
		fs.DurationVar(&c.maxGPUInterval, "max-gpu-interval", time.Hour, "longest GPU interval accepted, at most 23h (0: the default); longer ones are rejected\n"+
			"(env BILLRUN_MAX_GPU_INTERVAL)")
		fs.IntVar(&c.workers, "workers", runtime.GOMAXPROCS(0), "objects decoded in parallel, 0: one per CPU (env BILLRUN_WORKERS)")
		fs.BoolVar(&c.s3PathStyle, "s3-path-style", false, "path-style S3 addressing (env BILLRUN_S3_PATH_STYLE); default: on for an S3-compatible\n"+
			"endpoint (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL not on amazonaws.com), off for AWS")
		fs.StringVar(&c.progress, "progress", "auto", "progress bar on stderr: auto (on a terminal), always, never (env BILLRUN_PROGRESS)")
	}
	if spec.prices || spec.usage {
		fs.StringVar(&c.prices, "prices", "", "price book YAML (env BILLRUN_PRICES; default "+fixturePrices+" only with the default --db)")
	}
	if spec.accounts {
		fs.StringVar(&c.accounts, "accounts", "", "accounts file to import first (env BILLRUN_ACCOUNTS; default "+fixtureAccounts+"\n"+
			"only with the default --db, and only if it exists)")
	}
	if spec.out {
		fs.StringVar(&c.out, "out", "out", "directory for exports; files go to DIR/PERIOD/ (env BILLRUN_OUT)")
	}
	if spec.at {
		fs.StringVar(&c.at, "at", "", "the run's current time, RFC 3339 (env BILLRUN_AT; default now): issue and due dates and standing use it")
	}
	if spec.rejects {
		fs.Int64Var(&c.maxRejects, "max-rejects", 0, "most rejected usage lines tolerated before nothing is issued (env BILLRUN_MAX_REJECTS)")
	}
	if spec.wait {
		fs.BoolVar(&c.wait, "wait", false, "wait for the run holding the period's lock to finish instead of exiting 5 (env BILLRUN_WAIT)")
	}
	fs.StringVar(&c.logFormat, "log-format", "auto", "logs on stderr: auto (text on a terminal, else JSON), text, json (env BILLRUN_LOG_FORMAT)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error (env BILLRUN_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: billrun %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. Asked for (-h, --help), the command's usage goes to stdout, as
// `billrun --help` does, so that it pages and greps; after a mistake it goes to stderr with the error.
func (e *environment) parseFlags(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(e.stdout)
		fs.Usage()
		fs.SetOutput(e.stderr)
		return errHelp
	}
	if err != nil {
		fs.Usage()
		return usagef("%v", err)
	}
	return nil
}

// parse parses args and records which flags were given.
//
// Every input of a command is a flag: a word that is not one is a usage error. Go's flag parsing
// stops at the first such word and leaves it and everything after it unparsed, so without the check
// `rerun --period 2026-10 acct_1 --dry-run` would rerun every account for real.
func (e *environment) parse(fs *flag.FlagSet, c *config, args []string) error {
	if err := e.parseArgs(fs, c, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q: every input is a flag (such as --account ID), and the "+
			"flags after a stray word would be ignored", fs.Name(), store.Redacted(fs.Arg(0)))
	}
	return nil
}

// parseArgs is parse for a command that takes arguments besides its flags (fs.Args()).
//
// Every flag not given on the command line then takes its BILLRUN_* environment variable when that is
// set (flags, then the environment, then defaults: DESIGN §10), whether or not flags registered it as
// its default, and a value the flag refuses is bad usage naming the variable — not a silent default
// (BILLRUN_MAX_REJECTS=abc was read as 0). The log level and format are checked too.
// flagWant says what a flag of f's type takes, for an environment variable's refused value ("" for a
// flag whose own error says it): the flag package's own error there is only "parse error".
func flagWant(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case bool:
		return "want true or false"
	case int, int64, uint, uint64:
		return "want a whole number"
	case time.Duration:
		return "want a duration such as 90m or 1h"
	}
	return ""
}

func (e *environment) parseArgs(fs *flag.FlagSet, c *config, args []string) error {
	if err := e.parseFlags(fs, args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			c.set[f.Name] = true
			return
		}
		v := e.getenv(envName(f.Name))
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			if want := flagWant(f); want != "" {
				errs = append(errs, fmt.Errorf("%s=%q: %s", envName(f.Name), v, want))
			} else {
				errs = append(errs, fmt.Errorf("%s=%q: %v", envName(f.Name), v, err))
			}
			return
		}
		c.set[f.Name], c.env[f.Name] = true, true
	})
	if len(errs) > 0 {
		return usagef("%v", errors.Join(errs...))
	}
	switch {
	case c.maxRejects < 0:
		return usagef("%s %d: must not be negative", c.flagName("max-rejects"), c.maxRejects)
	case c.maxGPUInterval < 0 || c.maxGPUInterval > usage.MaxGPUIntervalLimit:
		return usagef("%s %s: must be between 0 (the default, 1h) and %s", c.flagName("max-gpu-interval"), c.maxGPUInterval, usage.MaxGPUIntervalLimit)
	case c.workers < 0:
		return usagef("%s %d: must not be negative (0: one per CPU)", c.flagName("workers"), c.workers)
	}
	if c.db != "" {
		if err := store.CheckDSN(c.db); err != nil {
			return usagef("%s %s: %v", c.flagName("db"), store.Redacted(c.db), err)
		}
	}
	if c.usage != "" && !strings.HasPrefix(c.usage, "s3://") {
		if scheme, ok := urlScheme(c.usage); ok && scheme != "file" {
			return usagef("%s %q: want s3://bucket/prefix, file:///path or a path", c.flagName("usage"), store.Redacted(c.usage))
		}
		if err := usage.CheckLocal(c.usage); err != nil {
			return usagef("%s: %v", c.flagName("usage"), err)
		}
	}
	if c.logLevel != "" {
		var level slog.Level
		if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
			return usagef("%s %q: want debug, info, warn or error", c.flagName("log-level"), c.logLevel)
		}
	}
	switch c.logFormat {
	case "", "auto", "text", "json":
	default:
		return usagef("%s %q: want auto, text or json", c.flagName("log-format"), c.logFormat)
	}
	switch c.progress {
	case "", "auto", "always", "never":
	default:
		return usagef("%s %q: want auto, always or never", c.flagName("progress"), c.progress)
	}
	return nil
}

// urlScheme returns the scheme of s when s is a URL: a scheme of RFC 3986 (a letter, then letters,
// digits, + - or .) of two characters or more — C:\x stays a path — followed by ://. A path with
// :// further along (./dir/a://b) is no URL.
func urlScheme(s string) (string, bool) {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok || len(scheme) < 2 {
		return "", false
	}
	for i, r := range scheme {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return "", false
		}
	}
	return scheme, true
}

// demo reports whether --db is the default local SQLite file, where fixtures are the defaults.
func (c *config) demo() bool { return c.db == defaultDB }

// resolveDefaults applies the fixture defaults for the demo database and checks required inputs.
func (c *config) resolveDefaults(needUsage, needPrices bool) error {
	if c.demo() {
		if c.usage == "" {
			c.usage = fixtureUsage
		}
		if c.prices == "" {
			c.prices = fixturePrices
		}
		if c.accounts == "" {
			if _, err := os.Stat(fixtureAccounts); err == nil {
				c.accounts = fixtureAccounts
			}
		}
	}
	if needUsage && c.usage == "" {
		return usagef("--usage is required with --db %s (fixtures are defaults only for %s)", store.Redacted(c.db), defaultDB)
	}
	if needPrices && c.prices == "" {
		return usagef("--prices is required with --db %s (fixtures are defaults only for %s)", store.Redacted(c.db), defaultDB)
	}
	return nil
}

// atTime returns --at, or now.
func (c *config) atTime() (time.Time, error) {
	if c.at == "" {
		return time.Now().UTC(), nil
	}
	t, err := rating.ParseRFC3339(c.at)
	if err != nil {
		return time.Time{}, usagef("%s %q: want RFC 3339, e.g. 2026-11-01T02:00:00Z", c.flagName("at"), c.at)
	}
	return t.UTC(), nil
}

// period parses --period (named name in errors): YYYY-MM, prev (the month before --at) or current
// (the month of --at).
func parsePeriod(s, name string, at time.Time) (rating.Period, error) {
	switch s {
	case "":
		return rating.Period{}, usagef("--period is required (YYYY-MM, prev or current)")
	case "prev":
		return rating.PeriodOf(at).Prev(), nil
	case "current":
		return rating.PeriodOf(at), nil
	}
	p, err := rating.ParsePeriod(s)
	if err != nil {
		return p, usagef("%s: %v", name, err)
	}
	return p, nil
}

func (e *environment) logger(c *config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.logLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := c.logFormat
	if format == "auto" {
		format = "json"
		if isTerminal(e.stderr) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(e.stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(e.stderr, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// openStore opens the database and applies migrations.
func openStore(ctx context.Context, c *config, log *slog.Logger) (*store.Store, error) {
	st, err := store.Open(ctx, c.db, log)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", store.Redacted(c.db), err)
	}
	return st, nil
}

// openJobs applies the fixture defaults, then opens the store and wires the jobs of a command that
// reads usage. The returned func closes the store.
func (e *environment) openJobs(ctx context.Context, c *config) (*jobs.Jobs, func(), error) {
	if err := c.resolveDefaults(true, true); err != nil {
		return nil, nil, err
	}
	log := e.logger(c)
	st, err := openStore(ctx, c, log)
	if err != nil {
		return nil, nil, err
	}
	j, err := e.wire(ctx, c, log, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return j, func() { st.Close() }, nil
}

// checkAccountsKnown refuses, as bad usage naming the --account flag (or its variable), an account the
// ledger does not know: `rerun --account` and `standing --account` take it for a typo, before
// anything runs.
func checkAccountsKnown(ctx context.Context, st interface {
	AccountIDs(context.Context) ([]string, error)
}, c *config, accounts ...string) error {
	ids, err := st.AccountIDs(ctx)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		if !slices.Contains(ids, a) { // not a binary search: the database's collation orders ids
			return usagef("%s %s: no such account", c.flagName("account"), a)
		}
	}
	return nil
}

// atAndPeriod returns --at (or now) and the period flag resolved against it.
func (c *config) atAndPeriod(period string) (time.Time, rating.Period, error) {
	at, err := c.atTime()
	if err != nil {
		return at, rating.Period{}, err
	}
	p, err := parsePeriod(period, c.flagName("period"), at)
	return at, p, err
}

// wire builds the jobs for a command that reads usage.
func (e *environment) wire(ctx context.Context, c *config, log *slog.Logger, st jobs.Store) (*jobs.Jobs, error) {
	pb, hash, err := prices.Load(c.prices)
	if err != nil {
		return nil, err
	}
	j := &jobs.Jobs{Store: st, Exporter: exporter{}, PriceBook: pb, PriceBookHash: hash, OutDir: c.out, Logger: log,
		ReportWindow: usage.ReportWindow(c.maxGPUInterval)}
	if c.usage != "" {
		src, err := openSource(ctx, c, e.getenv, log)
		if err != nil {
			return nil, err
		}
		j.Usage = &usageReader{src: src, pb: pb, maxGPU: c.maxGPUInterval, workers: c.workers, log: log,
			progress: e.progressFunc(c)}
	}
	return j, nil
}

func openSource(ctx context.Context, c *config, getenv func(string) string, log *slog.Logger) (usage.Source, error) {
	if strings.HasPrefix(c.usage, "s3://") {
		bucket, prefix, err := usage.ParseS3URI(c.usage)
		if err != nil {
			return nil, usagef("%s: %v", c.flagName("usage"), err)
		}
		// Unless --s3-path-style (or its variable) says, an S3-compatible endpoint is addressed
		// path-style and AWS's own virtual-host style.
		return usage.NewS3(ctx, usage.S3Options{Bucket: bucket, Prefix: prefix, Endpoint: getenv("AWS_ENDPOINT_URL_S3"),
			PathStyle: c.s3PathStyle, AutoPathStyle: !c.set["s3-path-style"], Logger: log})
	}
	src, err := usage.NewLocal(c.usage)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", c.flagName("usage"), c.usage, err)
	}
	return src, nil
}
