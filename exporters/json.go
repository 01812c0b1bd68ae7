package exporters

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"billrun/internal/textcache"
	"billrun/invoices"
	"billrun/rating"
)

// The JSON schemas of DESIGN §9 and §11.
const (
	PeriodSchema   = "billrun.period/v1"
	StandingSchema = "billrun.standing/v1"
)

// The structs below fix the key order of the JSON documents; maps appear only where the keys are data
// (reject codes, meters), and encoding/json writes those sorted. The invoices array, by far the largest
// part of a period document, is written by appendDocumentJSON instead, which fixes its own key order.

type periodJSON struct {
	Schema   string          `json:"schema"`
	Period   string          `json:"period"`
	Currency string          `json:"currency"`
	Invoices json.RawMessage `json:"invoices"` // streamed: see JSONStream
	Standing []standingJSON  `json:"standing"`
	Counts   *countsJSON     `json:"counts,omitempty"` // drafts (billrun rate) only
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
	drafts bool
	bw     *bufio.Writer
	buf    []byte          // one encoded document, reused
	texts  textcache.Cache // the lines' texts as JSON strings
	marks  []docMark
}

// StartJSON writes the head of the period document, up to its invoices.
func StartJSON(w io.Writer, p rating.Period, currency string, drafts bool) (*JSONStream, error) {
	head, _, err := jsonFrame(&invoices.Report{Period: p, Currency: currency, Drafts: drafts})
	if err != nil {
		return nil, err
	}
	st := &JSONStream{drafts: drafts, bw: bufio.NewWriterSize(w, 256<<10)}
	st.bw.Write(head)
	return st, nil
}

// Add encodes the next documents. It returns no error of its own: a failed write surfaces in Finish.
func (st *JSONStream) Add(docs []invoices.DocView) error {
	for i := range docs {
		if len(st.marks) == 0 {
			st.bw.WriteString("[\n    ")
		} else {
			st.bw.WriteString(",\n    ")
		}
		st.buf = appendDocumentJSON(st.buf[:0], &docs[i], st.drafts, &st.texts)
		st.bw.Write(st.buf)
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

// appendDocumentJSON appends d as an element of a period document's invoices array, as DESIGN §9 shapes
// it: number null for drafts or when empty, status "draft" for drafts, replaces, corrects, due_at and
// voided_at null when absent, lines [] when there are none. The bytes are those encoding/json writes for
// the document with the indentation of the array's elements (prefix four spaces, indent two) and HTML
// left unescaped, without the newline Encode ends with; the tests hold the two to the same bytes. It
// writes by hand because encoding/json's reflection, indentation pass and per-field strings cost about
// 1 s of CPU for the 125 MB of a 300,000-line month, CPU a close needs for issuing; this takes about 0.12 s.
// The lines' texts are encoded through texts when it is not nil.
func appendDocumentJSON(dst []byte, d *invoices.DocView, drafts bool, texts *textcache.Cache) []byte {
	number, status := d.Number, string(d.Status)
	if drafts {
		number, status = "", string(invoices.StatusDraft)
	}
	dst = append(dst, "{\n      \"number\": "...)
	dst = appendOptJSONString(dst, number)
	dst = append(dst, ",\n      \"account\": "...)
	dst = appendJSONString(dst, d.Account)
	dst = append(dst, ",\n      \"kind\": "...)
	dst = appendJSONString(dst, string(d.Kind))
	dst = append(dst, ",\n      \"status\": "...)
	dst = appendJSONString(dst, status)
	dst = append(dst, ",\n      \"replaces\": "...)
	dst = appendOptJSONString(dst, d.Replaces)
	dst = append(dst, ",\n      \"corrects\": "...)
	dst = appendOptJSONString(dst, d.Corrects)
	dst = append(dst, ",\n      \"issued_at\": "...)
	dst = appendJSONTime(dst, d.IssuedAt)
	dst = append(dst, ",\n      \"due_at\": "...)
	dst = appendOptJSONTime(dst, d.DueAt)
	dst = append(dst, ",\n      \"voided_at\": "...)
	dst = appendOptJSONTime(dst, d.VoidedAt)
	dst = append(dst, ",\n      \"lines\": ["...)
	for i := range d.Lines {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendLineJSON(dst, &d.Lines[i], texts)
	}
	if len(d.Lines) > 0 {
		dst = append(dst, "\n      "...)
	}
	dst = append(dst, "],\n      \"subtotal\": "...)
	dst = appendJSONCents(dst, d.Subtotal)
	dst = append(dst, ",\n      \"discount\": "...)
	dst = appendJSONCents(dst, d.Discount)
	dst = append(dst, ",\n      \"credits_applied\": "...)
	dst = appendJSONCents(dst, d.CreditsApplied)
	dst = append(dst, ",\n      \"amount_due\": "...)
	dst = appendJSONCents(dst, d.AmountDue)
	dst = append(dst, ",\n      \"amount_paid\": "...)
	dst = appendJSONCents(dst, d.AmountPaid)
	return append(dst, "\n    }"...)
}

// appendLineJSON appends l as an element of a document's lines, starting on a new line. A GPU line
// names its deployment, a fine-tuning line its base model, a serverless line its base model only when
// the model is fine-tuned; a discount line has null quantity, unit and unit price.
func appendLineJSON(dst []byte, l *rating.Line, texts *textcache.Cache) []byte {
	dst = append(dst, "\n        {\n          \"kind\": "...)
	dst = texts.Append(dst, string(l.Kind), appendJSONString)
	dst = append(dst, ",\n          \"product\": "...)
	dst = texts.Append(dst, l.Product, appendJSONString)
	switch {
	case l.Kind == rating.KindGPU:
		dst = append(dst, ",\n          \"deployment\": "...)
		dst = texts.Append(dst, l.Deployment, appendJSONString)
	case l.Kind == rating.KindFineTuning, l.Kind == rating.KindServerless && l.BaseModel != "":
		dst = append(dst, ",\n          \"base_model\": "...)
		dst = texts.Append(dst, l.BaseModel, appendJSONString)
	}
	dst = append(dst, ",\n          \"meter\": "...)
	dst = texts.Append(dst, string(l.Meter), appendJSONString)
	dst = append(dst, ",\n          \"description\": "...)
	dst = texts.Append(dst, l.Description, appendJSONString)
	if l.Kind == rating.KindDiscount {
		dst = append(dst, ",\n          \"quantity\": null,\n          \"unit\": null,\n          \"unit_price\": null"...)
	} else {
		dst = append(dst, ",\n          \"quantity\": "...)
		dst = appendJSONQuantity(dst, l.Quantity)
		dst = append(dst, ",\n          \"unit\": "...)
		dst = texts.Append(dst, l.Unit, appendJSONString)
		dst = append(dst, ",\n          \"unit_price\": "...)
		dst = appendJSONPrice(dst, l.UnitPrice)
	}
	dst = append(dst, ",\n          \"amount\": "...)
	dst = appendJSONCents(dst, l.Amount)
	return append(dst, "\n        }"...)
}

// appendJSONString appends s as a JSON string exactly as encoding/json writes it with HTML escaping off
// (appendString in encoding/json/encode.go): quote, backslash and control characters escaped — \b, \f,
// \n, \r and \t by name, the rest as \u00XX — U+2028 and U+2029 escaped for JavaScript, each byte of
// invalid UTF-8 replaced by \ufffd, everything else as it is.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= ' ' && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			start = i + size
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xF])
			start = i + size
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendOptJSONString appends s as a JSON string, or null when it is empty.
func appendOptJSONString(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, s)
}

// appendJSONTime appends t as formatTime formats it, quoted. The format writes only digits and
// "-:.TZ", none of which JSON escapes.
func appendJSONTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendOptJSONTime appends t as appendJSONTime does, or null when it is nil.
func appendOptJSONTime(dst []byte, t *time.Time) []byte {
	if t == nil {
		return append(dst, "null"...)
	}
	return appendJSONTime(dst, *t)
}

// appendJSONCents appends c quoted, as Cents.String writes it ("-2.07"), without the allocations of
// formatting it to a string first.
func appendJSONCents(dst []byte, c rating.Cents) []byte {
	dst = append(dst, '"')
	u := uint64(c)
	if c < 0 {
		dst = append(dst, '-')
		u = -u // also right for the most negative value, whose magnitude only uint64 holds
	}
	dst = strconv.AppendUint(dst, u/100, 10)
	frac := u % 100
	return append(dst, '.', byte('0'+frac/10), byte('0'+frac%10), '"')
}

// appendJSONQuantity appends q quoted, as rating.FormatQuantity writes it ("1200000", "3600.5"): a
// number's text needs no escaping.
func appendJSONQuantity(dst []byte, q decimal.Decimal) []byte {
	return append(rating.AppendQuantity(append(dst, '"'), q), '"')
}

// appendJSONPrice appends p quoted, as rating.FormatPrice writes it ("0.20", "0.025", "8.00").
func appendJSONPrice(dst []byte, p decimal.Decimal) []byte {
	return append(rating.AppendPrice(append(dst, '"'), p), '"')
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
