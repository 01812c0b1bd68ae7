package store

import (
	"io/fs"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
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
