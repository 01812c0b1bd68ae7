package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"text/tabwriter"

	"billrun/invoices"
	"billrun/invoices/accountsfile"
	"billrun/invoices/store"
	"billrun/jobs"
	"billrun/rating"
)

func runRate(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("rate", "rate --period YYYY-MM|prev|current [--format table|json] [flags]", &c,
		flagSpec{db: true, usage: true, prices: true, accounts: true, at: true, rejects: true})
	fs.Lookup("accounts").Usage = "accounts file to rate against instead of the database's accounts; nothing is imported\n" +
		"(env BILLRUN_ACCOUNTS; default " + fixtureAccounts + " only with the default --db, if it exists, and while\n" +
		"that database holds no accounts: once a close imported them, rate reads them there, as the close does)"
	fs.Lookup("max-rejects").Usage = "most rejected usage lines tolerated; past them rate prints the drafts and exits 3\n" +
		"(env BILLRUN_MAX_REJECTS)"
	period := fs.String("period", e.getenv("BILLRUN_PERIOD"), "the month to rate: YYYY-MM, prev or current (env BILLRUN_PERIOD)")
	format := fs.String("format", "table", "output: table or json (the billrun.period/v1 shape with drafts and counts) (env BILLRUN_FORMAT)")
	prof := profileFlags(fs)
	if err := e.parse(fs, &c, args); err != nil {
		return err
	}
	stopProfiles, err := prof.start()
	if err != nil {
		return err
	}
	defer stopProfiles()
	if *format != "table" && *format != "json" {
		return usagef("%s %q: want table or json", c.flagName("format"), *format)
	}
	at, p, err := c.atAndPeriod(*period)
	if err != nil {
		return err
	}
	if err := c.resolveDefaults(true, true); err != nil {
		return err
	}
	log := e.logger(&c)
	opts := jobs.RateOptions{At: at, MaxRejects: c.maxRejects}
	var st jobs.Store
	if c.accounts != "" && !c.set["accounts"] {
		// The demo's fixture accounts, not a file the user named. rate previews what close would do,
		// and a close imports that file into billrun.db and bills from the database: the credits
		// earlier periods' invoices consumed are there, not in the file. So once billrun.db holds
		// accounts, rate reads them (DESIGN §8: "exactly as close would"); on a fresh demo the file is
		// what the close would import into an empty database.
		s, err := openDemoLedger(ctx, &c, log)
		if err != nil {
			return err
		}
		if s != nil {
			defer s.Close()
			log.Info("rate: accounts from the demo database, which the close imported "+fixtureAccounts+" into",
				"db", c.db)
			c.accounts, st = "", s
		}
	}
	switch {
	case c.accounts != "":
		imp, err := accountsfile.Load(c.accounts)
		if err != nil {
			return err
		}
		if opts.Accounts, err = jobs.AccountsFromImport(imp); err != nil {
			return fmt.Errorf("accounts file %s: %w", c.accounts, err)
		}
	case st == nil: // not the demo database, opened above
		s, err := openStore(ctx, &c, log)
		if err != nil {
			return err
		}
		defer s.Close()
		st = s
	}
	j, err := e.wire(ctx, &c, log, st)
	if err != nil {
		return err
	}
	rep, err := j.Rate(ctx, p, opts)
	if rep != nil {
		if *format == "json" {
			if werr := j.Exporter.WriteJSON(e.stdout, rep); werr != nil {
				return werr
			}
		} else {
			printDrafts(e, rep)
		}
	}
	if err != nil && !errors.Is(err, jobs.ErrTooManyRejects) {
		return err
	}
	return err
}

// openDemoLedger opens the default SQLite database when its file exists and holds accounts, and
// returns nil (creating nothing) otherwise.
func openDemoLedger(ctx context.Context, c *config, log *slog.Logger) (*store.Store, error) {
	if _, err := os.Stat(strings.TrimPrefix(c.db, "sqlite:")); err != nil {
		return nil, nil
	}
	s, err := openStore(ctx, c, log)
	if err != nil {
		return nil, err
	}
	ids, err := s.AccountIDs(ctx)
	if err != nil || len(ids) == 0 {
		s.Close()
		return nil, err
	}
	return s, nil
}

// profiles are the --cpuprofile and --memprofile flags of the commands that read usage.
type profiles struct{ cpu, mem *string }

func profileFlags(fs *flag.FlagSet) profiles {
	return profiles{
		cpu: fs.String("cpuprofile", "", "write a CPU profile of the run to this file, for benchmarks (env BILLRUN_CPUPROFILE)"),
		mem: fs.String("memprofile", "", "write a heap profile at the end of the run to this file, for benchmarks (env BILLRUN_MEMPROFILE)"),
	}
}

func (p profiles) start() (func(), error) { return startProfiles(*p.cpu, *p.mem) }

// startProfiles starts a CPU profile when cpu is set; the returned func stops it and writes a heap
// profile when mem is set. Errors writing the heap profile are ignored: it is a diagnostic.
func startProfiles(cpu, mem string) (stop func(), err error) {
	var f *os.File
	if cpu != "" {
		if f, err = os.Create(cpu); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
		if mem != "" {
			if m, err := os.Create(mem); err == nil {
				_ = pprof.Lookup("heap").WriteTo(m, 0)
				m.Close()
			}
		}
	}, nil
}

func printDrafts(e *environment, rep *invoices.Report) {
	// tabwriter writes every cell and every run of padding on its own: through a buffer, not one
	// write system call each.
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(out, "billrun rate %s — drafts, nothing written\n\n", rep.Period)
	fmt.Fprintln(w, "account\tlines\tsubtotal\tdiscount\tcredits\tamount due\t")
	for _, d := range rep.Docs {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t\n", d.Account, len(d.Lines), d.Subtotal, d.Discount, d.CreditsApplied, d.AmountDue)
	}
	t := rep.Run.Totals
	fmt.Fprintf(w, "TOTAL (%d drafts)\t\t%s\t%s\t%s\t%s\t\n", t.Documents, t.Subtotal, t.Discount, t.CreditsApplied, t.AmountDue)
	w.Flush()
	cn := rep.Run.Counts
	fmt.Fprintf(out, "\nusage: %d objects, %s, %d lines, %d events taken, %d accepted, %d duplicates, %d rejects\n",
		cn.Objects, humanBytes(cn.Bytes), cn.Lines, cn.EventsTaken, cn.Accepted, cn.Duplicates, len(rep.Rejects))
	for _, code := range rating.RejectCodes {
		if n := cn.RejectsByCode[code]; n > 0 {
			fmt.Fprintf(out, "  rejects %-22s %d\n", code, n)
		}
	}
	for i, r := range rep.Rejects {
		if i == 20 {
			fmt.Fprintf(out, "  … %d more (billrun close writes them all to rejects.csv)\n", len(rep.Rejects)-20)
			break
		}
		fmt.Fprintf(out, "  %s:%d %s %s: %s\n", r.Object, r.Line, r.EventID, r.Code, r.Message)
	}
}
