package exporters

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"billrun/invoices"
)

func TestWriteJSON(t *testing.T) {
	for _, tc := range []struct {
		name   string
		report func() *invoices.Report
		golden string
	}{
		{"sample", sampleReport, "period.json"},
		{"empty", emptyReport, "period_empty.json"},
		{"drafts", func() *invoices.Report {
			r := sampleReport()
			r.Drafts = true
			return r
		}, "period_drafts.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteJSON(&b, tc.report()); err != nil {
				t.Fatalf("WriteJSON() = %v, want nil", err)
			}
			if !json.Valid(b.Bytes()) {
				t.Fatalf("WriteJSON() wrote invalid JSON:\n%s", b.String())
			}
			golden(t, tc.golden, b.Bytes())
		})
	}
}

func TestWriteJSONEmptyArrays(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, emptyReport()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"invoices": []`, `"standing": []`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WriteJSON(empty) = %s, want it to contain %s", b.String(), want)
		}
	}
	if strings.Contains(b.String(), "counts") {
		t.Errorf("WriteJSON(empty) has counts, want them only for drafts")
	}
	if !strings.HasSuffix(b.String(), "}\n") {
		t.Errorf("WriteJSON(empty) does not end with a newline")
	}
}

// TestWriteJSONShape decodes the sample and checks the rules of DESIGN §9 and §11 field by field, so a
// wrong golden cannot hide them.
func TestWriteJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Schema   string           `json:"schema"`
		Invoices []map[string]any `json:"invoices"`
		Standing []map[string]any `json:"standing"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Schema != PeriodSchema {
		t.Errorf("schema = %q, want %q", doc.Schema, PeriodSchema)
	}
	byNumber := make(map[string]map[string]any)
	for _, d := range doc.Invoices {
		byNumber[d["number"].(string)] = d
	}
	inv := byNumber["INV-2026-000001"]
	if inv["replaces"] != nil || inv["corrects"] != nil || inv["voided_at"] != nil {
		t.Errorf("INV-2026-000001 replaces/corrects/voided_at = %v/%v/%v, want null", inv["replaces"], inv["corrects"], inv["voided_at"])
	}
	if got := inv["issued_at"]; got != "2026-11-01T02:00:00Z" {
		t.Errorf("issued_at = %v, want 2026-11-01T02:00:00Z", got)
	}
	lines := inv["lines"].([]any)
	for _, l := range lines {
		line := l.(map[string]any)
		_, hasDeployment := line["deployment"]
		_, hasBase := line["base_model"]
		switch line["kind"] {
		case "gpu":
			if !hasDeployment || hasBase {
				t.Errorf("gpu line %v: want deployment and no base_model", line)
			}
		case "fine_tuning":
			if !hasBase || hasDeployment {
				t.Errorf("fine_tuning line %v: want base_model and no deployment", line)
			}
		case "discount":
			if line["quantity"] != nil || line["unit"] != nil || line["unit_price"] != nil {
				t.Errorf("discount line %v: want null quantity, unit and unit_price", line)
			}
			if line["product"] != "on_demand" || line["meter"] != "discount" || line["amount"] != "-2.07" {
				t.Errorf("discount line %v: want product on_demand, meter discount, amount -2.07", line)
			}
		case "serverless":
			if hasDeployment || hasBase != (line["product"] == ftm) {
				t.Errorf("serverless line %v: base_model only for the fine-tuned model", line)
			}
		}
		if line["kind"] == "gpu" && line["deployment"] == "dep-a1" {
			if line["quantity"] != "3600.5" || line["unit_price"] != "8.00" {
				t.Errorf("gpu line quantity, unit_price = %v, %v, want 3600.5, 8.00", line["quantity"], line["unit_price"])
			}
		}
	}
	void := byNumber["INV-2026-000002"]
	if void["status"] != "void" || void["voided_at"] != "2026-11-03T09:30:00.5Z" {
		t.Errorf("void status, voided_at = %v, %v, want void, 2026-11-03T09:30:00.5Z", void["status"], void["voided_at"])
	}
	if got := byNumber["INV-2026-000004"]["replaces"]; got != "INV-2026-000002" {
		t.Errorf("replacement replaces = %v, want INV-2026-000002", got)
	}
	cn := byNumber["CN-2026-000001"]
	if cn["due_at"] != nil || cn["subtotal"] != "-13.00" || cn["corrects"] != "INV-2026-000003" {
		t.Errorf("credit note due_at, subtotal, corrects = %v, %v, %v, want null, -13.00, INV-2026-000003",
			cn["due_at"], cn["subtotal"], cn["corrects"])
	}
	for _, s := range doc.Standing {
		if _, ok := s["reasons"].([]any); !ok {
			t.Errorf("standing %v: reasons = %v, want an array", s["account"], s["reasons"])
		}
	}
}

func TestWriteJSONDrafts(t *testing.T) {
	r := sampleReport()
	r.Drafts = true
	var b bytes.Buffer
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Invoices []struct {
			Number *string `json:"number"`
			Status string  `json:"status"`
		} `json:"invoices"`
		Counts *struct {
			Objects       int64             `json:"objects"`
			RejectsByCode map[string]int64  `json:"rejects_by_code"`
			Meters        map[string]string `json:"meters"`
		} `json:"counts"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, d := range doc.Invoices {
		if d.Number != nil || d.Status != "draft" {
			t.Errorf("draft number, status = %v, %q, want null, draft", d.Number, d.Status)
		}
	}
	if doc.Counts == nil {
		t.Fatal("drafts: counts missing")
	}
	if doc.Counts.Objects != 2 || doc.Counts.RejectsByCode["no_price"] != 1 || doc.Counts.Meters["gpu_seconds"] != "43200.5" {
		t.Errorf("counts = %+v, want objects 2, no_price 1, gpu_seconds 43200.5", *doc.Counts)
	}

	r.Run = nil
	b.Reset()
	if err := WriteJSON(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"rejects_by_code": {}`) || !strings.Contains(b.String(), `"meters": {}`) {
		t.Errorf("drafts without a run: counts = %s, want empty objects", b.String())
	}
}

func TestWriteStandingJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteStandingJSON(&b, sampleReport().Standing); err != nil {
		t.Fatal(err)
	}
	golden(t, "standing.json", b.Bytes())

	b.Reset()
	if err := WriteStandingJSON(&b, nil); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"schema\": \"billrun.standing/v1\",\n  \"standing\": []\n}\n"; b.String() != want {
		t.Errorf("WriteStandingJSON(nil) = %q, want %q", b.String(), want)
	}
}
