package exporters

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/flate"
	"github.com/xuri/excelize/v2"

	"billrun/internal/tempfile"
	"billrun/internal/textcache"
	"billrun/invoices"
	"billrun/rating"
)

// The Lines sheet holds a row per invoice line — a quarter of a million in a large month — and its rows
// are most of the workbook's work. excelize's StreamWriter spends about 10 µs and 80 allocations on
// each (cell references, values boxed in interfaces, text escaped through a builder and a regular
// expression), and a close waits for it. So the Lines rows are encoded here instead, into the bytes the
// StreamWriter writes (xlsxcell.go), and spooled — deflated as they come — to a temporary file; excelize
// still writes the sheet around them — its columns, panes, header row and autofilter — and the rows
// are spliced in front of the sheet's </sheetData> as excelize's part goes into the zip
// (spliceZipWriter).

// spoolMemoryBytes is how many bytes of encoded rows a rowSpool holds in memory before it deflates
// them into its temporary file.
const spoolMemoryBytes = 1 << 20

// rowSpool holds encoded rows: in memory up to spoolMemoryBytes, then deflated into a temporary file as
// they come, so a period's rows never pile up in memory and the workbook's largest part is compressed
// while the close issues its invoices rather than once it is done. The deflated rows are one run of
// non-final deflate blocks ended by a sync flush, so they can sit between the deflated start and end of
// the sheet's part in one deflate stream (spliceZipWriter).
//
// Deflating is more than half of the sheet's work (~0.45 of ~0.8 s of CPU for 304,000 lines), so a
// goroutine of the spool's own does it while the rows after are encoded: full buffers go to it in
// order, two of them in turn.
type rowSpool struct {
	buf  []byte
	file *os.File // nil while the rows fit in buf
	// anonymous: file has no name (tempfile.Anonymous), so closing it removes it.
	anonymous bool
	out       *bufio.Writer // to file
	fw        *flate.Writer // deflates into out
	size      int64         // deflated bytes in file
	raw       int64         // bytes deflated
	crc       uint32        // CRC-32 of the bytes deflated

	// The deflater: work takes full buffers in order, free gives them back, done carries its first
	// error (or nil) once work is closed. size, raw and crc are its own until then.
	work chan []byte
	free chan []byte
	done chan error
	err  error // the deflater's error, once known
}

// sync hands the rows held in memory to the deflater once they reach spoolMemoryBytes.
func (s *rowSpool) sync() error {
	if len(s.buf) < spoolMemoryBytes {
		return nil
	}
	return s.deflate()
}

// deflate hands the rows held in memory to the deflater, starting it (and the temporary file) the
// first time, and takes an empty buffer for the next rows.
func (s *rowSpool) deflate() error {
	if s.err != nil {
		return s.err
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "billrun-xlsx-rows-*.xml.deflate")
		if err != nil {
			return fmt.Errorf("spool rows: %w", err)
		}
		// The spool is read through f only: without a name, a killed close leaves nothing behind.
		s.file, s.anonymous = f, tempfile.Anonymous(f)
		s.out = bufio.NewWriterSize(&byteCounter{w: f, n: &s.size}, 256<<10)
		if s.fw, err = flate.NewWriter(s.out, workbookDeflateLevel); err != nil {
			return fmt.Errorf("spool rows: %w", err)
		}
		s.work, s.free, s.done = make(chan []byte, 1), make(chan []byte, 2), make(chan error, 1)
		s.free <- make([]byte, 0, cap(s.buf))
		go s.deflater(s.work)
	}
	if len(s.buf) == 0 {
		return nil
	}
	s.work <- s.buf
	s.buf = <-s.free
	return nil
}

// deflater deflates the buffers sent on work, in order, until work closes. After an error it only
// gives the buffers back. It takes work as an argument, not from s.work, which stop sets to nil: a
// deflater that had not started by then would wait on the nil channel for ever, and stop with it.
func (s *rowSpool) deflater(work <-chan []byte) {
	var err error
	for b := range work {
		if err == nil {
			s.crc = crc32.Update(s.crc, crc32.IEEETable, b)
			s.raw += int64(len(b))
			if _, werr := s.fw.Write(b); werr != nil {
				err = fmt.Errorf("spool rows: %w", werr)
			}
		}
		s.free <- b[:0]
	}
	s.done <- err
}

// stop closes work and waits for the deflater to finish what it was sent; it returns the deflater's
// error. It may be called more than once.
func (s *rowSpool) stop() error {
	if s.work != nil {
		close(s.work)
		s.work = nil
		if err := <-s.done; err != nil && s.err == nil {
			s.err = err
		}
	}
	return s.err
}

// end deflates the last rows and ends the deflated run with a sync flush; the spool takes no more rows.
func (s *rowSpool) end() error {
	if err := s.deflate(); err != nil {
		return err
	}
	if err := s.stop(); err != nil {
		return err
	}
	if err := s.fw.Flush(); err != nil {
		return fmt.Errorf("spool rows: %w", err)
	}
	if err := s.out.Flush(); err != nil {
		return fmt.Errorf("spool rows: %w", err)
	}
	return nil
}

// close stops the deflater and removes the temporary file; it may be called more than once.
func (s *rowSpool) close() error {
	_ = s.stop()
	s.buf = nil
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	if !s.anonymous {
		if rerr := os.Remove(s.file.Name()); err == nil {
			err = rerr
		}
	}
	s.file = nil
	return err
}

// byteCounter counts the bytes written through it.
type byteCounter struct {
	w io.Writer
	n *int64
}

func (c *byteCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

// linesColumns are the Lines sheet's column letters, in the order of openLines's header.
const (
	colNumber, colAccount, colStatus, colKind, colProduct, colBaseModel, colDeployment = "A", "B", "C", "D", "E", "F", "G"
	colMeter, colDescription, colQuantity, colUnit, colUnitPrice, colAmount            = "H", "I", "J", "K", "L", "M"
)

// lineRowsWriter encodes the Lines sheets' rows after their header, as lineRows would write them
// through excelize: on the Lines sheet, then on its continuation sheets.
type lineRowsWriter struct {
	sheets []*linesSheet
	tableCursor
	rowNo []byte          // the current row's number, in decimal
	next  byte            // the column of the current row's next cell when it needs no reference
	texts textcache.Cache // the <is> elements of the lines' texts, by string (appendInlineText)
	// The <is> elements of the current document's number, account and status (nil when empty: no
	// cell), and the buffers they are encoded in.
	docCells, docBufs [3][]byte
}

// linesSheet is one Lines sheet's part in the package and its rows.
type linesSheet struct {
	part  string // as excelize names it
	spool rowSpool
}

// newLineRowsWriter returns a writer for the rows of the Lines sheets of f that s has opened: their
// header rows written by excelize's StreamWriter, their rows split as s splits them. It returns an
// error when it cannot find a sheet's part name.
func newLineRowsWriter(f *excelize.File, s *sheetWriter) (*lineRowsWriter, error) {
	w := &lineRowsWriter{tableCursor: tableCursor{tables: s.tables, row: 1}}
	for _, name := range s.names {
		part, err := sheetPart(f, name)
		if err != nil {
			return nil, err
		}
		w.sheets = append(w.sheets, &linesSheet{part: part})
	}
	return w, nil
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
		w.advance()
		if w.row > maxSheetRows {
			return fmt.Errorf("row %d: %w", w.row, excelize.ErrMaxRows)
		}
		spool := &w.sheets[w.cur].spool
		spool.buf = w.appendRow(spool.buf, x, &d.Lines[i])
		if err := spool.sync(); err != nil {
			return err
		}
	}
	return nil
}

// appendRow appends the row of l: the cells lineRows gives excelize, encoded as excelize encodes them
// except that a cell right after the one before it (column A for the first) has no reference (r
// attribute); only a cell after an empty one names its column. The references were a fifth of the
// sheet's XML and, a new row number in every cell, what kept deflate from matching one row with the
// next: on the benchmark month (304,198 lines) the part went from 220 MB to 179 MB of XML and from
// 22.5 MB to 10.2 MB deflated.
func (w *lineRowsWriter) appendRow(b []byte, x *xlsxWriter, l *rating.Line) []byte {
	w.rowNo = strconv.AppendInt(w.rowNo[:0], int64(w.row), 10)
	b = append(b, `<row r="`...)
	b = append(b, w.rowNo...)
	b = append(b, `">`...)
	w.next = colNumber[0]
	for i, col := range [...]string{colNumber, colAccount, colStatus} {
		if is := w.docCells[i]; is != nil {
			b = appendEncodedTextCell(b, col, w.ref(col), is)
		}
	}
	for _, c := range [...]struct{ col, s string }{
		{colKind, string(l.Kind)}, {colProduct, l.Product}, {colBaseModel, l.BaseModel},
		{colDeployment, l.Deployment}, {colMeter, string(l.Meter)}, {colDescription, l.Description},
	} {
		if c.s != "" {
			b = w.appendText(b, c.col, w.ref(c.col), c.s)
		}
	}
	if l.Kind != rating.KindDiscount {
		var num [40]byte
		if v, whole, ok := appendDecimalText(num[:0], l.Quantity); ok {
			style := x.st.integer
			if !whole {
				style = x.st.fraction
			}
			b = appendNumberCell(b, colQuantity, w.ref(colQuantity), style, v)
		} else {
			b = appendDecimalCell(b, colQuantity, w.ref(colQuantity), x.quantityStyle(l.Quantity), l.Quantity)
		}
		if l.Unit != "" {
			b = w.appendText(b, colUnit, w.ref(colUnit), l.Unit)
		}
		if v, _, ok := appendDecimalText(num[:0], l.UnitPrice); ok {
			b = appendNumberCell(b, colUnitPrice, w.ref(colUnitPrice), x.st.unitPrice, v)
		} else {
			b = appendDecimalCell(b, colUnitPrice, w.ref(colUnitPrice), x.st.unitPrice, l.UnitPrice)
		}
	}
	var num [40]byte
	if v, ok := appendMoneyText(num[:0], l.Amount); ok {
		b = appendNumberCell(b, colAmount, w.ref(colAmount), x.st.money, v)
	} else {
		b = appendDecimalCell(b, colAmount, w.ref(colAmount), x.st.money, l.Amount.Decimal())
	}
	return append(b, `</row>`...)
}

// ref returns the row number to write in the reference of the current row's next cell, in column col,
// or nil when the cell needs none: it is in the column after the last cell's.
func (w *lineRowsWriter) ref(col string) []byte {
	implicit := col[0] == w.next
	w.next = col[0] + 1
	if implicit {
		return nil
	}
	return w.rowNo
}

// appendText appends the inline-string cell of s, as appendTextCell does, with s's <is> element from
// the writer's cache when s was met before.
func (w *lineRowsWriter) appendText(b []byte, col string, row []byte, s string) []byte {
	b = appendCellStart(b, col, row, 0)
	b = append(b, ` t="inlineStr">`...)
	b = w.texts.Append(b, s, appendInlineText)
	return append(b, `</c>`...)
}

// errRowsNotSpliced is returned when excelize wrote the workbook without the part the rows belong in.
var errRowsNotSpliced = errors.New("the sheet's part was not written: its rows are missing")

// spliceZipWriter is the ZipWriter excelize writes the workbook through. When sheets' rows were
// encoded outside excelize, it holds each such sheet's part — small, as excelize has only its header
// row — until the part is complete, then writes it with the spooled rows in front of its </sheetData>.
// Every other part goes through a rowSpool of its own until it is complete: one that stays in memory
// (up to spoolMemoryBytes) is written as zip.Writer.Create writes it; a larger one is written from the
// spool with its sizes known, so that one of 4 GiB or more gets the zip64 headers Excel needs
// (writeDeflated). zip.Writer.Create alone cannot: it writes the local header, version 2.0, before
// the part's size is known.
type spliceZipWriter struct {
	zw          *zip.Writer
	rows        map[string]*rowSpool // the spooled rows by the name of the part they go in
	pendingPart string
	pending     *bytes.Buffer // pendingPart as excelize wrote it, until the next Create or Close
	spliced     map[string]bool
	spoolPart   string
	spool       *rowSpool // spoolPart, any other part, as excelize wrote it, until the next Create or Close
}

// spoolWriter writes a part into its rowSpool.
type spoolWriter struct{ s *rowSpool }

func (w spoolWriter) Write(p []byte) (int, error) {
	w.s.buf = append(w.s.buf, p...)
	return len(p), w.s.sync()
}

var _ excelize.ZipWriter = (*spliceZipWriter)(nil)

// Create starts the part name.
func (z *spliceZipWriter) Create(name string) (io.Writer, error) {
	if err := z.flush(); err != nil {
		return nil, err
	}
	if _, ok := z.rows[name]; ok {
		z.pendingPart, z.pending = name, new(bytes.Buffer)
		return z.pending, nil
	}
	z.spoolPart, z.spool = name, new(rowSpool)
	return spoolWriter{z.spool}, nil
}

// AddFS adds the files of fsys.
func (z *spliceZipWriter) AddFS(fsys fs.FS) error {
	if err := z.flush(); err != nil {
		return err
	}
	return z.zw.AddFS(fsys)
}

// Close writes what is pending and closes the archive; it fails when a sheet's part never came.
func (z *spliceZipWriter) Close() error {
	err := z.flush()
	if cerr := z.zw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		for _, part := range slices.Sorted(maps.Keys(z.rows)) {
			if !z.spliced[part] {
				return fmt.Errorf("%s: %w", part, errRowsNotSpliced)
			}
		}
	}
	return err
}

// flush writes the held part, with its rows spliced in, or the spooled one.
func (z *spliceZipWriter) flush() error {
	if z.spool != nil {
		part, s := z.spoolPart, z.spool
		z.spool = nil
		defer s.close()
		return z.writePart(part, s, nil, nil)
	}
	if z.pending == nil {
		return nil
	}
	part, p := z.pendingPart, z.pending.Bytes()
	z.pending = nil
	i := bytes.Index(p, []byte("</sheetData>"))
	if i < 0 {
		return fmt.Errorf("%s: no </sheetData> to put the rows before", part)
	}
	if err := z.writePart(part, z.rows[part], p[:i], p[i:]); err != nil {
		return err
	}
	if z.spliced == nil {
		z.spliced = make(map[string]bool)
	}
	z.spliced[part] = true
	return nil
}

// writePart writes the part: head, the spool's rows, then tail; from memory (writeSmall) when the
// rows never left it, else from the spool's deflated file (writeDeflated).
func (z *spliceZipWriter) writePart(part string, rows *rowSpool, head, tail []byte) error {
	var err error
	if rows.file == nil {
		err = z.writeSmall(part, rows, head, tail)
	} else {
		err = z.writeDeflated(part, rows, head, tail)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", part, err)
	}
	return nil
}

// writeSmall writes the part when its rows are all in memory.
func (z *spliceZipWriter) writeSmall(part string, rows *rowSpool, head, tail []byte) error {
	w, err := z.zw.Create(part)
	if err != nil {
		return err
	}
	for _, b := range [][]byte{head, rows.buf, tail} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// writeDeflated writes the part as one deflate stream: head deflated and sync-flushed, the spool's
// deflated rows, tail deflated with the final block; its CRC-32 combined from the three parts'.
func (z *spliceZipWriter) writeDeflated(part string, rows *rowSpool, head, tail []byte) error {
	if err := rows.end(); err != nil {
		return err
	}
	var h, t bytes.Buffer
	if err := deflateTo(&h, head, false); err != nil {
		return err
	}
	if err := deflateTo(&t, tail, true); err != nil {
		return err
	}
	crc := crc32Combine(crc32.ChecksumIEEE(head), rows.crc, rows.raw)
	crc = crc32Combine(crc, crc32.ChecksumIEEE(tail), int64(len(tail)))
	fh := &zip.FileHeader{
		Name:               part,
		Method:             zip.Deflate,
		CreatorVersion:     20, // as zip.Writer.Create writes them
		ReaderVersion:      20,
		CRC32:              crc,
		CompressedSize64:   uint64(int64(h.Len()) + rows.size + int64(t.Len())),
		UncompressedSize64: uint64(int64(len(head)) + rows.raw + int64(len(tail))),
	}
	if fh.CompressedSize64 >= math.MaxUint32 || fh.UncompressedSize64 >= math.MaxUint32 {
		// A part of 4 GiB or more (a sheet of a million rows of over 4 KB each: long deployment or job
		// names) needs zip64. CreateRaw would write its sizes as 0xFFFFFFFF in the local header with no
		// zip64 field there, and "version needed" 2.0 in both headers. Written instead as zip.Writer
		// writes such a part, with excelize's fix (writeZip64LFH) that Excel needs: version 4.5 in both
		// headers, the sizes in a zip64 data descriptor after the data.
		fh.ReaderVersion = zip64ReaderVersion
		fh.Flags |= dataDescriptorFlag
	}
	w, err := z.zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	if _, err := w.Write(h.Bytes()); err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(struct{ io.Writer }{w}, io.NewSectionReader(rows.file, 0, rows.size), buf); err != nil {
		return fmt.Errorf("copy spooled rows: %w", err)
	}
	_, err = w.Write(t.Bytes())
	return err
}

// The zip headers' values for a part of 4 GiB or more: the version needed to extract zip64 (4.5), and
// the flag of sizes written in a data descriptor after the data.
const (
	zip64ReaderVersion = 45
	dataDescriptorFlag = 0x8
)

// deflateTo writes p to dst deflated: ended with the final block when final is true, else with a sync
// flush, so that more deflate blocks can follow.
func deflateTo(dst io.Writer, p []byte, final bool) error {
	fw, err := flate.NewWriter(dst, workbookDeflateLevel)
	if err != nil {
		return err
	}
	if _, err := fw.Write(p); err != nil {
		return err
	}
	if final {
		return fw.Close()
	}
	return fw.Flush()
}

// crc32Combine returns the CRC-32 (IEEE) of a followed by b from crc1 = CRC-32(a), crc2 = CRC-32(b) and
// len2 = len(b): zlib's crc32_combine, which multiplies crc1 by x^(8·len2) modulo the polynomial with
// 32×32 matrices over GF(2), squaring the operator for each bit of len2.
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1 ^ crc2
	}
	var even, odd [32]uint32 // operators for 2^k zero bits
	odd[0] = crc32.IEEE      // one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		gf2Square(&even, &odd) // first pass: one zero byte
		if len2&1 != 0 {
			crc1 = gf2Times(&even, crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
		gf2Square(&odd, &even)
		if len2&1 != 0 {
			crc1 = gf2Times(&odd, crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}
