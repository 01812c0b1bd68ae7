-- Firings of `billrun schedule` (DESIGN §8): one row per (job, scheduled_at), inserted in the transaction
-- that claims the firing before the job runs, so schedulers sharing the database run each firing once.
-- A retry (the catch-up on start) takes over a row whose attempt failed or was skipped, or whose holder's
-- lease ended while it was still running (the holder died). Times follow 00001's conventions.

-- +goose Up
CREATE TABLE scheduled_runs (
    job          TEXT NOT NULL,                   -- close, sweep, reconcile
    scheduled_at TEXT NOT NULL,                   -- the cron time of the firing, UTC
    holder       TEXT NOT NULL,                   -- the scheduler running it: host/pid/random
    attempts     INTEGER NOT NULL DEFAULT 1,
    claimed_at   TEXT NOT NULL,
    lease_until  TEXT NOT NULL,                   -- a running attempt past this is abandoned
    finished_at  TEXT,
    status       TEXT NOT NULL DEFAULT 'running', -- running, succeeded, failed, skipped
    error        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job, scheduled_at)
);

-- +goose Down
DROP TABLE scheduled_runs;
