package prices

import (
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
