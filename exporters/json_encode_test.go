package exporters

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"billrun/internal/textcache"
	"billrun/invoices"
	"billrun/rating"
)

// The encoding/json model of a period document's invoices, as JSONStream encoded them before
// appendDocumentJSON: the reference the hand-written encoder is held to, byte for byte.

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

// encodeDocumentJSON is what appendDocumentJSON must append: d encoded by encoding/json as an element
// of the invoices array, without the newline Encode ends with.
func encodeDocumentJSON(t testing.TB, d *invoices.DocView, drafts bool) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("    ", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(documentToJSON(d, drafts)); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// checkDocumentJSON fails t unless appendDocumentJSON writes d as encoding/json does, whether or not
// dst already holds bytes, and whether the lines' texts are encoded or come from a cache.
func checkDocumentJSON(t testing.TB, d *invoices.DocView, drafts bool) {
	t.Helper()
	want := encodeDocumentJSON(t, d, drafts)
	if got := appendDocumentJSON(nil, d, drafts, nil); !bytes.Equal(got, want) {
		t.Fatalf("appendDocumentJSON(%q, drafts %t) differs from encoding/json: %s", d.Number, drafts, firstDiff(got, want))
	}
	prefix := []byte("[\n    ")
	var texts textcache.Cache
	for _, cached := range []string{"filled", "read"} {
		got := appendDocumentJSON(bytes.Clone(prefix), d, drafts, &texts)
		if !bytes.HasPrefix(got, prefix) || !bytes.Equal(got[len(prefix):], want) {
			t.Fatalf("appendDocumentJSON(%q, drafts %t) after other bytes, cache %s = %q, want %q", d.Number, drafts,
				cached, got, append(prefix, want...))
		}
	}
}

// nastyStrings are strings encoding/json escapes, or could be expected to and does not.
var nastyStrings = []string{
	"",
	`quote " and backslash \ and slash /`,
	"controls \x00\x01\x07\b\t\n\v\f\r\x0e\x1b\x1f and DEL \x7f",
	"<script>alert('&amp;')</script>",
	"line\u2028separator\u2029paragraph",
	"non-ASCII: café, Grüße, 東京, 🙂, \u00a0, \ufeff, \ufffd",
	"invalid UTF-8: \xff \xfe\xfd \xc3 \xe2\x80 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf end\xe2",
	"\xe2\x80\xa8\xe2\x80\xa9\xe2\x80", // U+2028, U+2029, then a truncated third
	strings.Repeat("a\"", 40),
}

// unusualDocs are documents beyond the sample reports: every optional field absent, every one set,
// lines of every kind with their optional fields empty and set, and nasty strings everywhere.
func unusualDocs() []invoices.DocView {
	at := ts("2026-11-01T02:00:00.123456789Z")
	local := time.Date(2026, 11, 1, 3, 0, 0, 500, time.FixedZone("CET", 3600))
	var docs []invoices.DocView
	// Everything optional absent, lines nil and empty.
	docs = append(docs,
		invoices.DocView{Document: invoices.Document{Account: "acct_1", Kind: invoices.KindInvoice}},
		invoices.DocView{Document: invoices.Document{Account: "acct_1", Kind: invoices.KindInvoice,
			Lines: []rating.Line{}}, Status: invoices.StatusOpen})
	// Everything set, times in another zone and with nanoseconds, extreme amounts.
	docs = append(docs, invoices.DocView{
		Document: invoices.Document{Number: "INV-1", Account: "acct_2", Kind: invoices.KindSupplementary,
			Replaces: "INV-0", Corrects: "INV-00", IssuedAt: local, DueAt: &at, VoidedAt: &local,
			Lines: []rating.Line{
				{Kind: rating.KindDiscount, Product: "on_demand", Meter: rating.MeterDiscount,
					Description: "discount", Amount: math.MinInt64},
				{Kind: rating.KindGPU, Product: "H100", Meter: rating.MeterGPUSeconds, Quantity: dec("0.000001"),
					UnitPrice: dec("0.0001"), Amount: math.MaxInt64}, // deployment empty
				{Kind: rating.KindFineTuning, Product: "ftjob", Quantity: dec("-12345678901234567890.5"),
					UnitPrice: dec("1e3"), Amount: -1}, // base model empty
				{Kind: rating.KindServerless, Product: "m", BaseModel: "b", Quantity: dec("0"),
					UnitPrice: decimal.Decimal{}, Amount: -99},
				{Kind: "unknown", Product: "p", BaseModel: "b", Deployment: "d", Amount: 5},
			},
			Subtotal: math.MinInt64, Discount: -100, CreditsApplied: 100, AmountDue: math.MaxInt64},
		AmountPaid: 7, Status: invoices.StatusVoid,
	})
	// Times the RFC 3339 layout writes unusually: year 0, negative years, years past 9999.
	for _, t := range []time.Time{{}, time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Unix(math.MaxInt32*4, 1)} {
		docs = append(docs, invoices.DocView{Document: invoices.Document{Number: "T", IssuedAt: t, DueAt: &t,
			VoidedAt: &t}})
	}
	// Nasty strings in every string field.
	for i, s := range nastyStrings {
		docs = append(docs, invoices.DocView{
			Document: invoices.Document{Number: s, Account: s, Kind: invoices.DocKind(s), Replaces: s, Corrects: s,
				IssuedAt: at, Lines: []rating.Line{
					{Kind: rating.KindGPU, Product: s, Deployment: s, Meter: rating.Meter(s), Description: s, Unit: s,
						Amount: rating.Cents(i)},
					{Kind: rating.KindFineTuning, Product: s, BaseModel: s, Meter: rating.Meter(s), Description: s,
						Unit: s},
					{Kind: rating.KindServerless, Product: s, BaseModel: s, Meter: rating.Meter(s), Description: s,
						Unit: s},
					{Kind: rating.KindDiscount, Product: s, Meter: rating.Meter(s), Description: s},
					{Kind: rating.Kind(s), Product: s, BaseModel: s, Deployment: s, Description: s, Unit: s},
				}},
			Status: invoices.Status(s),
		})
	}
	return docs
}

func TestAppendDocumentJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		docs []invoices.DocView
	}{
		{"sample", sampleReport().Docs},
		{"empty", emptyReport().Docs},
		{"big", bigReport(40, 7).Docs},
		{"unusual", unusualDocs()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.docs {
				checkDocumentJSON(t, &tc.docs[i], false)
				checkDocumentJSON(t, &tc.docs[i], true)
			}
		})
	}
}

// TestAppendDocumentJSONAllocs checks that encoding a document into a buffer already large enough
// allocates nothing: a close encodes hundreds of thousands of lines, and each allocation adds up.
func TestAppendDocumentJSONAllocs(t *testing.T) {
	for _, d := range sampleReport().Docs {
		var texts textcache.Cache
		buf := appendDocumentJSON(nil, &d, false, &texts)
		if n := testing.AllocsPerRun(100, func() { buf = appendDocumentJSON(buf[:0], &d, false, &texts) }); n != 0 {
			t.Errorf("appendDocumentJSON(%s) allocates %.0f times, want 0", d.Number, n)
		}
	}
}

// TestWriteJSONMatchesEncodingJSON checks whole period documents against encoding/json encoding the
// report in one value, with the invoices as its model writes them: the stream's framing of the
// documents (commas, indentation, the empty array) included.
func TestWriteJSONMatchesEncodingJSON(t *testing.T) {
	unusual := &invoices.Report{Period: rating.Period{Year: 2026, Month: time.October}, Currency: "USD",
		Docs: unusualDocs()}
	for _, tc := range []struct {
		name   string
		report *invoices.Report
	}{
		{"sample", sampleReport()},
		{"empty", emptyReport()},
		{"one", &invoices.Report{Period: rating.Period{Year: 2026, Month: time.October}, Docs: sampleReport().Docs[:1]}},
		{"big", bigReport(40, 7)},
		{"unusual", unusual},
	} {
		for _, drafts := range []bool{false, true} {
			tc.report.Drafts = drafts
			want := encodeReportJSON(t, tc.report)
			var got bytes.Buffer
			if err := WriteJSON(&got, tc.report); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s, drafts %t: WriteJSON differs from encoding/json: %s", tc.name, drafts, firstDiff(got.Bytes(), want))
			}
		}
	}
}

// encodeReportJSON encodes r's period document with encoding/json alone.
func encodeReportJSON(t *testing.T, r *invoices.Report) []byte {
	t.Helper()
	docs := make([]documentJSON, 0, len(r.Docs))
	for i := range r.Docs {
		docs = append(docs, documentToJSON(&r.Docs[i], r.Drafts))
	}
	var raw bytes.Buffer
	enc := json.NewEncoder(&raw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(docs); err != nil {
		t.Fatal(err)
	}
	head, tail, err := jsonFrame(r)
	if err != nil {
		t.Fatal(err)
	}
	var whole bytes.Buffer
	doc := periodJSON{Schema: PeriodSchema, Period: r.Period.String(), Currency: r.Currency,
		Invoices: json.RawMessage(raw.Bytes()), Standing: standingRowsJSON(r.Standing)}
	if r.Drafts {
		doc.Counts = countsToJSON(rating.Counts{})
		if r.Run != nil {
			doc.Counts = countsToJSON(r.Run.Counts)
		}
	}
	if err := encodeJSON(&whole, doc); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(whole.Bytes(), head) || !bytes.HasSuffix(whole.Bytes(), tail) {
		t.Fatalf("%s: frame does not match encoding/json's whole document", r.Period)
	}
	return whole.Bytes()
}

// TestAppendJSONString checks the escaping against encoding/json for every single byte and every
// rune, surrogates included (which Go encodes as invalid UTF-8), alone and between other text.
func TestAppendJSONString(t *testing.T) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	check := func(s string) {
		t.Helper()
		b.Reset()
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
	for _, s := range nastyStrings {
		check(s)
	}
	for c := range 256 {
		check(string([]byte{byte(c)}))
		check("a" + string([]byte{byte(c)}) + "é")
	}
	for r := rune(0); r <= utf8.MaxRune; r++ {
		var enc [utf8.UTFMax]byte
		n := utf8.EncodeRune(enc[:], r)
		if r >= 0xd800 && r <= 0xdfff { // EncodeRune refuses surrogates; write them as WTF-8 would
			enc[0], enc[1], enc[2], n = byte(0xe0|r>>12), byte(0x80|(r>>6)&0x3f), byte(0x80|r&0x3f), 3
		}
		s := string(enc[:n])
		check(s)
		if r%97 == 0 {
			check("x" + s + "\x00" + s[:n-1])
		}
	}
}

func TestAppendJSONCents(t *testing.T) {
	for _, c := range []rating.Cents{0, 1, -1, 9, -9, 10, -10, 99, -99, 100, -100, 101, -101, 12345, -207,
		math.MaxInt64, math.MinInt64, math.MinInt64 + 1} {
		want := strconv.Quote(c.String())
		if got := string(appendJSONCents(nil, c)); got != want {
			t.Errorf("appendJSONCents(%d) = %s, want %s", int64(c), got, want)
		}
	}
}

// checkDecimalJSON fails t unless d is written as rating.FormatQuantity and rating.FormatPrice write it.
func checkDecimalJSON(t testing.TB, d decimal.Decimal) {
	t.Helper()
	if got, want := string(appendJSONQuantity(nil, d)), strconv.Quote(rating.FormatQuantity(d)); got != want {
		t.Errorf("appendJSONQuantity(%d×10^%d) = %s, want %s", d.Coefficient(), d.Exponent(), got, want)
	}
	if got, want := string(appendJSONPrice(nil, d)), strconv.Quote(rating.FormatPrice(d)); got != want {
		t.Errorf("appendJSONPrice(%d×10^%d) = %s, want %s", d.Coefficient(), d.Exponent(), got, want)
	}
}

func TestAppendJSONQuantityPrice(t *testing.T) {
	decimals := []decimal.Decimal{{}, decimal.New(0, -5), decimal.New(0, 3), decimal.New(-5, 2),
		decimal.New(math.MaxInt64, 0), decimal.New(math.MinInt64, -3), decimal.New(999999999999999999, -18),
		decimal.New(-999999999999999999, -40), decimal.New(1000000000000000000, -2), // 19 digits: decimal formats it
		decimal.New(1, 30), decimal.New(-1, -30)}
	for _, s := range []string{"0", "1", "-1", "0.1", "-0.1", "0.20", "0.225", "0.05", "8", "8.00", "8.000",
		"8.0010", "3600.5", "1200000", "1e6", "1.5e-7", "-0.0000001", "12345678901234567890.123",
		"-12345678901234567890.5", "9223372036854775807", "9223372036854775808", "-9999999999999999999",
		"0.0100", "100.100", "-2.07", "0.001", "-0.005"} {
		decimals = append(decimals, dec(s))
	}
	for _, d := range decimals {
		checkDecimalJSON(t, d)
	}
	// The decimal package's string form can be changed; the hand-written one then steps aside.
	defer func(trim, sci bool) { decimal.TrimTrailingZeros, decimal.UseScientificNotation = trim, sci }(
		decimal.TrimTrailingZeros, decimal.UseScientificNotation)
	for _, opts := range [][2]bool{{false, false}, {true, true}} {
		decimal.TrimTrailingZeros, decimal.UseScientificNotation = opts[0], opts[1]
		for _, d := range decimals {
			checkDecimalJSON(t, d)
		}
	}
}

// FuzzAppendJSONDecimal checks quantities and prices of any int64 coefficient against rating's
// formatting.
func FuzzAppendJSONDecimal(f *testing.F) {
	f.Add(int64(1200000), int32(0))
	f.Add(int64(225), int32(-3))
	f.Add(int64(-36005), int32(-1))
	f.Add(int64(8), int32(2))
	f.Add(int64(math.MinInt64), int32(-19))
	f.Fuzz(func(t *testing.T, c int64, e int32) {
		if e < -100 || e > 100 {
			t.Skip("a decimal this large takes long to format and tests nothing more")
		}
		checkDecimalJSON(t, decimal.New(c, e))
	})
}

// FuzzAppendDocumentJSON builds a document from fuzzed strings, times and amounts and checks
// appendDocumentJSON writes it as encoding/json does.
func FuzzAppendDocumentJSON(f *testing.F) {
	f.Add("INV-2026-000001", "acct_00001", "invoice", "open", "", "", "serverless", llama, ftm, "",
		"input_tokens", llama+", input tokens", "1M tokens", "1200000", "0.225", int64(24), int64(1793584800),
		int64(0), false)
	f.Add("", "acct_\u2028", "credit_note", "issued", "INV-1", "INV-2", "gpu", "H100-80GB", "", "dep-<a1>",
		"gpu_seconds", "H100 \"quoted\"\n", "GPU-hour", "3600.5", "8", int64(-800), int64(-62135596800),
		int64(999999999), true)
	f.Add("\xff", "\x00\x1f\x7f", "\\", "\"", "\u2029", "\xe2\x80", "fine_tuning", "ftjob-7", "", "",
		"training_tokens", "<&>", "", "-0.0000001", "12345678901234567890.123", int64(math.MinInt64),
		int64(253402300800), int64(1), false)
	f.Add("N", "A", "invoice", "paid", "", "", "discount", "on_demand", "b", "d", "discount", "bulk", "",
		"", "", int64(-207), int64(0), int64(0), false)
	f.Fuzz(func(t *testing.T, number, account, kind, status, replaces, corrects, lineKind, product,
		baseModel, deployment, meter, description, unit, quantity, price string, amount, sec, nsec int64, drafts bool) {
		q, _ := decimal.NewFromString(quantity) // zero when not a number
		p, _ := decimal.NewFromString(price)
		if q.NumDigits() > 100 || p.NumDigits() > 100 || q.Exponent() < -100 || p.Exponent() < -100 ||
			q.Exponent() > 100 || p.Exponent() > 100 {
			t.Skip("a decimal this large takes long to format and tests nothing more")
		}
		at := time.Unix(sec, nsec)
		line := rating.Line{Kind: rating.Kind(lineKind), Product: product, BaseModel: baseModel,
			Deployment: deployment, Meter: rating.Meter(meter), Description: description, Quantity: q, Unit: unit,
			UnitPrice: p, Amount: rating.Cents(amount)}
		d := invoices.DocView{
			Document: invoices.Document{Number: number, Account: account, Kind: invoices.DocKind(kind),
				Replaces: replaces, Corrects: corrects, IssuedAt: at, Subtotal: rating.Cents(amount),
				Discount: rating.Cents(-amount), CreditsApplied: rating.Cents(sec), AmountDue: rating.Cents(nsec)},
			AmountPaid: rating.Cents(amount / 3), Status: invoices.Status(status),
		}
		if sec%2 == 0 {
			d.DueAt = &at
		}
		if nsec%2 == 0 {
			d.VoidedAt = &at
		}
		switch amount % 3 {
		case 1:
			d.Lines = []rating.Line{line}
		case 2, -2:
			d.Lines = []rating.Line{line, {Kind: rating.KindDiscount, Product: product, Meter: rating.MeterDiscount,
				Description: description, Amount: rating.Cents(-amount)}, line}
		}
		checkDocumentJSON(t, &d, drafts)
	})
}

// BenchmarkJSONStream streams a period of 3,000 invoices of 50 lines each (150,000 lines) through
// StartJSON, Add and Finish (WriteJSON), as a close does, and reports the bytes written per second.
func BenchmarkJSONStream(b *testing.B) {
	r := bigReport(3000, 50)
	var written countingWriter
	if err := WriteJSON(&written, r); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(written.n)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteJSON(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
