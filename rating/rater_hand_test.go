package rating

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func handOct() Window { return PeriodWindow(Period{Year: 2026, Month: time.October}) }

func handServerlessEvent(ts, model, base string, in, cached, out int64, batch bool) Event {
	return Event{ID: "e", TS: handTime(ts), Account: "acct_1", Type: KindServerless, Model: model, BaseModel: base,
		InputTokens: in, CachedInputTokens: cached, OutputTokens: out, Batch: batch}
}

func handGPUEvent(deployment, gpu string, count int64, start, end string) Event {
	return Event{ID: "g", TS: handTime(end), Account: "acct_1", Type: KindGPU, Deployment: deployment, GPUType: gpu,
		GPUCount: count, Start: handTime(start), End: handTime(end)}
}

func handFTEvent(ts, job, base, method string, tokens, epochs int64) Event {
	return Event{ID: "f", TS: handTime(ts), Account: "acct_1", Type: KindFineTuning, Job: job, BaseModel: base,
		Method: method, TrainingTokens: tokens, Epochs: epochs}
}

// TestHandRate rates events with Rater.Add and builds the lines with BuildLines. Every expected line is
// quantity × unit price ÷ unit size (1M tokens, 3600 GPU-s), rounded once, half away from zero (§5, §6).
// October 2026 is priced by version 2026-09-01 (H100 8.00); August by 2026-01-01 (H100 4.00).
func TestHandRate(t *testing.T) {
	pb := handPriceBook(t)
	const oct = "2026-10-05T10:00:00Z"
	L := handLineString
	tests := []struct {
		name   string
		window Window // zero: October 2026
		events []Event
		want   []string
	}{
		{
			name:   "serverless uncached, cached and output meters",
			events: []Event{handServerlessEvent(oct, handLlama8B, "", 1_200_000, 200_000, 300_000, false)},
			want: []string{
				L(KindServerless, handLlama8B, "", "", MeterInput, "1000000", "0.20", 20),     // (1.2M − 0.2M) × 0.20 / 1M = 0.20
				L(KindServerless, handLlama8B, "", "", MeterCachedInput, "200000", "0.10", 2), // 0.20 × 0.5 = 0.10; 200k × 0.10 / 1M = 0.02
				L(KindServerless, handLlama8B, "", "", MeterOutput, "300000", "0.20", 6),      // 300k × 0.20 / 1M = 0.06
			},
		},
		{
			name:   "batch and batch-cached unit prices",
			events: []Event{handServerlessEvent(oct, handLlama8B, "", 200_000, 100_000, 50_000, true)},
			want: []string{
				L(KindServerless, handLlama8B, "", "", MeterBatchInput, "100000", "0.10", 1),       // 0.20 × 0.5 = 0.10; 100k × 0.10 / 1M = 0.01
				L(KindServerless, handLlama8B, "", "", MeterBatchCachedInput, "100000", "0.05", 1), // 0.20 × 0.5 × 0.5 = 0.05; 100k × 0.05 / 1M = 0.005 → 0.01
				L(KindServerless, handLlama8B, "", "", MeterBatchOutput, "50000", "0.10", 1),       // 50k × 0.10 / 1M = 0.005 → 0.01
			},
		},
		{
			name:   "explicit model price with explicit cached_input (deepseek-v3)",
			events: []Event{handServerlessEvent(oct, handDeepseek, "", 2_000_000, 1_000_000, 1_000_000, false)},
			want: []string{
				L(KindServerless, handDeepseek, "", "", MeterInput, "1000000", "0.90", 90),       // 1M × 0.90 / 1M = 0.90
				L(KindServerless, handDeepseek, "", "", MeterCachedInput, "1000000", "0.45", 45), // explicit 0.45 (not a bucket, MoE 671B has none)
				L(KindServerless, handDeepseek, "", "", MeterOutput, "1000000", "0.90", 90),
			},
		},
		{
			name:   "explicit model price, batch",
			events: []Event{handServerlessEvent(oct, handDeepseek, "", 3_000_000, 1_000_000, 1_000_000, true)},
			want: []string{
				L(KindServerless, handDeepseek, "", "", MeterBatchInput, "2000000", "0.45", 90),        // 0.90 × 0.5 = 0.45; 2M × 0.45 / 1M = 0.90
				L(KindServerless, handDeepseek, "", "", MeterBatchCachedInput, "1000000", "0.225", 23), // 0.45 × 0.5 = 0.225 → 0.225 → 0.23
				L(KindServerless, handDeepseek, "", "", MeterBatchOutput, "1000000", "0.45", 45),       // 1M × 0.45 / 1M = 0.45
			},
		},
		{
			name:   "fine-tuned model billed as its base",
			events: []Event{handServerlessEvent(oct, handFTPlain, handLlama8B, 3_000_000, 0, 1_000_000, false)},
			want: []string{
				L(KindServerless, handFTPlain, handLlama8B, "", MeterInput, "3000000", "0.20", 60), // 3M × 0.20 / 1M = 0.60
				L(KindServerless, handFTPlain, handLlama8B, "", MeterOutput, "1000000", "0.20", 20),
				// cached 0 → no line
			},
		},
		{
			name:   "base_model wins over the fine-tuned model's own explicit price",
			events: []Event{handServerlessEvent(oct, handFTOwnPrice, handLlama8B, 1_000_000, 500_000, 0, true)},
			want: []string{
				L(KindServerless, handFTOwnPrice, handLlama8B, "", MeterBatchInput, "500000", "0.10", 5),       // base 0.20 × 0.5 = 0.10 (not 5.00 × 0.5); 500k → 0.05
				L(KindServerless, handFTOwnPrice, handLlama8B, "", MeterBatchCachedInput, "500000", "0.05", 3), // 0.10 × 0.5 × 0.5 = 0.05; 500k × 0.05 / 1M = 0.025 → 0.03
			},
		},
		{
			name: "events of one line add up before rounding",
			events: []Event{
				handServerlessEvent("2026-10-05T00:00:00Z", handLlama3B, "", 20_000, 0, 100_000, false),
				handServerlessEvent("2026-10-06T00:00:00Z", handLlama3B, "", 20_000, 0, 100_000, false),
				handServerlessEvent("2026-10-31T23:59:59.999Z", handLlama3B, "", 20_000, 0, 50_000, false),
			},
			want: []string{
				L(KindServerless, handLlama3B, "", "", MeterInput, "60000", "0.10", 1),   // 3 × 20k = 60k × 0.10 / 1M = 0.006 → 0.01 (per event 0.002 → 0.00)
				L(KindServerless, handLlama3B, "", "", MeterOutput, "250000", "0.10", 3), // 250k × 0.10 / 1M = 0.025 → 0.03 (half-even would be 0.02)
			},
		},
		{
			name:   "params_b 1.5 in Up to 4B",
			events: []Event{handServerlessEvent(oct, handDense1p5, "", 10_000_000, 0, 0, false)},
			want:   []string{L(KindServerless, handDense1p5, "", "", MeterInput, "10000000", "0.10", 100)}, // 10M × 0.10 / 1M = 1.00
		},
		{
			name:   "GPU price change at a version boundary: two lines",
			window: Window{From: handTime("2026-08-01T00:00:00Z"), To: handTime("2026-10-01T00:00:00Z")},
			events: []Event{handGPUEvent("dep-x", "H100-80GB", 1, "2026-08-31T23:30:00Z", "2026-09-01T00:30:00Z")},
			want: []string{
				L(KindGPU, "H100-80GB", "", "dep-x", MeterGPUSeconds, "1800", "4.00", 200), // 23:30 → 00:00 = 1800 s × 4.00 / 3600 = 2.00
				L(KindGPU, "H100-80GB", "", "dep-x", MeterGPUSeconds, "1800", "8.00", 400), // 00:00 → 00:30 = 1800 s × 8.00 / 3600 = 4.00
			},
		},
		{
			name:   "GPU version boundary, August window bills the August half",
			window: PeriodWindow(Period{Year: 2026, Month: time.August}),
			events: []Event{handGPUEvent("dep-x", "H100-80GB", 1, "2026-08-31T23:30:00Z", "2026-09-01T00:30:00Z")},
			want:   []string{L(KindGPU, "H100-80GB", "", "dep-x", MeterGPUSeconds, "1800", "4.00", 200)}, // 1800 × 4 / 3600 = 2.00
		},
		{
			name:   "GPU version boundary, September window bills the September half",
			window: PeriodWindow(Period{Year: 2026, Month: time.September}),
			events: []Event{handGPUEvent("dep-x", "H100-80GB", 1, "2026-08-31T23:30:00Z", "2026-09-01T00:30:00Z")},
			want:   []string{L(KindGPU, "H100-80GB", "", "dep-x", MeterGPUSeconds, "1800", "8.00", 400)}, // 1800 × 8 / 3600 = 4.00
		},
		{
			name:   "GPU price unchanged at a version boundary: one line",
			window: Window{From: handTime("2026-08-01T00:00:00Z"), To: handTime("2026-10-01T00:00:00Z")},
			events: []Event{handGPUEvent("dep-y", "A100-80GB", 1, "2026-08-31T23:30:00Z", "2026-09-01T00:30:00Z")},
			// A100 is 2.90 in both versions: one line per (deployment, GPU type, unit price); 1800 + 1800 = 3600 × 2.90 / 3600 = 2.90
			want: []string{L(KindGPU, "A100-80GB", "", "dep-y", MeterGPUSeconds, "3600", "2.90", 290)},
		},
		{
			name: "GPU fractions of a second add up across events",
			events: []Event{
				handGPUEvent("dep-s", "H100-80GB", 3, "2026-10-10T10:00:00Z", "2026-10-10T10:00:00.75Z"), // 3 × 0.75 = 2.25 GPU-s
				handGPUEvent("dep-s", "H100-80GB", 3, "2026-10-10T11:00:00Z", "2026-10-10T11:00:00.75Z"), // 2.25 GPU-s
			},
			// 2.25 + 2.25 = 4.5 GPU-s × 8.00 / 3600 = 36 / 3600 = 0.01
			want: []string{L(KindGPU, "H100-80GB", "", "dep-s", MeterGPUSeconds, "4.5", "8.00", 1)},
		},
		{
			name:   "GPU clipped at month end, start with .5 s",
			events: []Event{handGPUEvent("dep-a", "H100-80GB", 3, "2026-10-31T23:30:00.5Z", "2026-11-01T00:10:00Z")},
			// 23:30:00.5 → 24:00 = 1799.5 s × 3 GPUs = 5398.5 GPU-s × 8.00 / 3600 = 43188 / 3600 = 11.99666… → 12.00
			want: []string{L(KindGPU, "H100-80GB", "", "dep-a", MeterGPUSeconds, "5398.5", "8.00", 1200)},
		},
		{
			name:   "GPU clipped at month start, the next month's part",
			window: PeriodWindow(Period{Year: 2026, Month: time.November}),
			events: []Event{handGPUEvent("dep-a", "H100-80GB", 3, "2026-10-31T23:30:00.5Z", "2026-11-01T00:10:00Z")},
			// 00:00 → 00:10 = 600 s × 3 = 1800 GPU-s × 8.00 / 3600 = 4.00  (5398.5 + 1800 = 7198.5 = 3 × 2399.5: nothing lost)
			want: []string{L(KindGPU, "H100-80GB", "", "dep-a", MeterGPUSeconds, "1800", "8.00", 400)},
		},
		{
			name:   "GPU starting before the window is clipped at its start (example 04 g2-e1)",
			events: []Event{handGPUEvent("dep-c", "A100-80GB", 4, "2026-09-30T23:30:00Z", "2026-10-01T00:30:00Z")},
			want:   []string{L(KindGPU, "A100-80GB", "", "dep-c", MeterGPUSeconds, "7200", "2.90", 580)}, // 4 × 1800 = 7200 × 2.90 / 3600 = 5.80
		},
		{
			name:   "GPU ending exactly at the window end is all in the window",
			events: []Event{handGPUEvent("dep-b", "A100-80GB", 1, "2026-10-31T23:00:00Z", "2026-11-01T00:00:00Z")},
			want:   []string{L(KindGPU, "A100-80GB", "", "dep-b", MeterGPUSeconds, "3600", "2.90", 290)}, // 3600 × 2.90 / 3600 = 2.90
		},
		{
			name:   "GPU fractional seconds at both ends",
			events: []Event{handGPUEvent("dep-f", "B200-180GB", 2, "2026-10-10T10:00:00.25Z", "2026-10-10T10:00:01.75Z")},
			want:   []string{L(KindGPU, "B200-180GB", "", "dep-f", MeterGPUSeconds, "3", "13.00", 1)}, // 1.5 s × 2 = 3 GPU-s × 13 / 3600 = 0.010833… → 0.01
		},
		{
			name:   "GPU one nanosecond: positive quantity rounding to 0.00 is kept",
			events: []Event{handGPUEvent("dep-n", "H100-80GB", 1, "2026-10-10T10:00:00Z", "2026-10-10T10:00:00.000000001Z")},
			want:   []string{L(KindGPU, "H100-80GB", "", "dep-n", MeterGPUSeconds, "0.000000001", "8.00", 0)}, // 1e-9 × 8 / 3600 ≈ 2.2e-12 → 0.00
		},
		{
			name: "GPU deployments are separate lines; intervals of one deployment add up",
			events: []Event{
				handGPUEvent("dep-a", "H100-80GB", 2, "2026-10-31T22:30:00Z", "2026-10-31T23:30:00Z"),
				handGPUEvent("dep-a", "H100-80GB", 2, "2026-10-31T23:30:00Z", "2026-11-01T00:15:00Z"),
				handGPUEvent("dep-b", "H100-80GB", 1, "2026-10-20T00:00:00Z", "2026-10-20T00:45:00Z"),
			},
			want: []string{
				L(KindGPU, "H100-80GB", "", "dep-a", MeterGPUSeconds, "10800", "8.00", 2400), // 2 × 3600 + 2 × 1800 = 10800 × 8 / 3600 = 24.00
				L(KindGPU, "H100-80GB", "", "dep-b", MeterGPUSeconds, "2700", "8.00", 600),   // 2700 × 8 / 3600 = 6.00
			},
		},
		{
			name: "fine-tuning: tokens × epochs × method multiplier, buckets by base size",
			events: []Event{
				handFTEvent(oct, "job-lora-sft", handLlama8B, "lora_sft", 1_000_000, 3),
				handFTEvent(oct, "job-full-dpo", handDeepseek, "full_dpo", 250_000, 2),
				handFTEvent(oct, "job-lora-dpo", handDense80, "lora_dpo", 1_000_001, 1),
				handFTEvent(oct, "job-full-sft", handDense300, "full_sft", 1_234_567, 1),
				handFTEvent(oct, "job-16b", handDense16, "lora_sft", 10_000, 1),
			},
			want: []string{
				L(KindFineTuning, "job-lora-sft", handLlama8B, "", MeterTrainingTokens, "3000000", "0.50", 150),    // 1M × 3 = 3M × (0.50 × 1) / 1M = 1.50
				L(KindFineTuning, "job-full-dpo", handDeepseek, "", MeterTrainingTokens, "500000", "40.00", 2000),  // 250k × 2 = 500k × (10.00 × 4 = 40) / 1M = 20.00
				L(KindFineTuning, "job-lora-dpo", handDense80, "", MeterTrainingTokens, "1000001", "6.00", 600),    // 80 ≤ 80 → 3.00 × 2 = 6; 1,000,001 × 6 / 1M = 6.000006 → 6.00
				L(KindFineTuning, "job-full-sft", handDense300, "", MeterTrainingTokens, "1234567", "12.00", 1481), // 300 ≤ 300 → 6.00 × 2 = 12; × 12 / 1M = 14.814804 → 14.81
				L(KindFineTuning, "job-16b", handDense16, "", MeterTrainingTokens, "10000", "0.50", 1),             // 16 ≤ 16 → 0.50; 10k × 0.50 / 1M = 0.005 → 0.01
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.window
			if w == (Window{}) {
				w = handOct()
			}
			r := NewRater(pb, w, map[string]bool{"acct_1": true})
			agg := NewAggregate()
			for i := range tc.events {
				if code, msg := r.Add(&tc.events[i], agg); code != "" {
					t.Fatalf("Add(event %d) = %s %q, want accepted", i, code, msg)
				}
			}
			got, want := handGot(BuildLines(agg.LineMap())), handSorted(tc.want)
			if !slices.Equal(got, want) {
				t.Errorf("BuildLines(Add(events)) =\n  %v\nwant\n  %v", got, want)
			}
		})
	}
}

// Rejected events leave the aggregate unchanged (§3, §11 reject codes).
func TestHandRateRejects(t *testing.T) {
	pb := handPriceBook(t)
	dec2025 := PeriodWindow(Period{Year: 2025, Month: time.December})
	tests := []struct {
		name  string
		event Event
		want  RejectCode
	}{
		{name: "unknown account", event: func() Event {
			e := handServerlessEvent("2026-10-05T00:00:00Z", handLlama8B, "", 1, 0, 1, false)
			e.Account = "acct_nobody"
			return e
		}(), want: RejectUnknownAccount},
		{name: "model not in catalog and no base", event: handServerlessEvent("2026-10-05T00:00:00Z", handUnknownModel, "", 1000, 0, 1000, false), want: RejectNoPrice},
		{name: "fine-tuned model with base not in catalog", event: handServerlessEvent("2026-10-05T00:00:00Z", handFTPlain, handUnknownModel, 1000, 0, 1000, false), want: RejectNoPrice},
		{name: "MoE bigger than every MoE bucket without explicit price", event: handServerlessEvent("2026-10-05T00:00:00Z", handMoE235, "", 1000, 0, 1000, false), want: RejectNoPrice},
		{name: "serverless usage before the first version", event: handServerlessEvent("2025-12-31T23:59:59Z", handLlama8B, "", 1000, 0, 1000, false), want: RejectNoPrice},
		{name: "fine-tuning usage before the first version", event: handFTEvent("2025-12-31T12:00:00Z", "job", handLlama8B, "lora_sft", 1000, 1), want: RejectNoPrice},
		{name: "GPU usage before the first version", event: handGPUEvent("dep", "H100-80GB", 1, "2025-12-31T23:00:00Z", "2025-12-31T23:30:00Z"), want: RejectNoPrice},
		{name: "GPU type without price", event: handGPUEvent("dep", "MI300X", 1, "2026-10-05T00:00:00Z", "2026-10-05T00:30:00Z"), want: RejectNoPrice},
		{name: "fine-tuning base not in catalog", event: handFTEvent("2026-10-05T00:00:00Z", "job", handUnknownModel, "lora_sft", 1000, 1), want: RejectNoPrice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// One window for every case, from before the first version to the end of October 2026.
			r := NewRater(pb, Window{From: dec2025.From, To: handOct().To}, map[string]bool{"acct_1": true})
			agg := NewAggregate()
			// A good event first: the reject must not touch its line.
			good := handServerlessEvent("2026-10-05T00:00:00Z", handLlama8B, "", 1000, 0, 0, false)
			if code, msg := r.Add(&good, agg); code != "" {
				t.Fatalf("Add(good) = %s %q", code, msg)
			}
			before := handGot(BuildLines(agg.LineMap()))
			code, msg := r.Add(&tc.event, agg)
			if code != tc.want {
				t.Fatalf("Add(%s) = %q %q, want %q", tc.name, code, msg, tc.want)
			}
			if msg == "" {
				t.Errorf("Add(%s) message empty, want a human-readable reason", tc.name)
			}
			if got := handGot(BuildLines(agg.LineMap())); !slices.Equal(got, before) {
				t.Errorf("aggregate after reject = %v, want unchanged %v", got, before)
			}
		})
	}
}

// A nil account map accepts every account.
func TestHandRaterNilAccounts(t *testing.T) {
	pb := handPriceBook(t)
	r := NewRater(pb, handOct(), nil)
	ev := handServerlessEvent("2026-10-05T00:00:00Z", handLlama8B, "", 1_000_000, 0, 0, false)
	ev.Account = "acct_any"
	agg := NewAggregate()
	if code, msg := r.Add(&ev, agg); code != "" {
		t.Fatalf("Add(nil accounts) = %s %q, want accepted", code, msg)
	}
	if got := agg.Accounts(); !slices.Equal(got, []string{"acct_any"}) {
		t.Errorf("Accounts() = %v, want [acct_any]", got)
	}
}

// Takes: serverless/fine-tuning by ts in [From, To); GPU when [start, end) overlaps the window (§3, §11).
func TestHandTakes(t *testing.T) {
	pb := handPriceBook(t)
	r := NewRater(pb, handOct(), nil)
	tests := []struct {
		name string
		ev   Event
		want bool
	}{
		{"serverless at period start", handServerlessEvent("2026-10-01T00:00:00Z", handLlama8B, "", 1, 0, 0, false), true},
		{"serverless last nanosecond", handServerlessEvent("2026-10-31T23:59:59.999999999Z", handLlama8B, "", 1, 0, 0, false), true},
		{"serverless at period end", handServerlessEvent("2026-11-01T00:00:00Z", handLlama8B, "", 1, 0, 0, false), false},
		{"serverless with offset, UTC in October", handServerlessEvent("2026-11-01T01:00:00+02:00", handLlama8B, "", 1, 0, 0, false), true},
		{"GPU ending exactly at period start", handGPUEvent("d", "H100-80GB", 1, "2026-09-30T23:30:00Z", "2026-10-01T00:00:00Z"), false},
		{"GPU crossing period start", handGPUEvent("d", "H100-80GB", 1, "2026-09-30T23:30:00Z", "2026-10-01T00:00:01Z"), true},
		{"GPU starting exactly at period end", handGPUEvent("d", "H100-80GB", 1, "2026-11-01T00:00:00Z", "2026-11-01T00:30:00Z"), false},
		{"GPU crossing period end", handGPUEvent("d", "H100-80GB", 1, "2026-10-31T23:59:59Z", "2026-11-01T00:30:00Z"), true},
	}
	for _, tc := range tests {
		if got := r.Takes(&tc.ev); got != tc.want {
			t.Errorf("Takes(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A GPU interval is split at every price version boundary within it, however many (DESIGN §3, §4: no
// second billed twice or lost). 10:05–10:50 across versions from 10:10, 10:20, 10:30 and 10:40: five
// pieces, of which a fixed array of four pieces used to refuse the fifth ("interval spans too many
// price versions"). Both Add and the read's interned path.
func TestHandGPUAcrossManyVersions(t *testing.T) {
	pb := handPriceBook(t)
	pb.Versions = pb.Versions[:1] // H100 4.00 from 2026-01-01
	for i, p := range []string{"5.00", "6.00", "7.00", "9.00"} {
		v := handVersion(fmt.Sprintf("2026-10-05T10:%d0:00Z", i+1), p, "8.00", "13.00")
		pb.Versions = append(pb.Versions, v)
	}
	if err := pb.Validate(); err != nil {
		t.Fatal(err)
	}
	L := handLineString
	want := handSorted([]string{
		L(KindGPU, "H100-80GB", "", "dep-v", MeterGPUSeconds, "300", "4.00", 33),  // 10:05–10:10: 300 × 4 / 3600 = 0.333… → 0.33
		L(KindGPU, "H100-80GB", "", "dep-v", MeterGPUSeconds, "600", "5.00", 83),  // 600 × 5 / 3600 = 0.833… → 0.83
		L(KindGPU, "H100-80GB", "", "dep-v", MeterGPUSeconds, "600", "6.00", 100), // 600 × 6 / 3600 = 1.00
		L(KindGPU, "H100-80GB", "", "dep-v", MeterGPUSeconds, "600", "7.00", 117), // 600 × 7 / 3600 = 1.1666… → 1.17
		L(KindGPU, "H100-80GB", "", "dep-v", MeterGPUSeconds, "600", "9.00", 150), // 10:40–10:50: 600 × 9 / 3600 = 1.50
	}) // 300 + 4 × 600 = 2700 s: the 45 minutes, all billed once
	ev := handGPUEvent("dep-v", "H100-80GB", 1, "2026-10-05T10:05:00Z", "2026-10-05T10:50:00Z")
	known := map[string]bool{"acct_1": true}
	agg := NewAggregate()
	if code, msg := NewRater(pb, handOct(), known).Add(&ev, agg); code != "" {
		t.Fatalf("Add = %s %q, want accepted", code, msg)
	}
	if got := handGot(BuildLines(agg.LineMap())); !slices.Equal(got, want) {
		t.Errorf("Add: lines\n  %v\nwant\n  %v", got, want)
	}
	syms := NewSymbols()
	var sy EventSyms
	_, sy.Account = syms.Intern([]byte(ev.Account))
	_, sy.Product = syms.Intern([]byte(ev.GPUType))
	_, sy.Aux = syms.Intern([]byte(ev.Deployment))
	fast := NewAggregate()
	if code, msg := NewRater(pb, handOct(), known).AddInterned(&ev, sy, fast); code != "" {
		t.Fatalf("AddInterned = %s %q, want accepted", code, msg)
	}
	if got := handGot(BuildLines(fast.LineMap())); !slices.Equal(got, want) {
		t.Errorf("AddInterned: lines\n  %v\nwant\n  %v", got, want)
	}
}
