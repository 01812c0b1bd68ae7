// Package jobs orchestrates billrun's runs — close, rate, sweep, export and accounts import — over the
// small interfaces it declares for what it consumes: a Store, a UsageReader and an Exporter. It owns
// run records, the per-period run lock, the order of issuing and the files a close writes.
package jobs
