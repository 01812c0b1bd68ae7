package usage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"billrun/rating"
)

var _ Source = (*Local)(nil)

// Local is a usage tree on a local disk: ROOT/dt=YYYY-MM-DD/<name>.jsonl[.gz|.zst].
//
// Its listing leaves ETag empty: hashing every file while listing would read it twice. Read fills the
// manifest's ETag instead with a SHA-256 of the bytes it reads ("sha256:<hex>"), computed as it reads.
type Local struct {
	root string
}

// CheckLocal reports whether root names a local usage tree as NewLocal reads it — a plain path, or a
// file URL with an absolute path and no host — without looking at the file system.
func CheckLocal(root string) error {
	_, err := localDir(root)
	return err
}

// localDir returns the directory root names: root itself, or a file URL's path.
func localDir(root string) (string, error) {
	dir := root
	if strings.HasPrefix(root, "file:") {
		u, err := url.Parse(root)
		if err != nil {
			return "", fmt.Errorf("usage: local source %q: %w", root, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf("usage: local source %q: want file:///abs/path (no host)", root)
		}
		if u.Path == "" {
			return "", fmt.Errorf("usage: local source %q: want file:///abs/path", root)
		}
		dir = filepath.FromSlash(u.Path)
	}
	if dir == "" {
		return "", fmt.Errorf("usage: local source: empty path")
	}
	return dir, nil
}

// NewLocal returns the usage tree at root: a plain path or a file URL (file:///abs/path). It returns an
// error, wrapping fs.ErrNotExist when root does not exist, unless root is a directory.
func NewLocal(root string) (*Local, error) {
	dir, err := localDir(root)
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("usage: local source %s: %w", dir, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("usage: local source %s: not a directory", dir)
	}
	return &Local{root: dir}, nil
}

// String returns the tree as a file URL or path.
func (l *Local) String() string {
	if filepath.IsAbs(l.root) {
		return "file://" + filepath.ToSlash(l.root)
	}
	return l.root
}

// List returns the usage files directly inside ROOT/dt=DATE/ for each date ("YYYY-MM-DD"), sorted by
// key, with their sizes and an empty ETag. A missing partition directory, or a file in its place, has
// no objects. Files with other names, subdirectories and anything outside the partitions are ignored;
// those of the files (or links to files) left out that look like usage (misnamedUsage) are returned
// as misnamed. It returns an error for a malformed date or a directory that cannot be read.
func (l *Local) List(ctx context.Context, dates []string) (objs []rating.Object, misnamed []string, err error) {
	for _, date := range uniqueSorted(dates) {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		if _, err := time.Parse(time.DateOnly, date); err != nil || len(date) != len(time.DateOnly) {
			return nil, nil, fmt.Errorf("date %q: want YYYY-MM-DD", date)
		}
		part := "dt=" + date
		partDir := filepath.Join(l.root, part)
		entries, err := os.ReadDir(partDir)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			// A file named like a partition holds no partition: like the key PREFIX/dt=DATE on S3, it is
			// not under dt=DATE/ and so not usage (DESIGN §11).
			if info, statErr := os.Stat(partDir); statErr == nil && !info.IsDir() {
				continue
			}
			return nil, nil, err // the path is in it; Read names the source
		}
		for _, e := range entries {
			usage := isUsageName(e.Name())
			if !usage && (e.IsDir() || !misnamedUsage(e.Name())) {
				continue
			}
			info, err := e.Info()
			if err == nil && info.Mode()&fs.ModeSymlink != 0 {
				info, err = os.Stat(filepath.Join(l.root, part, e.Name()))
			}
			if err != nil {
				if os.IsNotExist(err) || !usage { // removed since ReadDir, or a dangling link; or not usage
					continue
				}
				return nil, nil, err // the path is in it; Read names the source
			}
			// Only files are usage, so only files are misnamed usage: a directory, or a link to one,
			// would not be read if it were renamed.
			if !info.Mode().IsRegular() {
				continue
			}
			if !usage {
				misnamed = append(misnamed, part+"/"+e.Name())
				continue
			}
			objs = append(objs, rating.Object{Key: part + "/" + e.Name(), Size: info.Size()})
		}
	}
	slices.SortFunc(objs, func(a, b rating.Object) int { return strings.Compare(a.Key, b.Key) })
	slices.Sort(misnamed)
	return objs, misnamed, nil
}

// Open opens the file of obj. It returns an error wrapping fs.ErrNotExist when the file is gone, and
// an error for a key that is not a partition file of this tree.
func (l *Local) Open(ctx context.Context, obj rating.Object) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, _, ok := partitionOf(obj.Key); !ok || path.Clean(obj.Key) != obj.Key {
		return nil, errors.New("not a dt=YYYY-MM-DD/<name> key")
	}
	f, err := os.Open(filepath.Join(l.root, filepath.FromSlash(obj.Key)))
	if err != nil {
		return nil, err // the path is in it; the reader names the object
	}
	return f, nil
}

// partitionOf returns the date of a key "dt=YYYY-MM-DD/<name>" and the date as text.
func partitionOf(key string) (time.Time, string, bool) {
	dir, name, ok := strings.Cut(key, "/")
	if !ok || name == "" || strings.Contains(name, "/") || !strings.HasPrefix(dir, "dt=") {
		return time.Time{}, "", false
	}
	date := dir[len("dt="):]
	d, err := time.Parse(time.DateOnly, date)
	if err != nil || len(date) != len(time.DateOnly) {
		return time.Time{}, "", false
	}
	return d, date, true
}

func uniqueSorted(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}
