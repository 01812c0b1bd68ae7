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

// writeWorkbook saves f to w. excelize's own Write builds the whole archive in a memory buffer first
// and compresses with compress/flate's default level; the archive is instead streamed to w through a
// buffer, compressed with klauspost's deflate at workbookDeflateLevel. That is what bounds a large
// period's export memory and halves its time. (excelize builds it in memory to patch the local header
// of a part of 4 GiB or more, version 4.5 for Excel's sake. Such parts happen: a sheet holds up to
// 1,048,576 rows, and rows with free texts — a reject's event id and message, up to a cell's 32,767
// characters each — can average over 4 KB of XML. Every part goes through spliceZipWriter, which
// writes one of 4 GiB or more with that version itself.)
//
// When sp is not nil, a sheet's rows were encoded outside excelize: sp splices them into that sheet's
// part.
func writeWorkbook(f *excelize.File, w io.Writer, sp *spliceZipWriter) error {
	if sp == nil {
		sp = &spliceZipWriter{}
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	f.SetZipWriter(func(io.Writer) excelize.ZipWriter {
		// excelize passes its in-memory buffer, which stays empty: the archive goes to bw.
		zw := zip.NewWriter(bw)
		zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
			return flate.NewWriter(out, workbookDeflateLevel)
		})
		sp.zw = zw
		return sp
	})
	if err := f.Write(w); err != nil {
		return err
	}
	return bw.Flush()
}
