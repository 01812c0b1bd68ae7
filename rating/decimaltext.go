package rating

import (
	"strconv"

	"github.com/shopspring/decimal"
)

// AppendQuantity appends FormatQuantity(d). The exporters and the store write two or three decimals
// per invoice line, and formatting one through the decimal package goes through a big.Int's digits and
// several strings (about four allocations); a decimal whose coefficient fits in an int64 — all that
// rating produces in practice — is written from its coefficient and exponent instead.
func AppendQuantity(dst []byte, d decimal.Decimal) []byte {
	if c, e, ok := decimalParts(d); ok {
		return appendDecimal(dst, c, e, 0)
	}
	return append(dst, FormatQuantity(d)...)
}

// AppendPrice appends FormatPrice(d), from d's coefficient and exponent when it can (see AppendQuantity).
func AppendPrice(dst []byte, d decimal.Decimal) []byte {
	if c, e, ok := decimalParts(d); ok {
		return appendDecimal(dst, c, e, 2)
	}
	return append(dst, FormatPrice(d)...)
}

// AppendDecimal appends the text of c × 10^e as FormatQuantity writes that number: plain notation, no
// trailing zeros.
func AppendDecimal(dst []byte, c int64, e int) []byte { return appendDecimal(dst, c, e, 0) }

// decimalParts returns d as c × 10^e when c fits in an int64 and the decimal package formats decimals in
// its default way (trailing zeros trimmed, no scientific notation), which appendDecimal mirrors.
func decimalParts(d decimal.Decimal) (c int64, e int, ok bool) {
	if !decimal.TrimTrailingZeros || decimal.UseScientificNotation || d.NumDigits() > 18 {
		return 0, 0, false
	}
	return d.CoefficientInt64(), int(d.Exponent()), true
}

// appendDecimal appends c × 10^e in plain notation, with at least minFrac decimal places and no trailing
// zeros beyond them, as the decimal package writes it.
func appendDecimal(dst []byte, c int64, e, minFrac int) []byte {
	u := uint64(c)
	if c < 0 {
		dst = append(dst, '-')
		u = -u
	}
	if e >= 0 {
		dst = strconv.AppendUint(dst, u, 10)
		if u != 0 {
			dst = appendZeros(dst, e)
		}
		if minFrac > 0 {
			dst = appendZeros(append(dst, '.'), minFrac)
		}
		return dst
	}
	frac := -e // the last frac digits of u lie after the decimal point
	for frac > minFrac && u%10 == 0 {
		u /= 10
		frac--
	}
	var buf [20]byte
	digits := strconv.AppendUint(buf[:0], u, 10)
	intLen := len(digits) - frac
	if intLen > 0 {
		dst = append(dst, digits[:intLen]...)
	} else {
		dst = append(dst, '0')
	}
	if frac == 0 { // only when minFrac is 0 too: an integer
		return dst
	}
	dst = append(dst, '.')
	dst = appendZeros(dst, -intLen)
	dst = append(dst, digits[max(intLen, 0):]...)
	return appendZeros(dst, minFrac-frac)
}

// appendZeros appends n zeros, none when n ≤ 0.
func appendZeros(dst []byte, n int) []byte {
	for range n {
		dst = append(dst, '0')
	}
	return dst
}
