package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"billrun/invoices"
)

// Statuses of a firing in scheduled_runs.
const (
	scheduledRunning   = "running"
	scheduledSucceeded = "succeeded"
	scheduledFailed    = "failed"
	scheduledSkipped   = "skipped"
)

// ClaimScheduled claims the firing of job scheduled at scheduledAt for holder, from now until
// leaseUntil, and reports whether holder got it. The claim is one INSERT guarded by the primary key
// (job, scheduled_at), so of several schedulers sharing the database exactly one gets each firing;
// every later claim of the same firing returns false, whatever became of the first.
func (s *Store) ClaimScheduled(ctx context.Context, job string, scheduledAt time.Time, holder string, now, leaseUntil time.Time) (bool, error) {
	ownHolder(holder)
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO scheduled_runs
		(job, scheduled_at, holder, attempts, claimed_at, lease_until, status) VALUES (?, ?, ?, 1, ?, ?, ?)
		ON CONFLICT (job, scheduled_at) DO NOTHING`),
		job, fmtTime(scheduledAt), holder, fmtTime(now), fmtTime(leaseUntil), scheduledRunning)
	got, err := claimed(res, err)
	if err != nil {
		return false, fmt.Errorf("store: claim %s firing %s: %w", job, fmtTime(scheduledAt), err)
	}
	return got, nil
}

// ReclaimScheduled is ClaimScheduled for a retry, such as the catch-up of a missed close on start: it
// also takes over a firing whose last attempt failed or was skipped, or is still marked running with
// a lease that ended at or before now (its holder died). It returns false while another holder's
// attempt is running within its lease, and once the firing has succeeded. The check and the takeover
// are one statement, so two retries racing for the same firing cannot both win.
func (s *Store) ReclaimScheduled(ctx context.Context, job string, scheduledAt time.Time, holder string, now, leaseUntil time.Time) (bool, error) {
	ownHolder(holder)
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO scheduled_runs
		(job, scheduled_at, holder, attempts, claimed_at, lease_until, status) VALUES (?, ?, ?, 1, ?, ?, ?)
		ON CONFLICT (job, scheduled_at) DO UPDATE SET holder = excluded.holder,
			attempts = scheduled_runs.attempts + 1, claimed_at = excluded.claimed_at,
			lease_until = excluded.lease_until, finished_at = NULL, status = excluded.status, error = ''
		WHERE scheduled_runs.status IN (?, ?)
			OR (scheduled_runs.status = ? AND scheduled_runs.lease_until <= ?)`),
		job, fmtTime(scheduledAt), holder, fmtTime(now), fmtTime(leaseUntil), scheduledRunning,
		scheduledFailed, scheduledSkipped, scheduledRunning, fmtTime(now))
	got, err := claimed(res, err)
	if err == nil && !got {
		got, err = s.reclaimFromDeadHolder(ctx, job, scheduledAt, holder, now, leaseUntil)
	}
	if err != nil {
		return false, fmt.Errorf("store: reclaim %s firing %s: %w", job, fmtTime(scheduledAt), err)
	}
	return got, nil
}

// reclaimFromDeadHolder takes over a firing still marked running within its lease when its holder
// ("host/pid/nonce") was a process of this host that no longer exists — a scheduler killed in the
// middle of the close and started again at once — as the run lock's lease is taken over
// (deadHolder). Without it the restarted scheduler's catch-up skipped the month's close until the
// lease, the close's timeout and 5 minutes, had run out. The takeover names the dead holder, so of
// two schedulers taking it over only one wins.
func (s *Store) reclaimFromDeadHolder(ctx context.Context, job string, scheduledAt time.Time, holder string, now, leaseUntil time.Time) (bool, error) {
	var cur struct {
		Holder string `db:"holder"`
		Status string `db:"status"`
	}
	if err := s.db.GetContext(ctx, &cur, s.q(`SELECT holder, status FROM scheduled_runs WHERE job = ? AND scheduled_at = ?`),
		job, fmtTime(scheduledAt)); err != nil {
		return false, err
	}
	if cur.Status != scheduledRunning || !deadHolder(cur.Holder) {
		return false, nil
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE scheduled_runs SET holder = ?, attempts = attempts + 1, claimed_at = ?,
			lease_until = ?, finished_at = NULL, status = ?, error = ''
		WHERE job = ? AND scheduled_at = ? AND holder = ? AND status = ?`),
		holder, fmtTime(now), fmtTime(leaseUntil), scheduledRunning, job, fmtTime(scheduledAt), cur.Holder, scheduledRunning)
	got, err := claimed(res, err)
	if got {
		s.logger.Warn("store: took over a scheduled firing whose holder ended without finishing it", "job", job,
			"scheduled_at", fmtTime(scheduledAt), "dead_holder", cur.Holder)
	}
	return got, err
}

// FinishScheduled records how holder's attempt at a firing ended: status "succeeded", "failed" or
// "skipped" (the job found its run lock held), the error text and the time. It returns an error
// wrapping invoices.ErrNotFound when holder does not hold the firing (any more: it was taken over after
// its lease ended), leaving the row as it is.
func (s *Store) FinishScheduled(ctx context.Context, job string, scheduledAt time.Time, holder, status, errText string, finishedAt time.Time) error {
	switch status {
	case scheduledSucceeded, scheduledFailed, scheduledSkipped:
	default:
		return fmt.Errorf("store: finish %s firing %s: status %q: want succeeded, failed or skipped", job, fmtTime(scheduledAt), status)
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE scheduled_runs SET status = ?, error = ?, finished_at = ?
		WHERE job = ? AND scheduled_at = ? AND holder = ? AND status = ?`),
		status, errText, fmtTime(finishedAt), job, fmtTime(scheduledAt), holder, scheduledRunning)
	got, err := claimed(res, err)
	if err == nil && !got {
		err = fmt.Errorf("not held by %s: %w", holder, invoices.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: finish %s firing %s: %w", job, fmtTime(scheduledAt), err)
	}
	return nil
}

// claimed reports whether a statement changed exactly one row.
func claimed(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}
