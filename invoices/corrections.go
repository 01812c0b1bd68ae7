package invoices

import (
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"billrun/rating"
)

// LineTotal is the sum of one line key over a period's effective documents.
type LineTotal struct {
	Line     rating.Line // a representative line (kind, product, meter, unit price, description)
	Quantity decimal.Decimal
	Amount   rating.Cents
}

// SumLines sums the lines of documents per line key; void documents are left out. Credit notes carry
// negative lines, so the sum is what the period has billed so far.
func SumLines(docs []Document) map[string]*LineTotal {
	out := map[string]*LineTotal{}
	for i := range docs {
		if !docs[i].Effective() {
			continue
		}
		for _, l := range docs[i].Lines {
			k := l.Key()
			t := out[k]
			if t == nil {
				t = &LineTotal{Line: l, Quantity: decimal.Zero}
				out[k] = t
			}
			t.Quantity = t.Quantity.Add(l.Quantity)
			t.Amount += l.Amount
		}
	}
	return out
}

// LineDiff is the change of one line key between what was invoiced and a fresh rating.
type LineDiff struct {
	Key                      string
	Line                     rating.Line // the new line, or the old one when it disappeared
	OldQuantity, NewQuantity decimal.Decimal
	OldAmount, NewAmount     rating.Cents
}

// Delta returns the amount difference new − old.
func (d LineDiff) Delta() rating.Cents { return d.NewAmount - d.OldAmount }

// DiffLines compares invoiced totals with freshly rated lines and returns the keys whose quantity or
// amount changed, ordered as invoice lines are.
func DiffLines(old map[string]*LineTotal, lines []rating.Line) []LineDiff {
	seen := map[string]bool{}
	var out []LineDiff
	for _, l := range lines {
		k := l.Key()
		seen[k] = true
		d := LineDiff{Key: k, Line: l, OldQuantity: decimal.Zero, NewQuantity: l.Quantity, NewAmount: l.Amount}
		if o := old[k]; o != nil {
			d.OldQuantity, d.OldAmount = o.Quantity, o.Amount
		}
		if !d.OldQuantity.Equal(d.NewQuantity) || d.OldAmount != d.NewAmount {
			out = append(out, d)
		}
	}
	for k, o := range old {
		if seen[k] || (o.Quantity.IsZero() && o.Amount == 0) {
			continue
		}
		out = append(out, LineDiff{Key: k, Line: o.Line, OldQuantity: o.Quantity, NewQuantity: decimal.Zero, OldAmount: o.Amount})
	}
	sort.SliceStable(out, func(i, j int) bool { return rating.LineLess(out[i].Line, out[j].Line) })
	return out
}

// correctionPrefix starts the description of every line of a supplementary invoice or credit note.
const correctionPrefix = "correction: "

// Action is what a rerun does for one account.
type Action string

// Rerun actions (DESIGN §8, §11).
const (
	ActionNone          Action = "none"             // unchanged
	ActionIssue         Action = "issue"            // no invoice yet: issue one
	ActionReplace       Action = "replace"          // lone unpaid original: void it and issue a replacement
	ActionVoid          Action = "void"             // lone unpaid original whose usage disappeared: void only
	ActionSupplementary Action = "supplementary"    // paid or corrected, net increase
	ActionCreditNote    Action = "credit_note"      // paid or corrected, net decrease
	ActionReportOnly    Action = "changed_net_zero" // paid, lines changed with a net change of 0: no document
)

// Correction is a rerun's decision for one account and period.
type Correction struct {
	Account  string
	Action   Action
	Original *Document // the period's original invoice (effective or the latest replacement), if any
	Old, New rating.Cents
	Diffs    []LineDiff
	Doc      *Document // the document to issue, if any (drafted; numbered at issue)
}

// PlanCorrection decides what a rerun does for one account (DESIGN §8, §11): docs are the account's
// documents of the period (void ones included), lines the fresh rating, payments the account's
// payments. Drafted documents apply credits from grants (recorded on them), as any invoice does.
func PlanCorrection(account string, p rating.Period, docs []Document, lines []rating.Line, grants []Grant,
	payments []Payment, at time.Time, terms Terms) Correction {
	c := Correction{Account: account, Action: ActionNone}
	var effective []Document
	for i := range docs {
		if docs[i].Effective() {
			effective = append(effective, docs[i])
		}
	}
	for i := range effective {
		if effective[i].Kind == KindInvoice {
			d := effective[i]
			c.Original = &d
		}
	}
	old := SumLines(effective)
	for _, t := range old {
		c.Old += t.Amount
	}
	c.New = rating.Sum(lines)
	c.Diffs = DiffLines(old, lines)
	if len(effective) == 0 {
		if len(lines) == 0 {
			return c
		}
		doc, _ := DraftInvoice(account, p, lines, grants, at, terms)
		c.Action, c.Doc = ActionIssue, &doc
		return c
	}
	if len(c.Diffs) == 0 {
		return c
	}
	var paid rating.Cents
	for i := range effective {
		paid += effective[i].PaidBy(payments, at)
	}
	lone := len(effective) == 1 && effective[0].Kind == KindInvoice
	if lone && paid == 0 {
		// Void and replace: the voided invoice's credits return before the replacement applies them.
		orig := effective[0]
		returned := map[string]rating.Cents{}
		for _, cons := range orig.Consumptions {
			returned[cons.GrantID] += cons.Amount
		}
		for i := range grants {
			grants[i].Consumed -= returned[grants[i].ID]
		}
		if len(lines) == 0 {
			c.Action = ActionVoid
			return c
		}
		doc, _ := DraftInvoice(account, p, lines, grants, at, terms)
		doc.Replaces = orig.Number
		c.Action, c.Doc = ActionReplace, &doc
		return c
	}
	net := c.New - c.Old
	if net == 0 {
		c.Action = ActionReportOnly
		return c
	}
	var delta []rating.Line
	for _, d := range c.Diffs {
		l := d.Line
		l.Quantity = d.NewQuantity.Sub(d.OldQuantity)
		l.Amount = d.Delta()
		l.Unrounded = l.Amount.Decimal()
		// A key that left the usage is shown by a line of the documents, which may be a correction's
		// own: it is prefixed once, not "correction: correction: …".
		l.Description = correctionPrefix + strings.TrimPrefix(d.Line.Description, correctionPrefix)
		delta = append(delta, l)
	}
	doc := Document{Account: account, Period: p, IssuedAt: at.UTC(), Lines: delta}
	if c.Original != nil {
		doc.Corrects = c.Original.Number
	}
	doc.total()
	if net > 0 {
		doc.Kind = KindSupplementary
		doc.Consumptions = ApplyCredits(grants, p, doc.Subtotal)
		for _, cons := range doc.Consumptions {
			doc.CreditsApplied += cons.Amount
		}
		doc.AmountDue = doc.Subtotal - doc.CreditsApplied
		due := doc.IssuedAt.Add(time.Duration(terms.PaymentTermsDays) * 24 * time.Hour)
		doc.DueAt = &due
		c.Action = ActionSupplementary
	} else {
		doc.Kind = KindCreditNote
		c.Action = ActionCreditNote
	}
	c.Doc = &doc
	return c
}
