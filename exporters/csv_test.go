package exporters

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"billrun/rating"
)

func TestEscapeText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"evt_1", "evt_1"},
		{"a=b", "a=b"},
		{"'quoted", "'quoted"},
	} {
		if got := escapeText(tc.in); got != tc.want {
			t.Errorf("escapeText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWriteRejectsCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteRejectsCSV(&b, sampleReport().Rejects); err != nil {
		t.Fatal(err)
	}
	golden(t, "rejects.csv", b.Bytes())
	rows, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"object", "line", "event_id", "code", "message"},
		{"dt=2026-10-02/part-0001.jsonl.gz", "17", "", "invalid_json", "'=cmd|' /C calc'!A0"},
		{"dt=2026-10-02/part-0001.jsonl.gz", "18", "'+evt_18", "invalid_value", "'-1"},
		{"dt=2026-10-03/part-0002.jsonl.zst", "4", "evt_3,\"q\"", "no_price", "no price: model @acme/x is not in the catalog"},
	}
	if len(rows) != len(want) {
		t.Fatalf("WriteRejectsCSV wrote %d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		for j := range want[i] {
			if rows[i][j] != want[i][j] {
				t.Errorf("row %d column %d = %q, want %q", i, j, rows[i][j], want[i][j])
			}
		}
	}
}

func TestWriteRejectsCSVEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := WriteRejectsCSV(&b, []rating.Reject{}); err != nil {
		t.Fatal(err)
	}
	if want := "object,line,event_id,code,message\n"; b.String() != want {
		t.Errorf("WriteRejectsCSV(none) = %q, want %q", b.String(), want)
	}
}

func TestWriteInvoicesCSV(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := WriteInvoicesCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	golden(t, "invoices.csv", b.Bytes())
	rows, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	lines := 0
	for _, d := range r.Docs {
		lines += len(d.Lines)
	}
	if len(rows) != 1+lines {
		t.Errorf("WriteInvoicesCSV wrote %d rows, want header + %d lines", len(rows), lines)
	}
	// DESIGN §9: "CSV cells that begin with = + - @ are escaped" — the credit note's negative numbers
	// too, and no cell of the file begins with one of them unescaped.
	last := rows[len(rows)-1]
	if last[0] != "CN-2026-000001" || last[13] != "'-13.00" || last[10] != "'-3600" || last[14] != "'-13.00" {
		t.Errorf("credit note row = %q, want number CN-2026-000001, quantity '-3600, amount and subtotal '-13.00", last)
	}
	for i, row := range rows {
		for k, c := range row {
			if c != "" && strings.ContainsRune("=+-@", rune(c[0])) {
				t.Errorf("row %d cell %d = %q begins with a formula character, unescaped", i, k, c)
			}
		}
	}
	// The columns after amount_paid: a document's discount, replaces, corrects and voided_at, a line's
	// base model and description. In sampleReport INV-2026-000001's discount is −round(15% × (8.00 + 5.80))
	// = −2.07; INV-2026-000002 is void since INV-2026-000004, issued 2026-11-03T09:30:00.5Z, replaced it;
	// CN-2026-000001 corrects INV-2026-000003; the fine-tuned model's line is priced as its base.
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	cell := func(number, name string, nth int) string {
		for _, row := range rows[1:] {
			if row[0] == number {
				if nth == 0 {
					return row[col[name]]
				}
				nth--
			}
		}
		return "<no row>"
	}
	for _, c := range []struct{ number, name, want string }{
		{"INV-2026-000001", "discount", "'-2.07"},
		{"INV-2026-000002", "voided_at", "2026-11-03T09:30:00.5Z"},
		{"INV-2026-000004", "replaces", "INV-2026-000002"},
		{"CN-2026-000001", "corrects", "INV-2026-000003"},
		{"INV-2026-000003", "description", "B200-180GB on deployment dep-c1, GPU-seconds"},
	} {
		if got := cell(c.number, c.name, 0); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.number, c.name, got, c.want)
		}
	}
	if got := cell("INV-2026-000001", "base_model", 2); got != "accounts/fireworks/models/llama-v3p1-8b-instruct" {
		t.Errorf("the fine-tuned model's line: base_model = %q, want its base", got)
	}
}
