package prices

import (
	"os"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func TestParseExample(t *testing.T) {
	pb, _, err := Load("../../cmd/billrun/testdata/examples/01_rounding/prices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.Versions) != 2 {
		t.Fatalf("versions = %d, want 2", len(pb.Versions))
	}
	if got := pb.Versions[1].GPUHour["H100-80GB"]; !got.Equal(decimal.RequireFromString("8.00")) {
		t.Errorf("H100 in 2026-09 = %s, want 8.00", got)
	}
	if got := pb.Models["accounts/fireworks/models/deepseek-v3"]; !got.MoE || !got.ParamsB.Equal(decimal.NewFromInt(671)) {
		t.Errorf("deepseek catalog = %+v", got)
	}
	if b := pb.Versions[0].Serverless.Buckets[4]; b.MaxParamsB != nil || !b.Input.Equal(decimal.RequireFromString("0.90")) {
		t.Errorf("Over 16B bucket = %+v", b)
	}
	if pb.Policy.PaymentTermsDays != 15 || len(pb.Policy.Tiers) != 4 {
		t.Errorf("policy = %+v", pb.Policy)
	}
}

func TestParseRejectsUnknownKey(t *testing.T) {
	_, err := Parse([]byte("currency: USD\nversions:\n  - effective_from: 2026-01-01T00:00:00Z\n    gpu_hours: {A100-80GB: \"1\"}\n"))
	if err == nil {
		t.Fatal("Parse accepted a misspelled key gpu_hours")
	}
}

func TestParseNamesTheLineOfABadDecimal(t *testing.T) {
	_, err := Parse([]byte("currency: USD\nversions:\n  - effective_from: 2026-01-01T00:00:00Z\n    gpu_hour: {A100-80GB: \"2,90\"}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 4: A100-80GB: \"2,90\" is not a decimal number") {
		t.Fatalf("Parse = %v, want the line and field of the bad price", err)
	}
}

// TestParseRefusesAPriceLeftOut: a price left out or null decoded as 0 and billed its usage at 0.00
// (DESIGN §11: a product with no price is a no_price reject, never free). Each edit of the fixture
// book must be refused, naming the line and the field.
func TestParseRefusesAPriceLeftOut(t *testing.T) {
	data, err := os.ReadFile("../../fixtures/prices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(data); err != nil {
		t.Fatalf("the fixture book: %v", err)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"null GPU price", `A100-80GB: "2.90"`, `A100-80GB:`, `line 21: A100-80GB: a number is required`},
		{"null model prices", `accounts/fireworks/models/deepseek-v3: {input: "0.90", cached_input: "0.45", output: "0.90"}`,
			`accounts/fireworks/models/deepseek-v3: {input: "0.90", cached_input: "0.45", output: }`, `line 19: output: a number is required`},
		{"bucket without output", `{name: "4B - 16B",       max_params_b: 16,  input: "0.20", output: "0.20"}`,
			`{name: "4B - 16B",       max_params_b: 16,  input: "0.20"}`, `line 14: versions[0].serverless.buckets[1]: output is required`},
		{"model without output", `{input: "0.90", cached_input: "0.45", output: "0.90"}`, `{input: "0.90", cached_input: "0.45"}`,
			`versions[0].serverless.models.accounts/fireworks/models/deepseek-v3: output is required`},
		{"fine-tuning bucket without price", `{max_params_b: 16,  price: "0.50"}`, `{max_params_b: 16}`,
			`line 30: versions[0].fine_tuning.buckets[0]: price is required`},
		{"null method multiplier", `full_dpo: "4"}`, `full_dpo: }`, `line 34: full_dpo: a number is required`},
		{"volume tier without percent", `{min_gpu_hours: 1000, percent: "5"}`, `{min_gpu_hours: 1000}`,
			`line 26: versions[0].gpu_volume_discounts[0]: percent is required`},
		{"no cached multiplier", "      default_cached_input_multiplier: \"0.5\"\n", "",
			`versions[0].serverless: default_cached_input_multiplier is required`},
		{"tier without spend_limit", `{tier: 2, min_historical_spend: "100",   spend_limit: "500"}`, `{tier: 2, min_historical_spend: "100"}`,
			`policy.tiers[1]: spend_limit is required`},
		{"fractional payment terms", `payment_terms_days: 15`, `payment_terms_days: 1.5`, `payment_terms_days: "1.5" is not a whole number`},
		{"negative volume threshold", `{min_gpu_hours: 1000, percent: "5"}`, `{min_gpu_hours: -1000, percent: "5"}`, `min_gpu_hours -1000 must not be negative`},
		{"negative bucket size", `max_params_b: 4,`, `max_params_b: -4,`, `max_params_b must be positive`},
		{"negative spend limit", `spend_limit: "500"}`, `spend_limit: "-500"}`, `must not be negative`},
		{"a tier twice", `{tier: 3,`, `{tier: 2,`, `tier 2 is listed twice`},
	} {
		t.Run(c.name, func(t *testing.T) {
			edited := strings.Replace(string(data), c.old, c.new, 1)
			if edited == string(data) {
				t.Fatalf("the edit %q did not apply", c.old)
			}
			_, err := Parse([]byte(edited))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestParseNamesEmptyFilesAndBadDates: an empty file and a version date that does not parse are named
// as such (they read "EOF" and a bare time-parsing error before).
func TestParseNamesEmptyFilesAndBadDates(t *testing.T) {
	if _, err := Parse(nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Parse(empty) = %v, want it called empty", err)
	}
	_, err := Parse([]byte("currency: USD\nversions:\n  - effective_from: 2026-13-01T00:00:00Z\n    gpu_hour: {A100-80GB: \"2.90\"}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3: versions[0].effective_from") {
		t.Errorf("Parse(month 13) = %v, want the line and field", err)
	}
}
