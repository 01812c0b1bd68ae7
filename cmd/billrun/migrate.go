package main

import (
	"context"
	"fmt"

	"billrun/invoices/store"
)

func runMigrate(ctx context.Context, e *environment, args []string) error {
	var c config
	fs := e.flags("migrate", "migrate [--db DSN]", &c, flagSpec{db: true, at: true})
	fs.Lookup("at").Usage = "RFC 3339 (env BILLRUN_AT), only checked: migrations do not depend on the time"
	if err := e.parse(fs, &c, args); err != nil {
		return err
	}
	// Every command takes --at (DESIGN §10); migrations do not depend on the time, so it is only checked.
	if _, err := c.atTime(); err != nil {
		return err
	}
	st, err := openStore(ctx, &c, e.logger(&c))
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(e.stdout, "database %s is migrated\n", store.Redacted(c.db))
	return nil
}
