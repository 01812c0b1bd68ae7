package prices

import (
	"os"
	"strings"
	"testing"
	"time"

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
	if err == nil || !strings.Contains(err.Error(), "line 4: versions[0].gpu_hour.A100-80GB: \"2,90\" is not a decimal number") {
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
		{"null GPU price", `A100-80GB: "2.90"`, `A100-80GB:`, `line 21: versions[0].gpu_hour.A100-80GB: a number is required`},
		{"null model prices", `accounts/fireworks/models/deepseek-v3: {input: "0.90", cached_input: "0.45", output: "0.90"}`,
			`accounts/fireworks/models/deepseek-v3: {input: "0.90", cached_input: "0.45", output: }`, `line 19: versions[0].serverless.models.accounts/fireworks/models/deepseek-v3.output: a number is required`},
		{"bucket without output", `{name: "4B - 16B",       max_params_b: 16,  input: "0.20", output: "0.20"}`,
			`{name: "4B - 16B",       max_params_b: 16,  input: "0.20"}`, `line 14: versions[0].serverless.buckets[1]: output is required`},
		{"model without output", `{input: "0.90", cached_input: "0.45", output: "0.90"}`, `{input: "0.90", cached_input: "0.45"}`,
			`versions[0].serverless.models.accounts/fireworks/models/deepseek-v3: output is required`},
		{"fine-tuning bucket without price", `{max_params_b: 16,  price: "0.50"}`, `{max_params_b: 16}`,
			`line 30: versions[0].fine_tuning.buckets[0]: price is required`},
		{"null method multiplier", `full_dpo: "4"}`, `full_dpo: }`, `line 34: versions[0].fine_tuning.method_multipliers.full_dpo: a number is required`},
		{"volume tier without percent", `{min_gpu_hours: 1000, percent: "5"}`, `{min_gpu_hours: 1000}`,
			`line 26: versions[0].gpu_volume_discounts[0]: percent is required`},
		{"no cached multiplier", "      default_cached_input_multiplier: \"0.5\"\n", "",
			`versions[0].serverless: default_cached_input_multiplier is required`},
		{"tier without spend_limit", `{tier: 2, min_historical_spend: "100",   spend_limit: "500"}`, `{tier: 2, min_historical_spend: "100"}`,
			`policy.tiers[1]: spend_limit is required`},
		{"fractional payment terms", `payment_terms_days: 15`, `payment_terms_days: 1.5`, `payment_terms_days: "1.5" is not a whole number`},
		{"negative volume threshold", `{min_gpu_hours: 1000, percent: "5"}`, `{min_gpu_hours: -1000, percent: "5"}`, `line 26: versions[0].gpu_volume_discounts[0].min_gpu_hours: must not be negative`},
		{"negative bucket size", `max_params_b: 4,`, `max_params_b: -4,`, `line 13: versions[0].serverless.buckets[0].max_params_b: must be positive`},
		{"negative spend limit", `spend_limit: "500"}`, `spend_limit: "-500"}`, `line 75: policy.tiers[1].spend_limit: must not be negative`},
		{"a tier twice", `{tier: 3,`, `{tier: 2,`, `line 76: policy.tiers[2].tier: tier 2 is listed twice, first on line 75`},
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
	// A date alone is midnight UTC, as YAML reads it; quoted, it is a text that is no time.
	pb, err := Parse([]byte("currency: USD\nversions:\n  - effective_from: 2026-09-01\n    gpu_hour: {A100-80GB: \"2.90\"}\n"))
	if err != nil {
		t.Fatalf("Parse(2026-09-01) = %v", err)
	}
	if got, want := pb.Versions[0].EffectiveFrom, time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("effective_from 2026-09-01 = %v, want %v", got, want)
	}
	_, err = Parse([]byte("currency: USD\nversions:\n  - effective_from: \"2026-09-01\"\n    gpu_hour: {A100-80GB: \"2.90\"}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3: versions[0].effective_from") {
		t.Errorf("Parse(quoted 2026-09-01) = %v, want the line and field", err)
	}
}

// editedFixture returns the fixture book with each pair of edits (old, new) applied to the first
// occurrence of old; it fails the test if an edit does not apply.
func editedFixture(t *testing.T, edits ...string) []byte {
	t.Helper()
	data, err := os.ReadFile("../../fixtures/prices.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("the edit %q did not apply", edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	return []byte(s)
}

const (
	deepseekPrices = `accounts/fireworks/models/deepseek-v3: {input: "0.90", cached_input: "0.45", output: "0.90"}`
	over16B        = `{name: "Over 16B",                                     input: "0.90", output: "0.90"}`
	// nullAnchor gives the Over 16B bucket of the first version an explicit null bound (allowed: no size
	// limit) anchored as &nul, for later aliases to reach a null.
	nullAnchor = `{name: "Over 16B", max_params_b: &nul ~, input: "0.90", output: "0.90"}`
)

// TestParseRefusesANullPriceHoweverSpelled: a null price loaded without error when the check read the
// literal text rather than the value: a null model entry (nothing after the key, ~ or null) decoded as
// a model priced 0, and a null reached through an alias (*nul) or a merge key (<<) slipped through; its
// usage was then billed at 0.00 (DESIGN §11: no price is a no_price reject, never free). Each edit of
// the fixture book must be refused, naming the line and the field.
func TestParseRefusesANullPriceHoweverSpelled(t *testing.T) {
	for _, c := range []struct {
		name  string
		edits []string
		want  string
	}{
		{"model entry with nothing after it", []string{deepseekPrices, `accounts/fireworks/models/deepseek-v3:`},
			`line 19: versions[0].serverless.models.accounts/fireworks/models/deepseek-v3: the entry is null: give it input and output, or leave it out`},
		{"model entry ~", []string{deepseekPrices, `accounts/fireworks/models/deepseek-v3: ~`},
			`line 19: versions[0].serverless.models.accounts/fireworks/models/deepseek-v3: the entry is null`},
		{"model entry null", []string{deepseekPrices, `accounts/fireworks/models/deepseek-v3: null`},
			`line 19: versions[0].serverless.models.accounts/fireworks/models/deepseek-v3: the entry is null`},
		{"model entry {}", []string{deepseekPrices, `accounts/fireworks/models/deepseek-v3: {}`},
			`line 19: versions[0].serverless.models.accounts/fireworks/models/deepseek-v3: input is required`},
		{"model entry an alias to a null", []string{over16B, nullAnchor, deepseekPrices, `accounts/fireworks/models/deepseek-v3: *nul`},
			`line 19: versions[0].serverless.models.accounts/fireworks/models/deepseek-v3: the entry is null (through the alias *nul to line 17)`},
		{"bucket prices aliases to its null bound",
			[]string{`{name: "4B - 16B",       max_params_b: 16,  input: "0.20", output: "0.20"}`, `{name: x, max_params_b: &nul ~, input: *nul, output: *nul}`},
			`line 14: versions[0].serverless.buckets[1].input: a number is required, not null (through the alias *nul to line 14)`},
		{"GPU price an alias to a null", []string{over16B, nullAnchor, `H100-80GB: "4.00"`, `H100-80GB: *nul`},
			`line 22: versions[0].gpu_hour.H100-80GB: a number is required, not null (through the alias *nul to line 17)`},
		{"GPU price a mapping", []string{over16B, nullAnchor, `H100-80GB: "4.00"`, `H100-80GB: {X: *nul}`},
			`line 22: versions[0].gpu_hour.H100-80GB: a decimal number is required, not a mapping`},
		{"multiplier an alias to a null", []string{over16B, nullAnchor,
			"2026-09-01T00:00:00Z\n    serverless:\n      default_cached_input_multiplier: \"0.5\"\n      batch_multiplier: \"0.5\"",
			"2026-09-01T00:00:00Z\n    serverless:\n      default_cached_input_multiplier: \"0.5\"\n      batch_multiplier: *nul"},
			`line 38: versions[1].serverless.batch_multiplier: a number is required, not null (through the alias *nul to line 17)`},
		{"catalog size an alias to a null", []string{over16B, nullAnchor, `{params_b: 8}`, `{params_b: *nul}`},
			`line 66: models.accounts/fireworks/models/llama-v3p1-8b-instruct.params_b: a number is required, not null (through the alias *nul to line 17)`},
		{"catalog entry null", []string{`{params_b: 8}`, `~`},
			`line 66: models.accounts/fireworks/models/llama-v3p1-8b-instruct: the entry is null: give it params_b, or leave it out`},
		{"a null merged into GPU prices", []string{deepseekPrices, `accounts/fireworks/models/deepseek-v3: &m {input: "0.90", cached_input: ~, output: "0.90"}`,
			`H100-80GB: "4.00"`, `H100-80GB: "4.00"` + "\n      <<: *m"},
			`line 19: versions[0].gpu_hour.cached_input: a number is required, not null`},
		{"a bucket whose prices are merged from a mapping without output",
			[]string{`{name: "4B - 16B",       max_params_b: 16,  input: "0.20", output: "0.20"}`, `{<<: {input: "0.20"}, name: x, max_params_b: 16}`},
			`line 14: versions[0].serverless.buckets[1]: output is required`},
		{"a tier's number an alias to a null", []string{over16B, nullAnchor, `{tier: 2,`, `{tier: *nul,`},
			`policy.tiers[1].tier: a value is required, not null (through the alias *nul to line 17)`},
		{"a bad decimal through an alias", []string{over16B, `{name: &bad "Over 16B", input: "0.90", output: "0.90"}`, `H100-80GB: "4.00"`, `H100-80GB: *bad`},
			`line 22: versions[0].gpu_hour.H100-80GB: "Over 16B" is not a decimal number (through the alias *bad to line 17)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(editedFixture(t, c.edits...))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestParseReadsAliasesAndMerges: aliases and merge keys that reach real prices still load, with the
// prices they reach; a null bound reached through an alias is no bound, as written out it is.
func TestParseReadsAliasesAndMerges(t *testing.T) {
	pb, err := Parse(editedFixture(t,
		over16B, nullAnchor,
		`H100-80GB: "4.00"`, `H100-80GB: &h100 "4.00"`,
		`H200-141GB: "6.00"`, `H200-141GB: *h100`,
		`{max_params_b: 300, price: "6.00"}`, `{max_params_b: *nul, price: "6.00"}`,
		"    gpu_hour:\n      A100-80GB: \"2.90\"\n      H100-80GB: \"8.00\"", "    gpu_hour: &gpu2\n      A100-80GB: \"2.90\"\n      H100-80GB: \"8.00\"",
	))
	if err != nil {
		t.Fatalf("Parse = %v, want the book", err)
	}
	if got := pb.Versions[0].GPUHour["H200-141GB"]; !got.Equal(decimal.RequireFromString("4.00")) {
		t.Errorf("H200 through *h100 = %s, want 4.00", got)
	}
	if b := pb.Versions[0].FineTuning.Buckets[2]; b.MaxParamsB != nil || !b.Price.Equal(decimal.RequireFromString("6.00")) {
		t.Errorf("fine-tuning bucket with max_params_b: *nul = %+v, want no bound and 6.00", b)
	}

	merged := `currency: USD
versions:
  - effective_from: 2026-01-01T00:00:00Z
    gpu_hour: &jan {A100-80GB: "2.90", H100-80GB: "4.00"}
  - effective_from: 2026-09-01T00:00:00Z
    gpu_hour: {<<: *jan, H100-80GB: "8.00"}
`
	pb, err = Parse([]byte(merged))
	if err != nil {
		t.Fatalf("Parse(merged gpu_hour) = %v, want the book", err)
	}
	if a, h := pb.Versions[1].GPUHour["A100-80GB"], pb.Versions[1].GPUHour["H100-80GB"]; !a.Equal(decimal.RequireFromString("2.90")) || !h.Equal(decimal.RequireFromString("8.00")) {
		t.Errorf("merged gpu_hour = A100 %s, H100 %s, want 2.90 and 8.00", a, h)
	}
}

// TestParseRefusesANullListItem: a null item (- ~, or - with nothing after it) in a list of buckets,
// tiers or versions was dropped without a word, so the book priced less than it was written to. Each
// must be refused, naming the line and the list.
func TestParseRefusesANullListItem(t *testing.T) {
	for _, c := range []struct {
		name  string
		edits []string
		want  string
	}{
		{"serverless bucket ~", []string{`- {name: "Up to 4B",       max_params_b: 4,   input: "0.10", output: "0.10"}`, `- ~`},
			`line 13: versions[0].serverless.buckets[0]: a null item in the list versions[0].serverless.buckets: give it input and output, or remove it`},
		{"serverless bucket empty", []string{`- {name: "Up to 4B",       max_params_b: 4,   input: "0.10", output: "0.10"}`, `-`},
			`line 13: versions[0].serverless.buckets[0]: a null item in the list versions[0].serverless.buckets`},
		{"serverless bucket an alias to a null", []string{
			`- {name: "Up to 4B",       max_params_b: 4,   input: "0.10", output: "0.10"}`, `- {name: &nul ~, max_params_b: 4,   input: "0.10", output: "0.10"}` + "\n        - *nul"},
			`line 14: versions[0].serverless.buckets[1]: a null item in the list versions[0].serverless.buckets (through the alias *nul to line 13)`},
		{"fine-tuning bucket", []string{`- {max_params_b: 16,  price: "0.50"}`, `- ~`},
			`line 30: versions[0].fine_tuning.buckets[0]: a null item in the list versions[0].fine_tuning.buckets: give it price, or remove it`},
		{"volume tier", []string{`- {min_gpu_hours: 1000, percent: "5"}`, `-`},
			`line 26: versions[0].gpu_volume_discounts[0]: a null item in the list versions[0].gpu_volume_discounts: give it min_gpu_hours and percent, or remove it`},
		{"policy tier", []string{`- {tier: 1, min_historical_spend: "0",     spend_limit: "50"}`, `- ~`},
			`line 74: policy.tiers[0]: a null item in the list policy.tiers: give it tier, min_historical_spend and spend_limit, or remove it`},
		{"version", []string{"versions:\n", "versions:\n  -\n"},
			`line 8: versions[0]: a null item in the list versions: give it effective_from and its prices, or remove it`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(editedFixture(t, c.edits...))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestParseReadsMoEAsABoolean: moe was read loosely: moe: ~ read as false, a quoted "no" as false and
// "yes" as true (the decoder's YAML 1.1 leniency), so a null moe priced an MoE model as dense. moe must
// be true or false, unquoted; left out it is false.
func TestParseReadsMoEAsABoolean(t *testing.T) {
	const bucket = `moe: true, max_params_b: 56,`
	const model = `{params_b: 30.5, moe: true}`
	for _, c := range []struct{ name, old, new, want string }{
		{"bucket moe ~", bucket, `moe: ~, max_params_b: 56,`,
			`line 15: versions[0].serverless.buckets[2].moe: true or false is required, not null (leave moe out for a dense model)`},
		{"bucket moe empty", bucket, `moe: , max_params_b: 56,`, `line 15: versions[0].serverless.buckets[2].moe: true or false is required, not null`},
		{`bucket moe "no"`, bucket, `moe: "no", max_params_b: 56,`,
			`line 15: versions[0].serverless.buckets[2].moe: "no" is not a boolean: write true or false, unquoted`},
		{`bucket moe "yes"`, bucket, `moe: "yes", max_params_b: 56,`, `line 15: versions[0].serverless.buckets[2].moe: "yes" is not a boolean`},
		{"bucket moe yes unquoted", bucket, `moe: yes, max_params_b: 56,`, `line 15: versions[0].serverless.buckets[2].moe: "yes" is not a boolean`},
		{`bucket moe "true"`, bucket, `moe: "true", max_params_b: 56,`, `line 15: versions[0].serverless.buckets[2].moe: "true" is not a boolean`},
		{"bucket moe 1", bucket, `moe: 1, max_params_b: 56,`, `line 15: versions[0].serverless.buckets[2].moe: "1" is not a boolean`},
		{"bucket moe a list", bucket, `moe: [true], max_params_b: 56,`, `line 15: versions[0].serverless.buckets[2].moe: true or false is required, not a list`},
		{"catalog moe ~", model, `{params_b: 30.5, moe: ~}`,
			`line 67: models.accounts/fireworks/models/qwen3-30b-a3b.moe: true or false is required, not null`},
		{`catalog moe "no"`, model, `{params_b: 30.5, moe: "no"}`, `line 67: models.accounts/fireworks/models/qwen3-30b-a3b.moe: "no" is not a boolean`},
		{"catalog moe an alias to a null", model, `{params_b: 30.5, moe: *nul}`,
			`line 67: models.accounts/fireworks/models/qwen3-30b-a3b.moe: true or false is required, not null (through the alias *nul to line 17)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(editedFixture(t, over16B, nullAnchor, c.old, c.new))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, c.want)
			}
		})
	}

	pb, err := Parse(editedFixture(t, bucket, `moe: True, max_params_b: 56,`, model, `{params_b: 30.5, moe: false}`))
	if err != nil {
		t.Fatalf("Parse(moe: True, moe: false) = %v, want the book", err)
	}
	if !pb.Versions[0].Serverless.Buckets[2].MoE || pb.Models["accounts/fireworks/models/qwen3-30b-a3b"].MoE {
		t.Errorf("moe: True, moe: false read as %v, %v, want true, false",
			pb.Versions[0].Serverless.Buckets[2].MoE, pb.Models["accounts/fireworks/models/qwen3-30b-a3b"].MoE)
	}
}

// TestParseCurrency: DESIGN §4 shows currency: USD in its sample but does not make it required, so a
// book without it is read as USD, the only currency supported (DESIGN §5); any other is refused.
func TestParseCurrency(t *testing.T) {
	pb, err := Parse(editedFixture(t, "currency: USD\n", ""))
	if err != nil || pb.Currency != "USD" {
		t.Fatalf("Parse(no currency) = %v, %v, want the book in USD", pb, err)
	}
	if _, err := Parse(editedFixture(t, "currency: USD\n", "currency: EUR\n")); err == nil || !strings.Contains(err.Error(), `line 6: currency: "EUR": only USD is supported`) {
		t.Errorf("Parse(currency: EUR) = %v, want it refused", err)
	}
}

// TestParseFreeBatch: a batch_multiplier of 0 is a price like a 0 bucket price — batch tokens free —
// not a multiplier left out (refused with its line, above); a negative one is refused.
func TestParseFreeBatch(t *testing.T) {
	pb, err := Parse(editedFixture(t, `batch_multiplier: "0.5"`, `batch_multiplier: "0"`))
	if err != nil {
		t.Fatalf("Parse(batch_multiplier 0) = %v", err)
	}
	if m := pb.Versions[0].Serverless.BatchMultiplier; !m.IsZero() {
		t.Errorf("batch_multiplier = %s, want 0", m)
	}
	if _, err := Parse(editedFixture(t, `batch_multiplier: "0.5"`, `batch_multiplier: "-0.5"`)); err == nil {
		t.Error("Parse(batch_multiplier -0.5) = nil, want an error")
	}
}

// TestParseNamesTheLineAndFieldOfABadValue: every value the book refuses is named by its line and its
// field, as a price that is not a decimal is (README, Price book): a negative price, a percent over
// 100, a size of 0 or less, an unknown key anywhere, two versions or tiers that collide. Before, these
// were refused with no line ("price book: version …: gpu_hour H100-80GB: negative price") or named by
// the Go type they decode into ("field gpu_hours not found in type rating.Version").
func TestParseNamesTheLineAndFieldOfABadValue(t *testing.T) {
	for _, c := range []struct{ name, old, new, want string }{
		{"negative GPU price", `H100-80GB: "4.00"`, `H100-80GB: "-4.00"`,
			`line 22: versions[0].gpu_hour.H100-80GB: must not be negative, got "-4.00"`},
		{"negative model price", `cached_input: "0.45"`, `cached_input: "-0.45"`,
			`line 19: versions[0].serverless.models.accounts/fireworks/models/deepseek-v3.cached_input: must not be negative`},
		{"negative multiplier", `batch_multiplier: "0.5"`, `batch_multiplier: "-0.5"`,
			`line 11: versions[0].serverless.batch_multiplier: must not be negative`},
		{"negative method multiplier", `lora_dpo: "2"`, `lora_dpo: "-2"`,
			`line 34: versions[0].fine_tuning.method_multipliers.lora_dpo: must not be negative`},
		{"percent over 100", `percent: "10"}`, `percent: "110"}`,
			`line 27: versions[0].gpu_volume_discounts[1].percent: a percent must be between 0 and 100, got "110"`},
		{"params_b 0", `{params_b: 8}`, `{params_b: 0}`,
			`line 66: models.accounts/fireworks/models/llama-v3p1-8b-instruct.params_b: must be positive, got "0"`},
		{"unknown version key", "    gpu_hour:\n", "    gpu_hours:\n",
			`line 20: versions[0].gpu_hours: unknown key, want one of effective_from, serverless, gpu_hour, gpu_volume_discounts, fine_tuning`},
		{"unknown top key", "policy:", "polcy:", `line 71: polcy: unknown key`},
		{"unknown catalog key", `{params_b: 8}`, `{params_b: 8, base_model: x}`,
			`line 66: models.accounts/fireworks/models/llama-v3p1-8b-instruct.base_model: unknown key, want one of params_b, moe`},
		{"unknown method", `lora_dpo: "2"`, `lora_dppo: "2"`,
			`line 34: versions[0].fine_tuning.method_multipliers.lora_dppo: unknown key, want one of lora_sft, lora_dpo, full_sft, full_dpo`},
		{"negative payment terms", `payment_terms_days: 15`, `payment_terms_days: -1`,
			`line 72: policy.payment_terms_days: must not be negative`},
		{"tier 0", `{tier: 1,`, `{tier: 0,`, `line 74: policy.tiers[0].tier: 0: tiers are numbered from 1`},
		{"two versions at one start", `effective_from: 2026-09-01T00:00:00Z`, `effective_from: 2026-01-01T00:00:00Z`,
			`line 35: versions[1].effective_from: 2026-01-01T00:00:00Z is also the start of the version on line 8`},
		{"the same start at another offset", `effective_from: 2026-09-01T00:00:00Z`, `effective_from: 2026-01-01T02:00:00+02:00`,
			`line 35: versions[1].effective_from: 2026-01-01T00:00:00Z is also the start of the version on line 8`},
		// The fixture's tiers: line 26 {min_gpu_hours: 1000, percent: "5"}, line 27 {5000, "10"}.
		{"a volume threshold twice", `{min_gpu_hours: 5000, percent: "10"}`, `{min_gpu_hours: 1000, percent: "10"}`,
			`line 27: versions[0].gpu_volume_discounts[1].min_gpu_hours: 1000 is also the threshold of versions[0].gpu_volume_discounts[0] (line 26)`},
		{"a higher tier giving less", `{min_gpu_hours: 5000, percent: "10"}`, `{min_gpu_hours: 5000, percent: "4"}`,
			`line 27: versions[0].gpu_volume_discounts[1].percent: 4 at 5000 GPU-hours is below the 5 of versions[0].gpu_volume_discounts[0] at 1000 (line 26)`},
		{"a higher tier giving less, listed first", `{min_gpu_hours: 5000, percent: "10"}`, `{min_gpu_hours: 500, percent: "10"}`,
			`line 26: versions[0].gpu_volume_discounts[0].percent: 5 at 1000 GPU-hours is below the 10 of versions[0].gpu_volume_discounts[1] at 500 (line 27)`},
		{"a second document", "    - {tier: 4, min_historical_spend: \"10000\", spend_limit: \"50000\"}\n",
			"    - {tier: 4, min_historical_spend: \"10000\", spend_limit: \"50000\"}\n---\ncurrency: USD\n",
			`line 79: a second document, after --- on line 78`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(editedFixture(t, c.old, c.new))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse = %v, want an error containing %q", err, c.want)
			}
		})
	}
	// Tiers listed by rising threshold with equal percents, and a trailing --- with nothing after it,
	// stay valid.
	if _, err := Parse(editedFixture(t, `percent: "10"}`, `percent: "5"}`)); err != nil {
		t.Errorf("Parse(two tiers of 5%%) = %v, want the book", err)
	}
	// Tiers listed by falling threshold are the same tiers: the book is taken, and the percent is the
	// one of the highest tier reached whatever the order (1,000 GPU-hours → 5%, 5,000 → 10%).
	pb, err := Parse(editedFixture(t, "      - {min_gpu_hours: 1000, percent: \"5\"}\n      - {min_gpu_hours: 5000, percent: \"10\"}\n",
		"      - {min_gpu_hours: 5000, percent: \"10\"}\n      - {min_gpu_hours: 1000, percent: \"5\"}\n"))
	if err != nil {
		t.Fatalf("Parse(tiers by falling threshold) = %v, want the book", err)
	}
	for _, c := range []struct{ hours, want int64 }{{999, 0}, {1000, 5}, {4999, 5}, {5000, 10}} {
		if got := pb.VolumePercent(0, decimal.NewFromInt(c.hours*3600)); !got.Equal(decimal.NewFromInt(c.want)) {
			t.Errorf("VolumePercent(%d GPU-hours) = %s, want %d", c.hours, got, c.want)
		}
	}
	if _, err := Parse(append(editedFixture(t), "---\n"...)); err != nil {
		t.Errorf("Parse(book, ---) = %v, want the book", err)
	}
}

// TestParseRefusesOffsetsOutOfRange: a version's effective_from is an RFC 3339 time, whose offset is
// at most ±23:59. "2026-10-15T14:00:00+24:00" was read as 2026-10-14T14:00:00Z (14:00 − 24 h), so the
// version's prices applied a whole day early; it is refused, naming the line and field, quoted or not,
// and so is +23:60. "+23:59" still parses: 2026-10-15T14:00:00+23:59 is 2026-10-14T14:01:00Z.
func TestParseRefusesOffsetsOutOfRange(t *testing.T) {
	for _, ef := range []string{"2026-10-15T14:00:00+24:00", "\"2026-10-15T14:00:00+24:00\"", "2026-10-15T14:00:00+23:60", "\"2026-10-15T14:00:00,5Z\""} {
		pb, err := Parse([]byte("currency: USD\nversions:\n  - effective_from: " + ef + "\n    gpu_hour: {A100-80GB: \"2.90\"}\n"))
		if err == nil || !strings.Contains(err.Error(), "line 3: versions[0].effective_from") {
			var got time.Time
			if pb != nil {
				got = pb.Versions[0].EffectiveFrom
			}
			t.Errorf("Parse(effective_from: %s) = %v (%v), want the line and field refused", ef, err, got)
		}
	}
	pb, err := Parse([]byte("currency: USD\nversions:\n  - effective_from: 2026-10-15T14:00:00+23:59\n    gpu_hour: {A100-80GB: \"2.90\"}\n"))
	if err != nil {
		t.Fatalf("Parse(+23:59) = %v", err)
	}
	if got, want := pb.Versions[0].EffectiveFrom, time.Date(2026, 10, 14, 14, 1, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("effective_from 2026-10-15T14:00:00+23:59 = %v, want %v", got, want)
	}
}

// TestParseRefusesMoneyWrittenAsANumber: prices, multipliers, percents and limits are decimal strings
// (DESIGN §4's sample, §11: "money fields in input files … are decimal strings"); one written as a YAML
// number is refused, naming its line and field, as the accounts file refuses one. Sizes and GPU-hours
// (params_b, max_params_b, min_gpu_hours) are numbers in DESIGN's sample and stay so: the fixture,
// which writes them unquoted, parses (TestParseExample).
func TestParseRefusesMoneyWrittenAsANumber(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{`A100-80GB: "2.90"`, `A100-80GB: 2.90`, `line 21: versions[0].gpu_hour.A100-80GB: write it as a decimal string like "0.20" (quoted), not the number 2.90`},
		{`max_params_b: 16,  input: "0.20"`, `max_params_b: 16,  input: 0.2`, `line 14: versions[0].serverless.buckets[1].input: `},
		{`default_cached_input_multiplier: "0.5"`, `default_cached_input_multiplier: 0.5`, `line 10: versions[0].serverless.default_cached_input_multiplier: `},
		{`percent: "5"`, `percent: 5`, `line 26: versions[0].gpu_volume_discounts[0].percent: `},
		{`{max_params_b: 16,  price: "0.50"}`, `{max_params_b: 16,  price: 0.50}`, `line 30: versions[0].fine_tuning.buckets[0].price: `},
		{`lora_sft: "1"`, `lora_sft: 1`, `line 34: versions[0].fine_tuning.method_multipliers.lora_sft: `},
		{`spend_limit: "50"`, `spend_limit: 50`, `line 74: policy.tiers[0].spend_limit: `},
	} {
		_, err := Parse(editedFixture(t, c.from, c.to))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "not the number") {
			t.Errorf("Parse with %s = %v, want an error containing %q", c.to, err, c.want)
		}
	}
}
