package exporters

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"billrun/invoices"
	"billrun/rating"
)

// RejectsCSVHeader is the header row of rejects.csv (DESIGN §11).
var RejectsCSVHeader = []string{"object", "line", "event_id", "code", "message"}

// InvoicesCSVHeader is the header row of the invoice-lines CSV that `billrun export --format csv` prints.
var InvoicesCSVHeader = []string{
	"number", "account", "kind", "status", "issued_at", "due_at",
	"line_kind", "product", "deployment", "meter", "quantity", "unit", "unit_price", "amount",
	"subtotal", "credits_applied", "amount_due", "amount_paid",
	// Added after the columns above, so that a reader of the first eighteen by position is not moved.
	"discount", "replaces", "corrects", "voided_at", "base_model", "description",
}

// WriteRejectsCSV writes rejects as rejects.csv: the header RejectsCSVHeader, then one row per reject in
// the given order. Every text cell that begins with = + - @, a tab or a carriage return is prefixed with
// a single quote, so a spreadsheet never runs raw usage content as a formula. It returns an error when
// writing to w fails.
func WriteRejectsCSV(w io.Writer, rejects []rating.Reject) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(RejectsCSVHeader); err != nil {
		return fmt.Errorf("export rejects csv: %w", err)
	}
	for _, rj := range rejects {
		row := []string{
			escapeText(rj.Object),
			strconv.FormatInt(rj.Line, 10),
			escapeText(rj.EventID),
			escapeText(string(rj.Code)),
			escapeText(rj.Message),
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("export rejects csv: %s line %d: %w", rj.Object, rj.Line, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export rejects csv: %w", err)
	}
	return nil
}

// WriteInvoicesCSV writes one row per line of every document of r (columns InvoicesCSVHeader), documents
// in the order of r, void ones included with status "void"; a document without lines still gets one row.
// Times are RFC 3339 UTC; amounts are decimal strings with two places; every cell gets the
// formula-injection escape of WriteRejectsCSV, negative numbers included ('-13.00). With
// r.Drafts set, numbers are empty and statuses "draft". It returns an error when writing to w fails.
func WriteInvoicesCSV(w io.Writer, r *invoices.Report) error {
	st, err := StartInvoicesCSV(w, r.Drafts)
	if err != nil {
		return err
	}
	if err := st.Add(r.Docs); err != nil {
		return err
	}
	return st.Finish(r)
}

// InvoicesCSVStream writes the invoice-lines CSV of WriteInvoicesCSV a batch of documents at a time
// (Add), so that an export never holds a period's lines at once; Finish checks that the report's
// documents are those added and flushes.
type InvoicesCSVStream struct {
	cw     *csv.Writer
	drafts bool
	marks  []docMark
}

// StartInvoicesCSV writes the header row.
func StartInvoicesCSV(w io.Writer, drafts bool) (*InvoicesCSVStream, error) {
	st := &InvoicesCSVStream{cw: csv.NewWriter(w), drafts: drafts}
	if err := st.cw.Write(InvoicesCSVHeader); err != nil {
		return nil, fmt.Errorf("export invoices csv: %w", err)
	}
	return st, nil
}

// Add writes the rows of the next documents.
func (st *InvoicesCSVStream) Add(docs []invoices.DocView) error {
	for i := range docs {
		d := &docs[i]
		number, status := d.Number, string(d.Status)
		if st.drafts {
			number, status = "", string(invoices.StatusDraft)
		}
		dueAt := ""
		if d.DueAt != nil {
			dueAt = formatTime(*d.DueAt)
		}
		head := []string{
			escapeText(number), escapeText(d.Account), string(d.Kind), status,
			formatTime(d.IssuedAt), dueAt,
		}
		tail := []string{
			escapeText(d.Subtotal.String()), escapeText(d.CreditsApplied.String()), escapeText(d.AmountDue.String()),
			escapeText(d.AmountPaid.String()),
		}
		voidedAt := ""
		if d.VoidedAt != nil {
			voidedAt = formatTime(*d.VoidedAt)
		}
		docMore := []string{escapeText(d.Discount.String()), escapeText(d.Replaces), escapeText(d.Corrects), voidedAt}
		lines := d.Lines
		if len(lines) == 0 {
			lines = []rating.Line{{}} // one row, so the document is never missing from the file
		}
		for _, l := range lines {
			var quantity, unit, price, amount string
			if l.Kind != rating.KindDiscount && l.Kind != "" {
				quantity, unit, price = rating.FormatQuantity(l.Quantity), l.Unit, rating.FormatPrice(l.UnitPrice)
			}
			if l.Kind != "" {
				amount = l.Amount.String()
			}
			row := make([]string, 0, len(InvoicesCSVHeader))
			row = append(row, head...)
			row = append(row,
				escapeText(string(l.Kind)), escapeText(l.Product), escapeText(l.Deployment), escapeText(string(l.Meter)),
				escapeText(quantity), escapeText(unit), escapeText(price), escapeText(amount),
			)
			row = append(row, tail...)
			row = append(row, docMore...)
			row = append(row, escapeText(l.BaseModel), escapeText(l.Description))
			if err := st.cw.Write(row); err != nil {
				return fmt.Errorf("export invoices csv: document %s of %s: %w", number, d.Account, err)
			}
		}
		st.marks = append(st.marks, markOf(d))
	}
	return nil
}

// Finish checks that r's documents are those added (ErrReportChanged otherwise) and flushes the rows.
func (st *InvoicesCSVStream) Finish(r *invoices.Report) error {
	if err := checkMarks(st.marks, r.Docs); err != nil {
		return fmt.Errorf("export invoices csv: period %s: %w", r.Period, err)
	}
	st.cw.Flush()
	if err := st.cw.Error(); err != nil {
		return fmt.Errorf("export invoices csv: %w", err)
	}
	return nil
}

// Close releases nothing: the rows are in w once Finish returned.
func (st *InvoicesCSVStream) Close() {}
