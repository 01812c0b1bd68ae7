package exporters

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"billrun/rating"
)

// TestRejectsPartOver4GiB: a sheet excelize writes (not the spliced Lines) can reach 4 GiB of XML
// too, on one sheet. A reject's event id and its unknown_account message are the input's texts, each
// up to a cell's 32,767 characters, and "&" is 5 bytes of XML ("&amp;"): 14,500 rejects whose id and
// account are 30,000 "&" each make a Rejects part of 14,500 × ~300 KB ≈ 4.35 GB, over the zip32 limit
// of 4,294,967,295 bytes (a million rejects of ids of 4 KB would do the same). Such a part needs
// "version needed" 4.5 (45) in its local header as in its central one: excelize patches that in when
// it builds the archive in memory (writeZip64LFH), as Excel insists on; streamed through
// zip.Writer.Create, the local header said 2.0 (20) under a zip64 central entry of 4.5.
func TestRejectsPartOver4GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and deflates over 4 GiB of sheet XML (~40 s)")
	}
	r := sampleReport()
	id := strings.Repeat("&", 30000)
	msg := "account " + strings.Repeat("&", 30000) + " does not exist"
	r.Rejects = make([]rating.Reject, 14500)
	for i := range r.Rejects {
		r.Rejects[i] = rating.Reject{Object: "dt=2026-10-02/part-0001.jsonl.gz", Line: int64(i + 1), EventID: id,
			Code: rating.RejectUnknownAccount, Message: msg}
	}
	path := filepath.Join(t.TempDir(), "book.xlsx")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := WriteXLSX(out, r); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var big int
	for _, f := range zr.File {
		if f.UncompressedSize64 < math.MaxUint32 {
			continue
		}
		big++
		off, err := f.DataOffset()
		if err != nil {
			t.Fatal(err)
		}
		// The local header (APPNOTE 4.3.7): 30 bytes, the name, the extra field (none here: its
		// length is checked below with the signature), then the data.
		lfh := make([]byte, 30)
		if _, err := out.ReadAt(lfh, off-30-int64(len(f.Name))); err != nil {
			t.Fatal(err)
		}
		le := binary.LittleEndian
		if sig, v, extra := le.Uint32(lfh), le.Uint16(lfh[4:]), le.Uint16(lfh[28:]); sig != 0x04034b50 || extra != 0 || v != 45 || f.ReaderVersion != 45 {
			t.Errorf("%s (%d bytes): local header signature %#x, extra %d, version %d; central version %d; want version 45 in both",
				f.Name, f.UncompressedSize64, sig, extra, v, f.ReaderVersion)
		}
	}
	if big != 1 {
		for _, f := range zr.File {
			t.Log(f.Name, f.UncompressedSize64, f.CompressedSize64, f.ReaderVersion)
		}
		t.Errorf("%d parts of 4 GiB or more, want 1 (Rejects)", big)
	}
}

// TestSpooledPartReadsBack: a part excelize writes that outgrows the spool's memory (here Rejects,
// 2,000 rows of ~1.3 KB of XML: ~2.6 MB, over spoolMemoryBytes) is written from the spool with its
// sizes known; the workbook reads back with every cell as written, and the archive's CRC-32s check.
func TestSpooledPartReadsBack(t *testing.T) {
	r := sampleReport()
	r.Rejects = make([]rating.Reject, 2000)
	for i := range r.Rejects {
		r.Rejects[i] = rating.Reject{Object: "dt=2026-10-02/part-0001.jsonl.gz", Line: int64(i + 1),
			EventID: fmt.Sprintf("evt_%d_%s", i, strings.Repeat("x", 600)), Code: rating.RejectUnknownAccount,
			Message: fmt.Sprintf("account acct_%d%s does not exist", i, strings.Repeat("&", 100))}
	}
	var b bytes.Buffer
	if err := WriteXLSX(&b, r); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var spooled bool
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil { // checks the CRC-32 and size at the end
			t.Errorf("%s: %v", f.Name, err)
		}
		rc.Close()
		spooled = spooled || f.UncompressedSize64 > spoolMemoryBytes
	}
	if !spooled {
		t.Fatal("no part outgrew the spool's memory: the test does not test the spooled path")
	}
	f, err := excelize.OpenReader(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(SheetRejects, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(r.Rejects) {
		t.Fatalf("Rejects has %d rows, want %d", len(rows), 1+len(r.Rejects))
	}
	for i, rj := range r.Rejects {
		want := []string{rj.Object, fmt.Sprint(rj.Line), rj.EventID, string(rj.Code), rj.Message}
		if got := rows[i+1]; !slices.Equal(got, want) {
			t.Fatalf("Rejects row %d = %q, want %q", i+2, got, want)
		}
	}
}
