package tempfile

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// An anonymous temporary file keeps working through its descriptor, and its directory is empty at
// once, before it is closed.
func TestAnonymous(t *testing.T) {
	dir := t.TempDir()
	f, err := os.CreateTemp(dir, "spool-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gone := Anonymous(f)
	if want := runtime.GOOS != "windows" && runtime.GOOS != "plan9" && runtime.GOOS != "js" && runtime.GOOS != "wasip1"; gone != want {
		t.Fatalf("Anonymous = %v on %s, want %v", gone, runtime.GOOS, want)
	}
	if _, err := f.WriteString("rows"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.NewSectionReader(f, 0, 4))
	if err != nil || string(got) != "rows" {
		t.Fatalf("read back %q, %v; want rows", got, err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); gone && len(names) != 0 {
		t.Errorf("directory holds %v, want nothing once the file is anonymous", names)
	}
}
