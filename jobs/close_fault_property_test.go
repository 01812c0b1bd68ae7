package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"billrun/internal/propmonth"
	"billrun/invoices/accountsfile"
	"billrun/invoices/store"
	"billrun/invoices/store/storetest"
	"billrun/jobs"
	"billrun/rating/usage"
)

// TestPropertyCloseRecoversFromFaults interrupts the close of random months (internal/propmonth: a
// few accounts with grants and contracts, mixed usage, duplicates and bad lines) at random points:
// per trial a random batch size and draft chunk, the Nth document issued failing before or after its
// batch commits, and sometimes the next close interrupted again the same way. A last close must then
// leave the ledger of an uninterrupted close of the same month: the same documents with the same
// numbers, amounts, lines and credit consumptions, a gapless series, every grant consumed once, the
// same standing. Six seeds on SQLite, the first two on PostgreSQL too.
func TestPropertyCloseRecoversFromFaults(t *testing.T) {
	seeds := map[string]uint64{"sqlite": 6, "postgres": 2}
	for _, b := range storetest.Backends {
		t.Run(b.Name, func(t *testing.T) {
			for seed := uint64(1); seed <= seeds[b.Name]; seed++ {
				t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { closeFaultsMonth(t, seed, b.Open) })
			}
		})
	}
}

func closeFaultsMonth(t *testing.T, seed uint64, open func(testing.TB) *store.Store) {
	ctx := context.Background()
	pb, hash, _, _ := loadFixtures(t)
	tmp := t.TempDir()
	w := propmonth.Generate(t, seed, filepath.Join(tmp, "usage"))
	acctPath := filepath.Join(tmp, "accounts.yaml")
	if err := os.WriteFile(acctPath, []byte(w.AccountsYAML("")), 0o644); err != nil {
		t.Fatal(err)
	}
	imp, err := accountsfile.Load(acctPath)
	if err != nil {
		t.Fatal(err)
	}
	src, err := usage.NewLocal(w.UsageDir)
	if err != nil {
		t.Fatal(err)
	}
	opts := jobs.CloseOptions{At: fixtureAt, MaxRejects: 1000}
	newJobs := func(st jobs.Store, batch, chunk int) *jobs.Jobs {
		j := &jobs.Jobs{Store: st, Usage: localUsage{src: src, pb: pb}, Exporter: fileExporter{}, PriceBook: pb,
			PriceBookHash: hash, OutDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}
		jobs.SetCloseBatch(j, batch)
		jobs.SetDraftChunk(j, chunk)
		return j
	}
	fresh := func() *store.Store {
		st := open(t)
		if _, err := st.ImportAccounts(ctx, imp); err != nil {
			t.Fatal(err)
		}
		return st
	}

	ref := fresh()
	sum, err := newJobs(ref, 0, 0).Close(ctx, fixturePeriod, opts)
	if err != nil {
		t.Fatalf("uninterrupted close: %v", err)
	}
	docs := len(sum.Issued)
	if docs == 0 {
		t.Fatal("the month issued nothing")
	}
	want := ledger(t, ref, fixturePeriod)

	r := w.R
	for trial := range 3 {
		st := fresh()
		var steps []string
		for crash := 0; crash == 0 || r.IntN(3) == 0 && crash < 3; crash++ {
			batch, chunk := 1+r.IntN(docs+1), 1+r.IntN(docs+1)
			f := &faultyStore{Store: st, failIssue: 1 + r.IntN(docs), afterCommit: r.IntN(2) == 0}
			step := fmt.Sprintf("batch %d chunk %d fail doc %d after commit %t", batch, chunk, f.failIssue, f.afterCommit)
			_, err := newJobs(f, batch, chunk).Close(ctx, fixturePeriod, opts)
			switch {
			case errors.Is(err, errInjected):
			case err == nil && f.issues < f.failIssue: // earlier crashes left fewer to issue
				step += " (not reached)"
			default:
				t.Fatalf("trial %d %v, %s: close = %v, want the injected fault", trial, steps, step, err)
			}
			steps = append(steps, step)
		}
		batch := 1 + r.IntN(docs+1)
		steps = append(steps, fmt.Sprintf("then a close, batch %d", batch))
		if _, err := newJobs(st, batch, 1+r.IntN(docs+1)).Close(ctx, fixturePeriod, opts); err != nil {
			t.Fatalf("trial %d %v: close after the faults: %v", trial, steps, err)
		}
		if got := ledger(t, st, fixturePeriod); got != want {
			t.Errorf("trial %d %v: ledger differs from an uninterrupted close:\n got: %s\nwant: %s", trial, steps, got, want)
		}
	}
}
