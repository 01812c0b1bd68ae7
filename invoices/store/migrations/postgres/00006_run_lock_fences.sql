-- The fence of each run lock (PostgreSQL only; SQLite's run_locks lease row is its own fence). A run
-- lock is an advisory lock of a session, and it goes when that session ends — a terminated backend, a
-- dropped connection — while the run that took it goes on issuing over pooled connections. Whoever
-- takes the lock writes its own holder here at once; every transaction that issues or voids a
-- document of a locked period reads the row FOR SHARE and commits only if it still names its run. The
-- next holder's write waits for such a transaction to end, and a transaction that starts after it
-- sees the new holder and writes nothing: two runs can never both write a period's documents.

-- +goose Up
CREATE TABLE run_fences (
    key      TEXT PRIMARY KEY,                  -- the lock's name, e.g. period:2026-10
    holder   TEXT NOT NULL,                     -- the run that took it last: host/pid/random
    taken_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE run_fences;
