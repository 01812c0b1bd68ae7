package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"billrun/invoices"
)

func runStanding(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("standing", "standing [--format table|json|csv] [flags]", &c, flagSpec{db: true})
	format := fs.String("format", "table", "table, json (billrun.standing/v1, what the API gateway reads) or csv")
	if err := e.parse(fs, &c, args); err != nil {
		return err
	}
	log := e.logger(&c)
	st, err := openStore(ctx, &c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	rows, err := st.Standing(ctx)
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		return exporter{}.WriteStandingJSON(e.stdout, rows)
	case "csv":
		w := csv.NewWriter(e.stdout)
		_ = w.Write([]string{"account", "status", "reasons", "tier", "spend_limit", "usage_limit", "month_usage", "credit_balance", "evaluated_at"})
		for _, s := range rows {
			_ = w.Write(standingCells(s))
		}
		w.Flush()
		return w.Error()
	case "table":
		w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ACCOUNT\tSTATUS\tREASONS\tTIER\tSPEND LIMIT\tUSAGE LIMIT\tMONTH USAGE\tCREDIT\tEVALUATED AT")
		for _, s := range rows {
			fmt.Fprintln(w, strings.Join(standingCells(s), "\t"))
		}
		return w.Flush()
	}
	return usagef("--format %q: want table, json or csv", *format)
}

func standingCells(s invoices.Standing) []string {
	reasons := make([]string, len(s.Reasons))
	for i, r := range s.Reasons {
		reasons[i] = string(r)
	}
	return []string{s.Account, string(s.Status), strings.Join(reasons, ","), strconv.Itoa(s.Tier), s.SpendLimit.String(),
		s.UsageLimit.String(), s.MonthUsage.String(), s.CreditBalance.String(), s.EvaluatedAt.Format(time.RFC3339)}
}
