package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"github.com/shopspring/decimal"

	"billrun/invoices"
	"billrun/rating"
)

// trickyLines are lines with every kind of text a line's fields may hold — quotes, backslashes,
// control characters, tabs and newlines, non-ASCII, text that looks like JSON — discount lines without
// quantity and unit price, a discount line with them, negative amounts, and long decimals.
func trickyLines(seed uint64, n int) []rating.Line {
	tricky := []string{"", "plain", "tab\there", "line\nbreak", "cr\rhere", `back\slash`, `"quoted"`, `\u0041`, "null",
		"ünïcødé €", "😀 emoji", "\x00nul\x01\x1f", "\t\n\r\\\"", "accounts/acct_00042/models/ft-llama-8b", "],[", "\u2028"}
	dec := func(s string) decimal.Decimal { return decimal.RequireFromString(s) }
	lines := []rating.Line{
		{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput, Description: "m, input tokens",
			Quantity: dec("1000000"), Unit: "1M tokens", UnitPrice: dec("0.20"), Unrounded: dec("0.2"), Amount: 20},
		{Kind: rating.KindDiscount, Product: "on_demand", Meter: "discount", Description: "bulk on-demand discount 5%",
			Unrounded: dec("-1.005"), Amount: -101},
		{Kind: rating.KindDiscount, Product: "on_demand", Meter: "discount", Description: "odd discount",
			Quantity: dec("2"), UnitPrice: dec("-0.5"), Unrounded: dec("-1"), Amount: -100},
		{Kind: rating.KindServerless, Product: "accounts/a/models/ft", BaseModel: "accounts/fireworks/models/llama",
			Meter: rating.MeterBatchCachedInput, Description: "accounts/a/models/ft (priced as accounts/fireworks/models/llama), batch cached input tokens",
			Quantity: dec("5"), Unit: "1M tokens", UnitPrice: dec("0.1"), Unrounded: dec("0.0000005"), Amount: 0},
		{Kind: rating.KindGPU, Product: "H100-80GB", Deployment: "dep-1", Meter: "gpu_seconds", Description: "H100-80GB on deployment dep-1, GPU-seconds",
			Quantity: dec("7200"), Unit: "GPU-hour", UnitPrice: dec("5.8"), Unrounded: dec("11.6"), Amount: 1160},
		{Kind: rating.KindFineTuning, Product: "ftj-1", BaseModel: "accounts/fireworks/models/llama", Meter: "training_tokens",
			Description: "fine-tuning job ftj-1 on accounts/fireworks/models/llama, training tokens",
			Quantity:    dec("1000000"), Unit: "1M tokens", UnitPrice: dec("1"), Unrounded: dec("1"), Amount: 100},
		{Kind: rating.KindGPU, Product: "h100", Deployment: "dep\t1", Meter: "gpu_seconds", Description: "x",
			Quantity: dec("3600.5"), Unit: "GPU-hour", UnitPrice: dec("5.8"), Unrounded: dec("5.80080555555555555555556"), Amount: 580},
	}
	r := rand.New(rand.NewPCG(seed, 7))
	for range n {
		pick := func() string { return tricky[r.IntN(len(tricky))] }
		lines = append(lines, rating.Line{Kind: rating.Kind(pick()), Product: pick(), BaseModel: pick(), Deployment: pick(),
			Meter: rating.Meter(pick()), Description: pick() + pick(), Quantity: decimal.New(r.Int64N(1e12)-5e11, -r.Int32N(12)),
			Unit: pick(), UnitPrice: decimal.New(r.Int64N(1e6), -r.Int32N(6)), Unrounded: decimal.New(r.Int64N(1e15)-5e14, -r.Int32N(24)),
			Amount: rating.Cents(r.Int64N(1e9) - 5e8)})
	}
	return lines
}

// sameLine reports whether a line read back is the line written: texts byte for byte, decimals equal
// in value, a discount line's absent quantity and unit price read as zero.
func sameLine(a, b rating.Line) bool {
	return a.Kind == b.Kind && a.Product == b.Product && a.BaseModel == b.BaseModel && a.Deployment == b.Deployment &&
		a.Meter == b.Meter && a.Description == b.Description && a.Quantity.Equal(b.Quantity) && a.Unit == b.Unit &&
		a.UnitPrice.Equal(b.UnitPrice) && a.Unrounded.Equal(b.Unrounded) && a.Amount == b.Amount
}

// TestLinesJSON: the stored array is valid JSON that encoding/json — an independent reader — reads
// as the documented layout (11 fields per line, texts and decimals as strings, null for a discount
// line's absent quantity and unit price, the amount an integer), and parseLinesJSON reads it back as
// the lines written.
func TestLinesJSON(t *testing.T) {
	lines := trickyLines(6, 300)
	derived := 0
	defer func() {
		if derived < 3 {
			t.Errorf("%d lines stored with a derived description, want the 3 trickyLines has at least", derived)
		}
	}()
	data, err := appendLinesJSON(nil, lines)
	if err != nil {
		t.Fatal(err)
	}
	var std [][]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&std); err != nil {
		t.Fatalf("encoding/json cannot read the stored lines: %v\n%s", err, data)
	}
	if len(std) != len(lines) {
		t.Fatalf("encoding/json reads %d lines, want %d", len(std), len(lines))
	}
	for k, l := range lines {
		want := []any{string(l.Kind), l.Product, l.BaseModel, l.Deployment, string(l.Meter), l.Description,
			l.Quantity.String(), l.Unit, l.UnitPrice.String(), l.Unrounded.String(), json.Number(decimal.NewFromInt(int64(l.Amount)).String())}
		if l.Kind == rating.KindDiscount && l.Quantity.IsZero() {
			want[6], want[8] = nil, nil
		}
		if d, ok := derivedDescription(l.Kind, l.Product, l.BaseModel, l.Deployment, l.Meter); ok && d == l.Description {
			want[5] = nil
			derived++
		}
		if len(std[k]) != lineFields {
			t.Fatalf("line %d: %d fields, want %d", k, len(std[k]), lineFields)
		}
		for i := range lineFields {
			if std[k][i] != want[i] {
				t.Errorf("line %d, %s: encoding/json reads %#v, want %#v", k, lineFieldNames[i], std[k][i], want[i])
			}
		}
	}
	got, err := parseLinesJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(lines) {
		t.Fatalf("read back %d lines, want %d", len(got), len(lines))
	}
	for k := range lines {
		if !sameLine(got[k], lines[k]) {
			t.Errorf("line %d read back as %+v, want %+v", k, got[k], lines[k])
		}
	}
	if data, err := appendLinesJSON(nil, nil); err != nil || string(data) != "[]" {
		t.Errorf("no lines = %q, %v; want []", data, err)
	}
}

// TestDerivedDescription: the descriptions a stored null stands for, worked out by hand for each kind
// from rating's wording (rating/lines.go describe): these are what billrun has always billed.
func TestDerivedDescription(t *testing.T) {
	for _, tc := range []struct {
		kind                            rating.Kind
		product, base, deployment, want string
		meter                           rating.Meter
		ok                              bool
	}{
		{rating.KindServerless, "accounts/fireworks/models/qwen3-30b-a3b", "", "", "accounts/fireworks/models/qwen3-30b-a3b, output tokens", rating.MeterOutput, true},
		{rating.KindServerless, "m", "m", "", "m, cached input tokens", rating.MeterCachedInput, true}, // its own base
		{rating.KindServerless, "accounts/acct_00004/models/ft-llama-8b", "accounts/fireworks/models/llama-v3p1-8b-instruct", "",
			"accounts/acct_00004/models/ft-llama-8b (priced as accounts/fireworks/models/llama-v3p1-8b-instruct), batch output tokens", rating.MeterBatchOutput, true},
		{rating.KindGPU, "A100-80GB", "", "dep-00001-0", "A100-80GB on deployment dep-00001-0, GPU-seconds", rating.MeterGPUSeconds, true},
		{rating.KindFineTuning, "ftj-000000011a", "accounts/fireworks/models/llama-v3p1-8b-instruct", "",
			"fine-tuning job ftj-000000011a on accounts/fireworks/models/llama-v3p1-8b-instruct, training tokens", rating.MeterTrainingTokens, true},
		{rating.KindDiscount, "on_demand", "", "", "", rating.MeterDiscount, false},
		{"", "m", "", "", "", rating.MeterInput, false},
	} {
		got, ok := derivedDescription(tc.kind, tc.product, tc.base, tc.deployment, tc.meter)
		if got != tc.want || ok != tc.ok {
			t.Errorf("derivedDescription(%s, %s) = %q, %v; want %q, %v", tc.kind, tc.product, got, ok, tc.want, tc.ok)
		}
	}
}

// TestLinesJSONFromDatabases: migration 4 builds the arrays with SQLite's json_group_array and
// PostgreSQL's json_agg, which write spaces after commas and their own escapes (\t, \n, \/, \uXXXX,
// surrogate pairs); they read the same.
func TestLinesJSONFromDatabases(t *testing.T) {
	data := "[[\"serverless\", \"m\", \"\", \"\", \"input_tokens\", \"a\\tb\\n\\r\\\\ \\\"q\\\" \\/ \\u00e9 \\ud83d\\ude00 \\u0001\", " +
		"\"1000.5\", \"1M tokens\", \"0.20\", \"200.1\", 2000], \n [\"discount\",\"on_demand\",\"\",\"\",\"discount\",\"d\",null,\"\",null,\"-1.005\",-101]]"
	got, err := parseLinesJSON([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []rating.Line{
		{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput, Description: "a\tb\n\r\\ \"q\" / é 😀 \x01",
			Quantity: decimal.RequireFromString("1000.5"), Unit: "1M tokens", UnitPrice: decimal.RequireFromString("0.2"),
			Unrounded: decimal.RequireFromString("200.1"), Amount: 2000},
		{Kind: rating.KindDiscount, Product: "on_demand", Meter: "discount", Description: "d",
			Unrounded: decimal.RequireFromString("-1.005"), Amount: -101},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d lines, want %d", len(got), len(want))
	}
	for k := range want {
		if !sameLine(got[k], want[k]) {
			t.Errorf("line %d = %+v, want %+v", k, got[k], want[k])
		}
	}
}

// TestLinesJSONErrors: what is not the layout is refused with the line, the field and the byte.
func TestLinesJSONErrors(t *testing.T) {
	line := `["serverless","m","","","input_tokens","d","1","u","2","2",200]`
	for _, c := range []struct{ data, want string }{
		{``, "at byte 0: want [ to open the lines"},
		{`{}`, "at byte 0: want [ to open the lines"},
		{`[` + line, "at byte 64: after line 1, want , or ]"},
		{`[` + line + `] x`, "at byte 66: unexpected data after the lines"},
		{`[["serverless"]]`, "line 1: at byte 14: want , before product"},
		{`[["serverless","m","","","input_tokens","d","1","u","2","2",200,1]]`, "line 1: at byte 63: want ] after amount_cents"},
		{`[["serverless","m","","","input_tokens","d","x1","u","2","2",200]]`, "line 1: quantity: "},
		{`[["serverless","m","","","input_tokens","d","1","u","2","2","200"]]`, "line 1: amount_cents: at byte 60: want an integer"},
		{`[["serverless",null,"","","input_tokens","d","1","u","2","2",200]]`, "line 1: product: at byte 15: want a string"},
		{`[["serverless","m","","","input_tokens","d","1","u","2",null,200]]`, "line 1: unrounded: at byte 56: want a string"},
		{`[["serverless","m\q","","","input_tokens","d","1","u","2","2",200]]`, `line 1: product: at byte 19: unknown escape \q`},
		{`[["serverless","m\ud800","","","input_tokens","d","1","u","2","2",200]]`, "line 1: product: at byte 23: unpaired surrogate"},
		{"[[\"serverless\",\"m\n\",\"\",\"\",\"input_tokens\",\"d\",\"1\",\"u\",\"2\",\"2\",200]]", "line 1: product: at byte 17: control character"},
		{`[["serverless","m`, "line 1: product: at byte 17: unterminated string"},
		{`[` + line + `,` + strings.Replace(line, "200", "", 1) + `]`, "line 2: amount_cents: at byte 124: want an integer"},
		{`[["discount","on_demand","","","discount",null,null,"",null,"-1",-1]]`, `line 1: description: null on a "discount" line`},
		{`[["serverless","m","","","input_tokens",nul,"1","u","2","2",200]]`, "line 1: description: at byte 40: want a string"},
	} {
		_, err := parseLinesJSON([]byte(c.data))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("parseLinesJSON(%q) = %v, want an error starting %q", c.data, err, c.want)
		}
	}
	bad := []rating.Line{{Kind: rating.KindServerless, Product: "m\xff", Unrounded: decimal.NewFromInt(1)}}
	if _, err := appendLinesJSON(nil, bad); err == nil || !strings.Contains(err.Error(), "line 1: product") {
		t.Errorf("a product that is not UTF-8: %v, want an error naming line 1's product", err)
	}
	// A description is checked only when it is stored as text: a derived one is stored as null.
	bad = []rating.Line{{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput, Description: "m\xff",
		Unrounded: decimal.NewFromInt(1)}}
	if _, err := appendLinesJSON(nil, bad); err == nil || !strings.Contains(err.Error(), "line 1: description") {
		t.Errorf("a description that is not UTF-8: %v, want an error naming line 1's description", err)
	}
}

// FuzzLinesJSON: whatever parseLinesJSON accepts, encoding/json reads as the same texts and numbers,
// and writing the lines again reads back the same; it never panics.
func FuzzLinesJSON(f *testing.F) {
	for _, n := range []int{0, 1, 5} {
		data, err := appendLinesJSON(nil, trickyLines(uint64(n), n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`[["a", "b", "c", "d", "e", "f\u00e9\/", null, "g", null, "1", -0]]`))
	earlier, err := appendLinesJSON(nil, trickyLines(7, 5))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := parseLinesJSON(data)
		if err != nil {
			return
		}
		// Parsed with the texts of an earlier parse shared, the lines are the same.
		texts := map[string]string{}
		if _, err := parseLinesJSONShared(earlier, texts); err != nil {
			t.Fatal(err)
		}
		if shared, err := parseLinesJSONShared(data, texts); err != nil || len(shared) != len(lines) {
			t.Fatalf("%q with shared texts: %d lines, %v; alone %d lines", data, len(shared), err, len(lines))
		} else {
			for k := range lines {
				if !sameLine(shared[k], lines[k]) {
					t.Fatalf("line %d with shared texts %+v, alone %+v", k, shared[k], lines[k])
				}
			}
		}
		if utf8.Valid(data) {
			var std [][]any
			d := json.NewDecoder(bytes.NewReader(data))
			d.UseNumber()
			if err := d.Decode(&std); err != nil || d.More() {
				t.Fatalf("parseLinesJSON accepts %q, encoding/json does not: %v", data, err)
			}
			for k, l := range lines {
				for i, s := range []string{string(l.Kind), l.Product, l.BaseModel, l.Deployment, string(l.Meter), l.Description} {
					if i == 5 && std[k][i] == nil {
						if d, ok := derivedDescription(l.Kind, l.Product, l.BaseModel, l.Deployment, l.Meter); !ok || s != d {
							t.Fatalf("line %d: null description read as %q, want %q", k, s, d)
						}
						continue
					}
					if std[k][i] != s {
						t.Fatalf("line %d %s: %q, encoding/json reads %#v", k, lineFieldNames[i], s, std[k][i])
					}
				}
			}
		}
		again, err := appendLinesJSON(nil, lines)
		if err != nil {
			return // texts that are not UTF-8 (raw bytes in a string) are refused on the way in
		}
		back, err := parseLinesJSON(again)
		if err != nil || len(back) != len(lines) {
			t.Fatalf("re-encoded %q: %v", again, err)
		}
		for k := range lines {
			if !sameLine(back[k], lines[k]) {
				t.Fatalf("line %d: %+v written again reads %+v", k, lines[k], back[k])
			}
		}
	})
}

// TestLineSetCopy: the binary COPY data of a batch, read through buffers of any size, is the format's
// signature, then a row per document that has lines — 2 fields: its id as 8 bytes, its JSON — and the
// trailer; parsed here as PostgreSQL's format describes it.
func TestLineSetCopy(t *testing.T) {
	var docs []*invoices.Document
	for d := range 40 {
		doc := &invoices.Document{Account: fmt.Sprintf("a%d", d)}
		if d%7 != 3 { // some documents have no lines
			doc.Lines = trickyLines(uint64(d), d*3)
		}
		docs = append(docs, doc)
	}
	out := make([]issued, len(docs))
	for i := range out {
		out[i].id = int64(1)<<40 + int64(i*i)
	}
	sets := encodeLineSets(docs)
	if sets.err != nil {
		t.Fatal(sets.err)
	}
	for _, size := range []int{1, 7, 18, 4096, 64<<10 + 13} {
		data, err := io.ReadAll(struct{ io.Reader }{&chunked{r: newLineSetCopy(out, sets), size: size}})
		if err != nil {
			t.Fatal(err)
		}
		sig := "PGCOPY\n\xff\r\n\x00"
		if !strings.HasPrefix(string(data), sig) || binary.BigEndian.Uint32(data[11:]) != 0 || binary.BigEndian.Uint32(data[15:]) != 0 {
			t.Fatalf("size %d: data starts %q, want the signature, no flags, no extension", size, data[:min(19, len(data))])
		}
		rest := data[19:]
		for i, doc := range docs {
			if len(doc.Lines) == 0 {
				continue
			}
			if len(rest) < 18 || binary.BigEndian.Uint16(rest) != 2 || binary.BigEndian.Uint32(rest[2:]) != 8 {
				t.Fatalf("size %d: document %d: row header %x, want 2 fields and an 8-byte id", size, i, rest[:min(18, len(rest))])
			}
			id, n := int64(binary.BigEndian.Uint64(rest[6:])), int(binary.BigEndian.Uint32(rest[14:]))
			lines, err := parseLinesJSON(rest[18 : 18+n])
			if id != out[i].id || err != nil || len(lines) != len(doc.Lines) {
				t.Fatalf("size %d: document %d: row of id %d with %d lines (%v), want id %d with %d", size, i, id, len(lines), err,
					out[i].id, len(doc.Lines))
			}
			for k := range lines {
				if !sameLine(lines[k], doc.Lines[k]) {
					t.Fatalf("size %d: document %d line %d = %+v, want %+v", size, i, k, lines[k], doc.Lines[k])
				}
			}
			rest = rest[18+n:]
		}
		if string(rest) != "\xff\xff" {
			t.Errorf("size %d: data ends %q, want the trailer (-1) only", size, rest)
		}
	}
}

// chunked reads r at most size bytes at a time.
type chunked struct {
	r    io.Reader
	size int
}

func (c *chunked) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.size)]) }

// TestParseLinesJSONSharesTexts: two documents' lines parsed with one texts table hold one copy of each
// text — the product, the unit and the derived description of the second are the first's strings.
func TestParseLinesJSONSharesTexts(t *testing.T) {
	line := rating.Line{Kind: rating.KindServerless, Product: "accounts/x/models/m", Meter: rating.MeterInput,
		Unit: "1M tokens", Quantity: decimal.NewFromInt(1200000), UnitPrice: decimal.RequireFromString("0.20"),
		Unrounded: decimal.RequireFromString("0.24"), Amount: 24}
	line.Description, _ = derivedDescription(line.Kind, line.Product, "", "", line.Meter)
	data, err := appendLinesJSON(nil, []rating.Line{line})
	if err != nil {
		t.Fatal(err)
	}
	texts := map[string]string{}
	a, errA := parseLinesJSONShared(data, texts)
	b, errB := parseLinesJSONShared(bytes.Clone(data), texts)
	if errA != nil || errB != nil || len(a) != 1 || len(b) != 1 || !sameLine(a[0], line) || !sameLine(b[0], line) {
		t.Fatalf("parsed %+v, %v and %+v, %v; want %+v", a, errA, b, errB, line)
	}
	for name, pair := range map[string][2]string{"product": {a[0].Product, b[0].Product}, "unit": {a[0].Unit, b[0].Unit},
		"description": {a[0].Description, b[0].Description}} {
		if unsafe.StringData(pair[0]) != unsafe.StringData(pair[1]) {
			t.Errorf("%s: two copies of %q", name, pair[0])
		}
	}
}
