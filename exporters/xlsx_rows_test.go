package exporters

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"billrun/invoices"
	"billrun/rating"
)

// withMaxSheetRows has the workbooks the test writes hold at most rows rows a sheet.
func withMaxSheetRows(t testing.TB, rows int) {
	t.Helper()
	old := maxSheetRows
	maxSheetRows = rows
	t.Cleanup(func() { maxSheetRows = old })
}

func TestTableSheets(t *testing.T) {
	withMaxSheetRows(t, 5) // a header and 4 rows
	for _, tc := range []struct {
		rows, after int
		want        []int
	}{
		{0, 0, []int{0}},
		{1, 0, []int{1}},
		{4, 0, []int{4}},
		{5, 0, []int{4, 1}},
		{8, 0, []int{4, 4}},
		{9, 0, []int{4, 4, 1}},
		{2, 2, []int{2}},
		{3, 2, []int{3, 0}}, // the blank row and total do not fit beside the last 3 rows
		{4, 2, []int{4, 0}},
		{5, 2, []int{4, 1}},
		{0, 4, []int{0}},
	} {
		got, err := tableSheets(tc.rows, tc.after)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("tableSheets(%d, %d) = %v, %v, want %v", tc.rows, tc.after, got, err, tc.want)
		}
	}
	if _, err := tableSheets(3, 5); !errors.Is(err, excelize.ErrMaxRows) {
		t.Errorf("tableSheets(3, 5) = %v, want ErrMaxRows", err)
	}
}

// manySheetsReport is a period whose tables need continuation sheets at 6 rows a sheet (5 after the
// header): 8 documents of two accounts (Invoices: 2 sheets), 24 lines (Lines: 5), a consumption a
// document and a grant an account (Credits: 5 + 3, then the grants' table on a sheet of its own),
// 9 rejects (Rejects: 2) and a Summary of two accounts, which fits on one sheet.
func manySheetsReport() *invoices.Report {
	r := bigReport(8, 3)
	r.Standing = r.Standing[:2]
	r.Accounts = map[string]*invoices.Account{}
	for i := range r.Docs {
		d := &r.Docs[i]
		d.Account = r.Standing[i%2].Account
		d.Consumptions = []invoices.Consumption{{GrantID: "grant_" + d.Account, Amount: rating.Cents(i + 1)}}
		if i == 5 {
			d.Lines = append(d.Lines, rating.Line{Kind: rating.KindDiscount, Description: "discount", Amount: -7})
		}
	}
	for _, s := range r.Standing {
		r.Accounts[s.Account] = &invoices.Account{ID: s.Account, Name: "Name of " + s.Account,
			Grants: []invoices.Grant{{ID: "grant_" + s.Account, Kind: invoices.GrantPromotional, Amount: 1000,
				GrantedAt: ts("2026-10-01T00:00:00Z")}}}
	}
	for i := range 9 {
		r.Rejects = append(r.Rejects, rating.Reject{Object: "dt=2026-10-01/a.jsonl.gz", Line: int64(i + 1),
			EventID: fmt.Sprintf("evt_%d", i), Code: rating.RejectCodes[i%len(rating.RejectCodes)], Message: "bad"})
	}
	return r
}

// family returns the sheets of the table that starts on sheet, in the order of list.
func family(list []string, sheet string) []string {
	var out []string
	cont := regexp.MustCompile(`^` + regexp.QuoteMeta(sheet) + ` \(\d+\)$`)
	for _, s := range list {
		if s == sheet || cont.MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

// dumpedSheets returns DumpXLSX's sheets of the workbook b, by name, and their order.
func dumpedSheets(t testing.TB, b []byte) (map[string]sheetDump, []string) {
	t.Helper()
	raw, err := DumpXLSX(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var d xlsxDump
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	byName := map[string]sheetDump{}
	var order []string
	for _, s := range d.Sheets {
		byName[s.Name] = s
		order = append(order, s.Name)
	}
	return byName, order
}

// joinedRows returns the cells of the sheets after their header row, as one table: each cell's row
// numbered as if the sheets were one, header row 1.
func joinedRows(t testing.TB, sheets []sheetDump) []cellDump {
	t.Helper()
	var out []cellDump
	offset := 0
	for _, s := range sheets {
		last := 1
		for _, c := range s.Cells {
			col, row, err := excelize.CellNameToCoordinates(c.Ref)
			if err != nil {
				t.Fatal(err)
			}
			last = max(last, row)
			if row == 1 {
				continue
			}
			c.Ref, _ = excelize.CoordinatesToCellName(col, row+offset)
			out = append(out, c)
		}
		offset += last - 1
	}
	return out
}

// TestXLSXContinuationSheets writes a report whose tables pass a sheet's rows (lowered to 6) with
// both Lines writers and checks: the continuation sheets come right after their sheet; each has the
// header row of the first, bold, frozen, an autofilter over its rows and the same column widths; the
// rows across a table's sheets are, cell for cell (values, types, formats), the rows of the workbook
// written with a sheet's real limit; every line is there once, in the report's order; and the two
// writers give the same cells.
func TestXLSXContinuationSheets(t *testing.T) {
	r := manySheetsReport()
	whole := streamXLSX(t, r, true)
	withMaxSheetRows(t, 6)
	books := map[string][]byte{"fast": streamXLSX(t, r, true), "excelize": streamXLSX(t, r, false)}
	var plain bytes.Buffer
	if err := WriteXLSX(&plain, r); err != nil {
		t.Fatal(err)
	}
	books["WriteXLSX"] = plain.Bytes()

	wantSheets := []string{SheetSummary, SheetInvoices, "Invoices (2)", SheetLines, "Lines (2)", "Lines (3)",
		"Lines (4)", "Lines (5)", SheetCredits, "Credits (2)", "Credits (3)", SheetStanding, SheetRejects,
		"Rejects (2)", SheetRun}
	wholeDump, wholeOrder := dumpedSheets(t, whole)
	if !slices.Equal(wholeOrder, Sheets) {
		t.Fatalf("at the real limit: sheets %v, want %v", wholeOrder, Sheets)
	}
	dumps := map[string]map[string]sheetDump{}
	for name, b := range books {
		t.Run(name, func(t *testing.T) {
			dump, order := dumpedSheets(t, b)
			dumps[name] = dump
			if !slices.Equal(order, wantSheets) {
				t.Fatalf("sheets %v, want %v", order, wantSheets)
			}
			f := openXLSX(t, b)
			for _, sheet := range Sheets {
				fam := family(order, sheet)
				var parts []sheetDump
				for _, s := range fam {
					parts = append(parts, dump[s])
				}
				if got, want := joinedRows(t, parts), joinedRows(t, []sheetDump{wholeDump[sheet]}); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: the rows of %v differ from the one sheet's at the real limit:\n got %v\nwant %v", sheet, fam, got, want)
				}
				for _, s := range fam[1:] {
					checkContinuation(t, f, dump, sheet, s)
				}
			}
			checkLinesInOrder(t, f, family(order, SheetLines), r)
		})
	}
	for name, dump := range dumps {
		if !reflect.DeepEqual(dump, dumps["excelize"]) {
			t.Errorf("%s: the workbook's cells differ from excelize's StreamWriter's", name)
		}
	}
}

// checkContinuation checks sheet s continues first: its header row is first's, bold, and frozen, its
// autofilter spans its header and the rows of the table on it, and its columns are as wide.
func checkContinuation(t *testing.T, f *excelize.File, dump map[string]sheetDump, first, s string) {
	t.Helper()
	header := func(name string) []cellDump {
		var h []cellDump
		for _, c := range dump[name].Cells {
			if _, row, _ := excelize.CellNameToCoordinates(c.Ref); row == 1 {
				h = append(h, c)
			}
		}
		return h
	}
	h := header(s)
	if !reflect.DeepEqual(h, header(first)) || len(h) == 0 || !h[0].Bold {
		t.Errorf("%s: header %v, want %s's, bold", s, h, first)
	}
	if d := dump[s]; d.Freeze != "A2" {
		t.Errorf("%s: frozen at %q, want A2", s, d.Freeze)
	}
	// The table's rows on the sheet: up to the first blank row after the header.
	rows, err := f.GetRows(s)
	if err != nil {
		t.Fatal(err)
	}
	table := 1
	for table < len(rows) && len(rows[table]) > 0 {
		table++
	}
	corner, _ := excelize.CoordinatesToCellName(len(h), table)
	if got, want := dump[s].AutoFilter, "A1:"+corner; got != want {
		t.Errorf("%s: autofilter %s, want %s", s, got, want)
	}
	for col := 1; col <= len(h); col++ {
		name, _ := excelize.ColumnNumberToName(col)
		w1, err1 := f.GetColWidth(first, name)
		w2, err2 := f.GetColWidth(s, name)
		if err1 != nil || err2 != nil || w1 != w2 {
			t.Errorf("%s: column %s is %v wide, %s's %v (%v, %v)", s, name, w2, first, w1, err1, err2)
		}
	}
}

// checkLinesInOrder checks the rows of the Lines sheets are the report's lines, each once, in order:
// document number, account, description and amount.
func checkLinesInOrder(t *testing.T, f *excelize.File, sheets []string, r *invoices.Report) {
	t.Helper()
	var got [][]string
	for _, s := range sheets {
		rows, err := f.GetRows(s, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rows[1:]...)
	}
	var want [][]string
	for _, d := range r.Docs {
		for _, l := range d.Lines {
			want = append(want, []string{d.Number, d.Account, l.Description, l.Amount.Decimal().String()})
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d rows on %v, want the report's %d lines", len(got), sheets, len(want))
	}
	for i, row := range got {
		row = append(row, make([]string, 13)...)
		if g := []string{row[0], row[1], row[8], row[12]}; !slices.Equal(g, want[i]) {
			t.Errorf("line %d: row %v, want %v", i+1, g, want[i])
		}
	}
}

// TestContinuedLinesMatchExcelize checks the Lines rows encoded here land in the right parts when they
// continue on further sheets — kept in memory, spooled to files, or both — and that every part is
// excelize's own, byte for byte.
func TestContinuedLinesMatchExcelize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		r         *invoices.Report
		sheetRows int
		spooled   int // Lines parts written from rows deflated into a file
	}{
		{"in memory", manySheetsReport(), 6, 0},
		{"spooled, 15,000 + 5,000", bigReport(400, 50), 15_001, 2},
		{"spooled, 19,000, then 1,000 in memory", bigReport(400, 50), 19_001, 1},
		{"spooled, 20,000 on one sheet, exactly full", bigReport(400, 50), 20_001, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withMaxSheetRows(t, tc.sheetRows)
			t.Setenv("TMPDIR", t.TempDir())
			want := unzipParts(t, streamXLSX(t, tc.r, false))
			fast := streamXLSX(t, tc.r, true)
			got := unzipParts(t, fast)
			if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
				t.Fatalf("parts = %v, want %v", g, w)
			}
			linesHeader := regexp.MustCompile(`<c r="M1"[^>]*><is><t>Amount</t>`)
			rows, spooled := 0, 0
			for name, w := range want {
				g := got[name]
				if strings.HasPrefix(name, "xl/worksheets/sheet") {
					g = withCellRefs(t, g)
				}
				if !bytes.Equal(g, w) {
					t.Errorf("part %s differs from excelize's: %s", name, byteDiff(g, w))
				}
				if linesHeader.Match(w) {
					rows += bytes.Count(w, []byte("<row ")) - 1
					if deflatedRaw(t, fast, name) {
						spooled++
					}
				}
			}
			if want := lineCount(tc.r.Docs); rows != want {
				t.Errorf("the Lines sheets have %d rows after their headers, want %d", rows, want)
			}
			if spooled != tc.spooled {
				t.Errorf("%d Lines parts written from rows deflated while added, want %d", spooled, tc.spooled)
			}
			if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
		})
	}
}

// TestXLSXContinuationDimensions checks each continuation sheet's dimension spans its cells.
func TestXLSXContinuationDimensions(t *testing.T) {
	withMaxSheetRows(t, 6)
	r := manySheetsReport()
	dimension := regexp.MustCompile(`<dimension ref="([^"]+)"`)
	cellRef := regexp.MustCompile(`<c r="([A-Z]+[0-9]+)"`)
	for _, fast := range []bool{true, false} {
		for part, x := range unzipParts(t, streamXLSX(t, r, fast)) {
			if !strings.HasPrefix(part, "xl/worksheets/sheet") {
				continue
			}
			rows, cols := 0, 0
			for _, m := range cellRef.FindAllSubmatch(withCellRefs(t, x), -1) {
				col, row, _ := excelize.CellNameToCoordinates(string(m[1]))
				rows, cols = max(rows, row), max(cols, col)
			}
			corner, _ := excelize.CoordinatesToCellName(cols, rows)
			if m := dimension.FindSubmatch(x); m == nil || string(m[1]) != "A1:"+corner {
				t.Errorf("fast %v, %s: dimension %q, want A1:%s", fast, part, m, corner)
			}
		}
	}
}

// TestXLSXSummaryDoesNotContinue checks a Summary past a sheet's rows fails with ErrMaxRows rather
// than lose accounts: it is the first sheet, sized only once the close is done, and its continuation
// could not come right after it.
func TestXLSXSummaryDoesNotContinue(t *testing.T) {
	withMaxSheetRows(t, 6)
	err := WriteXLSX(io.Discard, bigReport(8, 1))
	if !errors.Is(err, excelize.ErrMaxRows) || !strings.Contains(err.Error(), "sheet "+SheetSummary) {
		t.Errorf("WriteXLSX(8 accounts, 6 rows a sheet) = %v, want ErrMaxRows on the Summary", err)
	}
}

// TestXLSXContinuationInLibreOffice converts a workbook with continuation sheets to CSV, a file a
// sheet, with LibreOffice when BILLRUN_TEST_LIBREOFFICE is set: the Lines sheets' rows, after their
// headers, are the one Lines sheet's rows of the workbook written at the real limit.
func TestXLSXContinuationInLibreOffice(t *testing.T) {
	bin := libreoffice(t)
	dir := t.TempDir()
	r := manySheetsReport()
	whole := libreofficeCSV(t, bin, dir, "whole", streamXLSX(t, r, true))
	withMaxSheetRows(t, 6)
	for _, fast := range []bool{true, false} {
		name := fmt.Sprintf("continued-fast-%v", fast)
		sheets := libreofficeCSV(t, bin, dir, name, streamXLSX(t, r, fast))
		header, want, _ := bytes.Cut(whole[SheetLines], []byte("\n"))
		var got []byte
		for i := range 5 {
			b, ok := sheets[sheetName(SheetLines, i)]
			h, rows, _ := bytes.Cut(b, []byte("\n"))
			if !ok || !bytes.Equal(h, header) {
				t.Errorf("%s: LibreOffice read sheet %s (%v) with header %q, want %q", name, sheetName(SheetLines, i), ok, h, header)
			}
			got = append(got, rows...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: LibreOffice reads the Lines sheets' rows otherwise than the one sheet's: %s", name, byteDiff(got, want))
		}
	}
}

// TestXLSXLinesAtTheRealLimit closes a month of 1,048,576 lines — one more than a sheet holds after
// its header — through the stream a close writes with (the Lines rows encoded here) and checks the
// last line is alone on "Lines (2)", after a full Lines sheet. The report shares one document's
// lines among all its documents, so it takes little memory; the rows are checked from the
// workbook's parts, read as a stream, rather than loaded into excelize.
func TestXLSXLinesAtTheRealLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a workbook of 1,048,576 lines")
	}
	const perDoc = 64
	lines := excelize.TotalRows // 1,048,575 on Lines, 1 on Lines (2)
	template := bigReport(1, perDoc)
	r := &invoices.Report{Period: template.Period, Currency: template.Currency, At: template.At}
	for i := range lines / perDoc {
		d := template.Docs[0]
		d.ID, d.Number, d.Account = int64(i+1), fmt.Sprintf("INV-2026-%07d", i+1), fmt.Sprintf("acct_%07d", i+1)
		r.Docs = append(r.Docs, d)
	}
	t.Setenv("TMPDIR", t.TempDir())
	var b bytes.Buffer
	start := time.Now()
	peak := peakLiveHeap(func() {
		st, err := StartXLSX(&b, r.Period, r.Currency, r.Drafts, len(r.Docs), lineCount(r.Docs))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if st.fastLines == nil {
			t.Fatal("the close's stream does not encode the Lines rows itself")
		}
		for lo := 0; lo < len(r.Docs); lo += 100 {
			if err := st.Add(r.Docs[lo:min(lo+100, len(r.Docs))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Finish(r); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%d lines: workbook of %.1f MB in %v, peak live heap above the report %.1f MB",
		lines, float64(b.Len())/1e6, time.Since(start).Round(10*time.Millisecond), float64(peak)/1e6)
	if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	f, err := excelize.OpenReader(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, want := family(f.GetSheetList(), SheetLines), []string{SheetLines, "Lines (2)"}; !slices.Equal(got, want) {
		t.Fatalf("Lines sheets %v, want %v", got, want)
	}
	if i1, _ := f.GetSheetIndex(SheetLines); f.GetSheetName(i1+1) != "Lines (2)" {
		t.Errorf("Lines (2) does not follow Lines: %v", f.GetSheetList())
	}
	last := r.Docs[len(r.Docs)-1]
	rows, err := f.GetRows("Lines (2)", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if l := last.Lines[perDoc-1]; len(rows) != 2 || rows[1][0] != last.Number || rows[1][8] != l.Description {
		t.Errorf("Lines (2) rows %v, want the header and %s's last line", rows, last.Number)
	}
	first, _ := sheetPart(f, SheetLines)
	n, lastRow, lastNumber := scanRows(t, unzipPart(t, b.Bytes(), first))
	if n != maxSheetRows || lastRow != maxSheetRows || lastNumber != last.Number {
		t.Errorf("%s: %d rows, the last numbered %d, of %s; want %d, numbered %d, of %s", first, n, lastRow,
			lastNumber, maxSheetRows, maxSheetRows, last.Number)
	}
}

// unzipPart returns a reader of the part of the workbook b.
func unzipPart(t testing.TB, b []byte, part string) io.Reader {
	t.Helper()
	rc, err := zipEntry(t, b, part).Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
}

// scanRows reads a sheet's XML and returns how many rows it has, the last one's number and the text
// of its first cell.
func scanRows(t testing.TB, x io.Reader) (rows, last int, first string) {
	t.Helper()
	rowStart := []byte(`<row r="`)
	br := bufio.NewReaderSize(x, 1<<20)
	var tail []byte
	for {
		chunk, err := br.ReadSlice('>')
		tail = append(tail[:0], chunk...)
		if bytes.HasSuffix(tail, []byte(`">`)) {
			if i := bytes.Index(tail, rowStart); i >= 0 {
				rows++
				last, _ = strconv.Atoi(string(tail[i+len(rowStart) : len(tail)-2]))
				first = ""
			}
		}
		if first == "" && bytes.HasSuffix(tail, []byte(`<t>`)) {
			s, _ := br.ReadString('<')
			first = strings.TrimSuffix(s, "<")
		}
		if err == io.EOF {
			return rows, last, first
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			t.Fatal(err)
		}
	}
}
