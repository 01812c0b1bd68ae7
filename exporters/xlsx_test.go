package exporters

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"billrun/invoices"
	"billrun/rating"
)

func writeXLSX(t *testing.T, r *invoices.Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteXLSX(&b, r); err != nil {
		t.Fatalf("WriteXLSX() = %v, want nil", err)
	}
	return b.Bytes()
}

func TestWriteXLSXGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		report func() *invoices.Report
		golden string
	}{
		{"sample", sampleReport, "workbook.json"},
		{"empty", emptyReport, "workbook_empty.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dump, err := DumpXLSX(bytes.NewReader(writeXLSX(t, tc.report())))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.golden, dump)
		})
	}
}

func TestWriteXLSXDeterministic(t *testing.T) {
	a, b := writeXLSX(t, sampleReport()), writeXLSX(t, sampleReport())
	da, err := DumpXLSX(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	db, err := DumpXLSX(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(da, db) {
		t.Error("two writes of the same report dump differently")
	}
}

func openXLSX(t *testing.T, b []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// cellCents reads a money cell as cents, through decimal, requiring a number cell.
func cellCents(t *testing.T, f *excelize.File, sheet, ref string) rating.Cents {
	t.Helper()
	typ, err := f.GetCellType(sheet, ref)
	if err != nil {
		t.Fatal(err)
	}
	if typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
		t.Fatalf("%s!%s has type %v, want a number", sheet, ref, typ)
	}
	v, err := f.GetCellValue(sheet, ref, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	d, err := decimal.NewFromString(v)
	if err != nil {
		t.Fatalf("%s!%s = %q: %v", sheet, ref, v, err)
	}
	c, err := rating.CentsFromDecimal(d)
	if err != nil {
		t.Fatalf("%s!%s = %q: %v", sheet, ref, v, err)
	}
	return c
}

func TestXLSXSummaryTotal(t *testing.T) {
	r := sampleReport()
	f := openXLSX(t, writeXLSX(t, r))
	rows, err := f.GetRows(SheetSummary)
	if err != nil {
		t.Fatal(err)
	}
	totalRow := 0
	for i, row := range rows {
		if len(row) > 0 && row[0] == "Total" {
			totalRow = i + 1
		}
	}
	if totalRow == 0 {
		t.Fatal("Summary has no Total row")
	}
	want := effectiveTotals(r)
	if want[0] != cents("151.49") { // 33.29 + 1.20 + 130.00 − 13.00; the void INV-2026-000002 is out
		t.Fatalf("fixture: effective subtotal = %s, want 151.49", want[0])
	}
	for i, col := range []string{"C", "D", "E", "F", "G"} {
		ref := col + itoaRow(totalRow)
		if got := cellCents(t, f, SheetSummary, ref); got != want[i] {
			t.Errorf("Summary!%s = %s, want %s", ref, got, want[i])
		}
		// The account rows above add up to the total too.
		var sum rating.Cents
		for row := 2; row < totalRow-1; row++ {
			sum += cellCents(t, f, SheetSummary, col+itoaRow(row))
		}
		if sum != want[i] {
			t.Errorf("Summary column %s: account rows sum to %s, want %s", col, sum, want[i])
		}
	}
}

func itoaRow(n int) string {
	ref, _ := excelize.CoordinatesToCellName(1, n)
	return ref[1:]
}

func TestXLSXSheetsAndLayout(t *testing.T) {
	f := openXLSX(t, writeXLSX(t, sampleReport()))
	if got := f.GetSheetList(); !slices.Equal(got, Sheets) {
		t.Errorf("sheets = %v, want %v", got, Sheets)
	}
	for _, name := range Sheets {
		p, err := f.GetPanes(name)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Freeze || p.YSplit != 1 || p.TopLeftCell != "A2" {
			t.Errorf("%s panes = %+v, want the header row frozen", name, p)
		}
	}
	// Rejects keep their text exactly (ids and messages as the usage wrote them) and are never stored as
	// formulas: inline strings, which no spreadsheet evaluates, so no CSV-style apostrophe is added.
	for ref, want := range map[string]string{"E2": "=cmd|' /C calc'!A0", "E3": "-1", "C3": "+evt_18"} {
		got, err := f.GetCellValue(SheetRejects, ref)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Rejects!%s = %q, want %q", ref, got, want)
		}
		if fm, _ := f.GetCellFormula(SheetRejects, ref); fm != "" {
			t.Errorf("Rejects!%s has formula %q, want none", ref, fm)
		}
	}
}

func TestNumberValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // the cell's stored text
		text bool   // kept as a text cell
	}{
		{"0", "0", false},
		{"12.30", "12.3", false},
		{"-0.24", "-0.24", false},
		{"1200000", "1200000", false},
		{"3600.5", "3600.5", false},
		{"3600.123456789", "3600.123456789", false},
		{"0.225", "0.225", false},
		{"92233720368547758.07", "92233720368547758.07", true},
		{"0.1234567890123456", "0.1234567890123456", true},
	} {
		v := numberValue(decimal.RequireFromString(tc.in))
		s, isText := v.(string)
		if isText != tc.text {
			t.Errorf("numberValue(%s) = %#v, want text %v", tc.in, v, tc.text)
			continue
		}
		if isText {
			if s != tc.want {
				t.Errorf("numberValue(%s) = %q, want %q", tc.in, s, tc.want)
			}
			continue
		}
		// Round-trip through a real cell: the stored value must be exactly the decimal.
		f := excelize.NewFile()
		sw, err := f.NewStreamWriter("Sheet1")
		if err != nil {
			t.Fatal(err)
		}
		if err := sw.SetRow("A1", []any{v}); err != nil {
			t.Fatal(err)
		}
		if err := sw.Flush(); err != nil {
			t.Fatal(err)
		}
		got, err := f.GetCellValue("Sheet1", "A1", excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("numberValue(%s) stored as %q, want %q", tc.in, got, tc.want)
		}
		f.Close()
	}
}

// TestXLSXOpensInLibreOffice converts the sample and empty workbooks with LibreOffice when
// BILLRUN_TEST_LIBREOFFICE is set (it takes several seconds).
func TestXLSXOpensInLibreOffice(t *testing.T) {
	bin := libreoffice(t)
	dir := t.TempDir()
	for name, r := range map[string]*invoices.Report{"sample": sampleReport(), "empty": emptyReport()} {
		path := filepath.Join(dir, name+".xlsx")
		if err := os.WriteFile(path, writeXLSX(t, r), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		cmd := exec.Command(bin, "--headless", "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
			"--convert-to", "pdf", "--outdir", out, path)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("libreoffice %s: %v\n%s", name, err, b)
		}
		if st, err := os.Stat(filepath.Join(out, name+".pdf")); err != nil || st.Size() == 0 {
			t.Errorf("libreoffice did not convert %s.xlsx: %v", name, err)
		}
	}

	// The Lines rows billrun encodes leave out the references of most cells: LibreOffice must read
	// them into the columns excelize's own rows, every cell referenced, put them in.
	r := awkwardReport(false)
	sheets := map[bool][]byte{}
	for _, fast := range []bool{false, true} {
		sheets[fast] = libreofficeCSV(t, bin, dir, fmt.Sprintf("lines-fast-%v", fast), streamXLSX(t, r, fast))[SheetLines]
	}
	if n, want := bytes.Count(sheets[true], []byte("\n")), 1+lineCount(r.Docs); n < want {
		t.Errorf("LibreOffice read %d lines of the Lines sheet, want at least %d", n, want)
	}
	if !bytes.Equal(sheets[true], sheets[false]) {
		t.Errorf("LibreOffice reads the Lines rows billrun encodes otherwise than excelize's: %s", byteDiff(sheets[true], sheets[false]))
	}
}

// libreoffice returns the path of LibreOffice; it skips the test unless BILLRUN_TEST_LIBREOFFICE is
// set, and fails it when LibreOffice is not installed.
func libreoffice(t *testing.T) string {
	t.Helper()
	if os.Getenv("BILLRUN_TEST_LIBREOFFICE") == "" {
		t.Skip("set BILLRUN_TEST_LIBREOFFICE=1 to open the workbooks in LibreOffice")
	}
	bin, err := exec.LookPath("libreoffice")
	if err != nil {
		t.Fatalf("libreoffice not found: %v", err)
	}
	return bin
}

// libreofficeCSV has LibreOffice (bin) read the workbook b, saved as NAME.xlsx in dir, and returns
// its sheets as CSV, by sheet name.
func libreofficeCSV(t *testing.T, bin, dir, name string, b []byte) map[string][]byte {
	t.Helper()
	path := filepath.Join(dir, name+".xlsx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "csv-"+name)
	// Field 12 of the filter options, -1: every sheet to a file of its own, NAME-SHEET.csv.
	cmd := exec.Command(bin, "--headless", "-env:UserInstallation=file://"+filepath.Join(dir, "profile"),
		"--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
		"--outdir", out, path)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("libreoffice %s: %v\n%s", name, err, b)
	}
	files, err := filepath.Glob(filepath.Join(out, name+"-*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	sheets := map[string][]byte{}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sheets[strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), name+"-"), ".csv")] = b
	}
	return sheets
}

// TestXLSXSheetXML checks what Excel is strict about and a cell dump does not show: <col> entries in
// ascending order, an autofilter on every sheet, and no formula cells anywhere.
func TestXLSXSheetXML(t *testing.T) {
	b := writeXLSX(t, sampleReport())
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	colMin := regexp.MustCompile(`<col min="(\d+)"`)
	sheets := 0
	for _, zf := range zr.File {
		if !strings.HasPrefix(zf.Name, "xl/worksheets/sheet") {
			continue
		}
		sheets++
		rc, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		x, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		prev := 0
		for _, m := range colMin.FindAllSubmatch(x, -1) {
			n, _ := strconv.Atoi(string(m[1]))
			if n <= prev {
				t.Errorf("%s: <col min=%d> after min=%d, want ascending", zf.Name, n, prev)
			}
			prev = n
		}
		if prev == 0 {
			t.Errorf("%s: no column widths", zf.Name)
		}
		if !bytes.Contains(x, []byte("<autoFilter ")) {
			t.Errorf("%s: no autofilter", zf.Name)
		}
		if bytes.Contains(x, []byte("<f>")) || bytes.Contains(x, []byte(`t="str"`)) {
			t.Errorf("%s: has a formula cell, want none", zf.Name)
		}
	}
	if sheets != len(Sheets) {
		t.Errorf("workbook has %d worksheets, want %d", sheets, len(Sheets))
	}
}

func TestXLSXDrafts(t *testing.T) {
	r := sampleReport()
	r.Drafts = true
	f := openXLSX(t, writeXLSX(t, r))
	rows, err := f.GetRows(SheetInvoices)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		if row[0] != "" || row[3] != "draft" {
			t.Errorf("draft row number, status = %q, %q, want empty, draft", row[0], row[3])
		}
	}
}

// TestMoneyValueMatchesNumberValue checks moneyValue's shortcut against numberValue of the amount's
// decimal — the same Go value, of the same type — over edge amounts and a million random ones.
func TestMoneyValueMatchesNumberValue(t *testing.T) {
	check := func(c rating.Cents) {
		got, want := moneyValue(c), numberValue(c.Decimal())
		if fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", want, want) {
			t.Fatalf("moneyValue(%d) = %T %v, numberValue = %T %v", c, got, got, want, want)
		}
	}
	for _, c := range []rating.Cents{0, 1, -1, 5, 10, 99, 100, 101, -101, 123456, 1 << 53, -(1 << 53),
		999_999_999_999_999, -999_999_999_999_999, 1_000_000_000_000_000, 1_000_000_000_000_001,
		math.MaxInt64, math.MinInt64 + 1} {
		check(c)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 1_000_000 {
		// Amounts of every magnitude: a random number of digits, then a random value of that size.
		digits := 1 + rng.IntN(18)
		check(rating.Cents(rng.Int64N(pow10(digits)) * int64(1-2*rng.IntN(2))))
	}
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// TestDecimalValueMatchesNumberValue checks decimalValue's shortcut against numberValue — the same Go
// value, of the same type — for quantities as the rater builds them (exponent -9), unit prices, whole
// numbers with trailing zeros, values of 15 to 19 significant digits, negative ones, and a million
// random coefficients and exponents.
func TestDecimalValueMatchesNumberValue(t *testing.T) {
	check := func(d decimal.Decimal) {
		got, want := decimalValue(d), numberValue(d)
		if fmt.Sprintf("%T %v", got, got) != fmt.Sprintf("%T %v", want, want) {
			t.Fatalf("decimalValue(%s) = %T %v, numberValue = %T %v", d, got, got, want, want)
		}
	}
	for _, s := range []string{"0", "1", "-1", "0.2", "0.20", "1.5", "3.456", "100", "1e3", "1200000", "0.000000001",
		"123456789012345", "1234567890123456", "123456789012345.6", "12345678901234.56", "999999999999999",
		"1e15", "1e17", "1e18", "1e19", "9223372036854775807", "92233720368547758070", "0.1e-25",
		"1234567.000000000", "-0.000123", "123456789.123456789"} {
		check(decimal.RequireFromString(s))
	}
	for _, q := range []rating.Quantity{{Units: 1_200_000}, {Units: 12, Nanos: 500_000_000}, {Units: 0, Nanos: 1},
		{Units: 9_000_000_000}, {Units: 9_000_000_001}, {Units: 123, Nanos: 456_789_012}} {
		check(q.Decimal())
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for range 1_000_000 {
		digits := 1 + rng.IntN(18)
		coef := rng.Int64N(pow10(digits)) * int64(1-2*rng.IntN(2))
		check(decimal.New(coef, int32(rng.IntN(30)-24)))
	}
}

// TestXLSXDimensions checks every sheet's <dimension> is the range its cells span, from A1 to the last
// row and column any cell is in: readers that trust it (openpyxl in read-only mode) read nothing
// outside it. The cells' references are taken from the part itself (withCellRefs where left out).
func TestXLSXDimensions(t *testing.T) {
	cellRef := regexp.MustCompile(`<c r="([A-Z]+[0-9]+)"`)
	dimension := regexp.MustCompile(`<dimension ref="([^"]+)"`)
	odd := sampleReport() // an account entry without its account, an account with grants and no document, no run
	odd.Accounts["acct_nil"] = nil
	odd.Accounts["acct_grants_only"] = &invoices.Account{ID: "acct_grants_only", Grants: []invoices.Grant{
		{ID: "g_only", Kind: invoices.GrantPromotional, Amount: 500}}}
	odd.Run = nil
	books := map[string][]byte{}
	for name, r := range map[string]*invoices.Report{
		"sample": sampleReport(), "empty": emptyReport(), "awkward": awkwardReport(false),
		"awkward drafts": awkwardReport(true), "big": bigReport(30, 7), "odd": odd,
	} {
		books[name] = writeXLSX(t, r)
		books[name+", excelize's Lines rows"] = streamXLSX(t, r, false)
	}
	due := ts("2026-11-16T02:00:00Z")
	for name, rec := range map[string]*invoices.Reconciliation{
		"reconciliation, clean": {Period: sampleReport().Period},
		"reconciliation": {Period: sampleReport().Period,
			Objects: []invoices.ObjectDrift{{Key: "dt=2026-10-01/a.jsonl.gz", Change: "added"}},
			Ledger:  []invoices.LedgerProblem{{Subject: "INV-2026-000001", Check: "totals", Message: "differs"}},
			Open:    []invoices.PaymentState{{Number: "INV-2026-000002", Account: "acct_00002", AmountDue: 1234, DueAt: &due}},
		},
	} {
		var b bytes.Buffer
		if err := WriteReconciliationXLSX(&b, rec, "USD"); err != nil {
			t.Fatal(err)
		}
		books[name] = b.Bytes()
	}
	for name, book := range books {
		for part, x := range unzipParts(t, book) {
			if !strings.HasPrefix(part, "xl/worksheets/sheet") {
				continue
			}
			rows, cols := 0, 0
			for _, m := range cellRef.FindAllSubmatch(withCellRefs(t, x), -1) {
				c, r, err := excelize.CellNameToCoordinates(string(m[1]))
				if err != nil {
					t.Fatal(err)
				}
				rows, cols = max(rows, r), max(cols, c)
			}
			corner, err := excelize.CoordinatesToCellName(cols, rows)
			if err != nil {
				t.Fatalf("%s %s: no cells: %v", name, part, err)
			}
			m := dimension.FindSubmatch(x)
			if m == nil {
				t.Errorf("%s %s: no dimension", name, part)
			} else if got, want := string(m[1]), "A1:"+corner; got != want {
				t.Errorf("%s %s: dimension %s, want %s", name, part, got, want)
			}
		}
	}
}

// TestXLSXOpenpyxl reads workbooks with openpyxl, the Python library finance's scripts and many
// checks read XLSX with, when BILLRUN_TEST_OPENPYXL names a Python that has it (Debian's
// python3-openpyxl: /usr/bin/python3). In read-only mode — how large workbooks are read — openpyxl
// takes the sheets' dimensions for their extent and the cells without references as the next column;
// it must read every sheet as it does in full mode, and the Lines rows billrun encodes as it reads
// excelize's own.
func TestXLSXOpenpyxl(t *testing.T) {
	python := os.Getenv("BILLRUN_TEST_OPENPYXL")
	if python == "" {
		t.Skip("set BILLRUN_TEST_OPENPYXL to a python3 with openpyxl to read the workbooks with it")
	}
	dump := func(path, mode string) map[string][][]any {
		t.Helper()
		out, err := exec.Command(python, filepath.Join("testdata", "openpyxl_dump.py"), path, mode).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("openpyxl %s %s: %v\n%s", mode, path, err, ee.Stderr)
			}
			t.Fatal(err)
		}
		var sheets map[string][][]any
		if err := json.Unmarshal(out, &sheets); err != nil {
			t.Fatal(err)
		}
		return sheets
	}
	dir := t.TempDir()
	for name, r := range map[string]*invoices.Report{"sample": sampleReport(), "awkward": awkwardReport(false),
		"awkward drafts": awkwardReport(true), "big": bigReport(30, 7)} {
		paths := map[bool]string{}
		for _, fast := range []bool{false, true} {
			paths[fast] = filepath.Join(dir, fmt.Sprintf("%s-fast-%v.xlsx", name, fast))
			if err := os.WriteFile(paths[fast], streamXLSX(t, r, fast), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		full, readOnly, excelizeRows := dump(paths[true], "full"), dump(paths[true], "read_only"), dump(paths[false], "full")
		if n, want := len(full[SheetLines]), 1+lineCount(r.Docs); n != want {
			t.Errorf("%s: openpyxl read %d rows of Lines, want %d", name, n, want)
		}
		for _, sheet := range Sheets {
			if !reflect.DeepEqual(readOnly[sheet], full[sheet]) {
				t.Errorf("%s: openpyxl's read-only mode reads %s as %d rows, full mode as %d", name, sheet,
					len(readOnly[sheet]), len(full[sheet]))
			}
		}
		if !reflect.DeepEqual(full[SheetLines], excelizeRows[SheetLines]) {
			t.Errorf("%s: openpyxl reads the Lines rows billrun encodes otherwise than excelize's", name)
		}
	}
}
