package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"billrun/exporters"
	"billrun/invoices"
)

func runStanding(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("standing", "standing [--format table|json|csv] [--account A] [--history] [flags]", &c, flagSpec{db: true, at: true})
	fs.Lookup("at").Usage = "RFC 3339 (env BILLRUN_AT), only checked: standing prints what the last close, rerun or sweep\n" +
		"stored, each row with its evaluated_at"
	format := fs.String("format", "table", "table, json (billrun.standing/v1, what the API gateway reads) or csv (env BILLRUN_FORMAT)")
	history := fs.Bool("history", false, "print the history of standing changes (time, old → new, reasons, run) instead (env BILLRUN_HISTORY)")
	account := fs.String("account", "", "only this account (its row, or with --history its changes) (env BILLRUN_ACCOUNT)")
	if err := e.parse(fs, &c, args); err != nil {
		return err
	}
	switch *format {
	case "table", "json", "csv":
	default:
		return usagef("%s %q: want table, json or csv", c.flagName("format"), *format)
	}
	// Every command takes --at (DESIGN §10). standing prints what the last close, rerun or sweep
	// evaluated and stored (each row says when); `sweep --at T` evaluates standing at T.
	if _, err := c.atTime(); err != nil {
		return err
	}
	log := e.logger(&c)
	st, err := openStore(ctx, &c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if *account != "" {
		// An account the ledger does not know is a typo, not an account without standing.
		if err := checkAccountsKnown(ctx, st, &c, *account); err != nil {
			return err
		}
	}
	if *history {
		events, err := st.StandingEvents(ctx)
		if err != nil {
			return err
		}
		if *account != "" {
			events = slices.DeleteFunc(events, func(ev invoices.StandingEvent) bool { return ev.Account != *account })
		}
		return printStandingHistory(e, *format, events)
	}
	rows, err := st.Standing(ctx)
	if err != nil {
		return err
	}
	if *account != "" {
		rows = slices.DeleteFunc(rows, func(r invoices.Standing) bool { return r.Account != *account })
	}
	switch *format {
	case "json":
		return exporter{}.WriteStandingJSON(e.stdout, rows)
	case "csv":
		w := csv.NewWriter(e.stdout)
		_ = w.Write([]string{"account", "status", "reasons", "tier", "spend_limit", "usage_limit", "month_usage", "credit_balance", "evaluated_at"})
		for _, s := range rows {
			cells := standingCells(s)
			for i := range cells { // texts and numbers alike (DESIGN §9): a negative balance is '-1.00
				cells[i] = exporters.EscapeText(cells[i])
			}
			_ = w.Write(cells)
		}
		w.Flush()
		return w.Error()
	case "table":
		out := bufio.NewWriter(e.stdout)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ACCOUNT\tSTATUS\tREASONS\tTIER\tSPEND LIMIT\tUSAGE LIMIT\tMONTH USAGE\tCREDIT\tEVALUATED AT")
		for _, s := range rows {
			fmt.Fprintln(w, strings.Join(standingCells(s), "\t"))
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
		// Standing rows exist for the accounts evaluated at least once (DESIGN §11): say which accounts
		// the table leaves out for want of one, on stderr, so that the table stays a table.
		ids, err := st.AccountIDs(ctx)
		if err != nil {
			return err
		}
		evaluated := make(map[string]bool, len(rows))
		for _, r := range rows {
			evaluated[r.Account] = true
		}
		ids = slices.DeleteFunc(ids, func(id string) bool { return evaluated[id] || (*account != "" && id != *account) })
		if len(ids) > 0 {
			const shown = 10
			list := strings.Join(ids[:min(len(ids), shown)], ", ")
			if len(ids) > shown {
				list += fmt.Sprintf(" and %d more", len(ids)-shown)
			}
			fmt.Fprintf(e.stderr, "not evaluated yet (imported since the last close, rerun or sweep; billrun sweep evaluates every account): %s\n", list)
		}
		return nil
	}
	return usagef("%s %q: want table, json or csv", c.flagName("format"), *format)
}

func standingCells(s invoices.Standing) []string {
	reasons := make([]string, len(s.Reasons))
	for i, r := range s.Reasons {
		reasons[i] = string(r)
	}
	return []string{s.Account, string(s.Status), strings.Join(reasons, ","), strconv.Itoa(s.Tier), s.SpendLimit.String(),
		s.UsageLimit.String(), s.MonthUsage.String(), s.CreditBalance.String(), s.EvaluatedAt.Format(time.RFC3339)}
}

type standingEventJSON struct {
	Account    string   `json:"account"`
	At         string   `json:"at"`
	OldStatus  *string  `json:"old_status"`
	NewStatus  string   `json:"new_status"`
	OldReasons []string `json:"old_reasons"`
	Reasons    []string `json:"reasons"`
	RunID      string   `json:"run_id"`
}

func printStandingHistory(e *environment, format string, events []invoices.StandingEvent) error {
	reasons := func(rs []invoices.Reason) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, string(r))
		}
		return out
	}
	switch format {
	case "json":
		out := struct {
			Schema string              `json:"schema"`
			Events []standingEventJSON `json:"events"`
		}{Schema: "billrun.standing-history/v1", Events: []standingEventJSON{}}
		for _, ev := range events {
			j := standingEventJSON{Account: ev.Account, At: ev.At.Format(time.RFC3339Nano), NewStatus: string(ev.NewStatus),
				OldReasons: reasons(ev.OldReasons), Reasons: reasons(ev.Reasons), RunID: ev.RunID}
			if ev.OldStatus != "" {
				old := string(ev.OldStatus)
				j.OldStatus = &old
			}
			out.Events = append(out.Events, j)
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "csv", "table":
		header := []string{"at", "account", "old_status", "new_status", "old_reasons", "reasons", "run_id"}
		cells := func(ev invoices.StandingEvent) []string {
			return []string{ev.At.Format(time.RFC3339), ev.Account, string(ev.OldStatus), string(ev.NewStatus),
				strings.Join(reasons(ev.OldReasons), ","), strings.Join(reasons(ev.Reasons), ","), ev.RunID}
		}
		if format == "csv" {
			w := csv.NewWriter(e.stdout)
			_ = w.Write(header)
			for _, ev := range events {
				c := cells(ev)
				for i := range c { // every cell (DESIGN §9)
					c[i] = exporters.EscapeText(c[i])
				}
				_ = w.Write(c)
			}
			w.Flush()
			return w.Error()
		}
		out := bufio.NewWriter(e.stdout)
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, strings.ToUpper(strings.Join(header, "\t")))
		for _, ev := range events {
			fmt.Fprintln(w, strings.Join(cells(ev), "\t"))
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return out.Flush()
	}
	return usagef("--format %q: want table, json or csv", format)
}
