package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"billrun/invoices"
	"billrun/rating"
)

type runRow struct {
	ID            string         `db:"id"`
	Kind          string         `db:"kind"`
	Period        string         `db:"period"`
	Scope         string         `db:"scope"`
	At            string         `db:"at"`
	StartedAt     string         `db:"started_at"`
	FinishedAt    sql.NullString `db:"finished_at"`
	Status        string         `db:"status"`
	Error         string         `db:"error"`
	PriceBookHash string         `db:"price_book_hash"`
	Manifest      string         `db:"manifest"`
	Counts        string         `db:"counts"`
	Totals        string         `db:"totals"`
}

const runColumns = `id, kind, period, scope, at, started_at, finished_at, status, error, price_book_hash,
	manifest, counts, totals`

func newRunRow(run *invoices.Run) (runRow, error) {
	objects := run.Manifest
	if objects == nil {
		objects = []rating.Object{} // a run that read no usage (an import) has an empty manifest, not null
	}
	manifest, err := json.Marshal(objects)
	if err != nil {
		return runRow{}, fmt.Errorf("manifest: %w", err)
	}
	counts, err := json.Marshal(run.Counts)
	if err != nil {
		return runRow{}, fmt.Errorf("counts: %w", err)
	}
	totals, err := json.Marshal(run.Totals)
	if err != nil {
		return runRow{}, fmt.Errorf("totals: %w", err)
	}
	r := runRow{ID: run.ID, Kind: string(run.Kind), Scope: run.Scope, At: fmtTime(run.At),
		StartedAt: fmtTime(run.StartedAt), FinishedAt: fmtTimePtr(run.FinishedAt), Status: string(run.Status),
		Error: run.Error, PriceBookHash: run.PriceBookHash, Manifest: string(manifest), Counts: string(counts),
		Totals: string(totals)}
	if !run.Period.IsZero() {
		r.Period = run.Period.String()
	}
	return r, nil
}

func (r runRow) run() (*invoices.Run, error) {
	run := &invoices.Run{ID: r.ID, Kind: invoices.RunKind(r.Kind), Scope: r.Scope, Status: invoices.RunStatus(r.Status),
		Error: r.Error, PriceBookHash: r.PriceBookHash}
	var err error
	if r.Period != "" {
		if run.Period, err = rating.ParsePeriod(r.Period); err != nil {
			return nil, err
		}
	}
	if run.At, err = parseTime(r.At); err != nil {
		return nil, err
	}
	if run.StartedAt, err = parseTime(r.StartedAt); err != nil {
		return nil, err
	}
	if run.FinishedAt, err = parseTimePtr(r.FinishedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(r.Manifest), &run.Manifest); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if err := json.Unmarshal([]byte(r.Counts), &run.Counts); err != nil {
		return nil, fmt.Errorf("counts: %w", err)
	}
	if err := json.Unmarshal([]byte(r.Totals), &run.Totals); err != nil {
		return nil, fmt.Errorf("totals: %w", err)
	}
	return run, nil
}

// StartRun inserts run with status running (and sets run.Status to it). A run with the same id is an
// error.
func (s *Store) StartRun(ctx context.Context, run *invoices.Run) error {
	status := run.Status
	run.Status = invoices.RunRunning
	if err := s.insertRun(ctx, s.db, run); err != nil {
		run.Status = status
		return err
	}
	return nil
}

// insertRun inserts run's row as it stands, through ex (the database or a transaction).
func (s *Store) insertRun(ctx context.Context, ex sqlx.ExtContext, run *invoices.Run) error {
	r, err := newRunRow(run)
	if err == nil {
		_, err = sqlx.NamedExecContext(ctx, ex, `INSERT INTO runs (`+runColumns+`) VALUES (:id, :kind, :period, :scope, :at,
			:started_at, :finished_at, :status, :error, :price_book_hash, :manifest, :counts, :totals)`, r)
	}
	if err != nil {
		return fmt.Errorf("store: record run %s: %w", run.ID, err)
	}
	return nil
}

// FinishRun updates a run's status, end time, error, price book hash, manifest, counts and totals. It
// returns an error wrapping invoices.ErrNotFound when the run was never started.
func (s *Store) FinishRun(ctx context.Context, run *invoices.Run) error {
	r, err := newRunRow(run)
	if err == nil {
		var res sql.Result
		res, err = s.db.NamedExecContext(ctx, `UPDATE runs SET status = :status, finished_at = :finished_at,
			error = :error, price_book_hash = :price_book_hash, manifest = :manifest, counts = :counts,
			totals = :totals WHERE id = :id`, r)
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				err = invoices.ErrNotFound
			}
		}
	}
	if err != nil {
		return fmt.Errorf("store: finish run %s: %w", run.ID, err)
	}
	return nil
}

// AbandonRuns records as failed every run of period p of the given kinds still marked running — the
// caller holds the period's lock, so no live process is running one — with finished_at at and an
// error saying so, and returns how many it changed. The standing pass of such a run, a sweep run
// whose id is invoices.StandingPassPrefix and the run's id (of another period: the month of the
// run's --at), is recorded so too when it was left running, and counted. A standing pass is never
// abandoned on its own, even when kinds holds invoices.RunSweep and its period is p: it runs under
// the lock of its close's or rerun's period, not p's, and goes with that run.
func (s *Store) AbandonRuns(ctx context.Context, p rating.Period, kinds []invoices.RunKind, at time.Time) (int64, error) {
	if len(kinds) == 0 {
		return 0, nil
	}
	set := []any{string(invoices.RunFailed), fmtTime(at), abandonedRunError}
	which := []any{p.String(), string(invoices.RunRunning)}
	for _, k := range kinds {
		which = append(which, string(k))
	}
	which = append(which, string(invoices.RunSweep), invoices.StandingPassPrefix+"%")
	where := `period = ? AND status = ? AND kind IN ` + valuesList(1, len(kinds)) + ` AND NOT (kind = ? AND id LIKE ?)`
	var n int64
	err := s.write(ctx, func(tx *sqlx.Tx) error {
		// The passes first: once their runs are failed, they are no longer found running.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET status = ?, finished_at = ?, error = ?
			WHERE kind = ? AND status = ? AND id IN (SELECT CAST(? AS TEXT) || id FROM runs WHERE `+where+`)`),
			append(append(slices.Clone(set), string(invoices.RunSweep), string(invoices.RunRunning),
				invoices.StandingPassPrefix), which...)...)
		if err != nil {
			return err
		}
		passes, _ := res.RowsAffected()
		res, err = tx.ExecContext(ctx, s.q(`UPDATE runs SET status = ?, finished_at = ?, error = ?
			WHERE `+where), append(slices.Clone(set), which...)...)
		if err != nil {
			return err
		}
		runs, _ := res.RowsAffected()
		n = passes + runs
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: abandon runs of %s: %w", p, err)
	}
	return n, nil
}

// abandonedRunError is the error of a run AbandonRuns closed.
const abandonedRunError = "abandoned: the process running it ended without finishing it (killed?); the next run of the period found it"

// LatestRun returns the latest (by started_at, then id) close or rerun of period p that succeeded,
// or an error wrapping invoices.ErrNotFound when there is none.
func (s *Store) LatestRun(ctx context.Context, p rating.Period) (*invoices.Run, error) {
	return s.latestCloseOrRerun(ctx, p, "latest run", invoices.RunSucceeded)
}

// Closed reports whether period p has been closed for every account: a close, or a rerun of every
// account (scope "all"), succeeded. A rerun of some accounts only (rerun --account) issues nothing for
// the others, so it does not count.
func (s *Store) Closed(ctx context.Context, p rating.Period) (bool, error) {
	var n int
	if err := s.db.GetContext(ctx, &n, s.q(`SELECT COUNT(*) FROM runs WHERE period = ? AND status = ?
		AND (kind = ? OR kind = ? AND scope = ?)`), p.String(), string(invoices.RunSucceeded),
		string(invoices.RunClose), string(invoices.RunRerun), "all"); err != nil {
		return false, fmt.Errorf("store: closed %s: %w", p, err)
	}
	return n > 0, nil
}

// LatestAttempt returns the latest (by started_at, then id) close or rerun of period p whatever its
// status — failed (a close stopped by its rejects, say), succeeded or still running — or an error
// wrapping invoices.ErrNotFound when there is none.
func (s *Store) LatestAttempt(ctx context.Context, p rating.Period) (*invoices.Run, error) {
	return s.latestCloseOrRerun(ctx, p, "latest attempt", "")
}

// latestCloseOrRerun is LatestRun (only runs of status) and LatestAttempt (status ""); what names the
// lookup in errors.
func (s *Store) latestCloseOrRerun(ctx context.Context, p rating.Period, what string, status invoices.RunStatus) (*invoices.Run, error) {
	query := `SELECT ` + runColumns + ` FROM runs WHERE period = ? AND kind IN (?, ?)`
	args := []any{p.String(), string(invoices.RunClose), string(invoices.RunRerun)}
	if status != "" {
		query += ` AND status = ?`
		args = append(args, string(status))
	}
	var r runRow
	if err := s.db.GetContext(ctx, &r, s.q(query+` ORDER BY `+s.bytewise("started_at")+` DESC, `+s.bytewise("id")+` DESC LIMIT 1`), args...); err != nil {
		return nil, fmt.Errorf("store: %s of %s: %w", what, p, notFound(err))
	}
	run, err := r.run()
	if err != nil {
		return nil, fmt.Errorf("store: %s of %s: run %s: %w", what, p, r.ID, err)
	}
	return run, nil
}

// rejectsPerInsert is how many rejects one INSERT statement carries (6 parameters each, well below
// SQLite's and PostgreSQL's parameter limits).
const rejectsPerInsert = 500

// SaveRead records what the usage read of a started run found, in one transaction: the run's
// manifest and counts on its record, and its rejects, in batched inserts. A run whose process dies
// later — found and recorded as failed by AbandonRuns — then still shows the counts of the read its
// stored rejects came from, not zeros beside them. It returns an error wrapping invoices.ErrNotFound
// when the run was never started.
func (s *Store) SaveRead(ctx context.Context, run *invoices.Run, rejects []rating.Reject) error {
	r, err := newRunRow(run)
	if err == nil {
		err = s.write(ctx, func(tx *sqlx.Tx) error {
			res, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET manifest = ?, counts = ? WHERE id = ?`), r.Manifest, r.Counts, r.ID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return invoices.ErrNotFound
			}
			return s.insertRejects(ctx, tx, run.ID, rejects)
		})
	}
	if err != nil {
		return fmt.Errorf("store: save the read of run %s (%d rejects): %w", run.ID, len(rejects), err)
	}
	return nil
}

// insertRejects inserts a run's rejects in tx, rejectsPerInsert per statement.
func (s *Store) insertRejects(ctx context.Context, tx *sqlx.Tx, runID string, rejects []rating.Reject) error {
	insert := func(n int) string {
		return s.q(`INSERT INTO rejects (run_id, object, line, event_id, code, message) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", n), ", "))
	}
	var full *sqlx.Stmt
	args := make([]any, 0, 6*min(len(rejects), rejectsPerInsert))
	for start := 0; start < len(rejects); start += rejectsPerInsert {
		chunk := rejects[start:min(start+rejectsPerInsert, len(rejects))]
		args = args[:0]
		for _, r := range chunk {
			args = append(args, runID, r.Object, r.Line, r.EventID, string(r.Code), r.Message)
		}
		if len(chunk) < rejectsPerInsert {
			_, err := tx.ExecContext(ctx, insert(len(chunk)), args...)
			return err
		}
		if full == nil {
			var err error
			if full, err = tx.PreparexContext(ctx, insert(rejectsPerInsert)); err != nil {
				return err
			}
			defer full.Close()
		}
		if _, err := full.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// Rejects returns a run's rejects ordered by object, then line, then the order they were saved in.
func (s *Store) Rejects(ctx context.Context, runID string) ([]rating.Reject, error) {
	var out []rating.Reject
	rows, err := s.db.QueryxContext(ctx, s.q(`SELECT object, line, event_id, code, message FROM rejects
		WHERE run_id = ? ORDER BY `+s.bytewise("object")+`, line, id`), runID)
	if err != nil {
		return nil, fmt.Errorf("store: rejects of run %s: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r rating.Reject
		var code string
		if err := rows.Scan(&r.Object, &r.Line, &r.EventID, &code, &r.Message); err != nil {
			return nil, fmt.Errorf("store: rejects of run %s: %w", runID, err)
		}
		r.Code = rating.RejectCode(code)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: rejects of run %s: %w", runID, err)
	}
	return out, nil
}
