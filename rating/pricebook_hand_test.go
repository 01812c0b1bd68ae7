package rating

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shopspring/decimal"
)

// DESIGN §4 buckets: first match wins; moe rows match only MoE models, the others only dense models;
// max_params_b inclusive. Cached = cached_input if explicit, else input × 0.5. Fine-tuned models are
// priced exactly as their base (§4, §11 "An event with base_model is always priced as that base model").
func TestHandServerlessRates(t *testing.T) {
	pb := handPriceBook(t)
	tests := []struct {
		name            string
		model, base     string
		in, cached, out string // per 1M tokens
		pricedAs        string
		wantNoPrice     bool
	}{
		// Up to 4B: 0.10 in/out, cached 0.10 × 0.5 = 0.05
		{name: "up to 4B: params_b 1.5", model: handDense1p5, in: "0.10", cached: "0.05", out: "0.10", pricedAs: handDense1p5},
		{name: "up to 4B: llama 3B", model: handLlama3B, in: "0.10", cached: "0.05", out: "0.10", pricedAs: handLlama3B},
		{name: "up to 4B inclusive at exactly 4", model: handDense4, in: "0.10", cached: "0.05", out: "0.10", pricedAs: handDense4},
		// 4B - 16B: 0.20, cached 0.20 × 0.5 = 0.10
		{name: "4B-16B just above 4 (4.01)", model: handDense4p01, in: "0.20", cached: "0.10", out: "0.20", pricedAs: handDense4p01},
		{name: "4B-16B: llama 8B", model: handLlama8B, in: "0.20", cached: "0.10", out: "0.20", pricedAs: handLlama8B},
		{name: "4B-16B inclusive at exactly 16", model: handDense16, in: "0.20", cached: "0.10", out: "0.20", pricedAs: handDense16},
		// Over 16B: 0.90, cached 0.90 × 0.5 = 0.45
		{name: "over 16B: 16.5", model: handDense16p5, in: "0.90", cached: "0.45", out: "0.90", pricedAs: handDense16p5},
		{name: "dense 40B never matches MoE up to 56B (0.50)", model: handDense40, in: "0.90", cached: "0.45", out: "0.90", pricedAs: handDense40},
		{name: "dense 100B never matches MoE 56B-176B (1.20)", model: handDense100, in: "0.90", cached: "0.45", out: "0.90", pricedAs: handDense100},
		// MoE up to 56B: 0.50, cached 0.25
		{name: "MoE 3B never matches dense Up to 4B (0.10)", model: handMoE3, in: "0.50", cached: "0.25", out: "0.50", pricedAs: handMoE3},
		{name: "MoE up to 56B inclusive at exactly 56", model: handMoE56, in: "0.50", cached: "0.25", out: "0.50", pricedAs: handMoE56},
		// MoE 56B - 176B: 1.20, cached 0.60
		{name: "MoE 56.5 in 56B-176B", model: handMoE56p5, in: "1.20", cached: "0.60", out: "1.20", pricedAs: handMoE56p5},
		{name: "MoE 56B-176B inclusive at exactly 176", model: handMoE176, in: "1.20", cached: "0.60", out: "1.20", pricedAs: handMoE176},
		// §11: a MoE model larger than every MoE bucket needs explicit prices (Over 16B is dense-only).
		{name: "MoE 235B above every MoE bucket, no explicit price", model: handMoE235, wantNoPrice: true},
		// Explicit model price wins over buckets; explicit cached_input 0.45.
		{name: "deepseek-v3 explicit price", model: handDeepseek, in: "0.90", cached: "0.45", out: "0.90", pricedAs: handDeepseek},
		// Explicit price without cached_input: 0.30 × 0.5 = 0.15 (would be 0.10 from the 4B-16B bucket).
		{name: "explicit price, default cached multiplier", model: handExplicitNoCached, in: "0.30", cached: "0.15", out: "0.60", pricedAs: handExplicitNoCached},
		// Fine-tuned: priced as base.
		{name: "fine-tuned priced as llama 8B base", model: handFTPlain, base: handLlama8B, in: "0.20", cached: "0.10", out: "0.20", pricedAs: handLlama8B},
		{name: "fine-tuned priced as deepseek base", model: handFTPlain, base: handDeepseek, in: "0.90", cached: "0.45", out: "0.90", pricedAs: handDeepseek},
		// The model's own explicit 5.00 is ignored: base llama 8B → 0.20.
		{name: "base_model wins over the model's own explicit price", model: handFTOwnPrice, base: handLlama8B, in: "0.20", cached: "0.10", out: "0.20", pricedAs: handLlama8B},
		// Without base_model, its own explicit price applies: 5.00, cached 5.00 × 0.5 = 2.50.
		{name: "own explicit price without base_model", model: handFTOwnPrice, in: "5.00", cached: "2.50", out: "5.00", pricedAs: handFTOwnPrice},
		{name: "model not in catalog, no base", model: handUnknownModel, wantNoPrice: true},
		{name: "fine-tuned with base not in catalog", model: handFTPlain, base: handUnknownModel, wantNoPrice: true},
		{name: "fine-tuned base MoE 235B without price", model: handFTPlain, base: handMoE235, wantNoPrice: true},
	}
	for _, v := range []int{0, 1} {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("version %d/%s", v, tc.name), func(t *testing.T) {
				got, err := pb.ServerlessRates(v, tc.model, tc.base)
				if tc.wantNoPrice {
					if !errors.Is(err, ErrNoPrice) {
						t.Fatalf("ServerlessRates(%d, %s, %q) error = %v, want ErrNoPrice", v, tc.model, tc.base, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("ServerlessRates(%d, %s, %q) error = %v, want nil", v, tc.model, tc.base, err)
				}
				if !got.Input.Equal(handDec(tc.in)) || !got.CachedInput.Equal(handDec(tc.cached)) || !got.Output.Equal(handDec(tc.out)) {
					t.Errorf("ServerlessRates(%d, %s, %q) = in %s cached %s out %s, want in %s cached %s out %s",
						v, tc.model, tc.base, got.Input, got.CachedInput, got.Output, tc.in, tc.cached, tc.out)
				}
				if !got.BatchMultiplier.Equal(handDec("0.5")) {
					t.Errorf("ServerlessRates(%d, %s).BatchMultiplier = %s, want 0.5", v, tc.model, got.BatchMultiplier)
				}
				if got.PricedAs != tc.pricedAs {
					t.Errorf("ServerlessRates(%d, %s, %q).PricedAs = %q, want %q", v, tc.model, tc.base, got.PricedAs, tc.pricedAs)
				}
			})
		}
	}
}

// DESIGN §4/§11: fine-tuning price = bucket price by the base's total params_b (max inclusive: 16, 80,
// 300, unbounded) × method multiplier (lora_sft 1, lora_dpo 2, full_sft 2, full_dpo 4), per 1M tokens.
func TestHandFineTuningRate(t *testing.T) {
	pb := handPriceBook(t)
	tests := []struct {
		name   string
		base   string
		bucket string // the bucket price the base falls in
	}{
		{name: "8B in ≤16", base: handLlama8B, bucket: "0.50"},
		{name: "exactly 16 inclusive", base: handDense16, bucket: "0.50"},
		{name: "16.5 in ≤80", base: handDense16p5, bucket: "3.00"},
		{name: "exactly 80 inclusive", base: handDense80, bucket: "3.00"},
		{name: "80.5 in ≤300", base: handDense80p5, bucket: "6.00"},
		{name: "exactly 300 inclusive", base: handDense300, bucket: "6.00"},
		{name: "301 unbounded", base: handDense301, bucket: "10.00"},
		{name: "MoE 671 by total params unbounded", base: handDeepseek, bucket: "10.00"},
		{name: "MoE 56 by total params ≤80", base: handMoE56, bucket: "3.00"},
	}
	// price × multiplier, worked out per bucket:
	//   0.50: lora_sft 0.50, lora_dpo 1.00, full_sft 1.00, full_dpo 2.00
	//   3.00: 3.00, 6.00, 6.00, 12.00
	//   6.00: 6.00, 12.00, 12.00, 24.00
	//   10.00: 10.00, 20.00, 20.00, 40.00
	want := map[string]map[string]string{
		"0.50":  {"lora_sft": "0.50", "lora_dpo": "1.00", "full_sft": "1.00", "full_dpo": "2.00"},
		"3.00":  {"lora_sft": "3.00", "lora_dpo": "6.00", "full_sft": "6.00", "full_dpo": "12.00"},
		"6.00":  {"lora_sft": "6.00", "lora_dpo": "12.00", "full_sft": "12.00", "full_dpo": "24.00"},
		"10.00": {"lora_sft": "10.00", "lora_dpo": "20.00", "full_sft": "20.00", "full_dpo": "40.00"},
	}
	for _, tc := range tests {
		for _, method := range []string{"lora_sft", "lora_dpo", "full_sft", "full_dpo"} {
			t.Run(tc.name+"/"+method, func(t *testing.T) {
				got, err := pb.FineTuningRate(1, tc.base, method)
				if err != nil {
					t.Fatalf("FineTuningRate(1, %s, %s) error = %v, want nil", tc.base, method, err)
				}
				if w := handDec(want[tc.bucket][method]); !got.Equal(w) {
					t.Errorf("FineTuningRate(1, %s, %s) = %s, want %s", tc.base, method, got, w)
				}
			})
		}
	}
	t.Run("base not in catalog", func(t *testing.T) {
		if _, err := pb.FineTuningRate(1, handUnknownModel, "lora_sft"); !errors.Is(err, ErrNoPrice) {
			t.Errorf("FineTuningRate(1, unknown, lora_sft) error = %v, want ErrNoPrice", err)
		}
	})
}

func TestHandGPURate(t *testing.T) {
	pb := handPriceBook(t)
	tests := []struct {
		version int
		gpu     string
		want    string
	}{
		{0, "H100-80GB", "4.00"}, {1, "H100-80GB", "8.00"},
		{0, "H200-141GB", "6.00"}, {1, "H200-141GB", "8.00"},
		{0, "B200-180GB", "9.00"}, {1, "B200-180GB", "13.00"},
		{0, "A100-80GB", "2.90"}, {1, "A100-80GB", "2.90"},
	}
	for _, tc := range tests {
		got, err := pb.GPURate(tc.version, tc.gpu)
		if err != nil || !got.Equal(handDec(tc.want)) {
			t.Errorf("GPURate(%d, %s) = %s, %v, want %s, nil", tc.version, tc.gpu, got, err, tc.want)
		}
	}
	if _, err := pb.GPURate(1, "MI300X"); !errors.Is(err, ErrNoPrice) {
		t.Errorf("GPURate(1, MI300X) error = %v, want ErrNoPrice", err)
	}
}

// DESIGN §6 step 2: tiers 1000 h → 5 %, 5000 h → 10 %, thresholds inclusive.
func TestHandVolumePercent(t *testing.T) {
	pb := handPriceBook(t)
	tests := []struct {
		version int
		hours   string
		want    string
	}{
		{1, "0", "0"},
		{1, "999.999999", "0"},
		{1, "1000", "5"}, // exactly the threshold: inclusive
		{1, "4999.99", "5"},
		{1, "5000", "10"}, // inclusive
		{1, "123456", "10"},
		{0, "1000", "5"},
		{-1, "100000", "0"}, // no version in effect: no tiers
	}
	// A threshold whose seconds end but whose hours do not: 1,200 s is 1/3 h, and the tier at
	// 0.333…3 h (27 threes) is reached — compared as seconds, 1,200 ≥ 1,199.99…988. In hours rounded to
	// 24 places, 0.333…3 (24 threes) fell short of it.
	third := handPriceBook(t)
	third.Versions[1].GPUVolumeDiscounts = []VolumeTier{{MinGPUHours: handDec("0.333333333333333333333333333"), Percent: handDec("20")}}
	if got := third.VolumePercent(1, handDec("1200")); !got.Equal(handDec("20")) {
		t.Errorf("VolumePercent(1, 1200 s) with a tier at 0.333…3 h = %s, want 20", got)
	}
	if got := third.VolumePercent(1, handDec("1199.999")); !got.IsZero() {
		t.Errorf("VolumePercent(1, 1199.999 s) with a tier at 0.333…3 h = %s, want 0", got)
	}
	for _, tc := range tests {
		if got := pb.VolumePercent(tc.version, handDec(tc.hours).Mul(decimal.NewFromInt(3600))); !got.Equal(handDec(tc.want)) {
			t.Errorf("VolumePercent(%d, %s) = %s, want %s", tc.version, tc.hours, got, tc.want)
		}
	}
}

// Versions are chosen by usage time; usage before the first version has none (§11).
func TestHandVersionAt(t *testing.T) {
	pb := handPriceBook(t)
	tests := []struct {
		at   string
		want int
	}{
		{"2025-12-31T23:59:59.999999999Z", -1},
		{"2026-01-01T00:00:00Z", 0},
		{"2026-08-31T23:59:59.999999999Z", 0},
		{"2026-09-01T00:00:00Z", 1}, // effective_from is the first instant of the version
		{"2026-09-01T02:00:00+02:00", 1},
		{"2026-09-01T01:59:59+02:00", 0}, // = 2026-08-31T23:59:59Z
		{"2030-01-01T00:00:00Z", 1},
	}
	for _, tc := range tests {
		if got := pb.VersionAt(handTime(tc.at)); got != tc.want {
			t.Errorf("VersionAt(%s) = %d, want %d", tc.at, got, tc.want)
		}
	}
	if got, want := pb.VersionEnd(0), handTime("2026-09-01T00:00:00Z"); !got.Equal(want) {
		t.Errorf("VersionEnd(0) = %s, want %s", got, want)
	}
	if got := pb.VersionEnd(1); !got.IsZero() {
		t.Errorf("VersionEnd(1) = %s, want zero time", got)
	}
}

// Validate sorts versions by effective_from, so a book written out of order picks the same version.
func TestHandValidateSortsVersions(t *testing.T) {
	pb := &PriceBook{Versions: []Version{
		handVersion("2026-09-01T00:00:00Z", "8.00", "8.00", "13.00"),
		handVersion("2026-01-01T00:00:00Z", "4.00", "6.00", "9.00"),
	}, Models: map[string]ModelInfo{handLlama8B: {ParamsB: handDec("8")}}}
	if err := pb.Validate(); err != nil {
		t.Fatalf("Validate() = %v, want nil", err)
	}
	v := pb.VersionAt(handTime("2026-08-15T00:00:00Z"))
	if got, err := pb.GPURate(v, "H100-80GB"); err != nil || !got.Equal(handDec("4.00")) {
		t.Errorf("H100 on 2026-08-15 = %s, %v, want 4.00 (version 2026-01-01)", got, err)
	}
	if pb.Currency != "USD" {
		t.Errorf("Currency = %q, want USD by default", pb.Currency)
	}
	// Policy absent: DESIGN §7 defaults, 15 payment terms days.
	if pb.Policy.PaymentTermsDays != 15 || len(pb.Policy.Tiers) != 4 {
		t.Errorf("Policy = %+v, want the defaults (15 days, 4 tiers)", pb.Policy)
	}
	bad := &PriceBook{Currency: "EUR", Versions: pb.Versions}
	if err := bad.Validate(); err == nil {
		t.Errorf("Validate(currency EUR) = nil, want an error (one currency, USD)")
	}
}
