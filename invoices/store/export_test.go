package store

import (
	"context"
	"io/fs"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"

	"billrun/invoices"
)

// SetLeaseTiming shortens the SQLite lock lease for tests.
func SetLeaseTiming(s *Store, ttl, renew time.Duration) { s.leaseTTL, s.leaseRenew = ttl, renew }

// DB exposes the connection pool to tests that must plant rows.
func DB(s *Store) *sqlx.DB { return s.db }

// FmtTime exposes the stored time form.
var FmtTime = fmtTime

// Migrations returns a goose provider of s's embedded migrations on its database, for tests that
// migrate down and up.
func Migrations(s *Store) (*goose.Provider, error) {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	if s.dialect == dialectPostgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(dialect, s.db.DB, fsys, goose.WithDisableGlobalRegistry(true))
}

// CopyLineSets stores the lines of docs as those of the documents ids, in one transaction of the COPY
// path of PostgreSQL's issuing.
func CopyLineSets(ctx context.Context, s *Store, ids []int64, docs []*invoices.Document) error {
	out := make([]issued, len(ids))
	for i, id := range ids {
		out[i].id = id
	}
	return s.writeConn(ctx, func(conn *sqlx.Conn, tx *sqlx.Tx) error {
		sets := encodeLineSets(docs)
		if sets.err != nil {
			return sets.err
		}
		return s.copyLineSets(ctx, conn, out, sets)
	})
}

// RunByID reads one run's record.
func RunByID(s *Store, id string) (*invoices.Run, error) {
	var r runRow
	if err := s.db.Get(&r, s.q(`SELECT `+runColumns+` FROM runs WHERE id = ?`), id); err != nil {
		return nil, err
	}
	return r.run()
}

// AdvisoryKey is the advisory lock id of key in s's schema.
func AdvisoryKey(s *Store, key string) (int64, error) {
	var schema string
	err := s.db.QueryRowx(`SELECT current_schema()`).Scan(&schema)
	return advisoryKey(schema, key), err
}

// SetFenceWait sets how long taking a PostgreSQL lock waits for transactions still writing under the
// previous holder's fence.
func SetFenceWait(s *Store, d time.Duration) { s.fenceWait = d }
