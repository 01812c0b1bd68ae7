package exporters

import (
	"bytes"
	"errors"
	"testing"

	"billrun/invoices"
)

// TestStreamsMatchWholeReport checks that the streams a close feeds while it issues — documents added
// in batches, the report given at the end — write what WriteJSON and WriteXLSX write for that report:
// the same JSON bytes, the same workbook cells.
func TestStreamsMatchWholeReport(t *testing.T) {
	r := sampleReport()
	var wantJSON, gotJSON bytes.Buffer
	if err := WriteJSON(&wantJSON, r); err != nil {
		t.Fatal(err)
	}
	js, err := StartJSON(&gotJSON, r.Period, r.Currency, r.Drafts)
	if err != nil {
		t.Fatal(err)
	}
	var gotXLSX bytes.Buffer
	xs, err := StartXLSX(&gotXLSX, r.Period, r.Currency, r.Drafts, len(r.Docs), lineCount(r.Docs))
	if err != nil {
		t.Fatal(err)
	}
	defer xs.Close()
	for lo := 0; lo < len(r.Docs); lo += 2 { // batches of two documents
		batch := r.Docs[lo:min(lo+2, len(r.Docs))]
		if err := js.Add(batch); err != nil {
			t.Fatal(err)
		}
		if err := xs.Add(batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := js.Finish(r); err != nil {
		t.Fatal(err)
	}
	if err := xs.Finish(r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotJSON.Bytes(), wantJSON.Bytes()) {
		t.Errorf("streamed JSON differs from WriteJSON's: %s", firstDiff(gotJSON.Bytes(), wantJSON.Bytes()))
	}
	want, err := DumpXLSX(bytes.NewReader(writeXLSX(t, r)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := DumpXLSX(bytes.NewReader(gotXLSX.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("streamed workbook differs from WriteXLSX's: %s", firstDiff(got, want))
	}
}

// TestStreamsRefuseAnotherReport checks Finish refuses a report whose documents are not those
// streamed — one missing, or one whose status changed — so the caller writes the exports again.
func TestStreamsRefuseAnotherReport(t *testing.T) {
	for name, change := range map[string]func(r *invoices.Report){
		"document missing": func(r *invoices.Report) { r.Docs = r.Docs[1:] },
		"status changed": func(r *invoices.Report) {
			r.Docs[0].Status = invoices.StatusPaid
			r.Docs[0].AmountPaid = r.Docs[0].AmountDue
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := sampleReport()
			var jb, xb bytes.Buffer
			js, err := StartJSON(&jb, r.Period, r.Currency, r.Drafts)
			if err != nil {
				t.Fatal(err)
			}
			xs, err := StartXLSX(&xb, r.Period, r.Currency, r.Drafts, len(r.Docs), lineCount(r.Docs))
			if err != nil {
				t.Fatal(err)
			}
			defer xs.Close()
			if err := js.Add(r.Docs); err != nil {
				t.Fatal(err)
			}
			if err := xs.Add(r.Docs); err != nil {
				t.Fatal(err)
			}
			final := sampleReport()
			change(final)
			if err := js.Finish(final); !errors.Is(err, ErrReportChanged) {
				t.Errorf("JSON Finish = %v, want ErrReportChanged", err)
			}
			if err := xs.Finish(final); !errors.Is(err, ErrReportChanged) {
				t.Errorf("XLSX Finish = %v, want ErrReportChanged", err)
			}
		})
	}
}
