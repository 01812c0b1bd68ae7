// Command billrun is the month-close billing job: it rates raw usage, issues invoices, applies credits,
// keeps account standing and writes the finance exports. Run `billrun help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"billrun/invoices"
	"billrun/jobs"
)

// Exit codes of DESIGN §10.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitRejects   = 3
	exitReconcile = 4
	exitLocked    = 5
)

func main() {
	if len(os.Args) > 1 && readsUsage(os.Args[1]) {
		adviseHugeHeap(os.Getenv("GODEBUG"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	code := exitCode(err)
	if err != nil && !errors.Is(err, errHelp) {
		fmt.Fprintf(os.Stderr, "billrun: %v\n", err)
	}
	os.Exit(code)
}

// readsUsage reports whether command reads raw usage: the commands whose heap holds a month's
// accumulators, and so are worth huge pages (adviseHugeHeap); the others stay small.
func readsUsage(command string) bool {
	switch command {
	case "close", "rate", "rerun", "reconcile", "sweep", "schedule":
		return true
	}
	return false
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// errHelp is returned after help was printed on request.
var errHelp = errors.New("help requested")

func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, jobs.ErrTooManyRejects):
		return exitRejects
	case errors.Is(err, jobs.ErrDifferences):
		return exitReconcile
	case errors.Is(err, invoices.ErrLocked):
		return exitLocked
	}
	return exitError
}

const topUsage = `billrun — month-close billing for usage-billed AI inference

Usage: billrun <command> [flags]

Commands:
  close            read, rate and issue the invoices of a period; sweep standing; write exports
  rate             preview a period: read and rate exactly as close would, write nothing
  rerun            re-rate a period after late or corrected usage and correct its documents
  reconcile        compare a period's documents with raw usage and the ledger; exit 4 on differences
  export           write a period's invoices.json, CSV or XLSX workbook from the database
  sweep            rate month-to-date usage and update every account's standing
  schedule         run close, sweep and reconcile on their cron schedules (UTC); /healthz, /metrics
  standing         print the stored standing of every account (table, json, csv)
  accounts import  upsert accounts, contracts, credit grants and payments from a YAML/JSON file
  migrate          apply database migrations and exit

Run 'billrun <command> -h' for a command's flags. Exit codes: 0 ok, 1 error, 2 bad usage,
3 rejects over --max-rejects, 4 reconcile found differences, 5 another run holds the period.
`

// run is billrun without the process: tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	env := &environment{getenv: getenv, stdout: stdout, stderr: stderr}
	switch cmd {
	case "close":
		return runClose(ctx, env, rest)
	case "rate":
		return runRate(ctx, env, rest)
	case "rerun":
		return runRerun(ctx, env, rest)
	case "reconcile":
		return runReconcile(ctx, env, rest)
	case "export":
		return runExport(ctx, env, rest)
	case "schedule":
		return runSchedule(ctx, env, rest)
	case "sweep":
		return runSweep(ctx, env, rest)
	case "standing":
		return runStanding(ctx, env, rest)
	case "accounts":
		const accountsUsage = "Usage: billrun accounts import FILE [flags]\n\nRun 'billrun accounts import -h' for its flags.\n"
		switch {
		case len(rest) > 0 && rest[0] == "import":
			return runAccountsImport(ctx, env, rest[1:])
		case len(rest) > 0 && isHelp(rest[0]):
			fmt.Fprint(stdout, accountsUsage)
			return errHelp
		}
		fmt.Fprint(stderr, accountsUsage)
		return usagef("accounts: want the subcommand import")
	case "migrate":
		return runMigrate(ctx, env, rest)
	}
	if isHelp(cmd) {
		fmt.Fprint(stdout, topUsage)
		return errHelp
	}
	fmt.Fprint(stderr, topUsage)
	return usagef("unknown command %q", cmd)
}

// isHelp reports whether word asks for help, as the flag package takes -h and -help.
func isHelp(word string) bool {
	switch word {
	case "help", "-h", "--help", "-help":
		return true
	}
	return false
}
