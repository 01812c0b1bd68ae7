package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"billrun/jobs"
)

func runExport(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("export", "export --period YYYY-MM|prev|current --format json|csv|xlsx [--out PATH] [flags]", &c, flagSpec{db: true, at: true, wait: true})
	period := fs.String("period", e.getenv("BILLRUN_PERIOD"), "the month to export: YYYY-MM, prev or current (env BILLRUN_PERIOD)")
	format := fs.String("format", "json", "json (billrun.period/v1), csv (one row per invoice line) or xlsx (the finance workbook)\n"+
		"(env BILLRUN_FORMAT)")
	out := fs.String("out", "", "file to write, or a directory to write the format's usual file in (invoices.json,\n"+
		"invoices.csv, billrun-PERIOD.xlsx) (env BILLRUN_OUT); default stdout for json and csv,\n"+
		"out/PERIOD/billrun-PERIOD.xlsx for xlsx")
	prof := profileFlags(fs)
	// An export reads the period under its run lock, so that it never shows a close or rerun half-way;
	// a finance user exporting while one runs gets the export once it is done, not exit 5.
	c.wait = true
	w := fs.Lookup("wait")
	w.DefValue, w.Usage = "true", "wait for a close, rerun, sweep or reconcile holding the period's lock to finish;\n"+
		"--wait=false exits 5 instead (env BILLRUN_WAIT)"
	if err := e.parse(fs, &c, args); err != nil {
		return err
	}
	stopProfiles, err := prof.start()
	if err != nil {
		return err
	}
	defer stopProfiles()
	at, p, err := c.atAndPeriod(*period)
	if err != nil {
		return err
	}
	log := e.logger(&c)
	st, err := openStore(ctx, &c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	j := &jobs.Jobs{Store: st, Exporter: exporter{}, Logger: log}
	// start opens the format's stream on w; jobs.ExportTo hands it the period's lines a batch at a time
	// as it reads them.
	var start func(w io.Writer, currency string, docs, lines int) (jobs.PeriodStream, error)
	var name string // the file's name when --out is a directory: the one close writes, for json and xlsx
	switch *format {
	case "json":
		name = "invoices.json"
		start = func(w io.Writer, currency string, _, _ int) (jobs.PeriodStream, error) {
			return exporter{}.StartJSON(w, p, currency)
		}
	case "csv":
		name = "invoices.csv"
		start = func(w io.Writer, _ string, _, _ int) (jobs.PeriodStream, error) {
			return exporter{}.StartInvoicesCSV(w)
		}
	case "xlsx":
		name = "billrun-" + p.String() + ".xlsx"
		start = func(w io.Writer, currency string, docs, lines int) (jobs.PeriodStream, error) {
			return exporter{}.StartXLSX(w, p, currency, docs, lines)
		}
		if *out == "" {
			*out = filepath.Join("out", p.String(), name)
		}
	default:
		return usagef("%s %q: want json, csv or xlsx", c.flagName("format"), *format)
	}
	if *out == "" {
		// To stdout the lock is released once the documents are read: a pager reading slowly holds up
		// no close or rerun of the period.
		return j.Export(ctx, p, at, c.wait, func(currency string, docs, lines int) (jobs.PeriodStream, error) {
			return start(e.stdout, currency, docs, lines)
		})
	}
	// A directory — one that exists, or any path ending in a separator — gets the format's usual file,
	// as cp does: renaming the export onto the directory would fail after all the work.
	if fi, err := os.Stat(*out); (err == nil && fi.IsDir()) || os.IsPathSeparator((*out)[len(*out)-1]) {
		*out = filepath.Join(*out, name)
	}
	// The export takes the period's lock before it opens its output — WriteFileAtomic creates the
	// directory and the temporary file only once the lock is held — and holds it until the file is in
	// place: its path may be the close's own, which a close or rerun of the period writes.
	if err := j.ExportTo(ctx, p, at, c.wait, func(write func(io.Writer) error) error { return jobs.WriteFileAtomic(*out, write) },
		start); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote %s\n", *out)
	return nil
}
