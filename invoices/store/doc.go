// Package store persists billrun's ledger, runs, rejects, standing and run locks in SQLite
// (modernc.org/sqlite, no cgo) or PostgreSQL (pgx stdlib driver) through sqlx. The schema is embedded
// and migrated with goose when a Store opens; the SQL is the same on both databases except for the
// DDL and the run lock (a lease row on SQLite, a session advisory lock on PostgreSQL). A document's
// lines — almost all of what a close writes — are one row of document_line_sets per document, a JSON
// array (linesjson.go) written with the document and read with it; the document_lines view shows them
// a row per line for queries by hand.
//
// Storage conventions, identical on both databases: money is integer cents; unit prices, quantities,
// unrounded amounts and percents are decimal text; times are UTC text in the fixed-width form
// "2006-01-02T15:04:05.000000000Z", so they round-trip to the nanosecond and text order is time
// order; periods are "YYYY-MM".
//
// The API gateway reads the account_standing table: one row per account with account_id, status
// (active, limit_exceeded, suspended), reasons (comma-separated, empty when active), tier,
// spend_limit_cents, usage_limit_cents, month_usage_cents, credit_balance_cents,
// historical_spend_cents, evaluated_at and run_id.
package store
