package jobs_test

import (
	"context"
	"log/slog"
	"runtime"
	"testing"

	"billrun/invoices/store/storetest"
	"billrun/jobs"
)

// remoteStore is a store that says its statements are round trips to a server.
type remoteStore struct{ jobs.Store }

func (remoteStore) Remote() bool { return true }

// TestCloseRestoresGOMAXPROCS: a close on a remote store runs its issuing with more Ps than cores, and
// gives the setting back when it ends, whether it succeeded or failed.
func TestCloseRestoresGOMAXPROCS(t *testing.T) {
	pb, hash, src, imp := loadFixtures(t)
	before := runtime.GOMAXPROCS(0)
	for _, fail := range []bool{false, true} {
		st := storetest.OpenSQLite(t)
		if _, err := st.ImportAccounts(context.Background(), imp); err != nil {
			t.Fatal(err)
		}
		var s jobs.Store = remoteStore{st}
		if fail {
			s = remoteStore{&faultyStore{Store: st, failStanding: true}}
		}
		j := &jobs.Jobs{Store: s, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
			PriceBookHash: hash, OutDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
		_, err := j.Close(context.Background(), fixturePeriod, jobs.CloseOptions{At: fixtureAt})
		if (err != nil) != fail {
			t.Fatalf("close (failing: %v): %v", fail, err)
		}
		if got := runtime.GOMAXPROCS(0); got != before {
			t.Errorf("GOMAXPROCS after a close (failing: %v) = %d, want %d", fail, got, before)
		}
	}
}
