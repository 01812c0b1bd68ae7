package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"billrun/invoices"
	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
)

// benchImport is bench-data/accounts-5000.yaml's shape: benchAccounts accounts with a name, an email
// and a payment method; no contracts, grants or payments.
func benchImport() *invoices.Import {
	imp := &invoices.Import{Accounts: make([]invoices.AccountRecord, benchAccounts)}
	for i := range imp.Accounts {
		imp.Accounts[i] = invoices.AccountRecord{ID: fmt.Sprintf("acct_%05d", i+1),
			Name: ptr(fmt.Sprintf("Company %d", i+1)), Email: ptr(fmt.Sprintf("billing@acct-%05d.test", i+1)),
			PaymentMethod: ptr(true)}
	}
	return imp
}

// BenchmarkImportAccounts imports benchImport's 5,000 accounts, as `billrun close --accounts` does
// before every close: "fresh" into a new, empty store per iteration (only the import is timed),
// "unchanged" into a store that already holds them (every close after the first), which writes
// nothing. "bulk" is ImportAccounts, "sequential" the per-account code it replaced
// (ImportAccountsSequential), kept for comparison.
//
//	BILLRUN_TEST_POSTGRES=postgres://… go test ./invoices/store -run XXX -bench ImportAccounts -benchtime 10x
func BenchmarkImportAccounts(b *testing.B) {
	impls := []struct {
		name string
		fn   func(*store.Store, context.Context, *invoices.Import) (invoices.ImportResult, error)
	}{
		{"bulk", (*store.Store).ImportAccounts},
		{"sequential", store.ImportAccountsSequential},
	}
	imp := benchImport()
	for _, be := range storetest.Backends {
		b.Run(be.Name, func(b *testing.B) {
			for _, impl := range impls {
				b.Run("fresh/"+impl.name, func(b *testing.B) {
					for b.Loop() {
						b.StopTimer()
						s := be.Open(b)
						b.StartTimer()
						res, err := impl.fn(s, b.Context(), imp)
						if err != nil {
							b.Fatalf("ImportAccounts: %v", err)
						}
						if res.Accounts != benchAccounts {
							b.Fatalf("ImportAccounts = %+v, want %d accounts", res, benchAccounts)
						}
						b.StopTimer()
						s.Close()
						b.StartTimer()
					}
				})
			}
			for _, impl := range impls {
				b.Run("unchanged/"+impl.name, func(b *testing.B) {
					s := be.Open(b)
					if _, err := s.ImportAccounts(b.Context(), imp); err != nil {
						b.Fatalf("ImportAccounts: %v", err)
					}
					for b.Loop() {
						res, err := impl.fn(s, b.Context(), imp)
						if err != nil {
							b.Fatalf("ImportAccounts: %v", err)
						}
						if !reflect.DeepEqual(res, invoices.ImportResult{}) {
							b.Fatalf("repeated ImportAccounts = %+v, want nothing changed", res)
						}
					}
				})
			}
		})
	}
}
