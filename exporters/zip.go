package exporters

import (
	"archive/zip"
	"bufio"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/xuri/excelize/v2"
)

// workbookDeflateLevel is the deflate level of the workbook's parts. Sheet XML repeats itself so much
// that the fastest level keeps most of the gain of the default one at a fraction of its time.
const workbookDeflateLevel = flate.BestSpeed

// maxDirectRows bounds the rows a workbook may have to be written straight to its destination. A sheet
// part over 4 GiB needs zip64, and excelize then patches the local file headers of the archive, which it
// can only do in memory; no sheet of fewer rows comes near that size (a row is under 2 KB of XML).
const maxDirectRows = 1_000_000

// writeWorkbook saves f to w. excelize's own Write builds the whole archive in a memory buffer first
// and compresses with compress/flate's default level; for the workbooks billrun writes — up to
// maxDirectRows rows — the archive is instead streamed to w through a buffer, compressed with
// klauspost's deflate at workbookDeflateLevel. That is what bounds a large period's export memory and
// halves its time.
//
// When sp is not nil, a sheet's rows were encoded outside excelize: the archive goes through sp, which
// splices them into that sheet's part.
func writeWorkbook(f *excelize.File, w io.Writer, rows int, sp *spliceZipWriter) error {
	if rows > maxDirectRows {
		if sp != nil {
			f.SetZipWriter(func(buf io.Writer) excelize.ZipWriter {
				sp.zw = zip.NewWriter(buf) // excelize's own ZipWriter
				return sp
			})
		}
		return f.Write(w)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter {
		// excelize passes its in-memory buffer, which stays empty: the archive goes to bw.
		zw := zip.NewWriter(bw)
		zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(out, workbookDeflateLevel)
		})
		if sp != nil {
			sp.zw = zw
			return sp
		}
		return zw
	})
	if err := f.Write(w); err != nil {
		return err
	}
	return bw.Flush()
}
