package store_test

import (
	"fmt"
	"testing"
	"time"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
)

// Size of the benchmark month: the close of bench/run.sh's 5,000 accounts, about 60 lines each,
// issued as jobs.Close issues them.
const (
	benchAccounts     = 5000
	benchLinesPerDoc  = 60
	benchBatchAccount = 100
)

// BenchmarkIssueBatch issues a month of 5,000 invoices of 60 lines (300,000 lines) in batches of 100
// into a fresh store per iteration; only the IssueBatch calls are timed.
//
//	go test ./invoices/store -run XXX -bench IssueBatch -benchtime 3x
func BenchmarkIssueBatch(b *testing.B) {
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				s := be.Open(b)
				docs := benchMonth(b, s)
				b.StartTimer()
				for start := 0; start < len(docs); start += benchBatchAccount {
					if err := s.IssueBatch(b.Context(), docs[start:min(start+benchBatchAccount, len(docs))]); err != nil {
						b.Fatalf("IssueBatch: %v", err)
					}
				}
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(benchAccounts*benchLinesPerDoc)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// benchMonth imports the benchmark's accounts into s and returns their October invoices.
func benchMonth(b *testing.B, s *store.Store) []*invoices.Document {
	b.Helper()
	imp := &invoices.Import{}
	for i := range benchAccounts {
		imp.Accounts = append(imp.Accounts, invoices.AccountRecord{ID: fmt.Sprintf("acct_%05d", i), PaymentMethod: ptr(true)})
	}
	if _, err := s.ImportAccounts(b.Context(), imp); err != nil {
		b.Fatalf("ImportAccounts: %v", err)
	}
	at := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	docs := make([]*invoices.Document, benchAccounts)
	for i, a := range imp.Accounts {
		docs[i] = withLines(invoice(a.ID, oct, at, 0), benchLinesPerDoc)
	}
	return docs
}
