package exporters

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"billrun/invoices"
	"billrun/rating"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./exporters -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n%s", name, firstDiff(got, want))
	}
}

// firstDiff shows the first differing line of got and want.
func firstDiff(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + string(gl) + "\nwant: " + string(wl)
		}
	}
	return "(equal lines; lengths differ)"
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func cents(s string) rating.Cents {
	c, err := rating.ParseCents(s)
	if err != nil {
		panic(err)
	}
	return c
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func tsp(s string) *time.Time { t := ts(s); return &t }

const (
	llama = "accounts/fireworks/models/llama-v3p1-8b-instruct"
	dsv3  = "accounts/fireworks/models/deepseek-v3"
	ftm   = "accounts/acme/models/llama-support-ft"
)

func tokenLine(model, base string, meter rating.Meter, qty, price, amount, desc string) rating.Line {
	return rating.Line{Kind: rating.KindServerless, Product: model, BaseModel: base, Meter: meter,
		Description: desc, Quantity: dec(qty), Unit: "1M tokens", UnitPrice: dec(price), Amount: cents(amount)}
}

func gpuLine(gpu, deployment, qty, price, amount string) rating.Line {
	return rating.Line{Kind: rating.KindGPU, Product: gpu, Deployment: deployment, Meter: rating.MeterGPUSeconds,
		Description: gpu + " on deployment " + deployment + ", GPU-seconds", Quantity: dec(qty), Unit: "GPU-hour",
		UnitPrice: dec(price), Amount: cents(amount)}
}

// sampleReport is period 2026-10 closed at 2026-11-01T02:00Z and seen at 2026-11-20:
//   - acct_00001: one open, partly paid invoice with serverless (plain, fine-tuned, batch cached), GPU
//     (fractional GPU-seconds), fine-tuning and bulk discount lines, paid partly by a free grant;
//   - acct_00002: a void invoice and the replacement that names it, both covered by credits;
//   - acct_00003: a paid invoice and a credit note against it;
//   - acct_00004: standing only (suspended).
func sampleReport() *invoices.Report {
	period := rating.Period{Year: 2026, Month: time.October}
	closeAt := ts("2026-11-01T02:00:00Z")
	due := tsp("2026-11-16T02:00:00Z")
	inv1 := invoices.DocView{
		Document: invoices.Document{
			ID: 1, Number: "INV-2026-000001", Account: "acct_00001", Period: period, Kind: invoices.KindInvoice,
			IssuedAt: closeAt, DueAt: due, RunID: "run_close_1",
			Lines: []rating.Line{
				tokenLine(llama, "", rating.MeterInput, "1200000", "0.20", "0.24", llama+", input tokens"),
				tokenLine(llama, "", rating.MeterOutput, "350000", "0.20", "0.07", llama+", output tokens"),
				tokenLine(ftm, llama, rating.MeterInput, "2500000", "0.20", "0.50",
					ftm+" (priced as "+llama+"), input tokens"),
				tokenLine(dsv3, "", rating.MeterBatchCachedInput, "2000000", "0.225", "0.45",
					dsv3+", batch cached input tokens"),
				tokenLine(llama, "", rating.MeterBatchInput, "3000000", "0.10", "0.30", llama+", batch input tokens"),
				gpuLine("H100-80GB", "dep-a1", "3600.5", "8.00", "8.00"),
				gpuLine("A100-80GB", "dep-a2", "7200", "2.90", "5.80"),
				{Kind: rating.KindFineTuning, Product: "ftjob-7", BaseModel: llama, Meter: rating.MeterTrainingTokens,
					Description: "fine-tuning job ftjob-7 on " + llama + ", training tokens", Quantity: dec("40000000"),
					Unit: "1M tokens", UnitPrice: dec("0.50"), Amount: cents("20.00")},
				{Kind: rating.KindDiscount, Product: "on_demand", Meter: rating.MeterDiscount,
					Description: "bulk on-demand discount 15% of GPU usage 13.80", Amount: cents("-2.07")},
			},
			Subtotal: cents("33.29"), Discount: cents("-2.07"), CreditsApplied: cents("1.00"),
			AmountDue:    cents("32.29"),
			Consumptions: []invoices.Consumption{{GrantID: "cg_1", Amount: cents("1.00")}},
		},
		AmountPaid: cents("10.00"), Status: invoices.StatusOpen,
	}
	void2 := invoices.DocView{
		Document: invoices.Document{
			ID: 2, Number: "INV-2026-000002", Account: "acct_00002", Period: period, Kind: invoices.KindInvoice,
			IssuedAt: closeAt, DueAt: due, VoidedAt: tsp("2026-11-03T09:30:00.5Z"), RunID: "run_close_1",
			Lines: []rating.Line{
				tokenLine(llama, "", rating.MeterInput, "5000000", "0.20", "1.00", llama+", input tokens"),
			},
			Subtotal: cents("1.00"), CreditsApplied: cents("1.00"),
			Consumptions: []invoices.Consumption{{GrantID: "cg_3", Amount: cents("1.00")}},
		},
		Status: invoices.StatusVoid,
	}
	repl3 := invoices.DocView{
		Document: invoices.Document{
			ID: 4, Number: "INV-2026-000004", Account: "acct_00002", Period: period, Kind: invoices.KindInvoice,
			Replaces: "INV-2026-000002", IssuedAt: ts("2026-11-03T09:30:00.5Z"),
			DueAt: tsp("2026-11-18T09:30:00.5Z"), RunID: "run_rerun_2",
			Lines: []rating.Line{
				tokenLine(llama, "", rating.MeterInput, "6000000", "0.20", "1.20", llama+", input tokens"),
			},
			Subtotal: cents("1.20"), CreditsApplied: cents("1.20"),
			Consumptions: []invoices.Consumption{{GrantID: "cg_3", Amount: cents("1.20")}},
		},
		Status: invoices.StatusPaid,
	}
	inv3 := invoices.DocView{
		Document: invoices.Document{
			ID: 3, Number: "INV-2026-000003", Account: "acct_00003", Period: period, Kind: invoices.KindInvoice,
			IssuedAt: closeAt, DueAt: due, RunID: "run_close_1",
			Lines:    []rating.Line{gpuLine("B200-180GB", "dep-c1", "36000", "13.00", "130.00")},
			Subtotal: cents("130.00"), AmountDue: cents("130.00"),
		},
		AmountPaid: cents("130.00"), Status: invoices.StatusPaid,
	}
	cn1 := invoices.DocView{
		Document: invoices.Document{
			ID: 5, Number: "CN-2026-000001", Account: "acct_00003", Period: period, Kind: invoices.KindCreditNote,
			Corrects: "INV-2026-000003", IssuedAt: ts("2026-11-05T12:00:00Z"), RunID: "run_rerun_3",
			Lines:    []rating.Line{gpuLine("B200-180GB", "dep-c1", "-3600", "13.00", "-13.00")},
			Subtotal: cents("-13.00"),
		},
		Status: invoices.StatusIssued,
	}
	evaluated := ts("2026-11-20T00:00:00Z")
	finished := ts("2026-11-01T02:00:07.25Z")
	return &invoices.Report{
		Period:   period,
		Currency: "USD",
		At:       evaluated,
		Docs:     []invoices.DocView{inv1, void2, inv3, repl3, cn1},
		Standing: []invoices.Standing{
			{Account: "acct_00001", Status: invoices.StandingActive, Tier: 2, SpendLimit: cents("500.00"),
				UsageLimit: cents("500.00"), MonthUsage: cents("12.34"), CreditBalance: cents("99.00"),
				HistoricalSpend: cents("110.00"), EvaluatedAt: evaluated, RunID: "run_sweep_9"},
			{Account: "acct_00002", Status: invoices.StandingActive, Tier: 0, SpendLimit: cents("0.80"),
				UsageLimit: cents("0.80"), CreditBalance: cents("0.80"), EvaluatedAt: evaluated},
			{Account: "acct_00003", Status: invoices.StandingLimitExceeded,
				Reasons: []invoices.Reason{invoices.ReasonSpendLimitReached}, Tier: 1, SpendLimit: cents("50.00"),
				UsageLimit: cents("50.00"), MonthUsage: cents("50.00"), CreditBalance: cents("13.00"),
				HistoricalSpend: cents("130.00"), EvaluatedAt: evaluated},
			{Account: "acct_00004", Status: invoices.StandingSuspended,
				Reasons:    []invoices.Reason{invoices.ReasonPastDueInvoice, invoices.ReasonNoPaymentMethod},
				MonthUsage: cents("3.50"), CreditBalance: cents("-3.50"), EvaluatedAt: evaluated},
		},
		Rejects: []rating.Reject{
			{Object: "dt=2026-10-02/part-0001.jsonl.gz", Line: 17, Code: rating.RejectInvalidJSON,
				Message: "=cmd|' /C calc'!A0"},
			{Object: "dt=2026-10-02/part-0001.jsonl.gz", Line: 18, EventID: "+evt_18", Code: rating.RejectInvalidValue,
				Message: "-1"},
			{Object: "dt=2026-10-03/part-0002.jsonl.zst", Line: 4, EventID: "evt_3,\"q\"", Code: rating.RejectNoPrice,
				Message: "no price: model @acme/x is not in the catalog"},
		},
		Run: &invoices.Run{
			ID: "run_close_1", Kind: invoices.RunClose, Period: period, Scope: "all", At: closeAt,
			StartedAt: ts("2026-11-01T02:00:00.125Z"), FinishedAt: &finished, Status: invoices.RunSucceeded,
			PriceBookHash: "sha256:4f1c0d",
			Manifest: []rating.Object{
				{Key: "usage/dt=2026-10-02/part-0001.jsonl.gz", Size: 18234, ETag: `"9b2cf535f27731c974343645a3985328"`},
				{Key: "usage/dt=2026-10-03/part-0002.jsonl.zst", Size: 912, ETag: `"5d41402abc4b2a76b9719d911017c592"`},
			},
			Counts: rating.Counts{Objects: 2, Bytes: 19146, Lines: 120, EventsTaken: 115, Accepted: 110,
				Duplicates: 2, Rejected: 3,
				RejectsByCode: map[rating.RejectCode]int64{rating.RejectNoPrice: 1, rating.RejectInvalidJSON: 1,
					rating.RejectInvalidValue: 1},
				Meters: map[rating.Meter]decimal.Decimal{rating.MeterInput: dec("14700000"),
					rating.MeterGPUSeconds: dec("43200.5")}},
			Totals: invoices.Totals{Documents: 3, Subtotal: cents("164.29"), Discount: cents("-2.07"),
				CreditsApplied: cents("2.00"), AmountDue: cents("162.29")},
		},
		Accounts: map[string]*invoices.Account{
			"acct_00001": {ID: "acct_00001", Name: "Acme AI", PaymentMethod: true, Grants: []invoices.Grant{
				{ID: "cg_1", Account: "acct_00001", Kind: invoices.GrantFree, Amount: cents("1.00"),
					GrantedAt: ts("2026-01-10T00:00:00Z"), Consumed: cents("1.00")},
				{ID: "cg_2", Account: "acct_00001", Kind: invoices.GrantPurchased, Amount: cents("100.00"),
					GrantedAt: ts("2026-11-02T10:00:00Z"), ExpiresAt: tsp("2027-11-02T10:00:00Z")},
			}},
			"acct_00002": {ID: "acct_00002", Name: "Beta Labs", Grants: []invoices.Grant{
				{ID: "cg_3", Account: "acct_00002", Kind: invoices.GrantPromotional, Amount: cents("2.00"),
					GrantedAt: ts("2026-10-01T00:00:00Z"), ExpiresAt: tsp("2027-01-01T00:00:00Z"),
					Consumed: cents("1.20")},
			}},
			"acct_00003": {ID: "acct_00003", Name: "=Gamma & Sons <GPU>", PaymentMethod: true,
				Grants: []invoices.Grant{
					{ID: "cg_cn_1", Account: "acct_00003", Kind: invoices.GrantCreditNote, Amount: cents("13.00"),
						GrantedAt: ts("2026-11-05T12:00:00Z"), Source: "CN-2026-000001"},
				}},
			"acct_00004": {ID: "acct_00004", Name: "Delta"},
		},
	}
}

// emptyReport is a period with nothing in it.
func emptyReport() *invoices.Report {
	return &invoices.Report{Period: rating.Period{Year: 2026, Month: time.October}, Currency: "USD",
		At: ts("2026-11-01T02:00:00Z")}
}

// effectiveTotals sums the effective documents of r in cents: what the Summary's Total row must show.
func effectiveTotals(r *invoices.Report) [5]rating.Cents {
	var t [5]rating.Cents
	for _, d := range r.Docs {
		if !d.Effective() {
			continue
		}
		t[0] += d.Subtotal
		t[1] += d.Discount
		t[2] += d.CreditsApplied
		t[3] += d.AmountDue
		t[4] += d.AmountPaid
	}
	return t
}

// TestSampleReportTiesOut checks the fixture itself: every document's lines sum to its subtotal and
// amount due is subtotal minus credits, as the domain guarantees.
func TestSampleReportTiesOut(t *testing.T) {
	for _, d := range sampleReport().Docs {
		if got := rating.Sum(d.Lines); got != d.Subtotal {
			t.Errorf("%s: Sum(lines) = %s, want subtotal %s", d.Number, got, d.Subtotal)
		}
		if d.Kind != invoices.KindCreditNote && d.Subtotal-d.CreditsApplied != d.AmountDue {
			t.Errorf("%s: subtotal − credits = %s, want amount due %s", d.Number, d.Subtotal-d.CreditsApplied, d.AmountDue)
		}
	}
}
