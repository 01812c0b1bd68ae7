package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"

	"billrun/exporters"
	"billrun/invoices"
	"billrun/jobs"
	"billrun/rating"
)

func runReconcile(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("reconcile", "reconcile --period YYYY-MM|prev|current [--format text|json] [flags]", &c,
		flagSpec{db: true, usage: true, prices: true, out: true, at: true, wait: true})
	period := fs.String("period", e.getenv("BILLRUN_PERIOD"), "the month to reconcile: YYYY-MM, prev or current (env BILLRUN_PERIOD)")
	format := fs.String("format", "text", "report on stdout: text or json (billrun.reconcile/v1) (env BILLRUN_FORMAT)")
	if err := e.parse(fs, &c, args); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usagef("%s %q: want text or json", c.flagName("format"), *format)
	}
	at, p, err := c.atAndPeriod(*period)
	if err != nil {
		return err
	}
	j, done, err := e.openJobs(ctx, &c)
	if err != nil {
		return err
	}
	defer done()
	rec, err := j.ReconcileLocked(ctx, p, at, c.wait)
	if err != nil {
		return err
	}
	jsonPath, xlsxPath, err := writeReconciliation(c.out, rec, j.PriceBook.Currency)
	if err != nil {
		return err
	}
	if *format == "json" {
		if err := exporters.WriteReconciliationJSON(e.stdout, rec); err != nil {
			return err
		}
	} else {
		printReconciliation(e.stdout, rec)
		fmt.Fprintf(e.stdout, "  wrote %s\n  wrote %s\n", jsonPath, xlsxPath)
	}
	if !rec.Clean() {
		return fmt.Errorf("reconcile %s: %d object, %d usage and %d ledger differences: %w", p,
			len(rec.Objects), len(rec.Usage), len(rec.Ledger), jobs.ErrDifferences)
	}
	return nil
}

func printReconciliation(w io.Writer, rec *invoices.Reconciliation) {
	verdict := "CLEAN"
	if !rec.Clean() {
		verdict = "DIFFERENCES FOUND"
	}
	fmt.Fprintf(w, "billrun reconcile %s at %s — %s\n", rec.Period, rec.At.Format("2006-01-02T15:04:05Z07:00"), verdict)
	if rec.RunID == "" {
		fmt.Fprintf(w, "  no close or rerun of %s has run yet\n", rec.Period)
	} else {
		fmt.Fprintf(w, "  compared with run %s\n", rec.RunID)
	}
	fmt.Fprintf(w, "\n  1. usage objects since that run: %d changes\n", len(rec.Objects))
	for _, o := range rec.Objects {
		switch o.Change {
		case "changed":
			fmt.Fprintf(w, "     changed  %s (size %d → %d, etag %s → %s)\n", o.Key, o.Old.Size, o.New.Size, o.Old.ETag, o.New.ETag)
		case "added":
			fmt.Fprintf(w, "     added    %s (%d bytes)\n", o.Key, o.New.Size)
		default:
			fmt.Fprintf(w, "     removed  %s\n", o.Key)
		}
	}
	fmt.Fprintf(w, "\n  2. raw usage re-rated vs invoiced: %d lines differ\n", len(rec.Usage))
	for _, u := range rec.Usage {
		fmt.Fprintf(w, "     %s %-56s qty %s → %s  amount %s → %s (delta %s)\n", u.Account, lineLabel(u.Line),
			rating.FormatQuantity(u.OldQuantity), rating.FormatQuantity(u.NewQuantity), u.OldAmount, u.NewAmount, u.Delta())
	}
	fmt.Fprintf(w, "\n  3. ledger checks: %d problems\n", len(rec.Ledger))
	for _, l := range rec.Ledger {
		fmt.Fprintf(w, "     %s %s: %s\n", l.Check, l.Subject, l.Message)
	}
	rj := rec.Rejects
	fmt.Fprintf(w, "\n  rejected usage lines: %d in the fresh read, %d new since that run, %d no longer rejected\n", rj.Total, rj.New, rj.Gone)
	for _, code := range slices.Sorted(maps.Keys(rj.ByCode)) {
		fmt.Fprintf(w, "     %-22s %d new\n", code, rj.ByCode[code])
	}
	for _, r := range rj.Sample {
		fmt.Fprintf(w, "     %s line %d %s: %s\n", r.Object, r.Line, r.Code, r.Message)
	}
	if rj.New > len(rj.Sample) {
		fmt.Fprintf(w, "     … and %d more not listed\n", rj.New-len(rj.Sample))
	}
	fmt.Fprintf(w, "\n  4. payments: %d open, %d overdue, %d overpaid\n", len(rec.Open), len(rec.Overdue), len(rec.Overpaid))
	for _, g := range []struct {
		name string
		ps   []invoices.PaymentState
	}{{"open", rec.Open}, {"overdue", rec.Overdue}, {"overpaid", rec.Overpaid}} {
		for _, p := range g.ps {
			fmt.Fprintf(w, "     %-8s %s %s: due %s, paid %s\n", g.name, p.Number, p.Account, p.AmountDue, p.AmountPaid)
		}
	}
	if rec.Clean() {
		fmt.Fprintln(w, "\n  everything invoiced ties back to raw usage and the ledger is consistent")
	} else {
		fmt.Fprintln(w, "\n  preview the fix with: billrun rerun --period "+rec.Period.String()+" --dry-run")
	}
}

// writeReconciliation writes DIR/P/reconciliation.json and DIR/P/reconciliation-P.xlsx (`billrun
// reconcile` and the scheduler's reconcile firings) and returns their paths.
func writeReconciliation(out string, rec *invoices.Reconciliation, currency string) (string, string, error) {
	p := rec.Period
	dir := filepath.Join(out, p.String())
	jsonPath, xlsxPath := filepath.Join(dir, "reconciliation.json"), filepath.Join(dir, "reconciliation-"+p.String()+".xlsx")
	if err := jobs.WriteFileAtomic(jsonPath, func(w io.Writer) error { return exporters.WriteReconciliationJSON(w, rec) }); err != nil {
		return "", "", err
	}
	if err := jobs.WriteFileAtomic(xlsxPath, func(w io.Writer) error {
		return exporters.WriteReconciliationXLSX(w, rec, currency)
	}); err != nil {
		return "", "", err
	}
	return jsonPath, xlsxPath, nil
}
