package store

import (
	"io/fs"
	"time"

	"github.com/jmoiron/sqlx"
)

// SetLeaseTiming shortens the SQLite lock lease for tests.
func SetLeaseTiming(s *Store, ttl, renew time.Duration) { s.leaseTTL, s.leaseRenew = ttl, renew }

// DB exposes the connection pool to tests that must plant rows.
func DB(s *Store) *sqlx.DB { return s.db }

// FmtTime exposes the stored time form.
var FmtTime = fmtTime

// PostgresMigrations are the embedded PostgreSQL migrations, for tests that migrate down and up.
func PostgresMigrations() (fs.FS, error) { return fs.Sub(migrations, "migrations/postgres") }
