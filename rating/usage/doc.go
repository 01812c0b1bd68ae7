// Package usage reads raw usage for billrun: it lists the dt= partitions a run needs from a local
// directory or S3, decompresses and decodes objects in parallel, validates every line, deduplicates
// events exactly (conflicting copies are rejected), and aggregates accepted events through a
// rating.Rater into a mergeable rating.Aggregate, keeping every reject with object, line and reason.
package usage
