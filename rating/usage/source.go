package usage

import (
	"context"
	"io"

	"billrun/rating"
)

// Source lists and opens raw usage objects laid out as PREFIX/dt=YYYY-MM-DD/<name>.jsonl[.gz|.zst]:
// a local directory (Local) or an S3 bucket and prefix (S3).
type Source interface {
	// List returns the objects under the dt=YYYY-MM-DD partitions of the given dates (each "YYYY-MM-DD"),
	// sorted by key. Keys are relative to the source's root/prefix, e.g. "dt=2026-10-05/events.jsonl.gz".
	// Objects that are not directly in such a partition, or whose names do not end in .jsonl, .jsonl.gz
	// or .jsonl.zst, are not usage and are left out.
	List(ctx context.Context, dates []string) ([]rating.Object, error)
	// Open streams an object's raw (still compressed) bytes. A read error mid-stream must surface as an
	// error from Read, never as a silent EOF.
	Open(ctx context.Context, obj rating.Object) (io.ReadCloser, error)
	// String describes the source for logs, without secrets.
	String() string
}
