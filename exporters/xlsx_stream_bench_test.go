package exporters

import (
	"io"
	"testing"
	"time"

	"billrun/invoices"
)

// BenchmarkXLSXStream streams a month of 5,000 invoices of 50 lines each (250,000 lines) as a close does:
// StartXLSX, Add in batches of 100 documents, Finish to io.Discard. Add is the part a close runs while
// it issues; Finish is the part it waits for. add-ms and finish-ms are their wall times per workbook.
// texts=distinct gives every line texts of its own; texts=shared makes equal texts one string, as a
// close's lines have them (shareTexts).
func BenchmarkXLSXStream(b *testing.B) {
	const docs, perDoc, batch = 5000, 50, 100
	for _, tc := range []struct {
		name string
		r    *invoices.Report
	}{
		{"texts=distinct", bigReport(docs, perDoc)},
		{"texts=shared", shareTexts(bigReport(docs, perDoc))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := tc.r
			b.ReportAllocs()
			var add, finish time.Duration
			for b.Loop() {
				t0 := time.Now()
				st, err := StartXLSX(io.Discard, r.Period, r.Currency, r.Drafts, len(r.Docs), lineCount(r.Docs))
				if err != nil {
					b.Fatal(err)
				}
				for lo := 0; lo < len(r.Docs); lo += batch {
					if err := st.Add(r.Docs[lo:min(lo+batch, len(r.Docs))]); err != nil {
						b.Fatal(err)
					}
				}
				t1 := time.Now()
				if err := st.Finish(r); err != nil {
					b.Fatal(err)
				}
				st.Close()
				add, finish = add+t1.Sub(t0), finish+time.Since(t1)
			}
			b.ReportMetric(float64(add.Milliseconds())/float64(b.N), "add-ms")
			b.ReportMetric(float64(finish.Milliseconds())/float64(b.N), "finish-ms")
		})
	}
}
