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
// period's export memory and halves its time. (excelize builds it in memory to patch the local headers
// of a part of 4 GiB or more for Excel's sake: no part comes near that since a sheet holds at most
// 1,048,576 rows of well under 4 KB of XML each — but the spliced Lines rows, which have free texts,
// and spliceZipWriter writes such a part with excelize's patch itself.)
//
// When sp is not nil, a sheet's rows were encoded outside excelize: the archive goes through sp, which
// splices them into that sheet's part.
func writeWorkbook(f *excelize.File, w io.Writer, sp *spliceZipWriter) error {
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
