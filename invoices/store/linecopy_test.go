package store

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"billrun/invoices"
	"billrun/rating"
)

// parseCopyRow reads one row of text-format COPY data as PostgreSQL does (delimiter tab, NULL \N):
// split on unescaped tabs, then undo the escapes. A field that is exactly \N is NULL (nil).
func parseCopyRow(t *testing.T, row string) []any {
	t.Helper()
	var fields []any
	var f strings.Builder
	raw := ""
	for i := 0; i <= len(row); i++ {
		if i == len(row) || row[i] == '\t' {
			if raw == `\N` {
				fields = append(fields, nil)
			} else {
				fields = append(fields, f.String())
			}
			f.Reset()
			raw = ""
			continue
		}
		c := row[i]
		raw += string(c)
		if c != '\\' {
			f.WriteByte(c)
			continue
		}
		i++
		if i == len(row) {
			t.Fatalf("row %q ends in a lone backslash", row)
		}
		raw += string(row[i])
		switch row[i] {
		case 'n':
			f.WriteByte('\n')
		case 'r':
			f.WriteByte('\r')
		case 't':
			f.WriteByte('\t')
		case '\\':
			f.WriteByte('\\')
		case 'N':
			// only valid as the whole field; checked by raw above
		default:
			t.Fatalf("row %q: unexpected escape \\%c", row, row[i])
		}
	}
	return fields
}

// TestLineCopyRow: the COPY text of a line, read back as PostgreSQL reads it, holds exactly the values
// lineValues gives SQLite — including texts with tabs, newlines, carriage returns and backslashes (a
// description that reads \N stays text), discount lines' NULLs, and negative amounts.
func TestLineCopyRow(t *testing.T) {
	tricky := []string{"", "plain", "tab\there", "line\nbreak", "cr\rhere", `back\slash`, `\N`, `\\N`, "ünïcødé €", "\t\n\r\\",
		"accounts/acct_00042/models/ft-llama-8b"}
	dec := func(s string) decimal.Decimal { return decimal.RequireFromString(s) }
	lines := []rating.Line{
		{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterInput, Description: "m, input tokens",
			Quantity: dec("1000000"), Unit: "1M tokens", UnitPrice: dec("0.20"), Unrounded: dec("0.2"), Amount: 20},
		{Kind: rating.KindDiscount, Product: "on_demand", Meter: "discount", Description: "bulk on-demand discount 5%",
			Unrounded: dec("-1.005"), Amount: -101},
		{Kind: rating.KindDiscount, Product: "on_demand", Meter: "discount", Description: "odd discount",
			Quantity: dec("2"), UnitPrice: dec("-0.5"), Unrounded: dec("-1"), Amount: -100},
		{Kind: rating.KindGPU, Product: "h100", Deployment: "dep\t1", Meter: "gpu_seconds", Description: "x",
			Quantity: dec("3600.5"), Unit: "GPU-hour", UnitPrice: dec("5.8"), Unrounded: dec("5.80080555555555555555556"), Amount: 580},
	}
	r := rand.New(rand.NewPCG(6, 7))
	for range 200 {
		pick := func() string { return tricky[r.IntN(len(tricky))] }
		lines = append(lines, rating.Line{Kind: rating.Kind(pick()), Product: pick(), BaseModel: pick(), Deployment: pick(),
			Meter: rating.Meter(pick()), Description: pick() + pick(), Quantity: decimal.New(r.Int64N(1e12)-5e11, -r.Int32N(12)),
			Unit: pick(), UnitPrice: decimal.New(r.Int64N(1e6), -r.Int32N(6)), Unrounded: decimal.New(r.Int64N(1e15)-5e14, -r.Int32N(24)),
			Amount: rating.Cents(r.Int64N(1e9) - 5e8)})
	}
	for k, l := range lines {
		docID := int64(1 + r.IntN(1<<40))
		row := string(appendLineCopyRow(nil, docID, k, &l))
		if !strings.HasSuffix(row, "\n") || strings.Count(row, "\n") != 1 {
			t.Fatalf("line %d: row %q is not one line", k, row)
		}
		got := parseCopyRow(t, strings.TrimSuffix(row, "\n"))
		var want [lineCols]any
		lineValues(&want, docID, k, &l)
		if len(got) != lineCols {
			t.Fatalf("line %d: %d fields in %q, want %d", k, len(got), row, lineCols)
		}
		for c := range lineCols {
			w := want[c]
			if n, ok := w.(int64); ok {
				w = fmt.Sprint(n)
			}
			if got[c] != w {
				t.Errorf("line %d, %s: COPY reads %#v, lineValues gives %#v (row %q)", k, lineColumns[c], got[c], want[c], row)
			}
		}
	}
}

// TestLineCopyReads: lineCopy's Read hands out every row of every document once, in order, whatever
// the size of the reader's buffer, across chunk boundaries and documents without lines.
func TestLineCopyReads(t *testing.T) {
	var docs []*invoices.Document
	var out []issued
	var want []byte
	for d := range 40 {
		doc := &invoices.Document{}
		for k := range (d * 37) % 500 { // 0 to 499 lines; some documents have none
			doc.Lines = append(doc.Lines, rating.Line{Kind: rating.KindServerless, Product: "m", Meter: rating.MeterOutput,
				Description: strings.Repeat("x", k%300), Quantity: decimal.NewFromInt(int64(k)), Unit: "1M tokens",
				UnitPrice: decimal.NewFromInt(2), Unrounded: decimal.NewFromInt(int64(2 * k)), Amount: rating.Cents(k)})
		}
		docs, out = append(docs, doc), append(out, issued{id: int64(100 + d)})
		for k := range doc.Lines {
			want = appendLineCopyRow(want, int64(100+d), k, &doc.Lines[k])
		}
	}
	if len(want) < 3*lineCopyChunk {
		t.Fatalf("only %d bytes of rows: the test should cross several chunks", len(want))
	}
	for _, size := range []int{1, 7, 4096, lineCopyChunk + 13} {
		var got bytes.Buffer
		lc := &lineCopy{docs: docs, out: out}
		p := make([]byte, size)
		for {
			n, err := lc.Read(p)
			got.Write(p[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("reading %d bytes at a time: %d bytes, want %d (first difference at %d)", size, got.Len(), len(want),
				firstDiff(got.Bytes(), want))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
