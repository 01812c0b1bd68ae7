package exporters

import (
	"fmt"
	"strconv"

	"github.com/shopspring/decimal"
	"github.com/xuri/excelize/v2"

	"billrun/rating"
)

// This file is where the exporters meet the spreadsheet's binary floating point: the conversion of exact
// decimals to cell numbers, and column widths. Nothing else in the package uses floating point.

// maxCellDigits is the number of significant digits a spreadsheet number keeps (Excel's limit, which
// excelize applies when it writes a number).
const maxCellDigits = 15

// moneyValue returns the cell value for an amount of cents: what numberValue returns for c.Decimal(),
// without building a decimal (a workbook has several amounts per line). Amounts of at most 15
// significant digits — up to ±9,999,999,999,999.99 — are numbers: whole ones as int64, others parsed
// from their exact text; a decimal of at most 15 significant digits always survives the trip, so
// numberValue's check that it does is not needed.
func moneyValue(c rating.Cents) any {
	const maxExact = 999_999_999_999_999 // 15 digits of cents
	if c < -maxExact || c > maxExact {
		return numberValue(c.Decimal())
	}
	if c%100 == 0 {
		return int64(c / 100)
	}
	n, _ := strconv.ParseFloat(c.String(), 64) // "12.30": the same double as "12.3"
	return n
}

// numberValue returns the value to hand excelize so that a cell holds exactly d as a number.
//
// This is the one place where billrun's exact decimals meet binary floating point, and why: a numeric
// cell in SpreadsheetML is an IEEE-754 double, and excelize's StreamWriter only writes a number from a Go
// integer or floating-point value (a string becomes a text cell). So integers go in as int64, and any
// other value is parsed from its exact decimal string — never computed in floating point — and used only
// when the shortest decimal form of the parsed number, which is what excelize writes into the file, is
// that same string. Everything the exporters sum is summed in cents before it gets here. A value that
// would not survive the trip (more than 15 significant digits) is written as text rather than altered.
func numberValue(d decimal.Decimal) any {
	s, number := numberText(d)
	switch {
	case !number:
		return s
	case d.IsInteger():
		return d.IntPart()
	}
	n, _ := strconv.ParseFloat(s, 64) // numberText parsed it already
	return n
}

// numberText returns d's canonical text and whether numberValue makes it a number cell: when it does,
// the text is exactly what excelize writes for that number (the integer, or the shortest form of the
// double, which numberValue only uses when it is this same text).
func numberText(d decimal.Decimal) (string, bool) {
	s := d.String() // canonical: no exponent, no trailing zeros
	if significantDigits(s) > maxCellDigits {
		return s, false
	}
	if d.IsInteger() {
		return s, true
	}
	n, err := strconv.ParseFloat(s, 64)
	return s, err == nil && strconv.FormatFloat(n, 'f', -1, 64) == s
}

// decimalValue is numberValue(d) computed from d's coefficient and exponent when the coefficient fits
// in an int64, without d's big-number formatting (quantities and unit prices on every line). With
// trailing zeros stripped, a coefficient c of at most 15 digits and an exponent -k make a number of at
// most 15 significant digits, which survives the trip through a double: a whole one (k <= 0) is the
// int64 c × 10^-k when that has at most 15 digits, any other is parsed from its exact text. Everything
// else takes numberValue.
func decimalValue(d decimal.Decimal) any {
	c, exp, ok := cellDecimal(d)
	switch {
	case !ok:
		return numberValue(d)
	case exp >= 0:
		for range exp {
			c *= 10
		}
		return c
	}
	var buf [40]byte
	n, err := strconv.ParseFloat(string(rating.AppendDecimal(buf[:0], c, exp)), 64)
	if err != nil {
		return numberValue(d)
	}
	return n
}

// cellDecimal returns d as c × 10^exp, c without trailing zeros (0 for zero, with exp 0), when that is
// decimalValue's fast path: c of at most maxCellDigits digits, and a whole number of at most
// maxCellDigits digits once its zeros are counted (numberValue counts them too). It returns false for
// everything else.
func cellDecimal(d decimal.Decimal) (c int64, exp int, ok bool) {
	if d.NumDigits() > 18 {
		return 0, 0, false
	}
	c, exp = d.CoefficientInt64(), int(d.Exponent())
	if c == 0 {
		return 0, 0, true
	}
	for c%10 == 0 {
		c /= 10
		exp++
	}
	if digits := decimalDigits(c); digits > maxCellDigits || exp >= 0 && digits+exp > maxCellDigits {
		return 0, 0, false
	}
	return c, exp, true
}

// decimalDigits returns the number of decimal digits of c (c != 0).
func decimalDigits(c int64) int {
	n := 0
	for ; c != 0; c /= 10 {
		n++
	}
	return n
}

// setColWidths sets the widths of columns 1, 2, … in character units. It sets them right to left: the
// stream writer puts each new width first, and Excel wants the <col> entries in ascending order (NOTES.md).
// The conversion is the other floating-point value in this package, and it is a layout measure, not money.
func setColWidths(sw *excelize.StreamWriter, widths []int) error {
	for i := len(widths) - 1; i >= 0; i-- {
		if err := sw.SetColWidth(i+1, i+1, float64(widths[i])); err != nil {
			return fmt.Errorf("column %d width: %w", i+1, err)
		}
	}
	return nil
}

// significantDigits counts the digits of a decimal string from its first non-zero digit.
func significantDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || (n == 0 && c == '0') {
			continue
		}
		n++
	}
	return n
}
