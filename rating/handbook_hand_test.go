package rating

// Shared fixtures of the hand-computed rating tests (*_hand_test.go). Every identifier here starts with
// "hand" so these files can live next to other test files of package rating without clashing.
//
// The price book is DESIGN §4's sample, built in Go from decimal strings (never floats), plus extra
// catalog entries that probe the bucket edges. Version 0 starts 2026-01-01 (H100 4.00, H200 6.00,
// B200 9.00); version 1 starts 2026-09-01 and repeats everything except GPU prices (H100 8.00,
// H200 8.00, B200 13.00).

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func handDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func handDecPtr(s string) *decimal.Decimal {
	d := handDec(s)
	return &d
}

func handTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Catalog names used by the tests.
const (
	handLlama8B   = "accounts/fireworks/models/llama-v3p1-8b-instruct" // 8B dense
	handLlama3B   = "accounts/fireworks/models/llama-v3p2-3b-instruct" // 3B dense
	handDeepseek  = "accounts/fireworks/models/deepseek-v3"            // 671B MoE, explicit prices
	handDense1p5  = "test/dense-1p5b"
	handDense4    = "test/dense-4b"
	handDense4p01 = "test/dense-4p01b"
	handDense16   = "test/dense-16b"
	handDense16p5 = "test/dense-16p5b"
	handDense40   = "test/dense-40b"
	handDense80   = "test/dense-80b"
	handDense80p5 = "test/dense-80p5b"
	handDense100  = "test/dense-100b"
	handDense300  = "test/dense-300b"
	handDense301  = "test/dense-301b"
	handMoE3      = "test/moe-3b"
	handMoE56     = "test/moe-56b"
	handMoE56p5   = "test/moe-56p5b"
	handMoE176    = "test/moe-176b"
	handMoE235    = "test/moe-235b" // bigger than every MoE bucket, no explicit price
	// In the catalog (8B, bucket 0.20) and with an explicit price of its own (5.00 in / 5.00 out) in both
	// versions, so that base_model must win over both.
	handFTOwnPrice = "accounts/acme/models/ft-with-own-price"
	// Not in the catalog, no price: a fine-tuned model that only resolves through base_model.
	handFTPlain = "accounts/acme/models/my-llama-ft"
	// Explicit price without cached_input (input 0.30, output 0.60), and in the catalog.
	handExplicitNoCached = "test/explicit-no-cached"
	handUnknownModel     = "accounts/acme/models/not-in-catalog"
)

func handServerless() ServerlessPrices {
	return ServerlessPrices{
		DefaultCachedInputMultiplier: handDec("0.5"),
		BatchMultiplier:              handDec("0.5"),
		Buckets: []ServerlessBucket{
			{Name: "Up to 4B", MaxParamsB: handDecPtr("4"), Input: handDec("0.10"), Output: handDec("0.10")},
			{Name: "4B - 16B", MaxParamsB: handDecPtr("16"), Input: handDec("0.20"), Output: handDec("0.20")},
			{Name: "MoE up to 56B", MoE: true, MaxParamsB: handDecPtr("56"), Input: handDec("0.50"), Output: handDec("0.50")},
			{Name: "MoE 56B - 176B", MoE: true, MaxParamsB: handDecPtr("176"), Input: handDec("1.20"), Output: handDec("1.20")},
			{Name: "Over 16B", Input: handDec("0.90"), Output: handDec("0.90")},
		},
		Models: map[string]ModelPrice{
			handDeepseek:         {Input: handDec("0.90"), CachedInput: handDecPtr("0.45"), Output: handDec("0.90")},
			handFTOwnPrice:       {Input: handDec("5.00"), Output: handDec("5.00")},
			handExplicitNoCached: {Input: handDec("0.30"), Output: handDec("0.60")},
		},
	}
}

func handVersion(from, h100, h200, b200 string) Version {
	return Version{
		EffectiveFrom: handTime(from),
		Serverless:    handServerless(),
		GPUHour: map[string]decimal.Decimal{
			"A100-80GB":  handDec("2.90"),
			"H100-80GB":  handDec(h100),
			"H200-141GB": handDec(h200),
			"B200-180GB": handDec(b200),
		},
		GPUVolumeDiscounts: []VolumeTier{
			{MinGPUHours: handDec("1000"), Percent: handDec("5")},
			{MinGPUHours: handDec("5000"), Percent: handDec("10")},
		},
		FineTuning: FineTuningPrices{
			Buckets: []FineTuningBucket{
				{MaxParamsB: handDecPtr("16"), Price: handDec("0.50")},
				{MaxParamsB: handDecPtr("80"), Price: handDec("3.00")},
				{MaxParamsB: handDecPtr("300"), Price: handDec("6.00")},
				{Price: handDec("10.00")},
			},
			MethodMultipliers: map[string]decimal.Decimal{
				"lora_sft": handDec("1"), "lora_dpo": handDec("2"), "full_sft": handDec("2"), "full_dpo": handDec("4"),
			},
		},
	}
}

// handPriceBook returns the validated sample book. Version index 0 = 2026-01-01, 1 = 2026-09-01.
func handPriceBook(t testing.TB) *PriceBook {
	t.Helper()
	pb := &PriceBook{
		Currency: "USD",
		Versions: []Version{
			handVersion("2026-01-01T00:00:00Z", "4.00", "6.00", "9.00"),
			handVersion("2026-09-01T00:00:00Z", "8.00", "8.00", "13.00"),
		},
		Models: map[string]ModelInfo{
			handLlama8B:          {ParamsB: handDec("8")},
			handLlama3B:          {ParamsB: handDec("3")},
			handDeepseek:         {ParamsB: handDec("671"), MoE: true},
			handDense1p5:         {ParamsB: handDec("1.5")},
			handDense4:           {ParamsB: handDec("4")},
			handDense4p01:        {ParamsB: handDec("4.01")},
			handDense16:          {ParamsB: handDec("16")},
			handDense16p5:        {ParamsB: handDec("16.5")},
			handDense40:          {ParamsB: handDec("40")},
			handDense80:          {ParamsB: handDec("80")},
			handDense80p5:        {ParamsB: handDec("80.5")},
			handDense100:         {ParamsB: handDec("100")},
			handDense300:         {ParamsB: handDec("300")},
			handDense301:         {ParamsB: handDec("301")},
			handMoE3:             {ParamsB: handDec("3"), MoE: true},
			handMoE56:            {ParamsB: handDec("56"), MoE: true},
			handMoE56p5:          {ParamsB: handDec("56.5"), MoE: true},
			handMoE176:           {ParamsB: handDec("176"), MoE: true},
			handMoE235:           {ParamsB: handDec("235"), MoE: true},
			handExplicitNoCached: {ParamsB: handDec("8")},
			handFTOwnPrice:       {ParamsB: handDec("8")},
		},
	}
	if err := pb.Validate(); err != nil {
		t.Fatalf("Validate(sample book) = %v, want nil", err)
	}
	return pb
}

// handLine is the comparable form of a Line: quantities and prices canonical, amount in cents.
func handLineString(kind Kind, product, base, deployment string, meter Meter, quantity, unitPrice string, cents int64) string {
	q, p := "-", "-"
	if quantity != "" {
		q = handDec(quantity).String()
	}
	if unitPrice != "" {
		p = handDec(unitPrice).String()
	}
	return fmt.Sprintf("%s|%s|base=%s|dep=%s|%s|q=%s|@%s|%dc", kind, product, base, deployment, meter, q, p, cents)
}

func handGot(ls []Line) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		q, p := "-", "-"
		if l.Kind != KindDiscount {
			q, p = l.Quantity.String(), l.UnitPrice.String()
		}
		out = append(out, fmt.Sprintf("%s|%s|base=%s|dep=%s|%s|q=%s|@%s|%dc",
			l.Kind, l.Product, l.BaseModel, l.Deployment, l.Meter, q, p, int64(l.Amount)))
	}
	sort.Strings(out)
	return out
}

func handSorted(ss []string) []string {
	out := append([]string(nil), ss...)
	sort.Strings(out)
	return out
}
