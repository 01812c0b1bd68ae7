package store_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
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
// into a fresh store per iteration; only the IssueBatch calls are timed. Besides wall time it reports
// the CPU seconds the benchmark's process spent issuing (cpu-s/op) and, on PostgreSQL, those of the
// server processes serving its database (server-cpu-s/op, read from /proc when the server is local):
// on a shared 2-core machine, wall time also measures the neighbours.
//
//	go test ./invoices/store -run XXX -bench IssueBatch -benchtime 3x
func BenchmarkIssueBatch(b *testing.B) {
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			var cpu, server time.Duration
			for b.Loop() {
				b.StopTimer()
				s := be.Open(b)
				docs := benchMonth(b, s)
				cpu0, server0 := processCPU(), serverCPU(b, s)
				b.StartTimer()
				for start := 0; start < len(docs); start += benchBatchAccount {
					if err := s.IssueBatch(b.Context(), docs[start:min(start+benchBatchAccount, len(docs))]); err != nil {
						b.Fatalf("IssueBatch: %v", err)
					}
				}
				b.StopTimer()
				cpu += processCPU() - cpu0
				server += serverCPU(b, s) - server0
				s.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(benchAccounts*benchLinesPerDoc)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
			if be.Name == "postgres" {
				b.ReportMetric(server.Seconds()/float64(b.N), "server-cpu-s/op")
			}
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

// processCPU returns the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU returns the CPU time so far of the PostgreSQL backends connected to s's database, 0 for
// SQLite or a server whose processes this one cannot see.
func serverCPU(b *testing.B, s *store.Store) time.Duration {
	var pids []int
	if err := store.DB(s).SelectContext(b.Context(), &pids,
		`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`); err != nil {
		return 0
	}
	var ticks int64
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the parenthesized command: state is the 3rd field, utime the 14th, stime the 15th.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
