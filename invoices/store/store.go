package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"billrun/invoices"
)

//go:embed migrations
var migrations embed.FS

func init() {
	// sqlx does not know modernc's driver name; it takes ? placeholders like sqlite3.
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// sqliteBusyTimeoutMillis is how long a SQLite writer waits for another one before SQLITE_BUSY.
const sqliteBusyTimeoutMillis = 30000

// Store is billrun's persistence on SQLite or PostgreSQL. It is safe for concurrent use.
type Store struct {
	db      *sqlx.DB
	dialect dialect
	logger  *slog.Logger
	now     func() time.Time // wall clock for lock leases only; business times come from callers

	// lease timing of SQLite run locks; fields so tests can shorten them.
	leaseTTL, leaseRenew, lockPoll time.Duration
	// fenceWait bounds how long taking a PostgreSQL lock waits for transactions still writing under
	// the previous holder's fence (tryAdvisory); below releaseTimeout, so that only the fence write is
	// cancelled, never the lock session.
	fenceWait time.Duration

	// insertSQL's texts, by insertKey: a close sends thousands of multi-row INSERTs of a few shapes.
	insertTexts sync.Map

	advisory advisorySession // PostgreSQL: the session its run locks are held on
	leases   sync.Map        // SQLite: key → holder of each lease this store holds (CheckLock)
}

// CheckDSN reports whether dsn names a database as Open takes it — "sqlite:PATH" with a path, or a
// PostgreSQL URL its driver can parse — without connecting. Its errors never contain the password.
func CheckDSN(dsn string) error {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		if strings.TrimPrefix(dsn, "sqlite:") == "" {
			return errors.New("a sqlite DSN needs a path, e.g. sqlite:billrun.db")
		}
		return nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		cfg, err := pgconn.ParseConfig(dsn)
		if err != nil {
			if strings.ContainsAny(userInfoOf(dsn), "/?#") {
				// pgx quotes the connection string with what it took for the password masked, and a
				// raw / ? or # moves where it ends: name the cause, quote nothing.
				return errors.New("cannot parse the URL: percent-encode / ? # and @ in the user and password (%2F %3F %23 %40)")
			}
			return errors.New(redactErr(err, dsn))
		}
		for _, h := range append([]*pgconn.FallbackConfig{{Host: cfg.Host}}, cfg.Fallbacks...) {
			if strings.Contains(h.Host, "@") {
				// A raw @ in the password is not a URL: billrun's redaction (at the last @) and pgx (at
				// the first) split it in different places, and pgx's errors named the rest of the
				// password as a host.
				return errors.New("the user and password hold an @, / ? or # that is not percent-encoded: write them as %40 %2F %3F %23")
			}
		}
		return nil
	}
	return errors.New("want sqlite:PATH or postgres://USER:PASS@HOST/DB")
}

// Open connects to the database named by dsn and applies any pending migrations. dsn is
// "sqlite:PATH" (the file is created if absent) or a "postgres://" or "postgresql://" URL. Errors
// never contain the DSN's password. A nil logger discards logs.
func Open(ctx context.Context, dsn string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{logger: logger, now: time.Now,
		leaseTTL: 10 * time.Minute, leaseRenew: time.Minute, lockPoll: 200 * time.Millisecond,
		fenceWait: 5 * time.Second}
	if err := CheckDSN(dsn); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", Redacted(dsn), err)
	}
	var driver, source, dir string
	var gooseDialect goose.Dialect
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		s.dialect, driver, dir, gooseDialect = dialectSQLite, "sqlite", "migrations/sqlite", goose.DialectSQLite3
		if err := createSQLite(ctx, path); err != nil {
			return nil, fmt.Errorf("store: create %s: %w", Redacted(dsn), err)
		}
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMillis))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", sqliteAutoCheckpointPages))
		q.Set("_txlock", "immediate")
		source = sqliteSource(path, q)
	default: // postgres:// or postgresql://, as CheckDSN found
		s.dialect, driver, dir, gooseDialect = dialectPostgres, "pgx", "migrations/postgres", goose.DialectPostgres
		source = dsn
	}
	db, err := sqlx.Open(driver, source)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %s", Redacted(dsn), redactErr(err, dsn))
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %s", Redacted(dsn), redactErr(err, dsn))
	}
	s.db = db
	if err := s.migrate(ctx, gooseDialect, dir); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", Redacted(dsn), err)
	}
	return s, nil
}

// sqlitePageSize is the page size of the SQLite databases billrun creates: SQLite's largest. A close
// writes a month's invoice lines in one go, and with 4 KiB pages (the default) a third of its
// issuing time went to splitting B-tree pages and writing them to the WAL one system call each; with
// 64 KiB pages the 5,000-invoice benchmark month issues in 1.85-2.02 s instead of 2.42-2.48 s (16 KiB:
// 2.03-2.17 s). A small transaction (a lease renewal, one standing row) then writes a 64 KiB frame
// to the WAL, which is nothing at billrun's rate of them. Existing databases keep their page size.
const sqlitePageSize = 65536

// sqliteSource returns the driver's data source for the DSN's path with billrun's parameters q after
// any of the caller's own.
func sqliteSource(path string, q url.Values) string {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return "file:" + path + sep + q.Encode()
}

// createSQLite creates the SQLite database at path (the DSN's path, with any parameters of the
// caller's) when there is none yet — no file, or an empty one — with sqlitePageSize pages in WAL
// mode. The page size can only be set before the first write, and the pool's own connections switch
// to WAL as they open, so this runs on a connection of its own.
func createSQLite(ctx context.Context, path string) error {
	file, _, _ := strings.Cut(path, "?")
	if st, err := os.Stat(file); err == nil && st.Size() > 0 || file == ":memory:" || file == "" {
		return nil
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMillis))
	db, err := sql.Open("sqlite", sqliteSource(path, q))
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stmt := fmt.Sprintf("PRAGMA page_size = %d", sqlitePageSize)
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	// Switching to WAL takes an exclusive lock, and SQLite answers SQLITE_BUSY at once, busy timeout or
	// not, while another opener of the new file holds a lock: try again until WAL is on (whoever
	// switched it).
	for attempt := 0; ; attempt++ {
		var mode string
		err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil && strings.EqualFold(mode, "wal") {
			return nil
		}
		if attempt >= sqliteMigrateRetries {
			if err == nil {
				err = fmt.Errorf("journal mode is %s", mode)
			}
			return fmt.Errorf("PRAGMA journal_mode = WAL: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(sqliteMigrateRetryDelay):
		}
	}
}

func (s *Store) migrate(ctx context.Context, d goose.Dialect, dir string) error {
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	opts := []goose.ProviderOption{goose.WithSlog(s.logger), goose.WithDisableGlobalRegistry(true)}
	if s.dialect == dialectPostgres {
		// Serialize concurrent openers (replicas starting together) on a session advisory lock.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(d, s.db.DB, fsys, opts...)
	if err != nil {
		return err
	}
	// SQLite has no lock to serialize the openers of a new database: two runs started together both
	// find it unmigrated, and the second to apply a migration fails once the first has committed it
	// ("table accounts already exists", "use DROP VIEW…": whatever that migration's DDL meets, or, for
	// DDL that runs twice without failing, the unique index of sqliteVersionsOnce when it records the
	// version). Each migration is one transaction, so nothing is half-applied: an opener whose attempt
	// failed while the database's version moved on (or with "already exists") tries again, and finds
	// what the other applied.
	if s.dialect == dialectSQLite {
		if err := s.sqliteVersionsOnce(ctx); err != nil {
			return fmt.Errorf("goose_db_version: %w", err)
		}
	}
	version := func() int64 {
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			return -1 // no version table yet
		}
		return v
	}
	before := version()
	results, err := p.Up(ctx)
	for attempt := 0; err != nil && s.dialect == dialectSQLite && attempt < sqliteMigrateRetries; attempt++ {
		if after := version(); after == before && !strings.Contains(err.Error(), "already exists") {
			break // no one else is migrating: a real failure
		}
		s.logger.Info("store: another process is migrating the database; trying again", "error", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(sqliteMigrateRetryDelay):
		}
		before = version()
		results, err = p.Up(ctx)
	}
	if err != nil {
		return err
	}
	for _, r := range results {
		s.logger.Info("migration applied", "version", r.Source.Version,
			"source", r.Source.Path, "duration", r.Duration)
	}
	// goose's Up has nothing to do on a database migrated past the last migration it knows, and says
	// nothing: an older billrun would then write and read a schema it does not know. Checked after Up,
	// so that a newer billrun migrating while this one started is caught too.
	sources := p.ListSources()
	latest := sources[len(sources)-1].Version
	if v := version(); v > latest {
		return fmt.Errorf("%w: its schema is at version %d, this billrun's migrations end at %d: run the billrun "+
			"that migrated it (or a newer one), or migrate it down to version %d with that billrun's migrations first",
			ErrSchemaNewer, v, latest, latest)
	}
	return nil
}

// sqliteVersionsIndex is the unique index sqliteVersionsOnce puts on goose's applied versions.
const sqliteVersionsIndex = "goose_db_version_applied_once"

// sqliteVersionsOnce makes SQLite refuse to record a migration version twice, before goose's Up
// lists what is pending: it creates goose's version table when there is none (as goose does, with its
// version 0) and a unique index on its applied versions. goose checks what is applied outside the
// transaction that applies a migration, and on SQLite nothing serializes the openers of a database
// (PostgreSQL's take goose's advisory lock): an opener that listed a migration as pending before
// another applied it applied it again once it had the write lock, and recorded it twice — silently
// whenever its DDL runs twice without failing (migrations 3 and 5; a migration changing data would
// change it twice). With the index, the second attempt fails as it records the version, its
// transaction rolls back, and migrate's retry finds the migration applied. Versions recorded twice
// before the index existed are recorded once (the first record kept). On a database that has the
// index, this only reads.
func (s *Store) sqliteVersionsOnce(ctx context.Context) error {
	// Once the index exists there is nothing to do, and every open after the first finds it: read
	// first, rather than take SQLite's write lock — and wait behind a close's issuing — on every open.
	var indexes int
	if err := s.db.GetContext(ctx, &indexes, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`,
		sqliteVersionsIndex); err != nil {
		return err
	}
	if indexes > 0 {
		return nil
	}
	versions, err := database.NewStore(database.DialectSQLite3, goose.DefaultTablename)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sqlx.Tx) error {
		var tables int
		if err := tx.GetContext(ctx, &tables, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`,
			goose.DefaultTablename); err != nil {
			return err
		}
		if tables == 0 {
			if err := versions.CreateVersionTable(ctx, tx); err != nil {
				return err
			}
			if err := versions.Insert(ctx, tx, database.InsertRequest{Version: 0}); err != nil {
				return err
			}
		}
		for _, q := range []string{
			`DELETE FROM goose_db_version WHERE is_applied AND id NOT IN (
				SELECT min(id) FROM goose_db_version WHERE is_applied GROUP BY version_id)`,
			`CREATE UNIQUE INDEX IF NOT EXISTS ` + sqliteVersionsIndex + ` ON goose_db_version (version_id)
				WHERE is_applied`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

// ErrSchemaNewer is returned by Open when the database's schema is at a migration version newer than
// the last of this billrun's embedded migrations: a newer billrun migrated it. Nothing is read or
// written then: the older code's queries do not know the newer schema (a billrun from before
// migration 5 fails to read a line stored with a null description; one from before migration 4 reads
// the usage, then fails to write lines into the document_lines view).
var ErrSchemaNewer = errors.New("the database was migrated by a newer billrun")

// How often, and how far apart, an opener of a new SQLite database tries its migrations again when
// another process applied them first.
const (
	sqliteMigrateRetries    = 50
	sqliteMigrateRetryDelay = 50 * time.Millisecond
)

// sqliteAutoCheckpointPages is the WAL size, in pages, at which a commit checkpoints (copies the
// WAL into the database file and syncs both): 256 MB with billrun's 64 KiB pages. SQLite's 1,000
// pages (64 MB) checkpointed in the middle of a close's issuing, which then waited ~0.1-0.2 s for the
// syncs; a close now checkpoints once after issuing (Checkpoint) while it evaluates standing and
// finishes its exports, and the WAL of a long-running billrun stays bounded all the same.
const sqliteAutoCheckpointPages = 4096

// Checkpoint copies SQLite's WAL into the database file and syncs it (a passive checkpoint: it
// neither waits for nor blocks other connections, and what it cannot copy yet a later checkpoint
// does). With synchronous=NORMAL, commits are made durable by the next checkpoint, so after
// Checkpoint everything committed before it survives a power loss. On PostgreSQL it does nothing:
// the server makes commits durable.
func (s *Store) Checkpoint(ctx context.Context) error {
	if s.dialect != dialectSQLite {
		return nil
	}
	var busy, log, done int
	if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
		return fmt.Errorf("store: checkpoint: %w", err)
	}
	return nil
}

// TruncateWAL copies all of SQLite's WAL into the database file, syncs it and truncates the WAL to
// zero bytes — if no other connection is writing or reading from the WAL at that moment: it does not
// wait for them (a busy timeout of 0 on its connection), and when one is, it copies what it can, as
// Checkpoint does, and returns nil. Closing the store has then nothing left to copy, sync or delete:
// after a close that wrote the benchmark month's invoices (a WAL of ~75 MB), closing the database took
// ~0.1 s — a sync of the database file and the deletion of the WAL — that TruncateWAL does while
// the exports are written. On PostgreSQL it does nothing.
func (s *Store) TruncateWAL(ctx context.Context) error {
	if s.dialect != dialectSQLite {
		return nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: truncate WAL: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		return fmt.Errorf("store: truncate WAL: %w", err)
	}
	var busy, log, done int
	err = conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &done)
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA busy_timeout = %d`, sqliteBusyTimeoutMillis)); rerr != nil {
		// A connection that would give up on the first busy lock must not go back to the pool.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		if err == nil {
			err = rerr
		}
	}
	if err != nil {
		return fmt.Errorf("store: truncate WAL: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Remote reports whether the database is a server that every statement is a round trip to
// (PostgreSQL), rather than a file in the process (SQLite).
func (s *Store) Remote() bool { return s.dialect == dialectPostgres }

var (
	// A password=… parameter of a URL's query or of a keyword/value DSN, where libpq allows spaces
	// around = and backslash escapes in a value, single-quoted ('se cret', 'it\'s') or not (se\ cret:
	// an escaped space does not end it); an unterminated quote hides the rest of the DSN.
	passwordParam = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'?|(?:[^&\s\\]|\\.)*\\?)`)
	userInfo      = regexp.MustCompile(`(://[^:/@]*:).*@`) // greedy: a password may contain @
)

// userInfoOf returns what a postgres URL holds before its last @ that comes before the path — the
// most the user and password could be taken to be, whatever parser reads it — or "" without an @.
func userInfoOf(dsn string) string {
	rest := dsn[strings.Index(dsn, "://")+3:]
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		return rest[:i]
	}
	return ""
}

// Redacted returns dsn with any password replaced by "xxxxx", for logs and errors: the password of a
// URL's user info (up to its last @, so an unescaped @ in it cannot leak the rest) and any
// password=… parameter. It may hide more than the password of a malformed DSN, never less.
func Redacted(dsn string) string {
	dsn = userInfo.ReplaceAllString(dsn, "${1}xxxxx@")
	return passwordParam.ReplaceAllString(dsn, "${1}xxxxx")
}

// redactErr returns err's message with the DSN's password removed, for errors from drivers that may
// quote their connection string.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	if m := passwordParam.FindStringSubmatch(dsn); m != nil {
		if pw := strings.TrimPrefix(m[0], m[1]); pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

// q rebinds a query written with ? placeholders for the database.
func (s *Store) q(query string) string { return s.db.Rebind(query) }

// valuesList returns "(?, …), (?, …)" for rows rows of cols placeholders each.
func valuesList(rows, cols int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}

type insertKey struct {
	head, tail string
	rows, cols int
}

// insertSQL returns head + valuesList(rows, cols) + tail rebound for the database, built once per
// shape: a full 200-line INSERT is 10 KB of text.
func (s *Store) insertSQL(head string, rows, cols int, tail string) string {
	k := insertKey{head, tail, rows, cols}
	if q, ok := s.insertTexts.Load(k); ok {
		return q.(string)
	}
	q := s.q(head + valuesList(rows, cols) + tail)
	s.insertTexts.Store(k, q)
	return q
}

// write runs fn in a read-write transaction (BEGIN IMMEDIATE on SQLite) and commits it.
func (s *Store) write(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(s.txContext(ctx), nil)
	if err != nil {
		return err
	}
	return finish(ctx, tx, fn(tx))
}

// txContext is the context a write transaction begins on. pgx sends COMMIT under it, and a deadline
// that passed while COMMIT was on its way would cancel the wait for the answer, not the commit: the
// server commits, the caller hears "deadline exceeded", and a batch reported as failed is in the
// database. So on PostgreSQL it is ctx without its cancellation — the statements still run under ctx,
// and finish checks ctx once before COMMIT — and COMMIT's answer is always awaited: an error from it
// means nothing was committed, short of a connection lost at that very moment. SQLite knows in-process
// whether a COMMIT happened, and keeps ctx: its BEGIN IMMEDIATE, which may wait for another writer's
// lock, stops when ctx ends.
func (s *Store) txContext(ctx context.Context) context.Context {
	if s.dialect == dialectPostgres {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// finish commits tx when its work succeeded and ctx is still live, and rolls it back otherwise.
func finish(ctx context.Context, tx *sqlx.Tx, err error) error {
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// writeConn is write on a connection of its own, which fn also gets: a driver-level call on the
// connection (conn.Raw), such as PostgreSQL's COPY, runs inside the transaction and is committed or
// rolled back with it.
func (s *Store) writeConn(ctx context.Context, fn func(conn *sqlx.Conn, tx *sqlx.Tx) error) error {
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTxx(s.txContext(ctx), nil)
	if err != nil {
		return err
	}
	return finish(ctx, tx, fn(conn, tx))
}

// read runs fn in a read-only transaction that sees one snapshot of the database.
func (s *Store) read(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == dialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.BeginTxx(ctx, opts)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// isUniqueViolation reports whether err is a unique or primary key constraint violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// notFound translates sql.ErrNoRows into invoices.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return invoices.ErrNotFound
	}
	return err
}

// timeLayout is the stored form of every time: UTC, nanoseconds, fixed width so text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func fmtTimePtr(t *time.Time) sql.NullString {
	if t == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: fmtTime(*t), Valid: true}
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func parseTimePtr(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}
