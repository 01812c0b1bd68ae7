package rating

import (
	"slices"
	"testing"

	"github.com/shopspring/decimal"
)

func handKey(kind Kind, product, deployment string, meter Meter, unitPrice string) LineKey {
	return LineKey{Account: "acct_1", Kind: kind, Product: product, Deployment: deployment, Meter: meter,
		UnitPrice: handDec(unitPrice).String()}
}

func handQ(units, nanos int64) Quantity { return Quantity{Units: units, Nanos: nanos} }

// DESIGN §5: amount = quantity × unit price ÷ unit size, rounded once to cents, half away from zero.
// §11: lines with quantity 0 are omitted; a positive quantity rounding to 0.00 is kept.
func TestHandBuildLinesRounding(t *testing.T) {
	tests := []struct {
		name      string
		key       LineKey
		q         Quantity
		unrounded string // "" when the expansion repeats
		unit      string
		want      Cents
	}{
		{"half cent rounds up", handKey(KindServerless, handLlama8B, "", MeterInput, "0.20"), handQ(25_000, 0),
			"0.005", "1M tokens", 1}, // 25,000 × 0.20 / 1M = 0.005 → 0.01
		{"just below half cent rounds down", handKey(KindServerless, handLlama8B, "", MeterOutput, "0.20"), handQ(24_999, 0),
			"0.0049998", "1M tokens", 0}, // 24,999 × 0.20 / 1M = 0.0049998 → 0.00
		{"0.025 rounds away from zero, not to even", handKey(KindServerless, handLlama3B, "", MeterOutput, "0.10"), handQ(250_000, 0),
			"0.025", "1M tokens", 3}, // 250,000 × 0.10 / 1M = 0.025 → 0.03 (half-even: 0.02)
		{"0.0249999 rounds down", handKey(KindServerless, handLlama3B, "", MeterInput, "0.10"), handQ(249_999, 0),
			"0.0249999", "1M tokens", 2}, // 249,999 × 0.10 / 1M = 0.0249999 → 0.02
		{"0.0149999 rounds down", handKey(KindServerless, handLlama3B, "", MeterCachedInput, "0.10"), handQ(149_999, 0),
			"0.0149999", "1M tokens", 1}, // 149,999 × 0.10 / 1M = 0.0149999 → 0.01
		{"GPU 0.145 rounds up", handKey(KindGPU, "A100-80GB", "dep-a", MeterGPUSeconds, "2.90"), handQ(180, 0),
			"0.145", "GPU-hour", 15}, // 180 × 2.90 / 3600 = 522 / 3600 = 0.145 → 0.15
		{"GPU 2.175 rounds up", handKey(KindGPU, "A100-80GB", "dep-b", MeterGPUSeconds, "2.90"), handQ(2700, 0),
			"2.175", "GPU-hour", 218}, // 2700 × 2.90 / 3600 = 7830 / 3600 = 2.175 → 2.18
		{"GPU repeating 0.241666…", handKey(KindGPU, "A100-80GB", "dep-c", MeterGPUSeconds, "2.90"), handQ(300, 0),
			"", "GPU-hour", 24}, // 300 × 2.90 / 3600 = 870 / 3600 = 0.241666… → 0.24
		{"GPU fractional seconds exactly half a cent", handKey(KindGPU, "H100-80GB", "dep-d", MeterGPUSeconds, "8.00"), handQ(2, 250_000_000),
			"0.005", "GPU-hour", 1}, // 2.25 × 8 / 3600 = 18 / 3600 = 0.005 → 0.01
		{"GPU fractional seconds just below half a cent", handKey(KindGPU, "H100-80GB", "dep-e", MeterGPUSeconds, "8.00"), handQ(2, 249_999_999),
			"", "GPU-hour", 0}, // 2.249999999 × 8 / 3600 = 17.999999992 / 3600 = 0.00499999999777… → 0.00
		{"GPU 3599.5 s at 8.00", handKey(KindGPU, "H100-80GB", "dep-f", MeterGPUSeconds, "8.00"), handQ(3599, 500_000_000),
			"", "GPU-hour", 800}, // 3599.5 × 8 / 3600 = 28796 / 3600 = 7.99888… → 8.00
		// A price of 15 decimals: the product has 24 places, and rounding its quotient at 24 places first
		// (then to cents) would make it 0.005 → 0.01, rounding twice.
		{"GPU price of 15 decimals just below half a cent", handKey(KindGPU, "A100-80GB", "dep-g", MeterGPUSeconds, "0.012000000000008"),
			handQ(1499, 999_999_999), "", "GPU-hour", 0}, // 1499.999999999 × 0.012000000000008 = 17.999999999999999999999992; ÷ 3600 = 0.00499999999999999999999999777… → 0.00
		{"GPU price of 15 decimals exactly half a cent", handKey(KindGPU, "A100-80GB", "dep-h", MeterGPUSeconds, "0.012000000000000"),
			handQ(1500, 0), "0.005", "GPU-hour", 1}, // 1500 × 0.012 / 3600 = 18 / 3600 = 0.005 → 0.01
		{"positive quantity rounding to 0.00 is kept", handKey(KindServerless, handLlama8B, "", MeterCachedInput, "0.10"), handQ(1, 0),
			"0.0000001", "1M tokens", 0}, // 1 × 0.10 / 1M = 0.0000001 → 0.00, line kept
		{"fine-tuning line", LineKey{Account: "acct_1", Kind: KindFineTuning, Product: "job-1", BaseModel: handLlama8B,
			Meter: MeterTrainingTokens, UnitPrice: "0.5"}, handQ(3_000_001, 0),
			"1.5000005", "1M tokens", 150}, // 3,000,001 × 0.50 / 1M = 1.5000005 → 1.50
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ls := BuildLines(map[LineKey]Quantity{tc.key: tc.q})
			if len(ls) != 1 {
				t.Fatalf("BuildLines(%v × %s) = %d lines, want 1", tc.q, tc.key.UnitPrice, len(ls))
			}
			l := ls[0]
			if l.Amount != tc.want {
				t.Errorf("BuildLines(%s × %s).Amount = %d cents, want %d", l.Quantity, tc.key.UnitPrice, l.Amount, tc.want)
			}
			if tc.unrounded != "" && !l.Unrounded.Equal(handDec(tc.unrounded)) {
				t.Errorf("BuildLines(%s × %s).Unrounded = %s, want %s", l.Quantity, tc.key.UnitPrice, l.Unrounded, tc.unrounded)
			}
			if l.Unit != tc.unit {
				t.Errorf("BuildLines(%s).Unit = %q, want %q", tc.name, l.Unit, tc.unit)
			}
			if !l.Quantity.Equal(tc.q.Decimal()) || !l.UnitPrice.Equal(handDec(tc.key.UnitPrice)) {
				t.Errorf("BuildLines(%s) quantity %s price %s, want %s × %s", tc.name, l.Quantity, l.UnitPrice, tc.q.Decimal(), tc.key.UnitPrice)
			}
			if l.Kind != tc.key.Kind || l.Product != tc.key.Product || l.Meter != tc.key.Meter || l.Deployment != tc.key.Deployment || l.BaseModel != tc.key.BaseModel {
				t.Errorf("BuildLines(%s) = %+v, want the key's kind/product/meter/deployment/base", tc.name, l)
			}
		})
	}
}

// Example 01 acct_r1: a total is the sum of rounded lines, never a rounded sum.
func TestHandBuildLinesTotals(t *testing.T) {
	lines := map[LineKey]Quantity{
		handKey(KindServerless, handLlama8B, "", MeterInput, "0.20"):       handQ(25_000, 0),  // 0.005 → 0.01
		handKey(KindServerless, handLlama8B, "", MeterOutput, "0.20"):      handQ(25_000, 0),  // 0.005 → 0.01
		handKey(KindServerless, handLlama3B, "", MeterInput, "0.10"):       handQ(60_000, 0),  // 0.006 → 0.01
		handKey(KindServerless, handLlama3B, "", MeterOutput, "0.10"):      handQ(250_000, 0), // 0.025 → 0.03
		handKey(KindServerless, handLlama3B, "", MeterCachedInput, "0.05"): handQ(0, 0),       // quantity 0 → omitted
		handKey(KindGPU, "A100-80GB", "dep-z", MeterGPUSeconds, "2.90"):    handQ(0, 0),       // quantity 0 → omitted
	}
	ls := BuildLines(lines)
	if len(ls) != 4 {
		t.Fatalf("BuildLines = %d lines, want 4 (zero-quantity lines omitted): %v", len(ls), handGot(ls))
	}
	// 0.01 + 0.01 + 0.01 + 0.03 = 0.06 (rounding the sum 0.041 would give 0.04)
	if got := Sum(ls); got != 6 {
		t.Errorf("Sum(lines) = %d cents, want 6", got)
	}
	if got := BuildLines(map[LineKey]Quantity{}); len(got) != 0 {
		t.Errorf("BuildLines(empty) = %v, want no lines", got)
	}
}

// DESIGN §6 step 2: discount = −round(percent ÷ 100 × sum of GPU line amounts); percent = max(contract,
// volume tier of the period's GPU-hours); never applied to serverless or fine-tuning lines.
func TestHandDiscountLine(t *testing.T) {
	pb := handPriceBook(t)
	serverless := func(tokens int64) (LineKey, Quantity) {
		return handKey(KindServerless, handLlama8B, "", MeterInput, "0.20"), handQ(tokens, 0)
	}
	fineTuning := func(tokens int64) (LineKey, Quantity) {
		return LineKey{Account: "acct_1", Kind: KindFineTuning, Product: "job-1", BaseModel: handLlama8B,
			Meter: MeterTrainingTokens, UnitPrice: "0.5"}, handQ(tokens, 0)
	}
	type kq struct {
		k LineKey
		q Quantity
	}
	pair := func(k LineKey, q Quantity) kq { return kq{k, q} }
	tests := []struct {
		name     string
		lines    []kq
		contract string
		version  int
		want     Cents // 0: no discount line
	}{
		{
			name: "contract 15 beats tier 5; serverless and fine-tuning not discounted",
			lines: []kq{
				pair(handKey(KindGPU, "A100-80GB", "dep-a", MeterGPUSeconds, "2.90"), handQ(3_600_000, 0)), // 1000 GPU-h × 2.90 = 2900.00
				pair(serverless(10_000_000)), // 10M × 0.20 / 1M = 2.00, not discounted
				pair(fineTuning(1_000_000)),  // 1M × 0.50 / 1M = 0.50, not discounted
			},
			contract: "15", version: 1,
			want: -43500, // 1000 h → tier 5 %; max(15, 5) = 15; 15 / 100 × 2900.00 = 435.00 → −435.00
		},
		{
			name: "tier 10 beats contract 3 at exactly 5000 GPU-hours",
			lines: []kq{
				pair(handKey(KindGPU, "A100-80GB", "dep-a", MeterGPUSeconds, "2.90"), handQ(18_000_000, 0)), // 5000 h × 2.90 = 14500.00
			},
			contract: "3", version: 1,
			want: -145000, // 5000 ≥ 5000 → 10 %; max(3, 10) = 10; 10 % × 14500.00 = 1450.00
		},
		{
			name: "exactly 1000 GPU-hours over two lines reaches 5 %",
			lines: []kq{
				pair(handKey(KindGPU, "H100-80GB", "dep-a", MeterGPUSeconds, "8.00"), handQ(1_800_000, 0)), // 500 h × 8.00 = 4000.00
				pair(handKey(KindGPU, "A100-80GB", "dep-b", MeterGPUSeconds, "2.90"), handQ(1_800_000, 0)), // 500 h × 2.90 = 1450.00
			},
			contract: "0", version: 1,
			want: -27250, // 3,600,000 s = 1000 h → 5 %; 5 % × (4000.00 + 1450.00 = 5450.00) = 272.50
		},
		{
			name: "one second below 1000 GPU-hours: no tier, no line",
			lines: []kq{
				pair(handKey(KindGPU, "A100-80GB", "dep-a", MeterGPUSeconds, "2.90"), handQ(3_599_999, 0)), // 999.99972… h; 2899.99919… → 2900.00
			},
			contract: "0", version: 1,
			want: 0,
		},
		{
			name: "serverless and fine-tuning quantities are not GPU-hours",
			lines: []kq{
				pair(handKey(KindGPU, "A100-80GB", "dep-a", MeterGPUSeconds, "2.90"), handQ(3600, 0)), // 1 GPU-h = 2.90
				pair(serverless(3_600_000_000)), // 720.00; 3.6e9 would be 1,000,000 "hours" if counted
				pair(fineTuning(3_600_000_000)), // 1800.00
			},
			contract: "0", version: 1,
			want: 0, // 1 GPU-h → no tier, contract 0 → percent 0 → no line
		},
		{
			name:     "no GPU lines: contract percent has nothing to discount",
			lines:    []kq{pair(serverless(10_000_000)), pair(fineTuning(1_000_000))},
			contract: "15", version: 1,
			want: 0,
		},
		{
			name: "negative half cent rounds away from zero",
			lines: []kq{
				pair(handKey(KindGPU, "H100-80GB", "dep-a", MeterGPUSeconds, "4.00"), handQ(90, 0)), // 90 × 4 / 3600 = 0.10
			},
			contract: "5", version: 1,
			want: -1, // 5 / 100 × 0.10 = 0.005 → −0.01
		},
		{
			name: "12.5 % of 0.20 = 0.025 → −0.03",
			lines: []kq{
				pair(handKey(KindGPU, "H100-80GB", "dep-a", MeterGPUSeconds, "4.00"), handQ(180, 0)), // 180 × 4 / 3600 = 0.20
			},
			contract: "12.5", version: 1,
			want: -3, // 0.125 × 0.20 = 0.025 → −0.03 (half-even: −0.02)
		},
		{
			name: "percent applies to the rounded GPU line amounts",
			lines: []kq{
				pair(handKey(KindGPU, "A100-80GB", "dep-a", MeterGPUSeconds, "2.90"), handQ(180, 0)), // 0.145 → 0.15
			},
			contract: "10", version: 1,
			want: -2, // 10 % × 0.15 = 0.015 → −0.02 (on the unrounded 0.145 it would be 0.0145 → −0.01)
		},
		{
			name: "discount rounding down",
			lines: []kq{
				pair(handKey(KindGPU, "A100-80GB", "dep-a", MeterGPUSeconds, "2.90"), handQ(2700, 0)), // 2.175 → 2.18
			},
			contract: "15", version: 1,
			want: -33, // 15 % × 2.18 = 0.327 → −0.33
		},
		{
			// percent ÷ 100 must not be rounded: Div kept 16 places, 0.1250000000000000, which gave
			// 0.015 → −0.02.
			name: "a percent of many decimals is kept whole",
			lines: []kq{
				pair(handKey(KindGPU, "H100-80GB", "dep-a", MeterGPUSeconds, "4.00"), handQ(108, 0)), // 108 × 4 / 3600 = 0.12
			},
			contract: "12.499999999999999996", version: 1,
			want: -1, // 0.12499999999999999996 × 0.12 = 0.0149999999999999999952 → −0.01
		},
		{
			name:     "percent 0: no discount line",
			lines:    []kq{pair(handKey(KindGPU, "A100-80GB", "dep-a", MeterGPUSeconds, "2.90"), handQ(36_000, 0))}, // 10 h = 29.00
			contract: "0", version: 1,
			want: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			agg := map[LineKey]Quantity{}
			for _, p := range tc.lines {
				agg[p.k] = p.q
			}
			ls := BuildLines(agg)
			got, ok := pb.DiscountLine(ls, handDec(tc.contract), tc.version)
			if tc.want == 0 {
				if ok {
					t.Errorf("DiscountLine(contract %s) = %+v, want no line", tc.contract, got)
				}
				return
			}
			if !ok {
				t.Fatalf("DiscountLine(contract %s) = no line, want %d cents", tc.contract, tc.want)
			}
			if got.Amount != tc.want {
				t.Errorf("DiscountLine(contract %s).Amount = %d cents, want %d", tc.contract, got.Amount, tc.want)
			}
			if got.Kind != KindDiscount || got.Product != "on_demand" || got.Meter != MeterDiscount {
				t.Errorf("DiscountLine = kind %s product %s meter %s, want discount on_demand discount", got.Kind, got.Product, got.Meter)
			}
			if !got.Quantity.IsZero() || got.Unit != "" || !got.UnitPrice.IsZero() {
				t.Errorf("DiscountLine quantity %s unit %q price %s, want none (§11)", got.Quantity, got.Unit, got.UnitPrice)
			}
		})
	}
}

// The volume tiers come from the version the caller names (the one at period start).
func TestHandDiscountLineUsesGivenVersion(t *testing.T) {
	pb := handPriceBook(t)
	pb.Versions[0].GPUVolumeDiscounts = nil // version 2026-01-01 without tiers
	ls := BuildLines(map[LineKey]Quantity{
		handKey(KindGPU, "A100-80GB", "dep-a", MeterGPUSeconds, "2.90"): handQ(3_600_000, 0), // 1000 h = 2900.00
	})
	if got, ok := pb.DiscountLine(ls, handDec("0"), 0); ok {
		t.Errorf("DiscountLine(version without tiers) = %d cents, want no line", got.Amount)
	}
	if got, ok := pb.DiscountLine(ls, handDec("0"), 1); !ok || got.Amount != -14500 { // 5 % × 2900.00 = 145.00
		t.Errorf("DiscountLine(version 1) = %d, %v, want -14500, true", got.Amount, ok)
	}
}

// The discount line sorts after the usage lines of an invoice.
func TestHandSortLinesDiscountLast(t *testing.T) {
	ls := []Line{
		{Kind: KindDiscount, Product: "on_demand", Meter: MeterDiscount, Amount: -10},
		{Kind: KindServerless, Product: "m", Meter: MeterOutput, Amount: 1},
		{Kind: KindGPU, Product: "H100-80GB", Meter: MeterGPUSeconds, Amount: 2},
	}
	SortLines(ls)
	if ls[len(ls)-1].Kind != KindDiscount {
		t.Errorf("SortLines: last kind = %s, want discount", ls[len(ls)-1].Kind)
	}
	if !slices.ContainsFunc(ls[:2], func(l Line) bool { return l.Kind == KindGPU }) {
		t.Errorf("SortLines lost a line: %+v", ls)
	}
}

// TestCompareLinesAgreesWithLineLess checks SortLines' three-way comparison against lineLess on every
// ordered pair of a set of lines that differ in each sort field in turn — kind, discount, deployment,
// product, base model, meter (an unknown one included) and unit price — and that are equal.
func TestCompareLinesAgreesWithLineLess(t *testing.T) {
	var ls []Line
	for _, kind := range []Kind{KindServerless, KindGPU, KindFineTuning, KindDiscount} {
		for _, dep := range []string{"", "dep-a", "dep-b"} {
			for _, product := range []string{"m-1", "m-2"} {
				for _, base := range []string{"", "b"} {
					for _, meter := range []Meter{MeterInput, MeterOutput, MeterGPUSeconds, "unknown_meter", "other_unknown"} {
						for _, price := range []string{"0.2", "0.20", "1.5"} {
							ls = append(ls, Line{Kind: kind, Deployment: dep, Product: product, BaseModel: base,
								Meter: meter, UnitPrice: decimal.RequireFromString(price)})
						}
					}
				}
			}
		}
	}
	for i := range ls {
		for j := range ls {
			a, b := &ls[i], &ls[j]
			c := compareLines(a, b, int8(meterOrder(a.Meter)), int8(meterOrder(b.Meter)))
			want := 0
			if lineLess(a, b) {
				want = -1
			} else if lineLess(b, a) {
				want = 1
			}
			if (c < 0) != (want < 0) || (c > 0) != (want > 0) {
				t.Fatalf("compareLines(%+v, %+v) = %d, lineLess says %d", *a, *b, c, want)
			}
		}
	}
}

// DESIGN §6 step 1: one usage line per (kind, product, meter, unit price), rounded once. Events of one
// product that name different base models but get the same unit price are one line: rounding each
// base model's share on its own would bill 0.01 too much for the serverless pair and nothing for the
// fine-tuning job.
func TestHandBuildLinesOneLinePerProductWhateverTheBaseModel(t *testing.T) {
	withBase := func(k LineKey, base string) LineKey { k.BaseModel = base; return k }
	svl := handKey(KindServerless, handLlama8B, "", MeterInput, "0.20")
	job := handKey(KindFineTuning, "job-1", "", MeterTrainingTokens, "0.50")
	lines := BuildLines(map[LineKey]Quantity{
		// no base_model, and base_model = the model itself: both priced as the model
		withBase(svl, ""): handQ(25_000, 0), withBase(svl, handLlama8B): handQ(25_000, 0),
		// one job on two base models in the same fine-tuning bucket
		withBase(job, handLlama8B): handQ(5_000, 0), withBase(job, handLlama3B): handQ(5_000, 0),
	})
	if len(lines) != 2 {
		t.Fatalf("BuildLines gave %d lines, want 2: %+v", len(lines), lines)
	}
	svlLine, jobLine := lines[0], lines[1]
	if jobLine.Kind != KindFineTuning {
		svlLine, jobLine = jobLine, svlLine
	}
	// (25,000 + 25,000) × 0.20 / 1M = 0.01, not 0.005 → 0.01 twice
	if svlLine.Quantity.String() != "50000" || svlLine.Amount != 1 {
		t.Errorf("serverless line: quantity %s amount %s, want 50000 and 0.01", svlLine.Quantity, svlLine.Amount)
	}
	if svlLine.BaseModel != handLlama8B || svlLine.Description != handLlama8B+", input tokens" {
		t.Errorf("serverless line: base %q, description %q", svlLine.BaseModel, svlLine.Description)
	}
	// (5,000 + 5,000) × 0.50 / 1M = 0.005 → 0.01, not 0.0025 → 0.00 twice
	if jobLine.Quantity.String() != "10000" || jobLine.Amount != 1 {
		t.Errorf("fine-tuning line: quantity %s amount %s, want 10000 and 0.01", jobLine.Quantity, jobLine.Amount)
	}
	bases := handLlama8B + ", " + handLlama3B // both named, in order (v3p1 before v3p2)
	if jobLine.BaseModel != bases || jobLine.Description != "fine-tuning job job-1 on "+bases+", training tokens" {
		t.Errorf("fine-tuning line: base %q, description %q", jobLine.BaseModel, jobLine.Description)
	}
	// A line's identity leaves the base model out, so invoices issued before this rule compare (and sum)
	// with their lines as one.
	other := svlLine
	other.BaseModel = ""
	if svlLine.Key() != other.Key() {
		t.Errorf("Key %q and %q: the base model is part of a line's identity", svlLine.Key(), other.Key())
	}
}
