package rating

import (
	"math"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// DESIGN §5: rounded once, to cents, half away from zero.
func TestHandRoundCents(t *testing.T) {
	tests := []struct {
		in   string
		want Cents
	}{
		{"0", 0},
		{"0.005", 1},     // half → away from zero
		{"0.0049998", 0}, // below half
		{"0.004999999999999999999999", 0},
		{"0.025", 3}, // half-even would give 2
		{"0.015", 2},
		{"0.0149999", 1},
		{"2.175", 218},
		{"11.996666666666666666666667", 1200},
		{"12.344999", 1234},
		{"-0.005", -1},    // negative half → away from zero
		{"-0.0049998", 0}, // negative below half
		{"-0.025", -3},
		{"-0.0149999", -1},
		{"-435", -43500},
		{"123456789.125", 12345678913},
		// Beyond an int64 of cents: the largest amount, never wrapped around (a GPU line at a unit
		// price of 10^20 once came out as -55,273,440,080,955,091.63).
		{"92233720368547758.07", MaxCents},
		{"92233720368547758.074", MaxCents},
		{"92233720368547758.075", MaxCents},
		{"33333333333333333333333.33", MaxCents},
		{"-92233720368547758.07", -MaxCents},
		{"-1e30", -MaxCents},
	}
	for _, tc := range tests {
		if got := RoundCents(handDec(tc.in)); got != tc.want {
			t.Errorf("RoundCents(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestHandCentsString(t *testing.T) {
	tests := []struct {
		c    Cents
		want string
	}{
		{0, "0.00"},
		{1, "0.01"},
		{5, "0.05"},
		{30, "0.30"},
		{100, "1.00"},
		{1230, "12.30"},
		{4217, "42.17"},
		{-24, "-0.24"},
		{-1, "-0.01"},
		{-1600, "-16.00"},
		{-43500, "-435.00"},
		{500000, "5000.00"},
		{12345678913, "123456789.13"},
	}
	for _, tc := range tests {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("Cents(%d).String() = %q, want %q", int64(tc.c), got, tc.want)
		}
	}
}

func TestHandCentsDecimalAndParse(t *testing.T) {
	if got := Cents(-1616).Decimal(); !got.Equal(handDec("-16.16")) {
		t.Errorf("Cents(-1616).Decimal() = %s, want -16.16", got)
	}
	parse := []struct {
		in      string
		want    Cents
		wantErr bool
	}{
		{"42.17", 4217, false},
		{"100", 10000, false},
		{"100.00", 10000, false},
		{"0.1", 10, false},
		{"-5.50", -550, false},
		{"1.005", 0, true}, // fractions of a cent are never rounded silently
		{"abc", 0, true},
		// The largest amount billrun holds is one cent below an int64's 2^63 - 1 cents
		// (92,233,720,368,547,758.07, MaxCents, which stands for "too large"): at its ends, and one
		// cent beyond, which must be refused rather than wrap around.
		{"92233720368547758.06", math.MaxInt64 - 1, false},
		{"-92233720368547758.06", -(math.MaxInt64 - 1), false},
		{"92233720368547758.07", 0, true},
		{"-92233720368547758.07", 0, true},
		{"92233720368547758.08", 0, true},
		{"99999999999999999999.00", 0, true}, // wrapped to 18,647,120,494,230,240.28 before
		{"1e30", 0, true},
	}
	for _, tc := range parse {
		got, err := ParseCents(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseCents(%q) = %d, %v, want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// Unit prices: at least two decimals, no trailing zeros beyond them.
func TestHandFormatPrice(t *testing.T) {
	tests := []struct {
		in   decimal.Decimal
		want string
	}{
		{handDec("0.20"), "0.20"},
		{handDec("0.2"), "0.20"},
		{handDec("0.20").Mul(handDec("0.5")), "0.10"},                     // batch 0.20 × 0.5
		{handDec("0.20").Mul(handDec("0.5")).Mul(handDec("0.5")), "0.05"}, // batch cached
		{handDec("0.45").Mul(handDec("0.5")), "0.225"},                    // deepseek batch cached
		{handDec("0.025"), "0.025"},
		{handDec("0.0250"), "0.025"},
		{handDec("8"), "8.00"},
		{handDec("8.00"), "8.00"},
		{handDec("2.9"), "2.90"},
		{handDec("13"), "13.00"},
		{handDec("40.00"), "40.00"},
		{decimal.New(1, 2), "100.00"},
		{handDec("0.00000123"), "0.00000123"},
	}
	for _, tc := range tests {
		if got := FormatPrice(tc.in); got != tc.want {
			t.Errorf("FormatPrice(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := FormatQuantity(Quantity{Units: 5398, Nanos: 500_000_000}.Decimal()); got != "5398.5" {
		t.Errorf("FormatQuantity(5398.5 s) = %q, want 5398.5", got)
	}
	if got := FormatQuantity(Quantity{Units: 1_200_000}.Decimal()); got != "1200000" {
		t.Errorf("FormatQuantity(1200000) = %q, want 1200000", got)
	}
}

// Periods are calendar months in UTC, half-open [Start, End).
func TestHandPeriod(t *testing.T) {
	tests := []struct {
		in         string
		start, end string
		prev, next string
	}{
		{"2026-10", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", "2026-09", "2026-11"},
		{"2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", "2026-11", "2027-01"},
		{"2027-01", "2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z", "2026-12", "2027-02"},
		{"2028-02", "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z", "2028-01", "2028-03"}, // leap year: 29 days
		{"2026-02", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-01", "2026-03"},
	}
	for _, tc := range tests {
		p, err := ParsePeriod(tc.in)
		if err != nil {
			t.Fatalf("ParsePeriod(%q) error = %v", tc.in, err)
		}
		if p.String() != tc.in {
			t.Errorf("ParsePeriod(%q).String() = %q", tc.in, p.String())
		}
		if got := p.Start(); !got.Equal(handTime(tc.start)) || got.Location() != time.UTC {
			t.Errorf("%s.Start() = %s, want %s UTC", tc.in, got, tc.start)
		}
		if got := p.End(); !got.Equal(handTime(tc.end)) {
			t.Errorf("%s.End() = %s, want %s", tc.in, got, tc.end)
		}
		if got := p.Prev().String(); got != tc.prev {
			t.Errorf("%s.Prev() = %s, want %s", tc.in, got, tc.prev)
		}
		if got := p.Next().String(); got != tc.next {
			t.Errorf("%s.Next() = %s, want %s", tc.in, got, tc.next)
		}
	}
	if got := handTime("2028-03-01T00:00:00Z").Sub(Period{Year: 2028, Month: time.February}.Start()); got != 29*24*time.Hour {
		t.Errorf("February 2028 length = %s, want 696h (29 days)", got)
	}
	// 0000-01 has no RFC 3339 year, and 9999-12 ends at 10000-01-01, whose day-after partition
	// dt=10000-01-01 no RFC 3339 date names.
	for _, bad := range []string{"2026-1", "2026-13", "2026-00", "26-10", "2026-10-01", "2026/10", "", "0000-01", "9999-12"} {
		if _, err := ParsePeriod(bad); err == nil {
			t.Errorf("ParsePeriod(%q) error = nil, want an error", bad)
		}
	}
	for _, good := range []string{"0001-01", "9999-11"} {
		if p, err := ParsePeriod(good); err != nil || p.String() != good {
			t.Errorf("ParsePeriod(%q) = %v, %v; want %s", good, p, err, good)
		}
	}
	of := []struct {
		at   string
		want string
	}{
		{"2026-10-01T00:00:00Z", "2026-10"},
		{"2026-10-31T23:59:59.999999999Z", "2026-10"},
		{"2026-11-01T00:00:00Z", "2026-11"},
		{"2026-11-01T01:00:00+02:00", "2026-10"}, // 2026-10-31T23:00Z
		{"2026-10-31T20:00:00-05:00", "2026-11"}, // 2026-11-01T01:00Z
	}
	for _, tc := range of {
		if got := PeriodOf(handTime(tc.at)).String(); got != tc.want {
			t.Errorf("PeriodOf(%s) = %s, want %s", tc.at, got, tc.want)
		}
	}
	w := PeriodWindow(Period{Year: 2026, Month: time.October})
	if !w.From.Equal(handTime("2026-10-01T00:00:00Z")) || !w.To.Equal(handTime("2026-11-01T00:00:00Z")) {
		t.Errorf("PeriodWindow(2026-10) = %v, want [2026-10-01, 2026-11-01)", w)
	}
}

// Running sums of amounts clamp at ±MaxCents rather than wrap around to the other sign.
func TestHandAddClamped(t *testing.T) {
	for _, tc := range []struct{ a, b, want Cents }{
		{100, -250, -150},
		{MaxCents - 2, 1, MaxCents - 1},
		{MaxCents - 2, 2, MaxCents}, // at the limit: too large
		{MaxCents - 1, MaxCents - 1, MaxCents},
		{MaxCents, 0, MaxCents},
		{MaxCents, -1, MaxCents - 1},
		{-(MaxCents - 1), -(MaxCents - 1), -MaxCents},
		{-MaxCents, 0, -MaxCents},
		{-MaxCents, -MaxCents, -MaxCents},
	} {
		if got := tc.a.AddClamped(tc.b); got != tc.want {
			t.Errorf("%d.AddClamped(%d) = %d, want %d", int64(tc.a), int64(tc.b), int64(got), int64(tc.want))
		}
	}
}
