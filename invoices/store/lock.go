package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"

	"billrun/internal/process"
	"billrun/invoices"
	"billrun/rating"
)

// releaseTimeout bounds the release of a lock, which runs after the caller's context may be done.
const releaseTimeout = 10 * time.Second

// Lock takes the run lock named key (e.g. "period:2026-10") and returns the func that releases it
// (safe to call more than once). With wait false it returns an error wrapping invoices.ErrLocked at
// once when another holder has it; with wait true it polls until it gets the lock or ctx ends, and then
// returns an error wrapping both invoices.ErrLocked and ctx's error.
//
// On PostgreSQL the lock is a session advisory lock on a 64-bit hash of key, held on a connection of
// the store's own for its locks (advisorySession). On SQLite it is a lease row in run_locks that expires unless renewed, which a goroutine
// does while the lock is held; a lease whose holder was a process of this host that no longer exists
// is taken over at once, and a crashed holder elsewhere blocks others for at most the lease time.
func (s *Store) Lock(ctx context.Context, key string, wait bool) (func(), error) {
	return s.lock(ctx, key, wait, true)
}

// LockReading takes the run lock named key as Lock does, for a run that only reads while it holds it
// (reconcile, export, a probe): on PostgreSQL it writes no fence (checkFences), which only a run that
// issues or voids documents needs, so it writes nothing to the database there. It issues nothing
// under it: a document issued under a reading lock is not fenced.
func (s *Store) LockReading(ctx context.Context, key string, wait bool) (func(), error) {
	return s.lock(ctx, key, wait, false)
}

func (s *Store) lock(ctx context.Context, key string, wait, fence bool) (func(), error) {
	var release func()
	var err error
	if s.dialect == dialectPostgres {
		release, err = s.lockAdvisory(ctx, key, wait, fence)
	} else {
		release, err = s.lockLease(ctx, key, wait)
	}
	if err != nil {
		return nil, fmt.Errorf("store: lock %s: %w", key, err)
	}
	return release, nil
}

// CheckLock returns nil while this store still holds the run lock named key, taken with Lock, and an
// error wrapping invoices.ErrLockLost when it does not: on PostgreSQL the session that held the
// advisory lock ended (a database restart, a terminated backend, a dropped connection: the lock
// went with it, and another run may have taken it since), on SQLite the lease expired or another
// holder took it over. A run calls it before each write, so that one whose lock went stops rather
// than write beside the run that may hold the lock now; a check that cannot tell counts as lost.
func (s *Store) CheckLock(ctx context.Context, key string) error {
	var err error
	if s.dialect == dialectPostgres {
		err = s.checkAdvisory(ctx, key)
	} else {
		err = s.checkLease(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("store: lock %s: %w", key, err)
	}
	return nil
}

func (s *Store) checkAdvisory(ctx context.Context, key string) error {
	as := &s.advisory
	as.mu.Lock()
	defer as.mu.Unlock()
	if !as.held[key] || as.conn == nil {
		return invoices.ErrLockLost
	}
	// Not under ctx, as in tryAdvisory: a query cancelled on the session would close it, and with it
	// the other locks it holds.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	// A bigint advisory lock shows in pg_locks as classid (its high 32 bits), objid (its low 32 bits)
	// and objsubid 1.
	var held bool
	err := as.conn.QueryRowxContext(qctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
		WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND objsubid = 1
		AND classid::bigint = ($1::bigint >> 32) & 4294967295 AND objid::bigint = $1::bigint & 4294967295)`,
		advisoryKey(as.schema, key)).Scan(&held)
	if err != nil {
		// The session is likely gone, and its locks with it: drop it once its locks are released.
		as.broken = true
		return fmt.Errorf("%w: %w", invoices.ErrLockLost, err)
	}
	if !held {
		return invoices.ErrLockLost
	}
	return nil
}

func (s *Store) checkLease(ctx context.Context, key string) error {
	holder, ok := s.leases.Load(key)
	if !ok {
		return invoices.ErrLockLost
	}
	return s.leaseStillHeld(ctx, s.db, key, holder.(string))
}

// leaseStillHeld returns nil when key's lease row names holder and has not expired, read through q
// (the store, or a transaction: in SQLite's write transaction nobody can take the lease over until it
// ends), and an error wrapping invoices.ErrLockLost otherwise.
func (s *Store) leaseStillHeld(ctx context.Context, q sqlx.QueryerContext, key, holder string) error {
	var other struct {
		Holder    string `db:"holder"`
		ExpiresAt string `db:"expires_at"`
	}
	if err := sqlx.GetContext(ctx, q, &other, `SELECT holder, expires_at FROM run_locks WHERE key = ?`, key); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return invoices.ErrLockLost
		}
		return err
	}
	if other.Holder != holder {
		return fmt.Errorf("%w: held by %s", invoices.ErrLockLost, other.Holder)
	}
	if other.ExpiresAt <= fmtTime(s.now()) {
		return fmt.Errorf("%w: its lease expired at %s", invoices.ErrLockLost, other.ExpiresAt)
	}
	return nil
}

// deadHolder reports whether a lease holder ("host/pid/nonce") is a process of this host, not this one,
// that no longer exists. A holder on another host, or one whose process cannot be checked, is taken
// to be alive: its lease expires on its own.
//
// A holder naming this host and this very pid is this process's only if this process made it
// (ownHolder): otherwise an earlier process had the same pid — in a container restarted in its pod
// billrun is pid 1 each time, under the pod's host name — and it is gone.
func deadHolder(holder string) bool {
	parts := strings.Split(holder, "/")
	if len(parts) != 3 {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		return false
	}
	if pid == os.Getpid() {
		host, _ := os.Hostname()
		_, ours := ownHolders.Load(holder)
		return !ours && host != "" && parts[0] == host
	}
	return process.GoneHere(parts[0], pid)
}

// ownHolders holds every lease holder and firing claimant this process has written (see deadHolder).
var ownHolders sync.Map

// ownHolder records holder as this process's; called before holder is written anywhere.
func ownHolder(holder string) { ownHolders.Store(holder, struct{}{}) }

// pollWait waits one poll interval; it returns an error when ctx ends first.
func (s *Store) pollWait(ctx context.Context, holder string) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("held by %s: %w (%w)", holder, invoices.ErrLocked, context.Cause(ctx))
	case <-time.After(s.lockPoll):
		return nil
	}
}

// advisoryKey is the 64-bit advisory lock id of key in schema. Advisory locks are per database, so the
// schema is part of the id: billrun ledgers in two schemas of one database (tests, or staging beside
// production) never block each other.
func advisoryKey(schema, key string) int64 {
	h := fnv.New64a()
	h.Write([]byte("billrun:" + schema + ":" + key))
	return int64(h.Sum64())
}

// advisorySession is the PostgreSQL session on which a Store takes all its advisory locks: a close holds
// its period's lock throughout and takes the sweep lock for its standing pass, and a second session
// for that second lock opened a connection in the middle of the close — a fork and an authentication,
// and a backend whose catalog caches the standing pass's queries then filled: +50–190 ms after
// issuing on the benchmark month. Advisory locks are per session and reentrant, so keys held through
// the session are also kept in held: within the process, a key held is busy, as one held by another
// session is.
type advisorySession struct {
	mu     sync.Mutex
	conn   *sqlx.Conn // nil while no lock is held
	schema string
	held   map[string]bool
	fence  map[string]string // key → the holder this store wrote in run_fences when it took the lock
	broken bool              // an unlock failed: drop the session, not return it to the pool, once no lock is held
}

func (s *Store) lockAdvisory(ctx context.Context, key string, wait, fence bool) (func(), error) {
	for {
		ok, holder, err := s.tryAdvisory(ctx, key, fence)
		if err != nil {
			return nil, err
		}
		if ok {
			break
		}
		if !wait {
			return nil, fmt.Errorf("held by %s: %w", holder, invoices.ErrLocked)
		}
		if err := s.pollWait(ctx, holder); err != nil {
			return nil, err
		}
	}
	var once sync.Once
	return func() { once.Do(func() { s.unlockAdvisory(key) }) }, nil
}

// tryAdvisory takes key's advisory lock on the store's session, opening the session if no lock holds
// it open; false, with who holds it, when this process or another session does. With fence it also
// writes the lock's fence (writeFence) before it counts as taken.
func (s *Store) tryAdvisory(ctx context.Context, key string, fence bool) (bool, string, error) {
	as := &s.advisory
	as.mu.Lock()
	defer as.mu.Unlock()
	if as.held[key] {
		return false, "this process", nil
	}
	if err := context.Cause(ctx); err != nil {
		return false, "", err
	}
	opened := false
	if as.conn == nil {
		conn, err := s.db.Connx(ctx)
		if err != nil {
			return false, "", err
		}
		if err := conn.QueryRowxContext(ctx, `SELECT current_schema()`).Scan(&as.schema); err != nil {
			conn.Close()
			return false, "", err
		}
		as.conn, as.held, as.fence, as.broken, opened = conn, map[string]bool{}, map[string]string{}, false, true
	}
	// Not under ctx, which ended is checked above: pgx closes the connection when a query's context
	// ends while it runs, and with it the locks other callers hold on the session.
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	var ok bool
	who := "another session"
	err := as.conn.QueryRowxContext(qctx, `SELECT pg_try_advisory_lock($1)`, advisoryKey(as.schema, key)).Scan(&ok)
	if ok && !fence {
		as.held[key] = true
	} else if ok {
		// The lock is this store's: say so in its fence before anything else, which also waits for a
		// transaction of an earlier holder that was still writing under the old fence.
		holder := newHolder()
		busy, ferr := s.writeFence(qctx, as.conn, key, holder)
		if ferr != nil || busy {
			_ = as.unlock(qctx, key) // a failure marks the session broken, dropped below
			ok = false
			if ferr != nil {
				err = fmt.Errorf("write the lock's fence: %w", ferr)
			} else {
				// The previous holder's session ended, but a transaction of its run still writes the
				// period: the lock is not free yet.
				who = "a transaction of its previous holder, still writing"
			}
		} else {
			as.held[key] = true
			as.fence[key] = holder
		}
	}
	if len(as.held) == 0 && (opened || err != nil) {
		// Nothing holds the session open: give it back, or drop it after an error, whose cause may
		// be the session itself.
		if err != nil || as.broken {
			as.conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		as.conn.Close()
		as.conn = nil
	}
	if err != nil {
		return false, "", err
	}
	return ok, who, nil
}

// writeFence names holder in key's run_fences row, on conn, the session that took key's advisory
// lock. The row write waits for the transactions that read it FOR SHARE — those of a previous holder
// whose session ended while its run went on writing — but for at most s.fenceWait (a lock_timeout of
// the statement's own transaction): busy then, the lock is still in use. A wait cut by ctx instead
// would close the session, and with it every other lock the store holds on it.
func (s *Store) writeFence(ctx context.Context, conn *sqlx.Conn, key, holder string) (busy bool, err error) {
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT set_config('lock_timeout', $1, true)`,
		strconv.FormatInt(max(s.fenceWait.Milliseconds(), 1), 10)+"ms"); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO run_fences (key, holder) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, taken_at = now()`, key, holder); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available: lock_timeout
			return true, nil
		}
		return false, err
	}
	return false, tx.Commit()
}

// unlock releases key's advisory lock on the session; when that fails the session is marked broken
// (closing it is then the only way to free the lock). The caller holds as.mu.
func (as *advisorySession) unlock(ctx context.Context, key string) error {
	var unlocked bool
	err := as.conn.QueryRowxContext(ctx, `SELECT pg_advisory_unlock($1)`, advisoryKey(as.schema, key)).Scan(&unlocked)
	if err == nil && !unlocked {
		err = errors.New("the session did not hold it")
	}
	if err != nil {
		as.broken = true
	}
	return err
}

// unlockAdvisory releases key's advisory lock. The session goes back to the pool once it holds no lock;
// if an unlock failed, it is dropped instead — closing the session is the only other way to free
// the lock — once the session's other locks are released, which it must not take with it.
func (s *Store) unlockAdvisory(key string) {
	as := &s.advisory
	as.mu.Lock()
	defer as.mu.Unlock()
	if !as.held[key] {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := as.unlock(ctx, key); err != nil {
		s.logger.Warn("store: advisory unlock failed; the session will be closed once its other locks are released",
			"lock", key, "error", err)
	}
	delete(as.held, key)
	delete(as.fence, key)
	if len(as.held) > 0 {
		return
	}
	if as.broken {
		as.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	as.conn.Close()
	as.conn = nil
}

// newHolder names a new holder of a lock: "host/pid/random", recorded as this process's (ownHolder).
func newHolder() string {
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8])
	ownHolder(holder)
	return holder
}

func (s *Store) lockLease(ctx context.Context, key string, wait bool) (func(), error) {
	holder := newHolder()
	for {
		now := s.now()
		res, err := s.db.ExecContext(ctx, `INSERT INTO run_locks (key, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE run_locks.expires_at <= ?`, key, holder, fmtTime(now.Add(s.leaseTTL)), fmtTime(now))
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 1 {
			break
		}
		var other struct {
			Holder    string `db:"holder"`
			ExpiresAt string `db:"expires_at"`
		}
		if err := s.db.GetContext(ctx, &other, `SELECT holder, expires_at FROM run_locks WHERE key = ?`, key); err != nil {
			other.Holder = "another process" // released meanwhile: try again
		} else if deadHolder(other.Holder) {
			// A process of this machine that ended without releasing its lease — killed, say — would
			// otherwise hold the period until the lease expires, and a retried close exit 5 meanwhile.
			res, err := s.db.ExecContext(ctx, `UPDATE run_locks SET holder = ?, expires_at = ? WHERE key = ? AND holder = ?`,
				holder, fmtTime(now.Add(s.leaseTTL)), key, other.Holder)
			if err != nil {
				return nil, err
			}
			if n, err := res.RowsAffected(); err == nil && n == 1 {
				s.logger.Warn("store: took over a lock whose holder ended without releasing it", "lock", key,
					"holder", other.Holder)
				break
			}
			continue
		}
		desc := other.Holder
		if other.ExpiresAt != "" {
			desc += " until " + other.ExpiresAt
		}
		if !wait {
			return nil, fmt.Errorf("held by %s: %w", desc, invoices.ErrLocked)
		}
		if err := s.pollWait(ctx, desc); err != nil {
			return nil, err
		}
	}
	s.leases.Store(key, holder)
	stop, done := make(chan struct{}), make(chan struct{})
	go s.renewLease(key, holder, stop, done)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.leases.CompareAndDelete(key, holder)
			close(stop)
			<-done
			ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
			defer cancel()
			if _, err := s.db.ExecContext(ctx, `DELETE FROM run_locks WHERE key = ? AND holder = ?`, key, holder); err != nil {
				s.logger.Warn("store: releasing lock lease failed; it expires by itself", "lock", key, "error", err)
			}
		})
	}, nil
}

// renewLease extends a held lease every leaseRenew until stop is closed.
func (s *Store) renewLease(key, holder string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(s.leaseRenew)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), s.leaseRenew)
		res, err := s.db.ExecContext(ctx, `UPDATE run_locks SET expires_at = ? WHERE key = ? AND holder = ?`,
			fmtTime(s.now().Add(s.leaseTTL)), key, holder)
		cancel()
		var n int64
		if err == nil {
			n, err = res.RowsAffected()
		}
		if err != nil || n == 0 {
			s.logger.Error("store: renewing lock lease failed", "lock", key, "holder", holder, "lost", n == 0 && err == nil, "error", err)
		}
	}
}

// checkFences is the fence of the run locks this store took, checked in tx, a transaction about to
// issue or void documents of the given periods: for each period whose lock (invoices.PeriodLock) the
// store took and has not released, it returns an error wrapping invoices.ErrLockLost unless the lock
// is still this store's. CheckLock, called before each write, stops a run whose lock went; this makes
// the write itself safe against a lock lost between that check and the commit.
//
// On PostgreSQL it reads the lock's run_fences row FOR SHARE: the next holder writes that row as it
// takes the lock, so it waits for tx to end, and a tx that reads after it sees the new holder. On
// SQLite the lease row is the fence: tx holds the database's write lock, so nobody takes the lease
// over before tx ends. A period whose lock this store never took is not fenced (tests, tools).
func (s *Store) checkFences(ctx context.Context, tx *sqlx.Tx, periods ...rating.Period) error {
	for i, p := range periods {
		if i > 0 && p == periods[i-1] {
			continue
		}
		if err := s.checkFence(ctx, tx, invoices.PeriodLock(p)); err != nil {
			return fmt.Errorf("store: lock %s: %w", invoices.PeriodLock(p), err)
		}
	}
	return nil
}

// checkFence is checkFences for the lock named key.
func (s *Store) checkFence(ctx context.Context, tx *sqlx.Tx, key string) error {
	if s.dialect != dialectPostgres {
		holder, held := s.leases.Load(key)
		if !held {
			return nil
		}
		return s.leaseStillHeld(ctx, tx, key, holder.(string))
	}
	as := &s.advisory
	as.mu.Lock()
	holder, held := as.fence[key]
	as.mu.Unlock()
	if !held {
		return nil
	}
	var now string
	err := tx.QueryRowxContext(ctx, `SELECT holder FROM run_fences WHERE key = $1 FOR SHARE`, key).Scan(&now)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: its fence is gone", invoices.ErrLockLost)
	case err != nil:
		return err
	case now != holder:
		return fmt.Errorf("%w: held by %s", invoices.ErrLockLost, now)
	}
	return nil
}
