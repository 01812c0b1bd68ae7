package usage

import (
	"context"
	"io"
	"strings"

	"billrun/rating"
)

// Source lists and opens raw usage objects laid out as PREFIX/dt=YYYY-MM-DD/<name>.jsonl[.gz|.zst]:
// a local directory (Local) or an S3 bucket and prefix (S3).
type Source interface {
	// List returns the objects under the dt=YYYY-MM-DD partitions of the given dates (each "YYYY-MM-DD"),
	// sorted by key. Keys are relative to the source's root/prefix, e.g. "dt=2026-10-05/events.jsonl.gz".
	// Objects that are not directly in such a partition, or whose names do not end in .jsonl, .jsonl.gz
	// or .jsonl.zst, are not usage and are left out; misnamed holds the keys of those left out directly
	// in a partition that look like usage all the same (misnamedUsage), so that Read can say so.
	List(ctx context.Context, dates []string) (objs []rating.Object, misnamed []string, err error)
	// Open streams an object's raw (still compressed) bytes. A read error mid-stream must surface as an
	// error from Read, never as a silent EOF.
	Open(ctx context.Context, obj rating.Object) (io.ReadCloser, error)
	// String describes the source for logs, without secrets.
	String() string
}

// isUsageName reports whether an object's name (its key's last element) is raw usage by the contract:
// <name>.jsonl, <name>.jsonl.gz or <name>.jsonl.zst (DESIGN §3).
func isUsageName(name string) bool {
	return strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".jsonl.gz") ||
		strings.HasSuffix(name, ".jsonl.zst")
}

// misnamedUsage reports whether a name that is not usage looks as if it was meant to be: a usage
// extension in another case (EVENTS.JSONL.GZ), or JSON lines named .json or .ndjson, compressed or not.
// Such an object is still left out — the contract names usage by its extension — but not in silence:
// its events would otherwise be missing from the bill without a word.
func misnamedUsage(name string) bool {
	if isUsageName(name) {
		return false
	}
	lower := strings.ToLower(name)
	if isUsageName(lower) {
		return true
	}
	for _, ext := range []string{".json", ".ndjson"} {
		for _, comp := range []string{"", ".gz", ".zst"} {
			if strings.HasSuffix(lower, ext+comp) {
				return true
			}
		}
	}
	return false
}
