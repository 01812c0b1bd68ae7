package main

import (
	"context"
	"fmt"

	"billrun/invoices/accountsfile"
	"billrun/jobs"
)

func runAccountsImport(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("accounts import", "accounts import FILE [flags]", &c, flagSpec{db: true, at: true})
	// Accept the file before or after the flags.
	var file string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := e.parseArgs(fs, &c, args); err != nil {
		return err
	}
	extra := fs.Args()
	if file == "" && len(extra) > 0 {
		file, extra = extra[0], extra[1:]
	}
	if file == "" || len(extra) > 0 {
		fs.Usage()
		if len(extra) > 0 {
			return usagef("accounts import: want exactly one FILE, got %q as well (flags after it would be ignored)", extra[0])
		}
		return usagef("accounts import: want exactly one FILE")
	}
	at, err := c.atTime()
	if err != nil {
		return err
	}
	imp, err := accountsfile.Load(file)
	if err != nil {
		return err
	}
	log := e.logger(&c)
	st, err := openStore(ctx, &c, log)
	if err != nil {
		return err
	}
	defer st.Close()
	j := &jobs.Jobs{Store: st, Logger: log}
	res, run, err := j.ImportAccountsRun(ctx, imp, at, file)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "imported %s: %d accounts, %d credit grants, %d payments (run %s)\n", file, res.Accounts,
		res.Grants, res.Payments, run.ID)
	return nil
}
