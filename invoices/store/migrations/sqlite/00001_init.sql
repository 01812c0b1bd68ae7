-- billrun schema for SQLite. Conventions (the same in the PostgreSQL schema):
--   money: INTEGER cents; decimals (unit prices, quantities, unrounded amounts, percents): TEXT as
--   written by shopspring/decimal; times: TEXT, UTC, fixed width "2006-01-02T15:04:05.000000000Z", so
--   text order is time order; periods: TEXT "YYYY-MM".

-- +goose Up
CREATE TABLE accounts (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL DEFAULT '',
    email                TEXT NOT NULL DEFAULT '',
    payment_method       BOOLEAN NOT NULL DEFAULT 0,
    spend_limit_override TEXT -- USD decimal; NULL: the tier's limit
);

CREATE TABLE contracts (
    account_id                 TEXT NOT NULL REFERENCES accounts (id),
    position                   INTEGER NOT NULL,
    on_demand_discount_percent TEXT NOT NULL,
    from_at                    TEXT NOT NULL,
    to_at                      TEXT NOT NULL,
    PRIMARY KEY (account_id, position)
);

CREATE TABLE grants (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    kind         TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    granted_at   TEXT NOT NULL,
    expires_at   TEXT, -- exclusive; NULL: never
    source       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX grants_account ON grants (account_id);

CREATE TABLE payments (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    amount_cents INTEGER NOT NULL,
    paid_at      TEXT NOT NULL,
    invoice      TEXT NOT NULL DEFAULT '',
    for_credits  BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX payments_paid_at ON payments (paid_at, id);

CREATE TABLE documents (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    number                TEXT NOT NULL UNIQUE,
    account_id            TEXT NOT NULL REFERENCES accounts (id),
    period                TEXT NOT NULL,
    kind                  TEXT NOT NULL,
    replaces              TEXT NOT NULL DEFAULT '',
    corrects              TEXT NOT NULL DEFAULT '',
    issued_at             TEXT NOT NULL,
    due_at                TEXT,
    voided_at             TEXT,
    run_id                TEXT NOT NULL DEFAULT '',
    subtotal_cents        INTEGER NOT NULL,
    discount_cents        INTEGER NOT NULL,
    credits_applied_cents INTEGER NOT NULL,
    amount_due_cents      INTEGER NOT NULL
);
CREATE INDEX documents_period ON documents (period, id);
-- Idempotency: at most one effective original invoice per account and period.
CREATE UNIQUE INDEX documents_effective_invoice ON documents (account_id, period)
    WHERE kind = 'invoice' AND voided_at IS NULL;

CREATE TABLE document_lines (
    document_id  INTEGER NOT NULL REFERENCES documents (id),
    position     INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    product      TEXT NOT NULL,
    base_model   TEXT NOT NULL,
    deployment   TEXT NOT NULL,
    meter        TEXT NOT NULL,
    description  TEXT NOT NULL,
    quantity     TEXT, -- NULL for discount lines
    unit         TEXT NOT NULL,
    unit_price   TEXT, -- NULL for discount lines
    unrounded    TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    PRIMARY KEY (document_id, position)
);

CREATE TABLE consumptions (
    document_id  INTEGER NOT NULL REFERENCES documents (id),
    position     INTEGER NOT NULL,
    grant_id     TEXT NOT NULL REFERENCES grants (id),
    amount_cents INTEGER NOT NULL,
    PRIMARY KEY (document_id, position)
);
CREATE INDEX consumptions_grant ON consumptions (grant_id);

-- One row per document number series; last_number is the last number issued.
CREATE TABLE counters (
    prefix      TEXT NOT NULL,
    year        INTEGER NOT NULL,
    last_number INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
);

CREATE TABLE runs (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    period          TEXT NOT NULL,
    scope           TEXT NOT NULL,
    at              TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    status          TEXT NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    price_book_hash TEXT NOT NULL DEFAULT '',
    manifest        TEXT NOT NULL DEFAULT '[]', -- JSON array of {key,size,etag}
    counts          TEXT NOT NULL DEFAULT '{}', -- JSON
    totals          TEXT NOT NULL DEFAULT '{}'  -- JSON, amounts in cents
);
CREATE INDEX runs_period ON runs (period, started_at);

CREATE TABLE rejects (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id   TEXT NOT NULL REFERENCES runs (id),
    object   TEXT NOT NULL,
    line     INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    code     TEXT NOT NULL,
    message  TEXT NOT NULL
);
CREATE INDEX rejects_run ON rejects (run_id, object, line);

-- The table the API gateway reads: one row per evaluated account. status is active, limit_exceeded
-- or suspended; reasons is a comma-separated list of past_due_invoice, no_payment_method,
-- spend_limit_reached (empty when active); amounts are USD cents; usage_limit_cents is 0 when
-- suspended; evaluated_at is the run's --at; run_id the run that evaluated it.
CREATE TABLE account_standing (
    account_id             TEXT PRIMARY KEY REFERENCES accounts (id),
    status                 TEXT NOT NULL,
    reasons                TEXT NOT NULL DEFAULT '',
    tier                   INTEGER NOT NULL,
    spend_limit_cents      INTEGER NOT NULL,
    usage_limit_cents      INTEGER NOT NULL,
    month_usage_cents      INTEGER NOT NULL,
    credit_balance_cents   INTEGER NOT NULL,
    historical_spend_cents INTEGER NOT NULL,
    evaluated_at           TEXT NOT NULL,
    run_id                 TEXT NOT NULL DEFAULT ''
);

CREATE TABLE standing_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    at          TEXT NOT NULL,
    old_status  TEXT NOT NULL DEFAULT '',
    new_status  TEXT NOT NULL,
    old_reasons TEXT NOT NULL DEFAULT '',
    reasons     TEXT NOT NULL DEFAULT '',
    run_id      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX standing_events_at ON standing_events (at, id);

-- Run lock leases (SQLite only; PostgreSQL uses advisory locks).
CREATE TABLE run_locks (
    key        TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE run_locks;
DROP TABLE standing_events;
DROP TABLE account_standing;
DROP TABLE rejects;
DROP TABLE runs;
DROP TABLE counters;
DROP TABLE consumptions;
DROP TABLE document_lines;
DROP TABLE documents;
DROP TABLE payments;
DROP TABLE grants;
DROP TABLE contracts;
DROP TABLE accounts;
