package rating

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
)

// TestAppendQuantity: AppendQuantity writes exactly what Decimal.String does — the form in which the
// store keeps quantities, prices and unrounded amounts — for decimals whose coefficient fits in an
// int64 (its own formatting) and for larger ones (the decimal package's).
func TestAppendQuantity(t *testing.T) {
	for _, s := range []string{"0", "0.00", "-0.0", "1", "-1", "10", "1.5", "1.50", "-1.50", "0.05", "-0.05", "0.000001",
		"100.004999999999", "-1.005", "1000.5", "1200000", "3600.5", "0.20", "8.00", "0.025", "123456789012345678",
		"1234567890123456789", "-1234567890123456789.5", "0.0000000000000000000001", "99999999999999999999999.99",
		"9223372036854775807", "-9223372036854775808", "922337203685477580.7"} {
		d := decimal.RequireFromString(s)
		if got, want := string(AppendQuantity(nil, d)), d.String(); got != want {
			t.Errorf("AppendQuantity(%s) = %q, want %q", s, got, want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		var c int64
		switch r.IntN(3) {
		case 0:
			c = r.Int64N(1000) - 500
		case 1:
			c = r.Int64N(1e12) - 5e11
		default:
			c = int64(r.Uint64())
		}
		exp := int32(r.IntN(40) - 30)
		for _, d := range []decimal.Decimal{decimal.New(c, exp), decimal.NewFromBigInt(new(big.Int).Mul(big.NewInt(c), big.NewInt(math.MaxInt32)), exp)} {
			if got, want := string(AppendQuantity(nil, d)), d.String(); got != want {
				t.Fatalf("AppendQuantity(%d e%d) = %q, want %q", d.CoefficientInt64(), d.Exponent(), got, want)
			}
		}
	}
}

func BenchmarkAppendQuantity(b *testing.B) {
	d := decimal.RequireFromString("100.004999999999")
	b.Run("String", func(b *testing.B) {
		for b.Loop() {
			_ = d.String()
		}
	})
	b.Run("AppendQuantity", func(b *testing.B) {
		var buf [48]byte
		for b.Loop() {
			_ = AppendQuantity(buf[:0], d)
		}
	})
}
