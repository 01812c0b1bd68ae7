package usage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"billrun/rating"
)

func TestNewLocal(t *testing.T) {
	dir := writeTree(t, map[string][]byte{"dt=2026-10-05/a.jsonl": []byte("{}\n"), "file.txt": nil})
	for _, root := range []string{dir, "file://" + filepath.ToSlash(dir), "file://localhost" + filepath.ToSlash(dir), dir + "/"} {
		l, err := NewLocal(root)
		if err != nil {
			t.Errorf("NewLocal(%s) = %v", root, err)
			continue
		}
		objs, _, err := l.List(context.Background(), []string{"2026-10-05"})
		if err != nil || len(objs) != 1 {
			t.Errorf("NewLocal(%s).List = %v, %v; want one object", root, objs, err)
		}
	}
	if _, err := NewLocal(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("NewLocal(missing) = %v, want fs.ErrNotExist", err)
	}
	for _, bad := range []string{"", filepath.Join(dir, "file.txt"), "file://host/x", "file:"} {
		if _, err := NewLocal(bad); err == nil {
			t.Errorf("NewLocal(%q) = nil error, want one", bad)
		}
	}
}

func TestLocalListAndOpen(t *testing.T) {
	dir := writeTree(t, map[string][]byte{
		"dt=2026-10-05/b.jsonl.zst":     []byte("zst"),
		"dt=2026-10-05/a.jsonl":         []byte("plain"),
		"dt=2026-10-05/c.jsonl.gz":      []byte("gz"),
		"dt=2026-10-05/README.md":       []byte("no"),
		"dt=2026-10-05/E.JSONL.GZ":      []byte("usage in capitals: left out, but said"),
		"dt=2026-10-05/f.json":          []byte("JSON named .json: left out, but said"),
		"dt=2026-10-06/g.ndjson":        []byte("a partition not listed: not looked at"),
		"dt=2026-10-05/deeper/x.jsonl":  []byte("no"),
		"dt=2026-10-06/d.jsonl":         []byte("other day"),
		"dt=2026-10-07/x.jsonl/y.jsonl": []byte("a directory named like usage"),
		// A file named like a partition is not under a dt=YYYY-MM-DD/ partition, so it is ignored
		// (DESIGN §11), as S3 ignores the key PREFIX/dt=2026-10-08.
		"dt=2026-10-08": []byte("a file named like a partition"),
	})
	if err := os.Symlink(filepath.Join(dir, "dt=2026-10-05", "a.jsonl"), filepath.Join(dir, "dt=2026-10-05", "link.jsonl")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dt=2026-10-05", "dangling.jsonl")); err != nil {
		t.Fatal(err)
	}
	l, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, misnamed, err := l.List(context.Background(), []string{"2026-10-05", "2026-10-07", "2026-10-05", "2026-10-08", "2026-10-09"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dt=2026-10-05/E.JSONL.GZ", "dt=2026-10-05/f.json"}; !slices.Equal(misnamed, want) {
		t.Errorf("List's misnamed = %q, want %q", misnamed, want)
	}
	want := []rating.Object{{Key: "dt=2026-10-05/a.jsonl", Size: 5}, {Key: "dt=2026-10-05/b.jsonl.zst", Size: 3},
		{Key: "dt=2026-10-05/c.jsonl.gz", Size: 2}, {Key: "dt=2026-10-05/link.jsonl", Size: 5}}
	if !slices.Equal(objs, want) {
		t.Errorf("List = %v, want %v", objs, want)
	}
	rc, err := l.Open(context.Background(), objs[0])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "plain" {
		t.Errorf("Open(%s) read %q, want %q", objs[0].Key, b, "plain")
	}
	if _, err := l.Open(context.Background(), rating.Object{Key: "dt=2026-10-05/gone.jsonl"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(gone) = %v, want fs.ErrNotExist", err)
	}
	for _, key := range []string{"../x.jsonl", "dt=2026-10-05/../../x.jsonl", "x.jsonl", "dt=2026-10-05/a/b.jsonl"} {
		if _, err := l.Open(context.Background(), rating.Object{Key: key}); err == nil {
			t.Errorf("Open(%s) = nil error, want one", key)
		}
	}
	if _, _, err := l.List(context.Background(), []string{"2026-10-5"}); err == nil {
		t.Error("List(2026-10-5) = nil error, want one for the malformed date")
	}
}

// TestLocalMisnamedOnlyFiles: only files are named as misnamed usage, as only files are usage — a
// directory named "x.json/", a link to one, or a link to nothing would not have its events billed if
// renamed, so the warning that asks for a rename (Read) must not name it. A link to a file named
// like usage in other letters is such a file, and is named.
func TestLocalMisnamedOnlyFiles(t *testing.T) {
	dir := writeTree(t, map[string][]byte{
		"dt=2026-10-05/a.jsonl":       []byte("plain"),
		"dt=2026-10-05/dir.json/x":    []byte("a directory named like JSON"),
		"dt=2026-10-05/target.txt":    []byte("a file"),
		"dt=2026-10-05/other/y.jsonl": []byte("no"),
		"dt=2026-10-05/REAL.JSONL.GZ": []byte("usage in capitals"),
	})
	part := filepath.Join(dir, "dt=2026-10-05")
	for link, target := range map[string]string{
		"dirlink.json":   filepath.Join(part, "other"),
		"nowhere.json":   filepath.Join(dir, "nowhere"),
		"filelink.JSONL": filepath.Join(part, "target.txt"),
	} {
		if err := os.Symlink(target, filepath.Join(part, link)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, misnamed, err := l.List(context.Background(), []string{"2026-10-05"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dt=2026-10-05/REAL.JSONL.GZ", "dt=2026-10-05/filelink.JSONL"}; !slices.Equal(misnamed, want) {
		t.Errorf("List's misnamed = %q, want %q", misnamed, want)
	}
}
