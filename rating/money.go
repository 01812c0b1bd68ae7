package rating

import (
	"fmt"
	"math"
	"strconv"

	"github.com/shopspring/decimal"
)

// Cents is an amount of money in integer cents of the price book's currency. Every stored and summed
// amount in billrun is Cents; only unit prices and unrounded amounts are decimals.
type Cents int64

// RoundCents rounds d to cents, half away from zero: the one rounding rule billrun uses for money.
// An amount of MaxCents (92,233,720,368,547,758.07) or more comes out as MaxCents, and one of
// -MaxCents or less as -MaxCents, never wrapped around to another amount; Cents.InRange tells such a
// result, and no document with one is issued.
func RoundCents(d decimal.Decimal) Cents {
	c := d.Round(2).Shift(2)
	switch {
	case c.GreaterThan(maxCents):
		return MaxCents
	case c.LessThan(maxCents.Neg()):
		return -MaxCents
	}
	return Cents(c.IntPart())
}

// MaxCents is the largest value of Cents: an amount too large to hold, which RoundCents gives (or its
// negative) for any amount at or beyond it. The largest amount billrun holds is MaxCents − 0.01.
const MaxCents = Cents(math.MaxInt64)

// InRange reports whether c is an amount billrun holds: strictly between -MaxCents and MaxCents.
func (c Cents) InRange() bool { return c > -MaxCents && c < MaxCents }

// AddClamped returns c + o, or MaxCents or -MaxCents when the sum is at or beyond them: for running
// sums of amounts that each hold, such as a credit balance over many grants, which must not wrap
// around to an amount of the other sign.
func (c Cents) AddClamped(o Cents) Cents {
	s, ok := AddCents(c, o)
	switch {
	case !ok && o > 0, ok && s >= MaxCents:
		return MaxCents
	case !ok, s <= -MaxCents:
		return -MaxCents
	}
	return s
}

// AddCents returns a + b, and false when the sum does not hold in Cents.
func AddCents(a, b Cents) (Cents, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}

// CentsFromDecimal converts an amount with at most two decimal places to Cents. It returns an error when
// the amount has fractional cents or is beyond the largest amount billrun holds (±(MaxCents − 0.01)),
// so input money is never rounded or wrapped around silently.
func CentsFromDecimal(d decimal.Decimal) (Cents, error) {
	s := d.Shift(2)
	if !s.Equal(s.Truncate(0)) {
		return 0, fmt.Errorf("amount %s has fractions of a cent", d)
	}
	if s.Abs().GreaterThanOrEqual(maxCents) {
		return 0, fmt.Errorf("amount %s is more than billrun holds: at most %s", d, MaxCents-1)
	}
	return Cents(s.IntPart()), nil
}

// maxCents is MaxCents as a decimal of cents.
var maxCents = decimal.NewFromInt(math.MaxInt64)

// ParseCents parses a decimal string such as "42.17" into Cents.
func ParseCents(s string) (Cents, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return 0, fmt.Errorf("amount %q is not a decimal number", s)
	}
	return CentsFromDecimal(d)
}

// Decimal returns c as a decimal number of currency units.
func (c Cents) Decimal() decimal.Decimal { return decimal.New(int64(c), -2) }

// String formats c with exactly two decimal places: "12.30", "-0.24", "0.00".
func (c Cents) String() string {
	neg := c < 0
	u := uint64(c)
	if neg {
		u = uint64(-c)
	}
	s := strconv.FormatUint(u/100, 10) + "." + fmt.Sprintf("%02d", u%100)
	if neg {
		return "-" + s
	}
	return s
}

// FormatPrice formats a unit price with at least two decimal places and no trailing zeros beyond them:
// "0.20", "0.05", "0.025", "8.00".
func FormatPrice(d decimal.Decimal) string {
	if d.Exponent() >= -2 || d.Equal(d.Round(2)) {
		return d.StringFixed(2)
	}
	return d.String()
}

// FormatQuantity formats a quantity without trailing zeros: "1200000", "3600.5".
func FormatQuantity(d decimal.Decimal) string { return d.String() }
