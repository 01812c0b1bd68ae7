package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"billrun/invoices"
	"billrun/jobs"
	"billrun/rating"
)

// accountList collects repeated --account flags.
type accountList []string

func (a *accountList) String() string     { return strings.Join(*a, ",") }
func (a *accountList) Set(v string) error { *a = append(*a, v); return nil }

func runRerun(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("rerun", "rerun --period YYYY-MM|prev|current [--account A]... [--dry-run] [flags]", &c,
		flagSpec{db: true, usage: true, prices: true, out: true, at: true, rejects: true, wait: true})
	period := fs.String("period", e.getenv("BILLRUN_PERIOD"), "the month to rerun: YYYY-MM, prev or current (env BILLRUN_PERIOD)")
	dry := fs.Bool("dry-run", false, "print the per-account diff (old, new, delta, changed lines) and change nothing (env BILLRUN_DRY_RUN)")
	var accounts accountList
	fs.Var(&accounts, "account", "limit the rerun to this account; repeatable (env BILLRUN_ACCOUNT: one account)")
	if err := e.parse(fs, &c, args); err != nil {
		return err
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
	if len(accounts) > 0 {
		// Before any run is recorded.
		if err := checkAccountsKnown(ctx, j.Store, &c, accounts...); err != nil {
			return err
		}
	}
	started := time.Now()
	sum, err := j.Rerun(ctx, p, jobs.RerunOptions{At: at, Accounts: accounts, DryRun: *dry, MaxRejects: c.maxRejects, Wait: c.wait})
	if sum != nil {
		printRerun(e.stdout, p, *dry, sum, err)
		fmt.Fprintf(e.stdout, "  duration %s\n", time.Since(started).Round(time.Millisecond))
	}
	return err
}

// printRerun prints what a rerun did, or would do with dry; err is the rerun's error, whose kind the
// headline states as close's does.
func printRerun(w io.Writer, p rating.Period, dry bool, sum *jobs.RerunSummary, err error) {
	mode := outcome(err, "applied", "nothing changed")
	if err == nil && dry {
		mode = "DRY RUN — nothing changed"
	}
	fmt.Fprintf(w, "billrun rerun %s — %s\n", p, mode)
	if sum.Run != nil {
		fmt.Fprintf(w, "  run %s\n", sum.Run.ID)
	}
	changed := 0
	for _, c := range sum.Corrections {
		if c.Action == invoices.ActionNone {
			continue
		}
		changed++
		orig := ""
		if c.Original != nil {
			orig = " (" + c.Original.Number + ")"
		}
		fmt.Fprintf(w, "\n  %s%s: %s — old %s, new %s, delta %s\n", c.Account, orig, describeAction(c), c.Old, c.New, c.New-c.Old)
		for _, d := range c.Diffs {
			sign := "+"
			if d.Delta() < 0 {
				sign = ""
			}
			fmt.Fprintf(w, "    %-60s qty %s → %s   amount %s → %s (%s%s)\n", lineLabel(d.Line),
				rating.FormatQuantity(d.OldQuantity), rating.FormatQuantity(d.NewQuantity), d.OldAmount, d.NewAmount,
				sign, d.Delta())
		}
		if c.Doc != nil && c.Doc.Number != "" {
			fmt.Fprintf(w, "    issued %s %s: subtotal %s, credits %s, amount due %s\n", c.Doc.Kind, c.Doc.Number,
				c.Doc.Subtotal, c.Doc.CreditsApplied, c.Doc.AmountDue)
		}
	}
	fmt.Fprintf(w, "\n  %d accounts checked, %d changed, %d documents issued, %d voided, %d rejects\n",
		len(sum.Corrections), changed, len(sum.Issued), len(sum.Voided), len(sum.Rejects))
}

func describeAction(c invoices.Correction) string {
	switch c.Action {
	case invoices.ActionIssue:
		return "no invoice yet → issue one"
	case invoices.ActionReplace:
		return "changed, unpaid → void and issue a replacement"
	case invoices.ActionVoid:
		return "usage gone, unpaid → void"
	case invoices.ActionSupplementary:
		return "changed, paid or corrected → supplementary invoice"
	case invoices.ActionCreditNote:
		return "changed, paid or corrected → credit note"
	case invoices.ActionReportOnly:
		return "lines changed, net 0, paid or corrected → no document"
	}
	return "unchanged"
}

func lineLabel(l rating.Line) string {
	if l.Kind == rating.KindDiscount {
		return "discount on_demand"
	}
	s := fmt.Sprintf("%s %s %s @ %s", l.Kind, l.Product, l.Meter, rating.FormatPrice(l.UnitPrice))
	if l.Deployment != "" {
		s = fmt.Sprintf("%s %s/%s %s @ %s", l.Kind, l.Deployment, l.Product, l.Meter, rating.FormatPrice(l.UnitPrice))
	}
	return s
}
