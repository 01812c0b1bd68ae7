package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// RerunOptions are the flags of `billrun rerun`.
type RerunOptions struct {
	At         time.Time
	Accounts   []string // limit the rerun to these accounts; empty: every account
	DryRun     bool     // print the per-account diff, change nothing
	MaxRejects int64
	Wait       bool
}

// RerunSummary is what a rerun decided (and, unless dry, did) per account.
type RerunSummary struct {
	Run *invoices.Run // nil for a dry run
	// Corrections has one entry per account in scope; an entry's Original is the original invoice's
	// header, without its lines and consumptions (the diffs say what changed).
	Corrections []invoices.Correction
	Issued      []invoices.Document
	Voided      []string
	Rejects     []rating.Reject
	Files       []string
}

// Rerun re-reads and re-rates period p and corrects each account's documents (DESIGN §8, §11): no
// change → nothing; no invoice yet → issue; changed, a lone original with no payment → void it (its
// credits return) and issue a replacement naming it, or void it alone when its usage disappeared;
// otherwise a supplementary invoice (net increase) or a credit note (net decrease) of the line-level
// differences. Issued documents are never changed, only voided. With DryRun it returns the decisions
// and writes nothing.
func (j *Jobs) Rerun(ctx context.Context, p rating.Period, opts RerunOptions) (*RerunSummary, error) {
	at := opts.At.UTC()
	sum := &RerunSummary{}
	if opts.DryRun {
		// A dry run writes nothing, but reads the period under its lock as reconcile and export do:
		// beside a close or rerun half-way through, its diff would mix the period's before and after.
		release, err := j.lockReading(ctx, invoices.PeriodLock(p), opts.Wait)
		if err != nil {
			return nil, err
		}
		defer release()
		return sum, j.rerun(ctx, p, at, opts, nil, sum)
	}
	release, err := j.lock(ctx, invoices.PeriodLock(p), opts.Wait)
	if err != nil {
		return nil, err
	}
	defer release()
	j.abandonRuns(ctx, p)
	scope := "all"
	if len(opts.Accounts) > 0 {
		scope = fmt.Sprint(opts.Accounts)
	}
	run := &invoices.Run{ID: newRunID(invoices.RunRerun, at), Kind: invoices.RunRerun, Period: p, Scope: scope,
		At: at, StartedAt: j.now(), Status: invoices.RunRunning, PriceBookHash: j.PriceBookHash}
	if err := j.Store.StartRun(ctx, run); err != nil {
		return nil, fmt.Errorf("rerun %s: start run: %w", p, err)
	}
	sum.Run = run
	err = j.rerun(ctx, p, at, opts, run, sum)
	end := j.now()
	run.FinishedAt, run.Status = &end, invoices.RunSucceeded
	if err != nil {
		run.Status, run.Error = invoices.RunFailed, err.Error()
	}
	if ferr := j.Store.FinishRun(context.WithoutCancel(ctx), run); ferr != nil && err == nil {
		err = fmt.Errorf("rerun %s: finish run: %w", p, ferr)
	}
	return sum, err
}

// checkRerunAt refuses a rerun whose --at is before a document of the accounts in scope was issued
// or voided. A rerun decides as of its --at (DESIGN §10, §11: it sees only payments with paid_at <
// at), so one run "before" documents that exist would see them unpaid and void them — a paid
// invoice included — at a time before they were even issued. Checked for every account in scope
// before any document is voided or issued, so nothing is half done.
func checkRerunAt(p rating.Period, at time.Time, scope []string, docsBy map[string][]invoices.Document) error {
	for _, id := range scope {
		for _, d := range docsBy[id] {
			what, when := "issued", d.IssuedAt
			if d.VoidedAt != nil && d.VoidedAt.After(when) {
				what, when = "voided", *d.VoidedAt
			}
			if at.Before(when) {
				return fmt.Errorf("rerun %s: --at %s is before %s of %s was %s (%s): a rerun corrects the documents as of its --at, so it cannot come before them; use a later --at",
					p, at.Format(time.RFC3339), d.Number, id, what, when.UTC().Format(time.RFC3339))
			}
		}
	}
	return nil
}

// changedMeanwhile reports whether a correction's write was refused because the account's documents
// or credits changed after the rerun read them: another invoice issued, a payment recorded against
// the invoice it would void, or credits it applied consumed by another run (a close of another month).
func changedMeanwhile(err error) bool {
	return errors.Is(err, invoices.ErrAlreadyIssued) || errors.Is(err, invoices.ErrPaid) ||
		errors.Is(err, invoices.ErrGrantOverdrawn)
}

func (j *Jobs) rerun(ctx context.Context, p rating.Period, at time.Time, opts RerunOptions, run *invoices.Run, sum *RerunSummary) error {
	accts, err := j.Store.Accounts(ctx)
	if err != nil {
		return fmt.Errorf("rerun %s: accounts: %w", p, err)
	}
	byID, known := knownAccounts(accts)
	for _, a := range opts.Accounts {
		if !known[a] {
			return fmt.Errorf("rerun %s: --account %s does not exist", p, a)
		}
	}
	res, err := j.Usage.Read(ctx, rating.PeriodWindow(p), known)
	if err != nil {
		return fmt.Errorf("rerun %s: %w", p, err)
	}
	sum.Rejects = res.Rejects
	dir := filepath.Join(j.OutDir, p.String())
	if run != nil {
		run.Manifest, run.Counts = res.Manifest, res.Counts
		if err := j.Store.SaveRead(ctx, run, res.Rejects); err != nil {
			return fmt.Errorf("rerun %s: record the read: %w", p, err)
		}
	}
	if int64(len(res.Rejects)) > opts.MaxRejects {
		if run != nil {
			path := filepath.Join(dir, "rejects.csv")
			if err := WriteFileAtomic(path, func(w io.Writer) error { return j.Exporter.WriteRejectsCSV(w, res.Rejects) }); err != nil {
				return err
			}
			sum.Files = append(sum.Files, path)
		}
		return fmt.Errorf("rerun %s: %d rejects, --max-rejects is %d: %w", p, len(res.Rejects), opts.MaxRejects, ErrTooManyRejects)
	}
	docs, err := j.Store.Documents(ctx, p)
	if err != nil {
		return fmt.Errorf("rerun %s: documents: %w", p, err)
	}
	payments, err := j.Store.Payments(ctx)
	if err != nil {
		return fmt.Errorf("rerun %s: payments: %w", p, err)
	}
	docsBy := map[string][]invoices.Document{}
	for _, d := range docs {
		docsBy[d.Account] = append(docsBy[d.Account], d)
	}
	payBy := map[string][]invoices.Payment{}
	for _, pay := range payments {
		payBy[pay.Account] = append(payBy[pay.Account], pay)
	}
	scope := opts.Accounts
	if len(scope) == 0 {
		scope = append(scope, res.Aggregate.Accounts()...)
		for id := range docsBy {
			scope = append(scope, id)
		}
	}
	slices.Sort(scope)
	scope = slices.Compact(scope)
	if err := checkRerunAt(p, at, scope, docsBy); err != nil {
		return err
	}
	terms := invoices.Terms{PaymentTermsDays: j.PriceBook.Policy.PaymentTermsDays}
	for _, id := range scope {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("rerun %s: stopped before %s: %w", p, id, err)
		}
		acct := byID[id]
		lines := j.rateAccount(acct, res.Aggregate.BuildAccountLines(id), p.Start())
		// Lines no document may hold are no plan to show, nor to start voiding for.
		if err := invoices.CheckLineAmounts(lines); err != nil {
			return fmt.Errorf("rerun %s: account %s: %w", p, id, err)
		}
		c := invoices.PlanCorrection(id, p, docsBy[id], lines, acct.Grants, payBy[id], at, terms)
		// The summary keeps what the report of the rerun shows: the original's number, the line diffs
		// and the document drafted. The account's stored documents and their lines are then garbage,
		// so a rerun of a whole period holds one account's documents at a time, not the period's.
		delete(docsBy, id)
		kept := c
		if c.Original != nil {
			o := *c.Original
			o.Lines, o.Consumptions = nil, nil
			kept.Original = &o
		}
		sum.Corrections = append(sum.Corrections, kept)
		if run == nil {
			continue
		}
		if c.Action != invoices.ActionNone {
			// A rerun whose lock went may run beside another now: both would correct this account.
			if err := j.Store.CheckLock(ctx, invoices.PeriodLock(p)); err != nil {
				return fmt.Errorf("rerun %s: stopped before %s: %w", p, id, err)
			}
		}
		switch c.Action {
		case invoices.ActionVoid:
			if err := j.Store.Void(ctx, c.Original.Number, at); err != nil {
				if changedMeanwhile(err) {
					return fmt.Errorf("rerun %s: %s changed while the rerun ran; run it again: %w", p, id, err)
				}
				return fmt.Errorf("rerun %s: void %s: %w", p, c.Original.Number, err)
			}
			sum.Voided = append(sum.Voided, c.Original.Number)
		case invoices.ActionIssue, invoices.ActionReplace, invoices.ActionSupplementary, invoices.ActionCreditNote:
			c.Doc.RunID = run.ID
			if err := j.Store.Issue(ctx, c.Doc); err != nil {
				if changedMeanwhile(err) {
					return fmt.Errorf("rerun %s: %s changed while the rerun ran; run it again: %w", p, id, err)
				}
				return fmt.Errorf("rerun %s: issue %s for %s: %w", p, c.Action, id, err)
			}
			if c.Action == invoices.ActionReplace {
				sum.Voided = append(sum.Voided, c.Doc.Replaces)
			}
			run.Totals.Add(c.Doc)
			sum.Issued = append(sum.Issued, *c.Doc)
			sum.Corrections[len(sum.Corrections)-1].Doc = c.Doc
		}
	}
	res.Aggregate = nil // the exports read the period's documents back; the read's sums are done with
	if run == nil {
		return nil
	}
	if _, err := j.sweep(ctx, j.Logger.With("run_id", run.ID, "period", p.String()), at, run.ID); err != nil {
		return fmt.Errorf("rerun %s: %w", p, err)
	}
	shown := *run
	end := j.now()
	shown.FinishedAt, shown.Status = &end, invoices.RunSucceeded
	files, err := j.writeStoredExports(ctx, dir, p, at, &shown, res.Rejects,
		func() error { return j.Store.CheckLock(ctx, invoices.PeriodLock(p)) })
	sum.Files = append(sum.Files, files...)
	if err != nil {
		return fmt.Errorf("rerun %s: exports: %w", p, err)
	}
	return nil
}
