package main

import (
	"context"
	"fmt"

	"billrun/invoices/accountsfile"
	"billrun/invoices/store"
	"billrun/jobs"
)

func runAccountsImport(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("accounts import", "accounts import FILE [flags]", &c, flagSpec{db: true, at: true})
	// Accept the file anywhere among the flags: Go's flag parsing stops at the first word that is not
	// a flag, so parse up to it, take the word, and parse on after it (`accounts import --at T FILE
	// --db D` left --db unread). After "--" every word is a word.
	var words []string
	for rest := args; len(rest) > 0; {
		if err := e.parseFlags(fs, rest); err != nil {
			return err
		}
		parsed := rest[:len(rest)-fs.NArg()]
		if rest = fs.Args(); len(parsed) > 0 && parsed[len(parsed)-1] == "--" {
			words = append(words, rest...)
			break
		}
		if len(rest) > 0 {
			words, rest = append(words, rest[0]), rest[1:]
		}
	}
	if err := e.parseArgs(fs, &c, nil); err != nil { // the environment and the checks every command has
		return err
	}
	var file string
	extra := words
	if len(extra) > 0 {
		file, extra = extra[0], extra[1:]
	}
	if file == "" || len(extra) > 0 {
		fs.Usage()
		if len(extra) > 0 {
			return usagef("accounts import: want exactly one FILE, got %q as well", store.Redacted(extra[0]))
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
	if n := len(res.Unissued); n > 0 {
		fmt.Fprintf(e.stdout, "warning: %d payment(s) name an invoice not issued, so pay nothing until it is (the log lists them): %s names %s",
			n, res.Unissued[0].Payment, res.Unissued[0].Invoice)
		if n > 1 {
			fmt.Fprintf(e.stdout, ", …")
		}
		fmt.Fprintln(e.stdout)
	}
	return nil
}
