package exporters

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"billrun/invoices"
	"billrun/rating"
)

// The sheets of the finance workbook, in order (DESIGN §9).
const (
	SheetSummary  = "Summary"
	SheetInvoices = "Invoices"
	SheetLines    = "Lines"
	SheetCredits  = "Credits"
	SheetStanding = "Standing"
	SheetRejects  = "Rejects"
	SheetRun      = "Run"
)

// Sheets lists the workbook's sheets in order. A table too long for one sheet continues on sheets
// named after it — "Lines (2)", "Lines (3)", … — right after it (ContinuationSheets).
var Sheets = []string{SheetSummary, SheetInvoices, SheetLines, SheetCredits, SheetStanding, SheetRejects, SheetRun}

// maxSheetRows is the most rows a worksheet holds, its header row included: Excel's limit, which
// excelize enforces. A variable so that the tests can continue tables on further sheets with a few rows.
var maxSheetRows = excelize.TotalRows

// tableSheets returns how many rows of a table go on each sheet it takes: rows rows after the
// header row, then after rows (a blank row and a total, a second table) that stay on the sheet the
// table ends on. Each sheet is filled to maxSheetRows before the next starts; when the after rows do
// not fit beside the table's last rows, they go on a sheet of their own. It returns an error wrapping
// excelize.ErrMaxRows when the after rows alone do not fit on a sheet.
func tableSheets(rows, after int) ([]int, error) {
	per := maxSheetRows - 1
	if after > per {
		return nil, fmt.Errorf("%d rows after the table: %w", after, excelize.ErrMaxRows)
	}
	n := max(1, (rows+per-1)/per)
	sheets := make([]int, n, n+1)
	for i := range sheets {
		sheets[i] = min(per, rows-i*per)
	}
	if sheets[n-1]+after > per {
		sheets = append(sheets, 0)
	}
	return sheets, nil
}

// sheetName returns the name of the i-th sheet (from 0) of the table that starts on sheet: sheet,
// then "sheet (2)", "sheet (3)", …
func sheetName(sheet string, i int) string {
	if i == 0 {
		return sheet
	}
	return fmt.Sprintf("%s (%d)", sheet, i+1)
}

// Number formats of the workbook's cells. Times are real date cells in UTC (the headers say so).
const (
	dateFormat          = "yyyy-mm-dd hh:mm:ss"
	integerFormat       = "#,##0"
	fractionFormat      = "#,##0.0########" // GPU-seconds keep up to nanoseconds
	usdMoneyFormat      = `"$"#,##0.00;-"$"#,##0.00`
	usdUnitPriceFormat  = `"$"#,##0.00########;-"$"#,##0.00########`
	plainMoneyFormat    = `#,##0.00`
	plainUnitPriceFmt   = `#,##0.00########`
	noRunRecordedMarker = "no close or rerun recorded for this period"
)

// WriteXLSX writes r as the finance workbook of DESIGN §9 with excelize's StreamWriter, one sheet at a
// time: Summary, Invoices, Lines, Credits, Standing, Rejects and Run. Each sheet has a bold, frozen
// header row, an autofilter over its table and fixed column widths; money cells are numbers in a
// currency format, times are date cells in UTC. A table with more rows than a worksheet holds
// (1,048,576 with the header) continues on sheets named after it — "Lines (2)", "Lines (3)", … —
// right after it, each with the same header, filter, widths and formats. The Summary does not
// continue, nor do the Credits' grants and the Run's manifest (the tables after the first): past the
// limit they fail with an error wrapping excelize.ErrMaxRows. The Summary's Total row is summed in
// integer cents over the effective (non-void) documents, so it equals the sum of the invoices to the
// cent. Reject texts are escaped against formula injection as in WriteRejectsCSV. It returns an error
// when building the workbook or writing to w fails.
func WriteXLSX(w io.Writer, r *invoices.Report) error {
	st, err := StartXLSX(w, r.Period, r.Currency, r.Drafts, len(r.Docs), lineCount(r.Docs))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Add(r.Docs); err != nil {
		return err
	}
	return st.Finish(r)
}

// lineCount returns the number of lines of docs, read or not.
func lineCount(docs []invoices.DocView) int {
	n := 0
	for i := range docs {
		n += docs[i].NumLines()
	}
	return n
}

// ErrReportChanged is returned by the streams' Finish when the report's documents are not the ones
// added: the caller wrote the exports ahead of a report that then came out differently, and must
// write them again from the report.
var ErrReportChanged = errors.New("the report's documents differ from those streamed")

// docMark is what a stream keeps of each document it wrote, to check the final report against.
type docMark struct {
	number, account, status string
	kind                    invoices.DocKind
	paid, due, subtotal     rating.Cents
	voided                  bool
	lines, consumptions     int
}

func markOf(d *invoices.DocView) docMark {
	return docMark{number: d.Number, account: d.Account, status: string(d.Status), kind: d.Kind,
		paid: d.AmountPaid, due: d.AmountDue, subtotal: d.Subtotal, voided: d.VoidedAt != nil,
		lines: d.NumLines(), consumptions: len(d.Consumptions)}
}

// checkMarks returns ErrReportChanged unless docs are the documents marks were taken of, in order.
func checkMarks(marks []docMark, docs []invoices.DocView) error {
	if len(marks) != len(docs) {
		return fmt.Errorf("%w: %d streamed, %d in the report", ErrReportChanged, len(marks), len(docs))
	}
	for i := range docs {
		if markOf(&docs[i]) != marks[i] {
			return fmt.Errorf("%w: document %d (%s %s)", ErrReportChanged, i+1, docs[i].Account, docs[i].Number)
		}
	}
	return nil
}

// XLSXStream writes the finance workbook while a close issues its documents: the Invoices and Lines
// sheets take the documents as they are issued (Add), and Finish writes the other sheets from the final
// report — the Summary and Standing need the standing the close computes last — and saves the
// workbook to w. The result is the workbook WriteXLSX writes for that report.
type XLSXStream struct {
	f               *excelize.File
	x               *xlsxWriter
	w               io.Writer
	invoices, lines *sheetWriter
	fastLines       *lineRowsWriter // the Lines rows after the header; nil when excelize writes them
	docs, lineRows  int             // the counts given to StartXLSX
	marks           []docMark
}

// StartXLSX starts the workbook of a period whose report will hold docs documents with lines lines in
// all (the tables' autofilters are set before their rows stream).
func StartXLSX(w io.Writer, p rating.Period, currency string, drafts bool, docs, lines int) (*XLSXStream, error) {
	return startXLSX(w, p, currency, drafts, docs, lines, true)
}

// startXLSX is StartXLSX; with fastLines false, excelize's StreamWriter writes the Lines rows too (the
// tests that compare the two).
func startXLSX(w io.Writer, p rating.Period, currency string, drafts bool, docs, lines int, fastLines bool) (*XLSXStream, error) {
	f := excelize.NewFile()
	r := &invoices.Report{Period: p, Currency: currency, Drafts: drafts}
	// The other sheets are created as they are opened, in Sheets order: Invoices and Lines here, with
	// the continuation sheets their rows need, and the rest in Finish, sized by the report.
	x, err := newXLSXWriter(f, r, Sheets[:1])
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("export xlsx: period %s: %w", p, err)
	}
	st := &XLSXStream{f: f, x: x, w: w, docs: docs, lineRows: lines}
	if st.invoices, err = x.openInvoices(docs); err == nil {
		st.lines, err = x.openLines(lines)
	}
	if err == nil && fastLines {
		// Without the sheet's part name (an excelize that keeps it elsewhere), excelize writes the rows:
		// slower, the same workbook. The tests fail on such an excelize, so it gets noticed.
		if lw, lerr := newLineRowsWriter(f, st.lines); lerr == nil {
			st.fastLines = lw
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("export xlsx: period %s: %w", p, err)
	}
	return st, nil
}

// Add writes the next documents' rows to the Invoices and Lines sheets.
func (st *XLSXStream) Add(docs []invoices.DocView) error {
	for i := range docs {
		d := &docs[i]
		if err := st.x.invoiceRow(st.invoices, d); err != nil {
			return fmt.Errorf("export xlsx: period %s: sheet %s: %w", st.x.r.Period, SheetInvoices, err)
		}
		var err error
		if st.fastLines != nil {
			err = st.fastLines.addDoc(st.x, d, st.x.docNumber(d), st.x.docStatus(d))
		} else {
			err = st.x.lineRows(st.lines, d)
		}
		if err != nil {
			return fmt.Errorf("export xlsx: period %s: sheet %s: %w", st.x.r.Period, SheetLines, err)
		}
		st.marks = append(st.marks, markOf(d))
	}
	return nil
}

// Finish checks that r's documents are those added (ErrReportChanged otherwise), writes the other
// sheets from r and saves the workbook to w.
func (st *XLSXStream) Finish(r *invoices.Report) error {
	if err := checkMarks(st.marks, r.Docs); err != nil {
		return fmt.Errorf("export xlsx: period %s: %w", r.Period, err)
	}
	if len(r.Docs) != st.docs || lineCount(r.Docs) != st.lineRows {
		return fmt.Errorf("export xlsx: period %s: %w: started for %d documents and %d lines", r.Period,
			ErrReportChanged, st.docs, st.lineRows)
	}
	x := st.x
	x.r = r
	for _, s := range []struct {
		name  string
		write func() error
	}{
		{SheetInvoices, st.invoices.flush},
		{SheetLines, st.lines.flush},
		{SheetSummary, x.summary},
		{SheetCredits, x.credits},
		{SheetStanding, x.standing},
		{SheetRejects, x.rejects},
		{SheetRun, x.run},
	} {
		if err := s.write(); err != nil {
			return fmt.Errorf("export xlsx: period %s: sheet %s: %w", r.Period, s.name, err)
		}
	}
	// The first sheet (Summary) is the active one already. SetActiveSheet would parse every streamed
	// sheet back into memory to clear its tabSelected flag: that is what made a large workbook's memory
	// grow with its lines.
	var sp *spliceZipWriter
	if st.fastLines != nil {
		sp = &spliceZipWriter{rows: make(map[string]*rowSpool)}
		for _, sh := range st.fastLines.sheets {
			sp.rows[sh.part] = &sh.spool
		}
	}
	if err := writeWorkbook(st.f, st.w, sp); err != nil {
		return fmt.Errorf("export xlsx: period %s: write: %w", r.Period, err)
	}
	return nil
}

// Close releases the stream's temporary files; the workbook is in w once Finish returned.
func (st *XLSXStream) Close() {
	st.f.Close()
	if st.fastLines != nil {
		for _, sh := range st.fastLines.sheets {
			_ = sh.spool.close() // only a temporary file left behind if it fails
		}
	}
}

// xlsxWriter holds the workbook being written, its styles and the report.
type xlsxWriter struct {
	f  *excelize.File
	r  *invoices.Report
	st xlsxStyles
}

// xlsxStyles are the style ids of the workbook's cell kinds.
type xlsxStyles struct {
	header, bold, money, moneyBold, unitPrice, date, integer, fraction int
}

func newXLSXWriter(f *excelize.File, r *invoices.Report, sheets []string) (*xlsxWriter, error) {
	x := &xlsxWriter{f: f, r: r}
	money, price := moneyFormats(r.Currency)
	for _, s := range []struct {
		id    *int
		style excelize.Style
	}{
		{&x.st.header, excelize.Style{Font: &excelize.Font{Bold: true},
			Border: []excelize.Border{{Type: "bottom", Color: "000000", Style: 1}}}},
		{&x.st.bold, excelize.Style{Font: &excelize.Font{Bold: true}}},
		{&x.st.money, excelize.Style{CustomNumFmt: &money}},
		{&x.st.moneyBold, excelize.Style{CustomNumFmt: &money, Font: &excelize.Font{Bold: true}}},
		{&x.st.unitPrice, excelize.Style{CustomNumFmt: &price}},
		{&x.st.date, excelize.Style{CustomNumFmt: ptr(dateFormat)}},
		{&x.st.integer, excelize.Style{CustomNumFmt: ptr(integerFormat)}},
		{&x.st.fraction, excelize.Style{CustomNumFmt: ptr(fractionFormat)}},
	} {
		id, err := f.NewStyle(&s.style)
		if err != nil {
			return nil, fmt.Errorf("new style: %w", err)
		}
		*s.id = id
	}
	// Create the sheets given up front, in order; open creates any other as it opens it.
	if err := f.SetSheetName("Sheet1", sheets[0]); err != nil {
		return nil, fmt.Errorf("rename first sheet: %w", err)
	}
	for _, name := range sheets[1:] {
		if _, err := f.NewSheet(name); err != nil {
			return nil, fmt.Errorf("new sheet %s: %w", name, err)
		}
	}
	return x, nil
}

// moneyFormats returns the number formats of amounts and of unit prices in currency: a dollar sign for
// USD, otherwise the ISO code after the number.
func moneyFormats(currency string) (money, price string) {
	switch {
	case currency == "" || currency == "USD":
		return usdMoneyFormat, usdUnitPriceFormat
	case isCurrencyCode(currency):
		suffix := `" ` + currency + `"`
		return plainMoneyFormat + suffix + ";-" + plainMoneyFormat + suffix,
			plainUnitPriceFmt + suffix + ";-" + plainUnitPriceFmt + suffix
	}
	return plainMoneyFormat, plainUnitPriceFmt
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// sheetWriter streams the rows of one sheet's table, continued on the sheets after it when they
// do not fit on one (tableSheets).
type sheetWriter struct {
	names []string                 // the sheet, then its continuation sheets
	sws   []*excelize.StreamWriter // the sheets' writers, header rows written
	tableCursor
}

// tableCursor is where a table's rows go when it is split over sheets (tableSheets): row row of
// sheet cur, the header being row 1 of each.
type tableCursor struct {
	tables []int // how many of the table's rows each sheet takes
	cur    int   // the sheet rows go on
	row    int   // the last row written on it
}

// advance moves to the next row: on the next sheet once the current one has its part of the table.
func (c *tableCursor) advance() {
	if c.cur < len(c.tables)-1 && c.row == 1+c.tables[c.cur] {
		c.cur, c.row = c.cur+1, 1
	}
	c.row++
}

// open starts a sheet whose table is a header and tableRows rows, followed by rows and columns as far
// as after reaches (a total, a second table). A table that does not fit on the sheet continues on
// sheets named after it, created here right after it, each with the same header, widths and
// formats (tableSheets). On each sheet, set before streaming so that the stream writes them: the
// autofilter over its part of the table and the sheet's dimension; then the column widths, a
// frozen header row, and the header in bold. It returns an error wrapping excelize.ErrMaxRows when
// the continuation sheets cannot go right after the sheet (it was not the last one created).
func (x *xlsxWriter) open(name string, widths []int, header []string, tableRows int, after extent) (*sheetWriter, error) {
	tables, err := tableSheets(tableRows, after.rows)
	if err != nil {
		return nil, err
	}
	first, err := x.f.NewSheet(name) // the sheet's index; created unless it is already
	if err != nil {
		return nil, fmt.Errorf("new sheet: %w", err)
	}
	s := &sheetWriter{tableCursor: tableCursor{tables: tables, row: 1}}
	for i, rows := range tables {
		sheet := sheetName(name, i)
		if i > 0 {
			idx, err := x.f.NewSheet(sheet)
			if err != nil {
				return nil, fmt.Errorf("new sheet %s: %w", sheet, err)
			}
			if idx != first+i {
				return nil, fmt.Errorf("%d rows do not fit on one sheet and %s cannot follow it: %w",
					tableRows, sheet, excelize.ErrMaxRows)
			}
		}
		used := extent{rows: 1 + rows, cols: len(header)}
		if i == len(tables)-1 {
			used.rows, used.cols = used.rows+after.rows, max(used.cols, after.cols)
		}
		sw, err := x.openSheet(sheet, widths, header, rows, used)
		if err != nil {
			return nil, fmt.Errorf("sheet %s: %w", sheet, err)
		}
		s.names, s.sws = append(s.names, sheet), append(s.sws, sw)
	}
	return s, nil
}

// openSheet starts one sheet of a table, with tableRows of its rows, its cells spanning used.
func (x *xlsxWriter) openSheet(name string, widths []int, header []string, tableRows int, used extent) (*excelize.StreamWriter, error) {
	last, err := excelize.CoordinatesToCellName(len(header), 1+tableRows)
	if err != nil {
		return nil, fmt.Errorf("table range: %w", err)
	}
	if err := x.f.AutoFilter(name, "A1:"+last, nil); err != nil {
		return nil, fmt.Errorf("autofilter: %w", err)
	}
	// The dimension is the range the sheet's cells span. excelize's StreamWriter leaves it at A1, and
	// readers that trust it — openpyxl's read-only mode, which large workbooks are read with — then see
	// the header row and nothing else.
	corner, err := excelize.CoordinatesToCellName(used.cols, used.rows)
	if err != nil {
		return nil, fmt.Errorf("dimension: %w", err)
	}
	if err := x.f.SetSheetDimension(name, "A1:"+corner); err != nil {
		return nil, fmt.Errorf("dimension: %w", err)
	}
	sw, err := x.f.NewStreamWriter(name)
	if err != nil {
		return nil, fmt.Errorf("new stream writer: %w", err)
	}
	if err := setColWidths(sw, widths); err != nil {
		return nil, err
	}
	if err := sw.SetPanes(&excelize.Panes{
		Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}},
	}); err != nil {
		return nil, fmt.Errorf("freeze header: %w", err)
	}
	if err := setRow(sw, 1, headerRow(x.st.header, header)); err != nil {
		return nil, err
	}
	return sw, nil
}

// extent is how far the rows after a table reach: how many rows, and the last column any of them
// has a cell in (1-based; zero where the table reaches as far).
type extent struct{ rows, cols int }

// headerRow returns the cells of a row of bold labels.
func headerRow(style int, labels []string) []any {
	row := make([]any, len(labels))
	for i, l := range labels {
		row[i] = excelize.Cell{StyleID: style, Value: l}
	}
	return row
}

// header writes a row of bold labels.
func (s *sheetWriter) header(style int, labels []string) error {
	return s.add(headerRow(style, labels)...)
}

// add writes the next row; nil values leave a cell empty.
func (s *sheetWriter) add(values ...any) error {
	s.advance()
	return setRow(s.sws[s.cur], s.row, values)
}

// setRow writes values as row row of sw.
func setRow(sw *excelize.StreamWriter, row int, values []any) error {
	cell, err := excelize.CoordinatesToCellName(1, row)
	if err != nil {
		return err
	}
	if err := sw.SetRow(cell, values); err != nil {
		return fmt.Errorf("row %d: %w", row, err)
	}
	return nil
}

// blank leaves the next row empty.
func (s *sheetWriter) blank() { s.advance() }

func (s *sheetWriter) flush() error {
	for i, sw := range s.sws {
		if err := sw.Flush(); err != nil {
			return fmt.Errorf("sheet %s: flush: %w", s.names[i], err)
		}
	}
	return nil
}

// Cell values. Empty texts and absent values are nil: no cell at all, rather than an empty string.

func text(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (x *xlsxWriter) money(c rating.Cents) any {
	return excelize.Cell{StyleID: x.st.money, Value: moneyValue(c)}
}

func (x *xlsxWriter) moneyBold(c rating.Cents) any {
	return excelize.Cell{StyleID: x.st.moneyBold, Value: moneyValue(c)}
}

// date is a date cell in UTC; the zero time (a run not started, say) is an empty cell.
func (x *xlsxWriter) date(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return excelize.Cell{StyleID: x.st.date, Value: t.UTC()}
}

func (x *xlsxWriter) optDate(t *time.Time) any {
	if t == nil {
		return nil
	}
	return x.date(*t)
}

func (x *xlsxWriter) integer(n int64) any {
	return excelize.Cell{StyleID: x.st.integer, Value: n}
}

func (x *xlsxWriter) quantity(d decimal.Decimal) any {
	return excelize.Cell{StyleID: x.quantityStyle(d), Value: decimalValue(d)}
}

// quantityStyle is a quantity's number format: whole, or with its fraction (GPU-seconds).
func (x *xlsxWriter) quantityStyle(d decimal.Decimal) int {
	if d.IsInteger() {
		return x.st.integer
	}
	return x.st.fraction
}

func (x *xlsxWriter) unitPrice(d decimal.Decimal) any {
	return excelize.Cell{StyleID: x.st.unitPrice, Value: decimalValue(d)}
}

// number and status of a document as exported: drafts have no number.
func (x *xlsxWriter) docNumber(d *invoices.DocView) string {
	if x.r.Drafts {
		return ""
	}
	return d.Number
}

func (x *xlsxWriter) docStatus(d *invoices.DocView) string {
	if x.r.Drafts {
		return string(invoices.StatusDraft)
	}
	return string(d.Status)
}

// accountTotals are the sums over an account's effective documents.
type accountTotals struct {
	subtotal, discount, credits, due, paid rating.Cents
	statuses                               []string
	documents                              int // all documents, void ones included
}

func (t *accountTotals) add(d *invoices.DocView, status string) {
	t.documents++
	if !d.Effective() {
		return
	}
	t.subtotal += d.Subtotal
	t.discount += d.Discount
	t.credits += d.CreditsApplied
	t.due += d.AmountDue
	t.paid += d.AmountPaid
	t.statuses = append(t.statuses, status)
}

// status is the statuses of the effective documents in issue order ("paid / issued" for an invoice and
// its credit note), or "void" when every document of the account is void.
func (t *accountTotals) status() string {
	if len(t.statuses) == 0 {
		if t.documents > 0 {
			return string(invoices.StatusVoid)
		}
		return ""
	}
	return strings.Join(t.statuses, " / ")
}

func (x *xlsxWriter) summary() error {
	byAccount := make(map[string]*accountTotals)
	for i := range x.r.Docs {
		d := &x.r.Docs[i]
		t := byAccount[d.Account]
		if t == nil {
			t = &accountTotals{}
			byAccount[d.Account] = t
		}
		t.add(d, x.docStatus(d))
	}
	standing := make(map[string]invoices.StandingStatus, len(x.r.Standing))
	for _, s := range x.r.Standing {
		standing[s.Account] = s.Status
	}
	ids := make(map[string]bool, len(byAccount)+len(standing))
	for id := range byAccount {
		ids[id] = true
	}
	for id := range standing {
		ids[id] = true
	}
	accounts := slices.Sorted(maps.Keys(ids))

	header := []string{"Account", "Name", "Subtotal", "Discount", "Credits applied", "Amount due",
		"Amount paid", "Status", "Standing"}
	// The table, a blank row, the totals.
	s, err := x.open(SheetSummary, []int{16, 28, 14, 14, 16, 14, 14, 20, 16}, header, len(accounts),
		extent{rows: 2})
	if err != nil {
		return err
	}
	var total accountTotals
	for _, id := range accounts {
		t := byAccount[id]
		if t == nil {
			t = &accountTotals{}
		}
		total.subtotal += t.subtotal
		total.discount += t.discount
		total.credits += t.credits
		total.due += t.due
		total.paid += t.paid
		name := ""
		if a := x.r.Accounts[id]; a != nil {
			name = a.Name
		}
		if err := s.add(text(id), text(name), x.money(t.subtotal), x.money(t.discount), x.money(t.credits),
			x.money(t.due), x.money(t.paid), text(t.status()), text(string(standing[id]))); err != nil {
			return err
		}
	}
	s.blank()
	if err := s.add(excelize.Cell{StyleID: x.st.bold, Value: "Total"}, nil,
		x.moneyBold(total.subtotal), x.moneyBold(total.discount), x.moneyBold(total.credits),
		x.moneyBold(total.due), x.moneyBold(total.paid)); err != nil {
		return err
	}
	return s.flush()
}

// openInvoices starts the Invoices sheet for docs documents.
func (x *xlsxWriter) openInvoices(docs int) (*sheetWriter, error) {
	header := []string{"Number", "Account", "Kind", "Status", "Replaces", "Corrects", "Issued at (UTC)",
		"Due at (UTC)", "Voided at (UTC)", "Subtotal", "Discount", "Credits applied", "Amount due", "Amount paid"}
	return x.open(SheetInvoices, []int{18, 16, 14, 10, 18, 18, 20, 20, 20, 14, 14, 16, 14, 14}, header, docs, extent{})
}

func (x *xlsxWriter) invoiceRow(s *sheetWriter, d *invoices.DocView) error {
	return s.add(text(x.docNumber(d)), text(d.Account), text(string(d.Kind)), text(x.docStatus(d)),
		text(d.Replaces), text(d.Corrects), x.date(d.IssuedAt), x.optDate(d.DueAt), x.optDate(d.VoidedAt),
		x.money(d.Subtotal), x.money(d.Discount), x.money(d.CreditsApplied), x.money(d.AmountDue),
		x.money(d.AmountPaid))
}

// openLines starts the Lines sheet for lines lines.
func (x *xlsxWriter) openLines(lines int) (*sheetWriter, error) {
	header := []string{"Number", "Account", "Status", "Kind", "Product", "Base model", "Deployment", "Meter",
		"Description", "Quantity", "Unit", "Unit price", "Amount"}
	return x.open(SheetLines, []int{18, 16, 10, 12, 40, 40, 18, 26, 60, 16, 12, 14, 14}, header, lines, extent{})
}

// lineRows writes the lines of d.
func (x *xlsxWriter) lineRows(s *sheetWriter, d *invoices.DocView) error {
	number, status := text(x.docNumber(d)), text(x.docStatus(d))
	for _, l := range d.Lines {
		var quantity, unit, price any
		if l.Kind != rating.KindDiscount {
			quantity, unit, price = x.quantity(l.Quantity), text(l.Unit), x.unitPrice(l.UnitPrice)
		}
		if err := s.add(number, text(d.Account), status, text(string(l.Kind)),
			text(l.Product), text(l.BaseModel), text(l.Deployment), text(string(l.Meter)),
			text(l.Description), quantity, unit, price, x.money(l.Amount)); err != nil {
			return err
		}
	}
	return nil
}

// credits writes two tables: what each document consumed of which grant (void documents' consumption
// went back to the grant; their status says so), then the grants of the report's accounts.
func (x *xlsxWriter) credits() error {
	n := 0
	for i := range x.r.Docs {
		n += len(x.r.Docs[i].Consumptions)
	}
	header := []string{"Number", "Account", "Status", "Grant", "Amount applied"}
	grantHeader := []string{"Grant", "Account", "Kind", "Amount", "Granted at (UTC)", "Expires at (UTC)",
		"Consumed", "Remaining", "Source"}
	grants := 0
	for _, a := range x.r.Accounts {
		if a != nil {
			grants += len(a.Grants)
		}
	}
	// The consumptions, a blank row, the grants' header and rows.
	s, err := x.open(SheetCredits, []int{18, 16, 12, 18, 20, 20, 14, 14, 18}, header, n,
		extent{rows: 2 + grants, cols: len(grantHeader)})
	if err != nil {
		return err
	}
	for i := range x.r.Docs {
		d := &x.r.Docs[i]
		for _, c := range d.Consumptions {
			if err := s.add(text(x.docNumber(d)), text(d.Account), text(x.docStatus(d)), text(c.GrantID),
				x.money(c.Amount)); err != nil {
				return err
			}
		}
	}
	s.blank()
	if err := s.header(x.st.header, grantHeader); err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(x.r.Accounts)) {
		a := x.r.Accounts[id]
		if a == nil {
			continue
		}
		for _, g := range a.Grants {
			account := g.Account
			if account == "" {
				account = a.ID
			}
			if err := s.add(text(g.ID), text(account), text(string(g.Kind)), x.money(g.Amount),
				x.date(g.GrantedAt), x.optDate(g.ExpiresAt), x.money(g.Consumed), x.money(g.Remaining()),
				text(g.Source)); err != nil {
				return err
			}
		}
	}
	return s.flush()
}

func (x *xlsxWriter) standing() error {
	header := []string{"Account", "Status", "Reasons", "Tier", "Spend limit", "Usage limit", "Month usage",
		"Credit balance", "Historical spend", "Evaluated at (UTC)"}
	s, err := x.open(SheetStanding, []int{16, 16, 44, 6, 14, 14, 14, 16, 16, 20}, header, len(x.r.Standing), extent{})
	if err != nil {
		return err
	}
	for _, st := range x.r.Standing {
		reasons := make([]string, len(st.Reasons))
		for i, r := range st.Reasons {
			reasons[i] = string(r)
		}
		if err := s.add(text(st.Account), text(string(st.Status)), text(strings.Join(reasons, ", ")),
			x.integer(int64(st.Tier)), x.money(st.SpendLimit), x.money(st.UsageLimit), x.money(st.MonthUsage),
			x.money(st.CreditBalance), x.money(st.HistoricalSpend), x.date(st.EvaluatedAt)); err != nil {
			return err
		}
	}
	return s.flush()
}

func (x *xlsxWriter) rejects() error {
	header := []string{"Object", "Line", "Event ID", "Code", "Message"}
	s, err := x.open(SheetRejects, []int{44, 10, 24, 22, 80}, header, len(x.r.Rejects), extent{})
	if err != nil {
		return err
	}
	// The texts as they are: cells are inline strings, which no spreadsheet evaluates, so an id such as
	// "=1+2" needs no CSV-style apostrophe (DESIGN §9 escapes CSV cells), which would change it.
	for _, rj := range x.r.Rejects {
		if err := s.add(text(rj.Object), x.integer(rj.Line), text(rj.EventID), text(string(rj.Code)),
			text(rj.Message)); err != nil {
			return err
		}
	}
	return s.flush()
}

// run writes the run record as key/value rows, then its input manifest as a second table.
func (x *xlsxWriter) run() error {
	type kv struct {
		key   string
		value any
	}
	var rows []kv
	if run := x.r.Run; run == nil {
		rows = append(rows, kv{"run", noRunRecordedMarker})
	} else {
		c := run.Counts
		rows = append(rows,
			kv{"run_id", text(run.ID)},
			kv{"kind", text(string(run.Kind))},
			kv{"period", text(run.Period.String())},
			kv{"scope", text(run.Scope)},
			kv{"at", x.date(run.At)},
			kv{"started_at", x.date(run.StartedAt)},
			kv{"finished_at", x.optDate(run.FinishedAt)},
			kv{"status", text(string(run.Status))},
			kv{"error", text(run.Error)},
			kv{"price_book_hash", text(run.PriceBookHash)},
			kv{"objects", x.integer(c.Objects)},
			kv{"bytes", x.integer(c.Bytes)},
			kv{"lines", x.integer(c.Lines)},
			kv{"events_taken", x.integer(c.EventsTaken)},
			kv{"accepted", x.integer(c.Accepted)},
			kv{"duplicates", x.integer(c.Duplicates)},
			kv{"rejected", x.integer(c.Rejected)},
		)
		for _, code := range rejectCodes(c.RejectsByCode) {
			rows = append(rows, kv{"rejects." + string(code), x.integer(c.RejectsByCode[code])})
		}
		for _, m := range slices.Sorted(maps.Keys(c.Meters)) {
			rows = append(rows, kv{"meter." + string(m), x.quantity(c.Meters[m])})
		}
		t := run.Totals
		rows = append(rows,
			kv{"totals.documents", x.integer(int64(t.Documents))},
			kv{"totals.subtotal", x.money(t.Subtotal)},
			kv{"totals.discount", x.money(t.Discount)},
			kv{"totals.credits_applied", x.money(t.CreditsApplied)},
			kv{"totals.amount_due", x.money(t.AmountDue)},
		)
	}
	objectHeader := []string{"Object", "Size (bytes)", "ETag"}
	objects := 0
	if x.r.Run != nil {
		objects = len(x.r.Run.Manifest)
	}
	// The run's rows, a blank row, the manifest's header and rows.
	s, err := x.open(SheetRun, []int{44, 44, 36}, []string{"Key", "Value"}, len(rows),
		extent{rows: 2 + objects, cols: len(objectHeader)})
	if err != nil {
		return err
	}
	for _, e := range rows {
		if err := s.add(e.key, e.value); err != nil {
			return err
		}
	}
	s.blank()
	if err := s.header(x.st.header, objectHeader); err != nil {
		return err
	}
	if x.r.Run != nil {
		for _, o := range x.r.Run.Manifest {
			if err := s.add(text(o.Key), x.integer(o.Size), text(o.ETag)); err != nil {
				return err
			}
		}
	}
	return s.flush()
}

// rejectCodes returns the codes present in counts: the known ones in rating.RejectCodes order, then any
// others sorted.
func rejectCodes(counts map[rating.RejectCode]int64) []rating.RejectCode {
	out := make([]rating.RejectCode, 0, len(counts))
	for _, code := range rating.RejectCodes {
		if _, ok := counts[code]; ok {
			out = append(out, code)
		}
	}
	var other []rating.RejectCode
	for code := range counts {
		if !slices.Contains(rating.RejectCodes, code) {
			other = append(other, code)
		}
	}
	slices.Sort(other)
	return append(out, other...)
}

func ptr[T any](v T) *T { return &v }
