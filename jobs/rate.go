package jobs

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"billrun/invoices"
	"billrun/rating"
	"billrun/rating/usage"
)

// RateOptions are the flags of `billrun rate`.
type RateOptions struct {
	At         time.Time
	MaxRejects int64
	// Accounts, when set, are used instead of the store's (rate --accounts FILE).
	Accounts []invoices.Account
}

// Rate reads and rates period p exactly as Close would and returns draft documents (no numbers, status
// draft) with the read's counts, writing nothing. Credits apply as a close at opts.At would; documents
// already issued for p are ignored, the credits they consumed included. It returns the report together
// with an error wrapping ErrTooManyRejects when rejects exceed opts.MaxRejects, so the caller can still
// print the drafts.
func (j *Jobs) Rate(ctx context.Context, p rating.Period, opts RateOptions) (*invoices.Report, error) {
	at := opts.At.UTC()
	accts := opts.Accounts
	if accts == nil {
		var err error
		if accts, err = j.Store.Accounts(ctx); err != nil {
			return nil, fmt.Errorf("rate %s: accounts: %w", p, err)
		}
		// DESIGN §11: rate ignores documents already issued and applies credits as a close would. The
		// credits the period's own documents consumed are given back, as voiding them would, so a
		// rate after a close shows the credits the close applied rather than what they left.
		given, err := j.Store.PeriodConsumptions(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("rate %s: %w", p, err)
		}
		for i := range accts {
			for k := range accts[i].Grants {
				g := &accts[i].Grants[k]
				g.Consumed -= given[g.ID]
			}
		}
	}
	byID, known := knownAccounts(accts)
	// Drafting keeps the read's heap until rate ends: collect as seldom as the read does (rate
	// 3.29-3.73 -> 3.22-3.44 s in 8 alternating runs, peak RSS the same).
	defer usage.CollectLessOften()()
	res, err := j.Usage.Read(ctx, rating.PeriodWindow(p), known)
	if err != nil {
		return nil, fmt.Errorf("rate %s: %w", p, err)
	}
	rep := &invoices.Report{Period: p, Currency: j.PriceBook.Currency, At: at, Drafts: true, Accounts: byID,
		Rejects: res.Rejects, Run: &invoices.Run{Kind: "rate", Period: p, At: at, Status: invoices.RunSucceeded,
			PriceBookHash: j.PriceBookHash, Manifest: res.Manifest, Counts: res.Counts}}
	started := time.Now()
	docs := j.draftInvoices(res.Aggregate, p, byID, at)
	j.Logger.Debug("rate: drafted", "documents", len(docs), "elapsed", time.Since(started))
	for _, d := range docs {
		// A draft close would refuse to issue is no draft to show.
		if err := d.CheckAmounts(); err != nil {
			return nil, fmt.Errorf("rate %s: account %s: %w", p, d.Account, err)
		}
		rep.Docs = append(rep.Docs, invoices.DocView{Document: d, Status: invoices.StatusDraft})
		rep.Run.Totals.Add(&rep.Docs[len(rep.Docs)-1].Document)
	}
	rep.Standing = []invoices.Standing{}
	if int64(len(res.Rejects)) > opts.MaxRejects {
		return rep, fmt.Errorf("rate %s: %d rejects, --max-rejects is %d: %w", p, len(res.Rejects), opts.MaxRejects, ErrTooManyRejects)
	}
	return rep, nil
}

// draftInvoices rates every account of agg and returns its draft invoices, in ascending account order,
// for the accounts that get one: rateAccount and DraftInvoice per account, on all cores.
func (j *Jobs) draftInvoices(agg *rating.Aggregate, p rating.Period, byID map[string]*invoices.Account, at time.Time) []invoices.Document {
	return j.startDrafts(agg, p, byID, at, runtime.GOMAXPROCS(0)).wait()
}

// draftChunkAccounts is how many accounts a drafting goroutine takes at a time: enough to keep the
// goroutines busy without a hand-off per account, few enough that the first invoices are ready at once.
const draftChunkAccounts = 64

// drafter drafts the invoices of an aggregate's accounts on all cores, chunk by chunk in ascending
// account order, and hands them out in that order as their chunks are done (next), so a close can issue
// the first invoices while the later ones are still being drafted.
type drafter struct {
	ids      []string
	chunk    int // accounts per chunk
	docs     []invoices.Document
	ok       []bool
	ready    []chan struct{} // per chunk, closed once its accounts are drafted
	left     atomic.Int64    // chunks not drafted yet
	all      chan struct{}   // closed once every chunk is drafted
	finished time.Time       // when the last chunk was drafted; read after all closes
	i        int             // the next account next looks at
}

// startDrafts starts drafting the invoices of agg's accounts (rateAccount and DraftInvoice per account)
// on up to workers goroutines. The goroutines need nothing but agg and finish on their own.
func (j *Jobs) startDrafts(agg *rating.Aggregate, p rating.Period, byID map[string]*invoices.Account, at time.Time, workers int) *drafter {
	ids := agg.Accounts()
	size := j.draftChunk
	if size <= 0 {
		size = draftChunkAccounts
	}
	chunks := (len(ids) + size - 1) / size
	d := &drafter{ids: ids, chunk: size, docs: make([]invoices.Document, len(ids)), ok: make([]bool, len(ids)),
		ready: make([]chan struct{}, chunks), all: make(chan struct{})}
	for c := range d.ready {
		d.ready[c] = make(chan struct{})
	}
	d.left.Store(int64(chunks))
	if chunks == 0 {
		d.finished = time.Now()
		close(d.all)
		return d
	}
	terms := invoices.Terms{PaymentTermsDays: j.PriceBook.Policy.PaymentTermsDays}
	var next atomic.Int64
	for range min(max(1, workers), chunks) {
		go func() {
			for {
				c := int(next.Add(1)) - 1
				if c >= chunks {
					return
				}
				for i := c * size; i < min((c+1)*size, len(ids)); i++ {
					id := ids[i]
					acct := byID[id]
					lines := j.rateAccount(acct, agg.BuildAccountLines(id), p.Start())
					var grants []invoices.Grant
					if acct != nil {
						grants = acct.Grants
					}
					d.docs[i], d.ok[i] = invoices.DraftInvoice(id, p, lines, grants, at, terms)
				}
				close(d.ready[c])
				if d.left.Add(-1) == 0 {
					d.finished = time.Now()
					close(d.all)
				}
			}
		}()
	}
	return d
}

// next returns the next draft invoice in account order, waiting for its chunk; false after the last.
// The document is the drafter's own: the caller may change it.
func (d *drafter) next() (*invoices.Document, bool) {
	for d.i < len(d.ids) {
		i := d.i
		d.i++
		<-d.ready[i/d.chunk]
		if d.ok[i] {
			return &d.docs[i], true
		}
	}
	return nil, false
}

// done reports, without waiting, whether every invoice is drafted.
func (d *drafter) done() bool {
	select {
	case <-d.all:
		return true
	default:
		return false
	}
}

// wait waits for every draft and returns the invoices in account order (copies of the documents).
func (d *drafter) wait() []invoices.Document {
	<-d.all
	var out []invoices.Document
	for i := range d.docs {
		if d.ok[i] {
			out = append(out, d.docs[i])
		}
	}
	return out
}

// AccountsFromImport turns an accounts file into accounts as a fresh database would hold them, for
// rate --accounts. Every record is new there: it returns imp.RequireNew's error for a grant or
// payment that leaves out a field a new one requires.
func AccountsFromImport(imp *invoices.Import) ([]invoices.Account, error) {
	if err := imp.RequireNew(); err != nil {
		return nil, err
	}
	var out []invoices.Account
	for _, r := range imp.Accounts {
		a := invoices.Account{ID: r.ID, SpendLimitOverride: r.SpendLimitOverride, Contracts: r.Contracts, Grants: r.Grants}
		if r.Name != nil {
			a.Name = *r.Name
		}
		if r.Email != nil {
			a.Email = *r.Email
		}
		if r.PaymentMethod != nil {
			a.PaymentMethod = *r.PaymentMethod
		}
		out = append(out, a)
	}
	sortAccounts(out)
	return out, nil
}
