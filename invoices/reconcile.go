package invoices

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"billrun/rating"
)

// Reconciliation is the result of `billrun reconcile` for one period (DESIGN §8).
type Reconciliation struct {
	Period   rating.Period
	At       time.Time
	RunID    string // the latest close or rerun compared against; empty when the period never ran
	Objects  []ObjectDrift
	Usage    []UsageDrift
	Ledger   []LedgerProblem
	Open     []PaymentState // documents with an amount still due
	Overdue  []PaymentState // of those, past their due date
	Overpaid []PaymentState
	// Rejects compares the rejects of the fresh read with those the compared run recorded. It is
	// listed but does not make a reconciliation unclean: a new reject comes with the object drift
	// that brought its line, or with a change of accounts or prices.
	Rejects RejectDrift
}

// MaxRejectSample bounds how many of the new rejects a reconciliation lists one by one.
const MaxRejectSample = 100

// RejectDrift is how the rejects of a fresh read of a period differ from those the compared run
// recorded, by object, line and code.
type RejectDrift struct {
	Total  int                       // rejects of the fresh read
	New    int                       // of those, ones the run did not record
	ByCode map[rating.RejectCode]int // the new ones by code
	Sample []rating.Reject           // the first new ones, by object then line, at most MaxRejectSample
	Gone   int                       // rejects the run recorded that the fresh read no longer makes
}

// DiffRejects compares the rejects a run recorded (old) with those of a fresh read (cur).
func DiffRejects(old, cur []rating.Reject) RejectDrift {
	type key struct {
		object string
		line   int64
		code   rating.RejectCode
	}
	before := make(map[key]int, len(old))
	for _, r := range old {
		before[key{r.Object, r.Line, r.Code}]++
	}
	d := RejectDrift{Total: len(cur), ByCode: map[rating.RejectCode]int{}}
	var fresh []rating.Reject
	for _, r := range cur {
		k := key{r.Object, r.Line, r.Code}
		if before[k] > 0 {
			before[k]--
			continue
		}
		d.New++
		d.ByCode[r.Code]++
		fresh = append(fresh, r)
	}
	for _, n := range before {
		d.Gone += n
	}
	sort.SliceStable(fresh, func(i, j int) bool {
		if fresh[i].Object != fresh[j].Object {
			return fresh[i].Object < fresh[j].Object
		}
		return fresh[i].Line < fresh[j].Line
	})
	if len(fresh) > MaxRejectSample {
		fresh = fresh[:MaxRejectSample]
	}
	d.Sample = fresh
	return d
}

// Clean reports whether nothing disagrees: no object, usage or ledger difference. Open, overdue and
// overpaid documents are listed but do not make a reconciliation unclean.
func (r *Reconciliation) Clean() bool {
	return len(r.Objects) == 0 && len(r.Usage) == 0 && len(r.Ledger) == 0
}

// ObjectDrift is a usage object added, changed or removed since the compared run read the period.
type ObjectDrift struct {
	Key    string
	Change string // added, changed, removed
	Old    *rating.Object
	New    *rating.Object
}

// UsageDrift is a line whose freshly rated quantity or amount differs from what the effective
// documents bill.
type UsageDrift struct {
	Account string
	LineDiff
}

// LedgerProblem is a failed ledger check.
type LedgerProblem struct {
	Check   string // lines_sum, credits, numbering, effective_invoice
	Subject string // document number, grant id, series or account
	Message string
}

// PaymentState is a document with what it is owed and has been paid.
type PaymentState struct {
	Number     string
	Account    string
	AmountDue  rating.Cents
	AmountPaid rating.Cents
	DueAt      *time.Time
}

// DiffManifests compares the manifest of a run with a fresh listing.
func DiffManifests(old, cur []rating.Object) []ObjectDrift {
	before := map[string]rating.Object{}
	for _, o := range old {
		before[o.Key] = o
	}
	var out []ObjectDrift
	seen := map[string]bool{}
	for _, n := range cur {
		n := n
		seen[n.Key] = true
		o, ok := before[n.Key]
		switch {
		case !ok:
			out = append(out, ObjectDrift{Key: n.Key, Change: "added", New: &n})
		case o.Size != n.Size || o.ETag != n.ETag:
			o := o
			out = append(out, ObjectDrift{Key: n.Key, Change: "changed", Old: &o, New: &n})
		}
	}
	for _, o := range old {
		if !seen[o.Key] {
			o := o
			out = append(out, ObjectDrift{Key: o.Key, Change: "removed", Old: &o})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// CheckLedger runs the ledger checks of DESIGN §8 over a period's documents, every grant, and every
// document number ever issued.
func CheckLedger(docs []Document, accounts []Account, numbers []string) []LedgerProblem {
	var out []LedgerProblem
	effective := map[string]int{}
	for i := range docs {
		d := &docs[i]
		var sum, disc, cons rating.Cents
		for _, l := range d.Lines {
			sum += l.Amount
			if l.Kind == rating.KindDiscount {
				disc += l.Amount
			}
		}
		for _, c := range d.Consumptions {
			cons += c.Amount
		}
		if sum != d.Subtotal || disc != d.Discount {
			out = append(out, LedgerProblem{"lines_sum", d.Number, fmt.Sprintf("lines sum to %s (discount %s), subtotal is %s (discount %s)", sum, disc, d.Subtotal, d.Discount)})
		}
		if cons != d.CreditsApplied {
			out = append(out, LedgerProblem{"credits", d.Number, fmt.Sprintf("consumptions sum to %s, credits applied is %s", cons, d.CreditsApplied)})
		}
		if d.Kind != KindCreditNote && d.AmountDue != d.Subtotal-d.CreditsApplied {
			out = append(out, LedgerProblem{"lines_sum", d.Number, fmt.Sprintf("amount due %s ≠ subtotal %s − credits %s", d.AmountDue, d.Subtotal, d.CreditsApplied)})
		}
		if d.CreditsApplied > d.Subtotal && d.Kind != KindCreditNote {
			out = append(out, LedgerProblem{"credits", d.Number, fmt.Sprintf("credits applied %s exceed subtotal %s", d.CreditsApplied, d.Subtotal)})
		}
		if d.Effective() && d.Kind == KindInvoice {
			effective[d.Account]++
		}
	}
	for acct, n := range effective {
		if n > 1 {
			out = append(out, LedgerProblem{"effective_invoice", acct, fmt.Sprintf("%d effective invoices for the period", n)})
		}
	}
	for _, a := range accounts {
		for _, g := range a.Grants {
			if g.Consumed > g.Amount || g.Consumed < 0 {
				out = append(out, LedgerProblem{"credits", g.ID, fmt.Sprintf("grant of %s has %s consumed", g.Amount, g.Consumed)})
			}
		}
	}
	out = append(out, checkNumbering(numbers)...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Check < out[j].Check })
	return out
}

// checkNumbering checks that every series (prefix and year) runs 1..N without gaps or repeats.
func checkNumbering(numbers []string) []LedgerProblem {
	series := map[string][]int{}
	var out []LedgerProblem
	for _, n := range numbers {
		i := strings.LastIndexByte(n, '-')
		seq, err := strconv.Atoi(n[i+1:])
		if i < 0 || err != nil {
			out = append(out, LedgerProblem{"numbering", n, "malformed document number"})
			continue
		}
		series[n[:i]] = append(series[n[:i]], seq)
	}
	names := make([]string, 0, len(series))
	for s := range series {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		seqs := series[s]
		sort.Ints(seqs)
		for i, n := range seqs {
			if n != i+1 {
				out = append(out, LedgerProblem{"numbering", s, fmt.Sprintf("series %s is not gapless: expected %06d, found %06d", s, i+1, n)})
				break
			}
		}
	}
	return out
}

// DiffUsage compares freshly rated lines per account with the effective documents of the period.
func DiffUsage(docsBy map[string][]Document, rated map[string][]rating.Line) []UsageDrift {
	accts := map[string]bool{}
	for a := range docsBy {
		accts[a] = true
	}
	for a := range rated {
		accts[a] = true
	}
	ids := make([]string, 0, len(accts))
	for a := range accts {
		ids = append(ids, a)
	}
	sort.Strings(ids)
	var out []UsageDrift
	for _, a := range ids {
		out = append(out, DiffAccountUsage(a, docsBy[a], rated[a])...)
	}
	return out
}

// DiffAccountUsage is DiffUsage for one account: its documents of the period and its freshly rated
// lines. A reconciliation can then rate and compare one account at a time.
func DiffAccountUsage(account string, docs []Document, rated []rating.Line) []UsageDrift {
	var out []UsageDrift
	for _, d := range DiffLines(SumLines(docs), rated) {
		out = append(out, UsageDrift{Account: account, LineDiff: d})
	}
	return out
}
