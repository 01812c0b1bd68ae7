package exporters

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"billrun/rating"
)

// This file writes worksheet cells exactly as excelize's StreamWriter writes them — the same bytes — for
// the values the exporters hand it, without its per-cell work: a cell reference built per cell, the
// value boxed in an interface, the text escaped through strings.Builder and a regular expression. The
// rules are excelize v2.11.1's: stream.go writeCell and setCellValFunc, cell.go setInlineStr,
// trimCellValue, setCellInt and formatCellFloat (for the numbers numberValue gives it), lib.go bstrMarshal and truncateUTF16Units. The tests
// compare the output with excelize's own, cell by cell (FuzzAppendTextCell) and part by part
// (TestLinesSheetMatchesExcelize); they catch an excelize upgrade that changes the format.

// maxCellChars is the number of UTF-16 code units excelize keeps of a cell's text (its TotalCellChars).
const maxCellChars = 32767

// appendCellStart appends a cell's start tag up to its type attribute: <c r="A2" s="3", or <c s="3"
// when row is nil — a cell without a reference is the one after the cell before it in its row (the
// first of the row when there is none), as ECMA-376 (§18.3.1.4, CT_Cell: r is optional), Excel,
// LibreOffice, excelize and openpyxl read it.
func appendCellStart(dst []byte, col string, row []byte, style int) []byte {
	if row == nil {
		dst = append(dst, `<c`...)
	} else {
		dst = append(dst, `<c r="`...)
		dst = append(dst, col...)
		dst = append(dst, row...)
		dst = append(dst, '"')
	}
	if style != 0 {
		dst = append(dst, ` s="`...)
		dst = strconv.AppendInt(dst, int64(style), 10)
		dst = append(dst, '"')
	}
	return dst
}

// appendTextCell appends the inline-string cell excelize writes for the text s.
func appendTextCell(dst []byte, col string, row []byte, style int, s string) []byte {
	dst = appendCellStart(dst, col, row, style)
	dst = append(dst, ` t="inlineStr">`...)
	dst = appendInlineText(dst, s)
	return append(dst, `</c>`...)
}

// appendEncodedTextCell appends an inline-string cell whose <is> element is is (from appendInlineText).
func appendEncodedTextCell(dst []byte, col string, row []byte, is []byte) []byte {
	dst = appendCellStart(dst, col, row, 0)
	dst = append(dst, ` t="inlineStr">`...)
	dst = append(dst, is...)
	return append(dst, `</c>`...)
}

// appendNumberCell appends a number cell whose value text is v.
func appendNumberCell(dst []byte, col string, row []byte, style int, v []byte) []byte {
	dst = appendCellStart(dst, col, row, style)
	dst = append(dst, `><v>`...)
	dst = append(dst, v...)
	return append(dst, `</v></c>`...)
}

// appendDecimalCell appends the cell excelize writes for numberValue(d): a number cell with d's exact
// text, or a text cell when d would not survive the trip through a double (numberText).
func appendDecimalCell(dst []byte, col string, row []byte, style int, d decimal.Decimal) []byte {
	s, number := numberText(d)
	if number {
		return appendNumberCell(dst, col, row, style, []byte(s))
	}
	return appendTextCell(dst, col, row, style, s)
}

// appendInlineText appends the <is> element excelize writes for the text s: s cut to maxCellChars UTF-16
// units, xml:space="preserve" when it starts or ends with white space, XML-escaped (new lines kept as
// they are, characters XML does not allow replaced by U+FFFD), and _xHHHH_ sequences escaped as
// bstrMarshal does.
func appendInlineText(dst []byte, s string) []byte {
	if len(s) > maxCellChars { // a string has no more UTF-16 units than bytes
		s = truncateUTF16(s, maxCellChars)
	}
	dst = append(dst, `<is><t`...)
	if s != "" && (isCellSpace(s[0]) || isCellSpace(s[len(s)-1])) {
		dst = append(dst, ` xml:space="preserve"`...)
	}
	dst = append(dst, '>')
	start := len(dst)
	dst = appendEscapedText(dst, s)
	if bytes.Contains(dst[start:], []byte("_x")) {
		escaped := append([]byte(nil), dst[start:]...)
		dst = appendBstr(dst[:start], escaped)
	}
	return append(dst, `</t></is>`...)
}

func isCellSpace(b byte) bool { return b == '\t' || b == '\n' || b == '\r' || b == ' ' }

// truncateUTF16 returns the longest prefix of s, whole runes, of at most n UTF-16 units; an invalid byte
// counts as one unit (U+FFFD).
func truncateUTF16(s string, n int) string {
	units := 0
	for i, r := range s {
		if r >= 0x10000 {
			units += 2
		} else {
			units++
		}
		if units > n {
			return s[:i]
		}
	}
	return s
}

// textSafe marks the ASCII bytes appendEscapedText copies as they are.
var textSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range []byte{'"', '\'', '&', '<', '>'} {
		t[b] = false
	}
	t['\n'] = true // excelize escapes it, then puts it back
	return t
}()

// appendEscapedText appends s escaped as xml.EscapeText escapes it, except for new lines, which
// excelize's trimCellValue turns back from &#xA;.
func appendEscapedText(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		b := s[i]
		var esc string
		if b < utf8.RuneSelf {
			if textSafe[b] {
				i++
				continue
			}
			switch b {
			case '"':
				esc = "&#34;"
			case '\'':
				esc = "&#39;"
			case '&':
				esc = "&amp;"
			case '<':
				esc = "&lt;"
			case '>':
				esc = "&gt;"
			case '\t':
				esc = "&#x9;"
			case '\r':
				esc = "&#xD;"
			default: // other control characters
				esc = "\uFFFD"
			}
			dst = append(dst, s[last:i]...)
			dst = append(dst, esc...)
			i++
			last = i
			continue
		}
		r, width := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && width == 1) || !isXMLChar(r) {
			dst = append(dst, s[last:i]...)
			dst = append(dst, "\uFFFD"...)
			i += width
			last = i
			continue
		}
		i += width
	}
	return append(dst, s[last:]...)
}

// isXMLChar reports whether XML 1.0 allows r (encoding/xml's isInCharacterRange).
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// appendBstr appends s with excelize's bstrMarshal applied: each _xHHHH_ (four hex digits) that names a
// valid rune gets its underscore escaped as _x005F; one naming a surrogate is dropped, as bstrMarshal
// drops it; _x005F_ itself becomes _x005F_x005F_, or _x005F_x005F_x005F_ when xHHHH_ naming a valid rune
// follows it.
func appendBstr(dst, s []byte) []byte {
	cursor := 0
	for i := 0; i+7 <= len(s); {
		if !isBstr(s[i:]) {
			i++
			continue
		}
		end := i + 7
		dst = append(dst, s[cursor:i]...)
		cursor = end
		switch {
		case string(s[i:end]) == "_x005F_":
			if end+6 <= len(s) && s[end] == 'x' && isHex4(s[end+1:end+5]) && s[end+5] == '_' &&
				!isSurrogateHex(s[end+1:end+5]) {
				dst = append(dst, "_x005F_x005F_x005F_"...)
			} else {
				dst = append(dst, "_x005F_x005F_"...)
			}
		case !isSurrogateHex(s[i+2 : i+6]):
			dst = append(dst, "_x005F"...)
			dst = append(dst, s[i:end]...)
		}
		i = end
	}
	return append(dst, s[cursor:]...)
}

// isBstr reports whether s starts with _xHHHH_.
func isBstr(s []byte) bool {
	return len(s) >= 7 && s[0] == '_' && s[1] == 'x' && isHex4(s[2:6]) && s[6] == '_'
}

func isHex4(s []byte) bool {
	for _, c := range s[:4] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isSurrogateHex reports whether the four hex digits h name a UTF-16 surrogate, which strconv.Unquote
// refuses in \uHHHH (and so bstrMarshal treats differently).
func isSurrogateHex(h []byte) bool {
	v, _ := strconv.ParseUint(string(h[:4]), 16, 32)
	return v >= 0xD800 && v <= 0xDFFF
}

// appendMoneyText appends the number text excelize writes for moneyValue(c), and reports whether it
// could: amounts beyond 15 significant digits are left to appendValueCell. Whole amounts are integers;
// others have their trailing zero dropped ("12.3", "-0.05"), the shortest text of the double moneyValue
// parses, since a decimal of at most 15 significant digits reads back from its double unchanged.
func appendMoneyText(dst []byte, c rating.Cents) ([]byte, bool) {
	const maxExact = 999_999_999_999_999
	if c < -maxExact || c > maxExact {
		return dst, false
	}
	if c < 0 {
		dst = append(dst, '-')
		c = -c
	}
	dst = strconv.AppendInt(dst, int64(c/100), 10)
	switch frac := c % 100; {
	case frac == 0:
	case frac%10 == 0:
		dst = append(dst, '.', byte('0'+frac/10))
	default:
		dst = append(dst, '.', byte('0'+frac/10), byte('0'+frac%10))
	}
	return dst, true
}

// appendDecimalText appends the number text excelize writes for decimalValue(d) and whether d is whole,
// and reports whether it could: it follows decimalValue's fast path (a coefficient of at most 15 digits
// once its trailing zeros are stripped, a whole number of at most 15 digits), where the text of the
// double decimalValue parses is the decimal's own canonical text. Everything else is left to
// appendValueCell.
func appendDecimalText(dst []byte, d decimal.Decimal) (out []byte, whole, ok bool) {
	c, exp, ok := cellDecimal(d)
	switch {
	case !ok:
		return dst, false, false
	case exp >= 0:
		dst = strconv.AppendInt(dst, c, 10)
		for range exp {
			dst = append(dst, '0')
		}
		return dst, true, true
	}
	return rating.AppendDecimal(dst, c, exp), false, true
}
