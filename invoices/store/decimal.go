package store

import (
	"strconv"

	"github.com/shopspring/decimal"
)

// decimalText returns d.String(), the stored form of a quantity, price or unrounded amount. A close
// stores two or three decimals per line, and String goes through a big.Int's digits and several
// string concatenations (≈ 0.4 µs and four allocations); a decimal whose coefficient fits in an
// int64 — all that rating produces in practice — is written from its coefficient and exponent
// instead, with one allocation. The tests hold it to String.
func decimalText(d decimal.Decimal) string {
	if !decimal.TrimTrailingZeros || decimal.UseScientificNotation || d.NumDigits() > 18 {
		return d.String()
	}
	c, e := d.CoefficientInt64(), int(d.Exponent())
	var buf [48]byte
	b := buf[:0]
	u := uint64(c)
	if c < 0 {
		u = -u
	}
	if e >= 0 {
		if e > len(buf)-20 || u == 0 {
			return d.String()
		}
		if c < 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, u, 10)
		for range e {
			b = append(b, '0')
		}
		return string(b)
	}
	frac := -e // the last frac digits of u lie after the decimal point
	for frac > 0 && u%10 == 0 {
		u /= 10
		frac--
	}
	if u == 0 {
		return "0"
	}
	if frac > len(buf)-22 {
		return d.String()
	}
	if c < 0 {
		b = append(b, '-')
	}
	var digitBuf [20]byte
	digits := strconv.AppendUint(digitBuf[:0], u, 10)
	intLen := len(digits) - frac
	if intLen > 0 {
		b = append(b, digits[:intLen]...)
	} else {
		b = append(b, '0')
	}
	if frac == 0 {
		return string(b)
	}
	b = append(b, '.')
	for range -intLen {
		b = append(b, '0')
	}
	b = append(b, digits[max(intLen, 0):]...)
	return string(b)
}
