package exporters

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"billrun/invoices"
	"billrun/rating"
)

// The JSON schemas of DESIGN §9 and §11.
const (
	PeriodSchema   = "billrun.period/v1"
	StandingSchema = "billrun.standing/v1"
)

// The structs below fix the key order of the JSON documents; maps appear only where the keys are data
// (reject codes, meters), and encoding/json writes those sorted.

type periodJSON struct {
	Schema   string          `json:"schema"`
	Period   string          `json:"period"`
	Currency string          `json:"currency"`
	Invoices json.RawMessage `json:"invoices"` // streamed: see WriteJSON
	Standing []standingJSON  `json:"standing"`
	Counts   *countsJSON     `json:"counts,omitempty"` // drafts (billrun rate) only
}

type documentJSON struct {
	Number         *string    `json:"number"`
	Account        string     `json:"account"`
	Kind           string     `json:"kind"`
	Status         string     `json:"status"`
	Replaces       *string    `json:"replaces"`
	Corrects       *string    `json:"corrects"`
	IssuedAt       string     `json:"issued_at"`
	DueAt          *string    `json:"due_at"`
	VoidedAt       *string    `json:"voided_at"`
	Lines          []lineJSON `json:"lines"`
	Subtotal       string     `json:"subtotal"`
	Discount       string     `json:"discount"`
	CreditsApplied string     `json:"credits_applied"`
	AmountDue      string     `json:"amount_due"`
	AmountPaid     string     `json:"amount_paid"`
}

type lineJSON struct {
	Kind        string  `json:"kind"`
	Product     string  `json:"product"`
	BaseModel   *string `json:"base_model,omitempty"`
	Deployment  *string `json:"deployment,omitempty"`
	Meter       string  `json:"meter"`
	Description string  `json:"description"`
	Quantity    *string `json:"quantity"`
	Unit        *string `json:"unit"`
	UnitPrice   *string `json:"unit_price"`
	Amount      string  `json:"amount"`
}

type standingJSON struct {
	Account       string   `json:"account"`
	Status        string   `json:"status"`
	Reasons       []string `json:"reasons"`
	Tier          int      `json:"tier"`
	SpendLimit    string   `json:"spend_limit"`
	UsageLimit    string   `json:"usage_limit"`
	MonthUsage    string   `json:"month_usage"`
	CreditBalance string   `json:"credit_balance"`
	EvaluatedAt   string   `json:"evaluated_at"`
}

type standingDocJSON struct {
	Schema   string         `json:"schema"`
	Standing []standingJSON `json:"standing"`
}

type countsJSON struct {
	Objects       int64             `json:"objects"`
	Bytes         int64             `json:"bytes"`
	Lines         int64             `json:"lines"`
	EventsTaken   int64             `json:"events_taken"`
	Accepted      int64             `json:"accepted"`
	Duplicates    int64             `json:"duplicates"`
	Rejected      int64             `json:"rejected"`
	RejectsByCode map[string]int64  `json:"rejects_by_code"`
	Meters        map[string]string `json:"meters"`
}

// WriteJSON writes r as a billrun.period/v1 document (DESIGN §9): indented with two spaces, ending in a
// newline, keys in a fixed order, documents and standing rows in the order of r. Amounts are decimal
// strings with two places; absent numbers, references and times are null; empty lists are [].
//
// When r.Drafts is set (billrun rate), every document is written with number null and status "draft",
// and a "counts" object from r.Run.Counts (zero when r.Run is nil) follows the standing rows.
// It returns an error only when writing to w fails.
func WriteJSON(w io.Writer, r *invoices.Report) error {
	st, err := StartJSON(w, r.Period, r.Currency, r.Drafts)
	if err != nil {
		return err
	}
	if err := st.Add(r.Docs); err != nil {
		return err
	}
	return st.Finish(r)
}

// JSONStream writes a billrun.period/v1 document while a close issues its documents: the invoices
// are encoded as they are added, one at a time (a period of hundreds of thousands of lines is never
// held as one encoded value), and Finish writes the standing rows that follow them. The bytes are
// those of encoding the final report whole, as WriteJSON does.
type JSONStream struct {
	period rating.Period
	drafts bool
	bw     *bufio.Writer
	enc    *json.Encoder
	buf    bytes.Buffer
	marks  []docMark
}

// StartJSON writes the head of the period document, up to its invoices.
func StartJSON(w io.Writer, p rating.Period, currency string, drafts bool) (*JSONStream, error) {
	head, _, err := jsonFrame(&invoices.Report{Period: p, Currency: currency, Drafts: drafts})
	if err != nil {
		return nil, err
	}
	st := &JSONStream{period: p, drafts: drafts, bw: bufio.NewWriterSize(w, 256<<10)}
	st.enc = json.NewEncoder(&st.buf)
	st.enc.SetIndent("    ", "  ") // the array's elements sit two levels deep
	st.enc.SetEscapeHTML(false)
	st.bw.Write(head)
	return st, nil
}

// Add encodes the next documents.
func (st *JSONStream) Add(docs []invoices.DocView) error {
	for i := range docs {
		if len(st.marks) == 0 {
			st.bw.WriteString("[\n    ")
		} else {
			st.bw.WriteString(",\n    ")
		}
		st.buf.Reset()
		if err := st.enc.Encode(documentToJSON(&docs[i], st.drafts)); err != nil {
			return fmt.Errorf("export json: period %s: %s: %w", st.period, docs[i].Number, err)
		}
		st.bw.Write(bytes.TrimSuffix(st.buf.Bytes(), []byte("\n")))
		st.marks = append(st.marks, markOf(&docs[i]))
	}
	return nil
}

// Finish checks that r's documents are those added (ErrReportChanged otherwise), writes the rest of
// the document from r and flushes it.
func (st *JSONStream) Finish(r *invoices.Report) error {
	if err := checkMarks(st.marks, r.Docs); err != nil {
		return fmt.Errorf("export json: period %s: %w", r.Period, err)
	}
	_, tail, err := jsonFrame(r)
	if err != nil {
		return err
	}
	if len(st.marks) == 0 {
		st.bw.WriteString("[]")
	} else {
		st.bw.WriteString("\n  ]")
	}
	st.bw.Write(tail)
	if err := st.bw.Flush(); err != nil {
		return fmt.Errorf("export json: period %s: %w", r.Period, err)
	}
	return nil
}

// Close does nothing: a JSONStream holds nothing beyond memory. It is there so that both streams
// can be handled alike.
func (st *JSONStream) Close() {}

// jsonFrame encodes r's period document with a placeholder for its invoices and returns what comes
// before and after it.
func jsonFrame(r *invoices.Report) (head, tail []byte, err error) {
	doc := periodJSON{
		Schema:   PeriodSchema,
		Period:   r.Period.String(),
		Currency: r.Currency,
		Invoices: json.RawMessage(invoicesPlaceholder),
		Standing: standingRowsJSON(r.Standing),
	}
	if r.Drafts {
		var c rating.Counts
		if r.Run != nil {
			c = r.Run.Counts
		}
		doc.Counts = countsToJSON(c)
	}
	var frame bytes.Buffer
	if err := encodeJSON(&frame, doc); err != nil {
		return nil, nil, fmt.Errorf("export json: period %s: %w", r.Period, err)
	}
	head, tail, ok := bytes.Cut(frame.Bytes(), []byte(invoicesPlaceholder))
	if !ok {
		return nil, nil, fmt.Errorf("export json: period %s: invoices placeholder missing", r.Period)
	}
	return head, tail, nil
}

// invoicesPlaceholder stands for the invoices array in the encoded frame of a period document.
const invoicesPlaceholder = `"\u0000invoices\u0000"`

// WriteStandingJSON writes rows as a billrun.standing/v1 document (DESIGN §11), each row shaped as in
// the period export, in the given order. It returns an error only when writing to w fails.
func WriteStandingJSON(w io.Writer, rows []invoices.Standing) error {
	doc := standingDocJSON{Schema: StandingSchema, Standing: standingRowsJSON(rows)}
	if err := encodeJSON(w, doc); err != nil {
		return fmt.Errorf("export standing json: %w", err)
	}
	return nil
}

func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // descriptions and messages stay readable; this is not embedded in HTML
	return enc.Encode(v)     // Encode ends the document with a newline
}

func documentToJSON(d *invoices.DocView, drafts bool) documentJSON {
	status := string(d.Status)
	number := optString(d.Number)
	if drafts {
		status, number = string(invoices.StatusDraft), nil
	}
	out := documentJSON{
		Number:         number,
		Account:        d.Account,
		Kind:           string(d.Kind),
		Status:         status,
		Replaces:       optString(d.Replaces),
		Corrects:       optString(d.Corrects),
		IssuedAt:       formatTime(d.IssuedAt),
		DueAt:          optTime(d.DueAt),
		VoidedAt:       optTime(d.VoidedAt),
		Lines:          make([]lineJSON, 0, len(d.Lines)),
		Subtotal:       d.Subtotal.String(),
		Discount:       d.Discount.String(),
		CreditsApplied: d.CreditsApplied.String(),
		AmountDue:      d.AmountDue.String(),
		AmountPaid:     d.AmountPaid.String(),
	}
	for _, l := range d.Lines {
		out.Lines = append(out.Lines, lineToJSON(l))
	}
	return out
}

func lineToJSON(l rating.Line) lineJSON {
	out := lineJSON{
		Kind:        string(l.Kind),
		Product:     l.Product,
		Meter:       string(l.Meter),
		Description: l.Description,
		Amount:      l.Amount.String(),
	}
	switch l.Kind {
	case rating.KindGPU:
		out.Deployment = &l.Deployment
	case rating.KindFineTuning:
		out.BaseModel = &l.BaseModel
	case rating.KindServerless:
		out.BaseModel = optString(l.BaseModel) // only lines of a fine-tuned model name their base
	}
	if l.Kind != rating.KindDiscount { // the discount line has no quantity, unit or unit price
		q, u, p := rating.FormatQuantity(l.Quantity), l.Unit, rating.FormatPrice(l.UnitPrice)
		out.Quantity, out.Unit, out.UnitPrice = &q, &u, &p
	}
	return out
}

func standingRowsJSON(rows []invoices.Standing) []standingJSON {
	out := make([]standingJSON, 0, len(rows))
	for _, s := range rows {
		reasons := make([]string, 0, len(s.Reasons))
		for _, r := range s.Reasons {
			reasons = append(reasons, string(r))
		}
		out = append(out, standingJSON{
			Account:       s.Account,
			Status:        string(s.Status),
			Reasons:       reasons,
			Tier:          s.Tier,
			SpendLimit:    s.SpendLimit.String(),
			UsageLimit:    s.UsageLimit.String(),
			MonthUsage:    s.MonthUsage.String(),
			CreditBalance: s.CreditBalance.String(),
			EvaluatedAt:   formatTime(s.EvaluatedAt),
		})
	}
	return out
}

func countsToJSON(c rating.Counts) *countsJSON {
	out := &countsJSON{
		Objects:       c.Objects,
		Bytes:         c.Bytes,
		Lines:         c.Lines,
		EventsTaken:   c.EventsTaken,
		Accepted:      c.Accepted,
		Duplicates:    c.Duplicates,
		Rejected:      c.Rejected,
		RejectsByCode: make(map[string]int64, len(c.RejectsByCode)),
		Meters:        make(map[string]string, len(c.Meters)),
	}
	for code, n := range c.RejectsByCode {
		out.RejectsByCode[string(code)] = n
	}
	for m, q := range c.Meters {
		out.Meters[string(m)] = rating.FormatQuantity(q)
	}
	return out
}

// formatTime formats t in UTC as RFC 3339, with fractional seconds only when t has them.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optTime(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
