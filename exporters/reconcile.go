package exporters

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"

	"billrun/invoices"
	"billrun/rating"
)

// ReconcileSchema is the schema name of the reconciliation JSON.
const ReconcileSchema = "billrun.reconcile/v1"

// SheetReconciliation is the sheet of the reconciliation workbook.
const SheetReconciliation = "Reconciliation"

type reconcileJSON struct {
	Schema   string              `json:"schema"`
	Period   string              `json:"period"`
	At       string              `json:"at"`
	Run      *string             `json:"compared_run"`
	Clean    bool                `json:"clean"`
	Objects  []objectDriftJSON   `json:"objects"`
	Usage    []usageDriftJSON    `json:"usage"`
	Ledger   []ledgerProblemJSON `json:"ledger"`
	Open     []paymentJSON       `json:"open"`
	Overdue  []paymentJSON       `json:"overdue"`
	Overpaid []paymentJSON       `json:"overpaid"`
	Rejects  rejectDriftJSON     `json:"rejects"`
}

// rejectDriftJSON is invoices.RejectDrift: counts, the new rejects by code, and the first of them.
type rejectDriftJSON struct {
	Total  int            `json:"total"`
	New    int            `json:"new"`
	Gone   int            `json:"gone"`
	ByCode map[string]int `json:"new_by_code"`
	Sample []rejectJSON   `json:"new_sample"`
}

type rejectJSON struct {
	Object  string `json:"object"`
	Line    int64  `json:"line"`
	EventID string `json:"event_id"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type objectDriftJSON struct {
	Key     string  `json:"key"`
	Change  string  `json:"change"`
	OldSize *int64  `json:"old_size"`
	NewSize *int64  `json:"new_size"`
	OldETag *string `json:"old_etag"`
	NewETag *string `json:"new_etag"`
}

type usageDriftJSON struct {
	Account     string `json:"account"`
	Kind        string `json:"kind"`
	Product     string `json:"product"`
	Deployment  string `json:"deployment,omitempty"`
	Meter       string `json:"meter"`
	UnitPrice   string `json:"unit_price,omitempty"`
	Invoiced    string `json:"invoiced_quantity"`
	Rated       string `json:"rated_quantity"`
	InvoicedAmt string `json:"invoiced_amount"`
	RatedAmt    string `json:"rated_amount"`
	Delta       string `json:"delta"`
}

type ledgerProblemJSON struct {
	Check   string `json:"check"`
	Subject string `json:"subject"`
	Message string `json:"message"`
}

type paymentJSON struct {
	Number     string  `json:"number"`
	Account    string  `json:"account"`
	AmountDue  string  `json:"amount_due"`
	AmountPaid string  `json:"amount_paid"`
	DueAt      *string `json:"due_at"`
}

// WriteReconciliationJSON writes rec as billrun.reconcile/v1: every difference found, the ledger
// problems, and the open, overdue and overpaid documents; arrays are never null.
func WriteReconciliationJSON(w io.Writer, rec *invoices.Reconciliation) error {
	out := reconcileJSON{Schema: ReconcileSchema, Period: rec.Period.String(), At: formatTime(rec.At),
		Run: optString(rec.RunID), Clean: rec.Clean(), Objects: []objectDriftJSON{}, Usage: []usageDriftJSON{},
		Ledger: []ledgerProblemJSON{}, Open: paymentsJSON(rec.Open), Overdue: paymentsJSON(rec.Overdue),
		Overpaid: paymentsJSON(rec.Overpaid)}
	for _, o := range rec.Objects {
		j := objectDriftJSON{Key: o.Key, Change: o.Change}
		if o.Old != nil {
			j.OldSize, j.OldETag = ptr(o.Old.Size), ptr(o.Old.ETag)
		}
		if o.New != nil {
			j.NewSize, j.NewETag = ptr(o.New.Size), ptr(o.New.ETag)
		}
		out.Objects = append(out.Objects, j)
	}
	for _, u := range rec.Usage {
		out.Usage = append(out.Usage, usageDriftJSON{Account: u.Account, Kind: string(u.Line.Kind), Product: u.Line.Product,
			Deployment: u.Line.Deployment, Meter: string(u.Line.Meter), UnitPrice: unitPriceString(u.Line),
			Invoiced: rating.FormatQuantity(u.OldQuantity), Rated: rating.FormatQuantity(u.NewQuantity),
			InvoicedAmt: u.OldAmount.String(), RatedAmt: u.NewAmount.String(), Delta: u.Delta().String()})
	}
	for _, l := range rec.Ledger {
		out.Ledger = append(out.Ledger, ledgerProblemJSON{Check: l.Check, Subject: l.Subject, Message: l.Message})
	}
	rj := rec.Rejects
	out.Rejects = rejectDriftJSON{Total: rj.Total, New: rj.New, Gone: rj.Gone, ByCode: map[string]int{}, Sample: []rejectJSON{}}
	for code, n := range rj.ByCode {
		out.Rejects.ByCode[string(code)] = n
	}
	for _, r := range rj.Sample {
		out.Rejects.Sample = append(out.Rejects.Sample, rejectJSON{Object: r.Object, Line: r.Line, EventID: r.EventID,
			Code: string(r.Code), Message: r.Message})
	}
	return encodeJSON(w, out)
}

func unitPriceString(l rating.Line) string {
	if l.Kind == rating.KindDiscount {
		return ""
	}
	return rating.FormatPrice(l.UnitPrice)
}

func paymentsJSON(ps []invoices.PaymentState) []paymentJSON {
	out := []paymentJSON{}
	for _, p := range ps {
		out = append(out, paymentJSON{Number: p.Number, Account: p.Account, AmountDue: p.AmountDue.String(),
			AmountPaid: p.AmountPaid.String(), DueAt: optTime(p.DueAt)})
	}
	return out
}

// WriteReconciliationXLSX writes rec as a workbook with one sheet, Reconciliation: one row per finding
// (section, subject, detail, invoiced, rated, delta), money as currency cells.
func WriteReconciliationXLSX(w io.Writer, rec *invoices.Reconciliation, currency string) error {
	f := excelize.NewFile()
	defer f.Close()
	x, err := newXLSXWriter(f, &invoices.Report{Period: rec.Period, Currency: currency}, []string{SheetReconciliation})
	if err != nil {
		return fmt.Errorf("export reconciliation xlsx: %w", err)
	}
	rows := len(rec.Objects) + len(rec.Usage) + len(rec.Ledger) + len(rec.Open) + len(rec.Overdue) + len(rec.Overpaid) +
		len(rec.Rejects.Sample)
	if rows == 0 {
		rows = 1
	}
	s, err := x.open(SheetReconciliation, []int{12, 18, 44, 60, 16, 16, 14},
		[]string{"Section", "Account", "Subject", "Detail", "Invoiced", "Rated", "Delta"}, rows, extent{})
	if err != nil {
		return fmt.Errorf("export reconciliation xlsx: %w", err)
	}
	add := func(values ...any) {
		if err == nil {
			err = s.add(values...)
		}
	}
	for _, o := range rec.Objects {
		detail := o.Change
		if o.Old != nil && o.New != nil {
			detail = fmt.Sprintf("changed: size %d → %d, etag %s → %s", o.Old.Size, o.New.Size, o.Old.ETag, o.New.ETag)
		}
		add("object", nil, o.Key, detail)
	}
	for _, u := range rec.Usage {
		add("usage", u.Account, fmt.Sprintf("%s %s %s", u.Line.Kind, u.Line.Product, u.Line.Meter),
			fmt.Sprintf("quantity %s → %s", rating.FormatQuantity(u.OldQuantity), rating.FormatQuantity(u.NewQuantity)),
			x.money(u.OldAmount), x.money(u.NewAmount), x.money(u.Delta()))
	}
	for _, l := range rec.Ledger {
		add("ledger", nil, l.Subject, l.Check+": "+l.Message)
	}
	for _, group := range []struct {
		name string
		ps   []invoices.PaymentState
	}{{"open", rec.Open}, {"overdue", rec.Overdue}, {"overpaid", rec.Overpaid}} {
		for _, p := range group.ps {
			add(group.name, p.Account, p.Number, "amount due vs paid", x.money(p.AmountDue), x.money(p.AmountPaid),
				x.money(p.AmountPaid-p.AmountDue))
		}
	}
	for _, r := range rec.Rejects.Sample {
		add("reject", nil, fmt.Sprintf("%s line %d", r.Object, r.Line), string(r.Code)+": "+r.Message)
	}
	if rows == 1 && rec.Clean() && len(rec.Open)+len(rec.Overdue)+len(rec.Overpaid)+len(rec.Rejects.Sample) == 0 {
		add("clean", nil, "no differences", nil)
	}
	if err != nil {
		return fmt.Errorf("export reconciliation xlsx: %w", err)
	}
	if err := s.flush(); err != nil {
		return fmt.Errorf("export reconciliation xlsx: %w", err)
	}
	if err := writeWorkbook(f, w, nil); err != nil {
		return fmt.Errorf("export reconciliation xlsx: write: %w", err)
	}
	return nil
}
