package exporters

import (
	"archive/zip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSplicedPartOver4GiB splices a sheet part of just over 4 GiB of XML (a million Lines rows of
// over 4 KB each: long deployment or job names) and checks that it is written as archive/zip writes
// such a part, with excelize's fix for Excel: version needed 4.5 (45) in the local and central headers,
// the local header's CRC and sizes zero with bit 3 set, the sizes in a zip64 data descriptor; and
// that the part reads back whole, its CRC-32 checked. Before, the local header held 0xFFFFFFFF for
// the uncompressed size with no zip64 field, and both headers version 2.0 (20).
func TestSplicedPartOver4GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("deflates and inflates 4 GiB (~5 s)")
	}
	const part = "xl/worksheets/sheet3.xml"
	row := []byte(`<row r="2"><c t="inlineStr"><is><t>` + strings.Repeat("deployment-", 40) + `</t></is></c></row>`)
	var sp rowSpool
	defer sp.close()
	var want int64
	for want <= math.MaxUint32 {
		for len(sp.buf) < spoolMemoryBytes {
			sp.buf = append(sp.buf, row...)
			want += int64(len(row))
		}
		if err := sp.sync(); err != nil {
			t.Fatal(err)
		}
	}
	head, tail := `<worksheet><sheetData><row r="1"/>`, `</sheetData></worksheet>`
	want += int64(len(head) + len(tail))

	path := filepath.Join(t.TempDir(), "book.xlsx")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	z := &spliceZipWriter{zw: zip.NewWriter(out), rows: map[string]*rowSpool{part: &sp}}
	for _, p := range []struct{ name, body string }{{part, head + tail}, {"xl/styles.xml", "<styleSheet/>"}} {
		w, err := z.Create(p.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, p.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}

	// The local header is the archive's first 30 bytes (APPNOTE 4.3.7).
	lfh := make([]byte, 30)
	if _, err := out.ReadAt(lfh, 0); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if v, flags, csize, usize := le.Uint16(lfh[4:]), le.Uint16(lfh[6:]), le.Uint32(lfh[18:]), le.Uint32(lfh[22:]); v != 45 || flags&0x8 == 0 || csize != 0 || usize != 0 {
		t.Errorf("local header: version %d, flags %#x, sizes %#x %#x; want 45, bit 3 set, 0 0", v, flags, csize, usize)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f := zr.File[0]
	if f.Name != part || f.ReaderVersion != 45 || f.UncompressedSize64 != uint64(want) {
		t.Errorf("central header: %s version %d, %d bytes; want %s version 45, %d bytes", f.Name, f.ReaderVersion,
			f.UncompressedSize64, part, want)
	}
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := crc32.NewIEEE()
	n, err := io.Copy(h, rc) // the reader checks the CRC-32 and sizes at the end
	if err != nil || n != want || h.Sum32() != f.CRC32 {
		t.Errorf("read %d bytes, %v, CRC %08x; want %d bytes, CRC %08x", n, err, h.Sum32(), want, f.CRC32)
	}
}
