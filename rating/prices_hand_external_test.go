package rating_test

// The sample price book read from YAML by billrun/rating/prices (an external test: prices imports
// rating), rated by hand against DESIGN §4.

import (
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"billrun/rating"
	"billrun/rating/prices"
)

const handExamplePrices = "../cmd/billrun/testdata/examples/01_rounding/prices.yaml"

func TestHandExamplePriceBook(t *testing.T) {
	pb, hash, err := prices.Load(handExamplePrices)
	if err != nil {
		t.Fatalf("sample price book: %v", err)
	}
	if len(hash) != 64 {
		t.Errorf("Load hash = %q, want 64 hex digits", hash)
	}
	d := decimal.RequireFromString
	oct := pb.VersionAt(time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC))
	aug := pb.VersionAt(time.Date(2026, 8, 5, 0, 0, 0, 0, time.UTC))
	if oct != 1 || aug != 0 {
		t.Fatalf("VersionAt(Oct, Aug) = %d, %d, want 1, 0", oct, aug)
	}
	serverless := []struct {
		model, base     string
		in, cached, out string
	}{
		{"accounts/fireworks/models/llama-v3p1-8b-instruct", "", "0.20", "0.10", "0.20"}, // 8B → 4B-16B, cached × 0.5
		{"accounts/fireworks/models/llama-v3p2-3b-instruct", "", "0.10", "0.05", "0.10"}, // 3B → Up to 4B
		{"accounts/fireworks/models/deepseek-v3", "", "0.90", "0.45", "0.90"},            // explicit
		{"accounts/acme/models/ft", "accounts/fireworks/models/deepseek-v3", "0.90", "0.45", "0.90"},
	}
	for _, tc := range serverless {
		r, err := pb.ServerlessRates(oct, tc.model, tc.base)
		if err != nil {
			t.Errorf("ServerlessRates(%s) error = %v", tc.model, err)
			continue
		}
		if !r.Input.Equal(d(tc.in)) || !r.CachedInput.Equal(d(tc.cached)) || !r.Output.Equal(d(tc.out)) {
			t.Errorf("ServerlessRates(%s) = %s/%s/%s, want %s/%s/%s", tc.model, r.Input, r.CachedInput, r.Output, tc.in, tc.cached, tc.out)
		}
		// batch: × 0.5
		if got := r.Input.Mul(r.BatchMultiplier); !got.Equal(d(tc.in).Div(d("2"))) {
			t.Errorf("batch input of %s = %s, want %s / 2", tc.model, got, tc.in)
		}
	}
	if _, err := pb.ServerlessRates(oct, "accounts/acme/models/unknown", ""); !errors.Is(err, rating.ErrNoPrice) {
		t.Errorf("ServerlessRates(unknown) error = %v, want ErrNoPrice", err)
	}
	gpu := []struct {
		v    int
		gpu  string
		want string
	}{{aug, "H100-80GB", "4.00"}, {oct, "H100-80GB", "8.00"}, {oct, "H200-141GB", "8.00"}, {oct, "B200-180GB", "13.00"}, {oct, "A100-80GB", "2.90"}}
	for _, tc := range gpu {
		if got, err := pb.GPURate(tc.v, tc.gpu); err != nil || !got.Equal(d(tc.want)) {
			t.Errorf("GPURate(%d, %s) = %s, %v, want %s", tc.v, tc.gpu, got, err, tc.want)
		}
	}
	// deepseek 671B → unbounded bucket 10.00 × full_dpo 4 = 40.00
	if got, err := pb.FineTuningRate(oct, "accounts/fireworks/models/deepseek-v3", "full_dpo"); err != nil || !got.Equal(d("40")) {
		t.Errorf("FineTuningRate(deepseek, full_dpo) = %s, %v, want 40.00", got, err)
	}
	if pb.Policy.PaymentTermsDays != 15 {
		t.Errorf("PaymentTermsDays = %d, want 15", pb.Policy.PaymentTermsDays)
	}

	// Example 01 acct_r3, rated through the loaded book: A100 2 GPUs × 90 s and a batch llama 8B event.
	r := rating.NewRater(pb, rating.PeriodWindow(rating.Period{Year: 2026, Month: time.October}), nil)
	agg := rating.NewAggregate()
	events := []rating.Event{
		{ID: "r3-g", Account: "acct_r3", Type: rating.KindGPU, Deployment: "dep", GPUType: "A100-80GB", GPUCount: 2,
			Start: time.Date(2026, 10, 12, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 10, 12, 10, 1, 30, 0, time.UTC),
			TS: time.Date(2026, 10, 12, 10, 1, 30, 0, time.UTC)},
		{ID: "r3-b", Account: "acct_r3", Type: rating.KindServerless, TS: time.Date(2026, 10, 7, 0, 0, 0, 0, time.UTC),
			Model: "accounts/fireworks/models/llama-v3p1-8b-instruct", InputTokens: 200_000, CachedInputTokens: 100_000,
			OutputTokens: 50_000, Batch: true},
	}
	for i := range events {
		if code, msg := r.Add(&events[i], agg); code != "" {
			t.Fatalf("Add(%s) = %s %s", events[i].ID, code, msg)
		}
	}
	ls := rating.BuildLines(agg.LineMap())
	// GPU 180 GPU-s × 2.90 / 3600 = 0.145 → 0.15 ; batch in 100k × 0.10 = 0.01 ; batch cached 100k × 0.05 =
	// 0.005 → 0.01 ; batch out 50k × 0.10 = 0.005 → 0.01 ; subtotal 0.18
	want := map[rating.Meter]struct {
		q, price string
		amount   rating.Cents
	}{
		rating.MeterGPUSeconds:       {"180", "2.90", 15},
		rating.MeterBatchInput:       {"100000", "0.10", 1},
		rating.MeterBatchCachedInput: {"100000", "0.05", 1},
		rating.MeterBatchOutput:      {"50000", "0.10", 1},
	}
	if len(ls) != len(want) {
		t.Fatalf("example 01 acct_r3: %d lines, want %d", len(ls), len(want))
	}
	for _, l := range ls {
		w, ok := want[l.Meter]
		if !ok || !l.Quantity.Equal(d(w.q)) || !l.UnitPrice.Equal(d(w.price)) || l.Amount != w.amount {
			t.Errorf("example 01 acct_r3 line %s = %s × %s = %d, want %+v", l.Meter, l.Quantity, l.UnitPrice, l.Amount, w)
		}
		if got := rating.FormatPrice(l.UnitPrice); got != w.price {
			t.Errorf("FormatPrice(%s line) = %q, want %q", l.Meter, got, w.price)
		}
	}
	if got := rating.Sum(ls); got != 18 {
		t.Errorf("example 01 acct_r3 subtotal = %s, want 0.18", got)
	}
}

// DESIGN §6 step 5 / §4: payment_terms_days defaults to 15. A policy that lists its tiers but leaves the
// terms out should still get the 15-day default (due dates are issue + terms × 24 h).
func TestHandPolicyPaymentTermsDefault(t *testing.T) {
	const book = `currency: USD
versions:
  - effective_from: 2026-01-01T00:00:00Z
    gpu_hour: {A100-80GB: "2.90"}
models: {}
policy:
  tiers:
    - {tier: 1, min_historical_spend: "0",   spend_limit: "50"}
    - {tier: 2, min_historical_spend: "100", spend_limit: "500"}
`
	pb, err := prices.Parse([]byte(book))
	if err != nil {
		t.Fatalf("Parse error = %v", err)
	}
	if pb.Policy.PaymentTermsDays != 15 {
		t.Errorf("Policy.PaymentTermsDays (absent from the file) = %d, want the default 15", pb.Policy.PaymentTermsDays)
	}
	if len(pb.Policy.Tiers) != 2 {
		t.Errorf("Policy.Tiers = %d, want the 2 listed", len(pb.Policy.Tiers))
	}

	const termsOnly = `currency: USD
versions:
  - effective_from: 2026-01-01T00:00:00Z
    gpu_hour: {A100-80GB: "2.90"}
policy:
  payment_terms_days: 30
`
	pb, err = prices.Parse([]byte(termsOnly))
	if err != nil {
		t.Fatalf("Parse error = %v", err)
	}
	if pb.Policy.PaymentTermsDays != 30 || len(pb.Policy.Tiers) != 4 {
		t.Errorf("Policy = %d days, %d tiers, want 30 days and the 4 default tiers", pb.Policy.PaymentTermsDays, len(pb.Policy.Tiers))
	}
}
