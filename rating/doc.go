// Package rating is billrun's pure pricing domain: periods, the versioned price book and its model
// catalog, usage events, the mergeable usage aggregate and its text form (Partial), and the rating of
// an aggregate into invoice lines with per-line rounding and the bulk on-demand discount.
//
// It imports only the standard library and a decimal package: no I/O, no SDKs. Reading raw usage lives
// in rating/usage, loading the price book YAML in rating/prices.
package rating
