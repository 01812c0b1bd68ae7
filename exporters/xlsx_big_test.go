package exporters

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// bigReport is a period of docs invoices with linesPerDoc lines each, as a large close writes it.
func bigReport(docs, linesPerDoc int) *invoices.Report {
	period := rating.Period{Year: 2026, Month: time.October}
	at := ts("2026-11-01T02:00:00Z")
	due := tsp("2026-11-16T02:00:00Z")
	r := &invoices.Report{Period: period, Currency: "USD", At: at}
	for d := range docs {
		acct := fmt.Sprintf("acct_%05d", d+1)
		doc := invoices.Document{ID: int64(d + 1), Number: fmt.Sprintf("INV-2026-%06d", d+1), Account: acct,
			Period: period, Kind: invoices.KindInvoice, IssuedAt: at, DueAt: due, RunID: "run_close_big"}
		for l := range linesPerDoc {
			var line rating.Line
			if l%5 == 4 {
				line = gpuLine("H100-80GB", fmt.Sprintf("dep-%s-%d", acct[5:], l), "3600.5", "8.00", "8.00")
			} else {
				model := fmt.Sprintf("accounts/%s/models/ft-%d", acct, l)
				line = tokenLine(model, llama, rating.MeterInput, "1200000", "0.20", "0.24", model+", input tokens")
			}
			doc.Lines = append(doc.Lines, line)
			doc.Subtotal += line.Amount
		}
		doc.AmountDue = doc.Subtotal
		r.Docs = append(r.Docs, invoices.DocView{Document: doc, Status: invoices.StatusOpen})
		r.Standing = append(r.Standing, invoices.Standing{Account: acct, Status: invoices.StandingActive, EvaluatedAt: at})
	}
	return r
}

// shareTexts makes the equal texts of r's lines one string each, as in a close, where the read
// interns every id and the rater builds one description per product, base model and meter: the
// encoders' caches (textcache) only ever hit on such strings.
func shareTexts(r *invoices.Report) *invoices.Report {
	seen := map[string]string{}
	share := func(s *string) {
		if v, ok := seen[*s]; ok {
			*s = v
		} else {
			seen[*s] = *s
		}
	}
	for i := range r.Docs {
		for k := range r.Docs[i].Lines {
			l := &r.Docs[i].Lines[k]
			for _, s := range []*string{&l.Product, &l.BaseModel, &l.Deployment, &l.Description, &l.Unit} {
				share(s)
			}
		}
	}
	return r
}

// peakLiveHeap runs f and returns the largest live heap (as the garbage collector last marked it,
// /gc/heap/live:bytes) seen while f ran, above the live heap before it. The garbage between collections
// is left out: it scales with everything live (GOGC), the report included, and is not what the writer
// holds. The collector runs at GOGC 5 meanwhile: at the default, a writer that holds less than the
// report (which is live throughout) may finish before a single collection marks anything, and the
// figure would be 0 whatever it held.
func peakLiveHeap(f func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := live()
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if l := live(); l > base && l-base > peak.Load() {
					peak.Store(l - base)
				}
			}
		}
	}()
	f()
	close(done)
	<-stopped
	return peak.Load()
}

// TestWriteXLSXLargeBoundedMemory writes a workbook of 150,000 lines and checks the live heap it needs
// on top of the report stays within a budget. The Lines rows are deflated into a temporary file as they
// come, excelize's StreamWriter spills the other sheets' rows to temporary files, and the archive
// streams to its destination; the peak still grows slowly with the lines (12.6 MB for 150,000 lines,
// 31 MB for 600,000: BenchmarkWriteXLSXLarge).
func TestWriteXLSXLargeBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 150,000-line workbook")
	}
	const docs, perDoc = 3000, 50
	r := bigReport(docs, perDoc)
	var written countingWriter
	var err error
	peak := peakLiveHeap(func() { err = WriteXLSX(&written, r) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("XLSX of %d lines: %.1f MB written, peak live heap above the report %.1f MB", docs*perDoc,
		float64(written.n)/1e6, float64(peak)/1e6)
	const maxPeakBytes = 96 << 20
	if peak > maxPeakBytes {
		t.Errorf("peak live heap while writing %d lines = %.1f MB, want at most %d MB", docs*perDoc, float64(peak)/1e6, maxPeakBytes>>20)
	}
}

// BenchmarkWriteXLSXLarge writes workbooks of 150,000 and 600,000 lines and reports the peak live heap
// above the report (peak-live-heap-MB).
func BenchmarkWriteXLSXLarge(b *testing.B) {
	for _, docs := range []int{3000, 12000} {
		r := bigReport(docs, 50)
		b.Run(fmt.Sprintf("lines=%d", docs*50), func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				peak = max(peak, peakLiveHeap(func() {
					if err := WriteXLSX(io.Discard, r); err != nil {
						b.Fatal(err)
					}
				}))
			}
			b.ReportMetric(float64(peak)/1e6, "peak-live-heap-MB")
		})
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
