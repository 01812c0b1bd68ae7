package exporters

import (
	"archive/zip"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"billrun/invoices"
	"billrun/rating"
)

// awkwardTexts are cell texts that exercise excelize's text rules: escaping, white space, invalid UTF-8,
// characters XML does not allow, the _xHHHH_ escapes and the length limit.
var awkwardTexts = []string{
	`A&B <c> "d" 'e'`,
	" leading space", "trailing space ", "\ttab", "new\nline", "cr\r\n", "\n", " ",
	"naïve Zürich 東京 🚀 \u2028",
	"bad \xff\xfe bytes \xe2\x82", "ctl \x00\x01\x1f\x7f end", "\ufffe\uffff nonchars \ufffd",
	"_x0041_ _x005F_ _x005F_x0041_ _x005f_ _xD800_ _x005F_xDBFF_ _x00_ __x0041__ _X0041_",
	"_x005F_x00G1_", "x0041_", "_x004", "&#xA; literal",
	strings.Repeat("long ", 7000) + "end",              // 35,003 bytes: cut to 32,767
	strings.Repeat("é", 32766) + "🚀",                   // the emoji's two units cross the limit
	strings.Repeat("a", 32766) + "\xff\xfe" + " tail ", // invalid bytes count one unit each
}

// awkwardReport is sampleReport with documents whose lines carry awkward texts and numbers: discount
// lines without quantity, unit or price, fractional GPU-seconds, empty texts, amounts and quantities
// beyond 15 significant digits.
func awkwardReport(drafts bool) *invoices.Report {
	r := sampleReport()
	r.Drafts = drafts
	at := ts("2026-11-01T02:00:00Z")
	var lines []rating.Line
	for i, s := range awkwardTexts {
		lines = append(lines, rating.Line{Kind: rating.KindServerless, Product: s, BaseModel: s, Meter: rating.MeterInput,
			Description: s, Quantity: dec(fmt.Sprintf("%d", i*1000)), Unit: s, UnitPrice: dec("0.2"),
			Amount: rating.Cents(i*7 - 30)})
	}
	lines = append(lines,
		rating.Line{Kind: rating.KindDiscount, Product: "on_demand", Meter: rating.MeterDiscount,
			Description: "discount", Amount: cents("-0.05")},
		rating.Line{Kind: rating.KindDiscount, Amount: 0}, // nothing but kind and amount
		rating.Line{Kind: rating.KindGPU, Product: "H100", Deployment: "d", Meter: rating.MeterGPUSeconds,
			Quantity: dec("0.000000001"), Unit: "GPU-hour", UnitPrice: dec("8.123456789012345"), Amount: 1},
		rating.Line{Kind: rating.KindGPU, Quantity: dec("-3600.50"), UnitPrice: dec("1E+3"), Amount: -123456789012345},
		rating.Line{Kind: rating.KindGPU, Quantity: dec("1234567890.123456789"), UnitPrice: dec("1234567890123456"),
			Amount: 999_999_999_999_999},
		rating.Line{Kind: rating.KindGPU, Quantity: dec("123456789012345678901234567890"), UnitPrice: dec("0.1"),
			Amount: 1_000_000_000_000_000},
		rating.Line{Kind: rating.KindGPU, Quantity: dec("1E+14"), UnitPrice: dec("1E+15"), Amount: -1_000_000_000_000_001},
		rating.Line{Kind: "", Quantity: dec("0"), UnitPrice: dec("0.00"), Amount: 0},
		rating.Line{Kind: rating.KindFineTuning, Quantity: dec("-0.5"), UnitPrice: dec("-0.0000001"), Amount: -50},
	)
	for i, s := range []string{"", " ", "INV & <co>", "\xff", "_x0041_"} {
		n := len(r.Docs) + 1
		doc := invoices.Document{ID: int64(n), Number: s, Account: s, Period: r.Period, Kind: invoices.KindInvoice,
			IssuedAt: at, RunID: "run_close_1", Lines: lines[i*len(lines)/5 : (i+1)*len(lines)/5]}
		for _, l := range doc.Lines {
			doc.Subtotal += l.Amount
		}
		doc.AmountDue = doc.Subtotal
		r.Docs = append(r.Docs, invoices.DocView{Document: doc, Status: invoices.Status(s)})
	}
	return r
}

// streamXLSX writes r through a stream in batches of three documents, with the Lines rows encoded here
// (fast) or by excelize.
func streamXLSX(t testing.TB, r *invoices.Report, fast bool) []byte {
	t.Helper()
	var b bytes.Buffer
	st, err := startXLSX(&b, r.Period, r.Currency, r.Drafts, len(r.Docs), lineCount(r.Docs), fast)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if fast != (st.fastLines != nil) {
		t.Fatalf("startXLSX(fast %v) encodes the Lines rows itself: %v", fast, st.fastLines != nil)
	}
	for lo := 0; lo < len(r.Docs); lo += 3 {
		if err := st.Add(r.Docs[lo:min(lo+3, len(r.Docs))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Finish(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// unzipParts returns the workbook's parts by name.
func unzipParts(t testing.TB, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	parts := make(map[string][]byte)
	for _, zf := range zr.File {
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		x, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", zf.Name, err)
		}
		if _, dup := parts[zf.Name]; dup {
			t.Fatalf("part %s twice in the archive", zf.Name)
		}
		parts[zf.Name] = x
	}
	return parts
}

// linesPart returns the name of the Lines sheet's part, from the workbook the test wrote.
func linesPart(t testing.TB) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if _, err := newXLSXWriter(f, &invoices.Report{}, Sheets); err != nil {
		t.Fatal(err)
	}
	part, err := sheetPart(f, SheetLines)
	if err != nil {
		t.Fatal(err)
	}
	return part
}

// TestLinesSheetMatchesExcelize writes awkward reports with the Lines rows encoded here and with
// excelize's StreamWriter, and checks every part of the two workbooks is the same, byte for byte —
// the Lines sheet's part above all.
func TestLinesSheetMatchesExcelize(t *testing.T) {
	part := linesPart(t)
	for _, tc := range []struct {
		name string
		r    *invoices.Report
	}{
		{"sample", sampleReport()},
		{"empty", emptyReport()},
		{"awkward", awkwardReport(false)},
		{"awkward drafts", awkwardReport(true)},
		{"awkward, texts shared", shareTexts(awkwardReport(false))},
		{"spooled to a file", bigReport(400, 50)}, // 20,000 lines, several MB of rows
		{"spooled to a file, texts shared", shareTexts(bigReport(400, 50))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())
			want := unzipParts(t, streamXLSX(t, tc.r, false))
			fast := streamXLSX(t, tc.r, true)
			got := unzipParts(t, fast)
			if spooled := strings.HasPrefix(tc.name, "spooled"); spooled != deflatedRaw(t, fast, part) {
				t.Errorf("%s written from rows deflated while added: %v, want %v", part, !spooled, spooled)
			}
			if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
				t.Fatalf("parts = %v, want %v", g, w)
			}
			got[part] = withCellRefs(t, got[part])
			for name, w := range want {
				if g := got[name]; !bytes.Equal(g, w) {
					t.Errorf("part %s differs from excelize's: %s", name, byteDiff(g, w))
				}
			}
			if n, want := bytes.Count(got[part], []byte("<row ")), 1+lineCount(tc.r.Docs); n != want {
				t.Errorf("%s has %d rows, want %d", part, n, want)
			}
			if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
		})
	}
}

// deflatedRaw reports whether the workbook's part was stored already deflated (zip.Writer.CreateRaw,
// no data descriptor) rather than compressed by the zip writer.
func deflatedRaw(t testing.TB, b []byte, part string) bool {
	t.Helper()
	zf := zipEntry(t, b, part)
	return zf.Method == zip.Deflate && zf.Flags&0x8 == 0
}

// zipEntry returns the entry of the workbook's part.
func zipEntry(t testing.TB, b []byte, part string) *zip.File {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, zf := range zr.File {
		if zf.Name == part {
			return zf
		}
	}
	t.Fatalf("no part %s", part)
	return nil
}

// byteDiff describes where got first differs from want, with the bytes around it.
func byteDiff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(i-120, 0)
	return fmt.Sprintf("at byte %d of %d (want %d):\n got …%q\nwant …%q", i, len(got), len(want),
		got[lo:min(i+120, len(got))], want[lo:min(i+120, len(want))])
}

// TestLinesSpoolRemovedOnAbort checks the spooled rows' temporary file goes when a stream is closed
// without finishing, as a failed close does.
func TestLinesSpoolRemovedOnAbort(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	r := bigReport(400, 50)
	st, err := StartXLSX(io.Discard, r.Period, r.Currency, r.Drafts, len(r.Docs), lineCount(r.Docs))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Add(r.Docs); err != nil {
		t.Fatal(err)
	}
	if st.fastLines == nil || st.fastLines.sheets[0].spool.file == nil {
		t.Fatal("the rows of 20,000 lines are not spooled to a file")
	}
	// Where the system allows it the spool has no name while in use, so a process killed at this
	// point leaves nothing in the temporary directory either.
	spool := &st.fastLines.sheets[0].spool
	if left, _ := os.ReadDir(dir); spool.anonymous && len(left) != 0 {
		t.Errorf("the spool, anonymous, still has a name: %v", left)
	} else if !spool.anonymous && runtime.GOOS == "linux" {
		t.Errorf("the spool is not anonymous on linux")
	}
	st.Close()
	st.Close() // twice, as closeExports.abort may
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// excelizeRowXML returns the row 2 that excelize's StreamWriter writes for values.
func excelizeRowXML(t testing.TB, values []any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	return streamedRow2(t, f, func(sw *excelize.StreamWriter) error { return sw.SetRow("A2", values) })
}

// streamedRow2 has write fill Sheet1 of f through a StreamWriter and returns the row 2 of the sheet.
func streamedRow2(t testing.TB, f *excelize.File, write func(sw *excelize.StreamWriter) error) []byte {
	t.Helper()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	if err := write(sw); err != nil {
		t.Fatal(err)
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	b, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	part := unzipParts(t, b.Bytes())["xl/worksheets/sheet1.xml"]
	i, j := bytes.Index(part, []byte(`<row r="2"`)), bytes.LastIndex(part, []byte(`</row>`))
	if i < 0 || j < i {
		t.Fatalf("no row 2 in %q", part)
	}
	return part[i : j+len(`</row>`)]
}

// FuzzAppendTextCell checks a text cell, plain and styled, is what excelize writes for it.
func FuzzAppendTextCell(f *testing.F) {
	for _, s := range awkwardTexts {
		f.Add(s)
	}
	f.Add("plain")
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return // no cell: text() leaves it out
		}
		want := excelizeRowXML(t, []any{s, excelize.Cell{StyleID: 3, Value: s}})
		row := []byte("2")
		got := append([]byte(`<row r="2">`), appendTextCell(nil, "A", row, 0, s)...)
		got = appendTextCell(got, "B", row, 3, s)
		got = append(got, `</row>`...)
		if !bytes.Equal(got, want) {
			t.Errorf("text cells of %q:\n got %q\nwant %q", s, got, want)
		}
	})
}

// FuzzLineRow checks a line's row, text and number cells, is what lineRows has excelize write.
func FuzzLineRow(f *testing.F) {
	f.Add("serverless", "acct_1", "model & <x>", " desc ", "1M tokens", "1200000", "0.20", int64(24), false)
	f.Add("gpu", "acct_2", "H100", "d\xff", "GPU-hour", "3600.5", "8.00", int64(800), true)
	f.Add("discount", "acct_3", "on_demand", "", "", "0", "0", int64(-207), false)
	f.Add("gpu", "", "_x0041_", "", "", "123456789012345678", "1E+15", int64(1_000_000_000_000_000), false)
	f.Add("gpu", "a", "b", "c", "d", "-0.000000000000001", "99999999999999.9", int64(-999_999_999_999_999), false)
	f.Fuzz(func(t *testing.T, kind, account, product, desc, unit, qty, price string, amount int64, drafts bool) {
		q, err1 := decimal.NewFromString(qty)
		p, err2 := decimal.NewFromString(price)
		if err1 != nil || err2 != nil {
			return
		}
		r := &invoices.Report{Currency: "USD", Drafts: drafts}
		d := &invoices.DocView{Document: invoices.Document{Number: "INV-" + account, Account: account,
			Lines: []rating.Line{{Kind: rating.Kind(kind), Product: product, BaseModel: product,
				Deployment: desc, Meter: rating.Meter(unit), Description: desc, Quantity: q, Unit: unit,
				UnitPrice: p, Amount: rating.Cents(amount)}}}, Status: invoices.StatusOpen}

		ef := excelize.NewFile()
		defer ef.Close()
		x, err := newXLSXWriter(ef, r, []string{"Sheet1"})
		if err != nil {
			t.Fatal(err)
		}
		want := streamedRow2(t, ef, func(sw *excelize.StreamWriter) error {
			return x.lineRows(&sheetWriter{names: []string{"Sheet1"}, sws: []*excelize.StreamWriter{sw},
				tableCursor: tableCursor{tables: []int{1}, row: 1}}, d)
		})

		w := &lineRowsWriter{sheets: []*linesSheet{{}}, tableCursor: tableCursor{tables: []int{1}, row: 1}}
		if err := w.addDoc(x, d, x.docNumber(d), x.docStatus(d)); err != nil {
			t.Fatal(err)
		}
		if got := withCellRefs(t, w.sheets[0].spool.buf); !bytes.Equal(got, want) {
			t.Errorf("row of %+v:\n got %q\nwant %q", d.Lines[0], got, want)
		}
	})
}

// withCellRefs returns sheet XML with the reference every cell without one stands for written out, as
// excelize writes them: a cell without a reference is in the column after the cell before it in its
// row, the first column when it is the row's first (ECMA-376 §18.3.1.4). It fails on a cell outside a
// row with a number.
func withCellRefs(t testing.TB, x []byte) []byte {
	t.Helper()
	var out []byte
	row, col := "", 0
	for len(x) > 0 {
		i := bytes.IndexByte(x, '<')
		if i < 0 {
			break
		}
		out, x = append(out, x[:i]...), x[i:]
		switch {
		case bytes.HasPrefix(x, []byte(`<row r="`)):
			end := bytes.IndexByte(x[len(`<row r="`):], '"')
			row, col = string(x[len(`<row r="`):len(`<row r="`)+end]), 0
		case bytes.HasPrefix(x, []byte(`<c r="`)):
			end := bytes.IndexByte(x[len(`<c r="`):], '"')
			c, _, err := excelize.CellNameToCoordinates(string(x[len(`<c r="`) : len(`<c r="`)+end]))
			if err != nil {
				t.Fatal(err)
			}
			col = c
		case bytes.HasPrefix(x, []byte(`<c `)) || bytes.HasPrefix(x, []byte(`<c>`)) || bytes.HasPrefix(x, []byte(`<c/`)):
			if row == "" {
				t.Fatalf("a cell without reference outside a numbered row: %.40q", x)
			}
			col++
			name, err := excelize.ColumnNumberToName(col)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, `<c r="`+name+row+`"`...)
			x = x[len(`<c`):]
			continue
		}
		out, x = append(out, '<'), x[1:]
	}
	return append(out, x...)
}

// TestLineRowsCellRefs checks which cells of the Lines rows name their column: only those after an
// empty cell, and the first cell when column A is empty.
func TestLineRowsCellRefs(t *testing.T) {
	r := awkwardReport(false)
	x := unzipParts(t, streamXLSX(t, r, true))[linesPart(t)]
	rows := bytes.Split(x, []byte(`<row `))[2:] // the part's head, the header row
	if len(rows) != lineCount(r.Docs) {
		t.Fatalf("%d rows, want %d", len(rows), lineCount(r.Docs))
	}
	refs := 0
	for _, row := range rows {
		full := withCellRefs(t, append([]byte(`<row `), row...))
		cols := regexp.MustCompile(`<c r="([A-Z]+)\d+"`).FindAllSubmatch(full, -1)
		explicit := regexp.MustCompile(`<c r="([A-Z]+)\d+"`).FindAllSubmatch(row, -1)
		var want []string
		for i, c := range cols {
			prev := byte('A' - 1)
			if i > 0 {
				prev = cols[i-1][1][0]
			}
			if c[1][0] != prev+1 {
				want = append(want, string(c[1]))
			}
		}
		var got []string
		for _, c := range explicit {
			got = append(got, string(c[1]))
		}
		if !slices.Equal(got, want) {
			t.Errorf("row %.60q…: references in columns %v, want %v", row, got, want)
		}
		refs += len(got)
	}
	if refs == 0 {
		t.Error("no row has an empty cell: the report does not exercise references")
	}
}

func TestCRC32Combine(t *testing.T) {
	data := []byte(strings.Repeat("<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>x</t></is></c></row>", 500))
	for _, cut := range []int{0, 1, 7, 64, 1000, len(data) - 1, len(data)} {
		a, b := data[:cut], data[cut:]
		got := crc32Combine(crc32.ChecksumIEEE(a), crc32.ChecksumIEEE(b), int64(len(b)))
		if want := crc32.ChecksumIEEE(data); got != want {
			t.Errorf("crc32Combine at %d = %08x, want %08x", cut, got, want)
		}
	}
}
