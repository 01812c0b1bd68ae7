// Package usage reads raw usage for billrun: it lists the dt= partitions a run needs from a local
// directory or S3, decompresses and decodes objects in parallel, validates every line, deduplicates
// events exactly (conflicting copies are rejected), and aggregates accepted events through a
// rating.Rater into a mergeable rating.Aggregate, keeping every reject with object, line and reason.
//
// Read is the entry point. Per line it decodes (Decode: a hand-written scanner for the common case,
// encoding/json for everything else and for the messages), applies the partition scope rules of
// DESIGN §11 (the day after a period holds only GPU intervals for it), validates what needs the
// partition (wrong_partition, late_report, interval_too_long), drops events outside the window,
// deduplicates by a 128-bit hash of the id, and rates. Conflicting copies of an id are found in a first
// pass and rejected in a second one, so no copy is ever billed; without conflicts objects are read once.
//
// Memory grows with the accounts × line keys of the aggregate, the rejects, and the dedup set (at most
// 45 bytes per distinct id); objects are streamed, never held whole.
package usage
