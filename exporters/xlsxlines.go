package exporters

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"billrun/invoices"
	"billrun/rating"
)

// The Lines sheet holds a row per invoice line — a quarter of a million in a large month — and its rows
// are most of the workbook's work. excelize's StreamWriter spends about 10 µs and 80 allocations on
// each (cell references, values boxed in interfaces, text escaped through a builder and a regular
// expression), and a close waits for it. So the Lines rows are encoded here instead, into the bytes the
// StreamWriter writes (xlsxcell.go), and spooled to a temporary file; excelize still writes the sheet
// around them — its columns, panes, header row and autofilter — and the rows are spliced in front of
// the sheet's </sheetData> as excelize's part goes into the zip (spliceZipWriter).

// spoolMemoryBytes is how many bytes of encoded rows a rowSpool holds in memory before it writes them to
// its temporary file.
const spoolMemoryBytes = 1 << 20

// rowSpool holds encoded rows: in memory up to spoolMemoryBytes, then in a temporary file, so a period's
// rows never pile up in memory.
type rowSpool struct {
	buf  []byte
	file *os.File // nil until the rows outgrow buf
	size int64    // bytes in file
}

// sync moves the rows held in memory to the temporary file once they reach spoolMemoryBytes.
func (s *rowSpool) sync() error {
	if len(s.buf) < spoolMemoryBytes {
		return nil
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "billrun-xlsx-rows-*.xml")
		if err != nil {
			return fmt.Errorf("spool rows: %w", err)
		}
		s.file = f
	}
	n, err := s.file.Write(s.buf)
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("spool rows: %w", err)
	}
	s.buf = s.buf[:0]
	return nil
}

// writeTo writes the spooled rows to w, in order.
func (s *rowSpool) writeTo(w io.Writer) error {
	if s.file != nil {
		buf := make([]byte, 256<<10)
		if _, err := io.CopyBuffer(struct{ io.Writer }{w}, io.NewSectionReader(s.file, 0, s.size), buf); err != nil {
			return fmt.Errorf("copy spooled rows: %w", err)
		}
	}
	_, err := w.Write(s.buf)
	return err
}

// close removes the temporary file; it may be called more than once.
func (s *rowSpool) close() error {
	s.buf = nil
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	if rerr := os.Remove(s.file.Name()); err == nil {
		err = rerr
	}
	s.file = nil
	return err
}

// linesColumns are the Lines sheet's column letters, in the order of openLines's header.
const (
	colNumber, colAccount, colStatus, colKind, colProduct, colBaseModel, colDeployment = "A", "B", "C", "D", "E", "F", "G"
	colMeter, colDescription, colQuantity, colUnit, colUnitPrice, colAmount            = "H", "I", "J", "K", "L", "M"
)

// lineRowsWriter encodes the Lines sheet's rows after its header, as lineRows would write them through
// excelize.
type lineRowsWriter struct {
	part  string // the sheet's part name in the package, as excelize names it
	row   int    // the last row written; the header is row 1
	spool rowSpool
	rowNo []byte // the current row's number, in decimal
	// The <is> elements of the current document's number, account and status (nil when empty: no
	// cell), and the buffers they are encoded in.
	docCells, docBufs [3][]byte
}

// newLineRowsWriter returns a writer for the rows of the Lines sheet of f, whose header row excelize's
// StreamWriter has written. It returns an error when it cannot find the sheet's part name.
func newLineRowsWriter(f *excelize.File) (*lineRowsWriter, error) {
	part, err := sheetPart(f, SheetLines)
	if err != nil {
		return nil, err
	}
	return &lineRowsWriter{part: part, row: 1}, nil
}

// sheetPart returns the name of the sheet's part in the package (xl/worksheets/sheet3.xml): the name
// excelize keys the sheet's StreamWriter by and writes its rows under, from the File's sheetMap —
// excelize exports no accessor for it. A test checks that this is the part the rows land in.
func sheetPart(f *excelize.File, sheet string) (string, error) {
	m := reflect.ValueOf(f).Elem().FieldByName("sheetMap")
	if m.Kind() == reflect.Map && m.Type().Key().Kind() == reflect.String && m.Type().Elem().Kind() == reflect.String {
		for it := m.MapRange(); it.Next(); {
			if strings.EqualFold(it.Key().String(), sheet) {
				return it.Value().String(), nil
			}
		}
	}
	return "", fmt.Errorf("sheet %s: no part name in the excelize File", sheet)
}

// addDoc writes the rows of d's lines; number and status are the document's as exported.
func (w *lineRowsWriter) addDoc(x *xlsxWriter, d *invoices.DocView, number, status string) error {
	for i, s := range [...]string{number, d.Account, status} {
		w.docCells[i] = nil
		if s != "" {
			w.docBufs[i] = appendInlineText(w.docBufs[i][:0], s)
			w.docCells[i] = w.docBufs[i]
		}
	}
	for i := range d.Lines {
		if w.row >= excelize.TotalRows {
			return fmt.Errorf("row %d: %w", w.row+1, excelize.ErrMaxRows)
		}
		w.row++
		w.spool.buf = w.appendRow(w.spool.buf, x, &d.Lines[i])
		if err := w.spool.sync(); err != nil {
			return err
		}
	}
	return nil
}

// appendRow appends the row of l: the cells lineRows gives excelize, encoded as excelize encodes them.
func (w *lineRowsWriter) appendRow(b []byte, x *xlsxWriter, l *rating.Line) []byte {
	w.rowNo = strconv.AppendInt(w.rowNo[:0], int64(w.row), 10)
	row := w.rowNo
	b = append(b, `<row r="`...)
	b = append(b, row...)
	b = append(b, `">`...)
	for i, col := range [...]string{colNumber, colAccount, colStatus} {
		if is := w.docCells[i]; is != nil {
			b = appendEncodedTextCell(b, col, row, is)
		}
	}
	for _, c := range [...]struct{ col, s string }{
		{colKind, string(l.Kind)}, {colProduct, l.Product}, {colBaseModel, l.BaseModel},
		{colDeployment, l.Deployment}, {colMeter, string(l.Meter)}, {colDescription, l.Description},
	} {
		if c.s != "" {
			b = appendTextCell(b, c.col, row, 0, c.s)
		}
	}
	if l.Kind != rating.KindDiscount {
		var num [40]byte
		if v, whole, ok := appendDecimalText(num[:0], l.Quantity); ok {
			style := x.st.integer
			if !whole {
				style = x.st.fraction
			}
			b = appendNumberCell(b, colQuantity, row, style, v)
		} else {
			c := x.quantity(l.Quantity).(excelize.Cell)
			b = appendValueCell(b, colQuantity, row, c.StyleID, c.Value)
		}
		if l.Unit != "" {
			b = appendTextCell(b, colUnit, row, 0, l.Unit)
		}
		if v, _, ok := appendDecimalText(num[:0], l.UnitPrice); ok {
			b = appendNumberCell(b, colUnitPrice, row, x.st.unitPrice, v)
		} else {
			b = appendValueCell(b, colUnitPrice, row, x.st.unitPrice, decimalValue(l.UnitPrice))
		}
	}
	var num [40]byte
	if v, ok := appendMoneyText(num[:0], l.Amount); ok {
		b = appendNumberCell(b, colAmount, row, x.st.money, v)
	} else {
		b = appendValueCell(b, colAmount, row, x.st.money, moneyValue(l.Amount))
	}
	return append(b, `</row>`...)
}

// errRowsNotSpliced is returned when excelize wrote the workbook without the part the rows belong in.
var errRowsNotSpliced = errors.New("the sheet's part was not written: its rows are missing")

// spliceZipWriter is the ZipWriter excelize writes the workbook through when a sheet's rows were
// encoded outside it: it passes every part on to zw, except that it holds the sheet's part — small,
// as excelize has only its header row — until the part is complete, then writes it with the spooled
// rows in front of its </sheetData>.
type spliceZipWriter struct {
	zw      excelize.ZipWriter
	part    string
	rows    *rowSpool
	pending *bytes.Buffer // the sheet's part as excelize wrote it, until the next Create or Close
	spliced bool
}

var _ excelize.ZipWriter = (*spliceZipWriter)(nil)

// Create starts the part name.
func (z *spliceZipWriter) Create(name string) (io.Writer, error) {
	if err := z.flush(); err != nil {
		return nil, err
	}
	if name == z.part {
		z.pending = new(bytes.Buffer)
		return z.pending, nil
	}
	return z.zw.Create(name)
}

// AddFS adds the files of fsys.
func (z *spliceZipWriter) AddFS(fsys fs.FS) error {
	if err := z.flush(); err != nil {
		return err
	}
	return z.zw.AddFS(fsys)
}

// Close writes what is pending and closes the archive; it fails when the sheet's part never came.
func (z *spliceZipWriter) Close() error {
	err := z.flush()
	if cerr := z.zw.Close(); err == nil {
		err = cerr
	}
	if err == nil && !z.spliced {
		err = fmt.Errorf("%s: %w", z.part, errRowsNotSpliced)
	}
	return err
}

// flush writes the held part, with the rows spliced in.
func (z *spliceZipWriter) flush() error {
	if z.pending == nil {
		return nil
	}
	p := z.pending.Bytes()
	z.pending = nil
	i := bytes.Index(p, []byte("</sheetData>"))
	if i < 0 {
		return fmt.Errorf("%s: no </sheetData> to put the rows before", z.part)
	}
	w, err := z.zw.Create(z.part)
	if err != nil {
		return err
	}
	if _, err := w.Write(p[:i]); err != nil {
		return err
	}
	if err := z.rows.writeTo(w); err != nil {
		return err
	}
	if _, err := w.Write(p[i:]); err != nil {
		return err
	}
	z.spliced = true
	return nil
}
