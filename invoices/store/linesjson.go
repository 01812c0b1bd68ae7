package store

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"billrun/rating"
)

// A document's lines are stored as one JSON array in document_line_sets.lines, a line per element,
// in the document's order. Each line is an array of lineFields values, in the order of the
// document_lines view's columns after document_id and position (the element's index):
//
//	[kind, product, base_model, deployment, meter, description, quantity, unit, unit_price, unrounded, amount_cents]
//
// Texts and decimals are JSON strings (a decimal keeps its exact digits), quantity and unit_price
// are null on a discount line, amount_cents is a JSON integer. description is null when it is the
// one derivedDescription gives for the line's other fields — almost every line: it was a third of
// the stored bytes, and on PostgreSQL the COPY of a close's line sets took ~0.15 s of the server's
// CPU for it. For example:
//
//	[["serverless","llama-3-8b","","","input_tokens",null,"1000","1M tokens","0.2","200",20000]]
//
// The lines are written with their document and never change: a corrected invoice is a new document.
const lineFields = 11

// appendLinesJSON appends the JSON array of lines to dst.
func appendLinesJSON(dst []byte, lines []rating.Line) ([]byte, error) {
	var scratch [256]byte
	dst = append(dst, '[')
	for k := range lines {
		l := &lines[k]
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		for i, s := range [...]string{string(l.Kind), l.Product, l.BaseModel, l.Deployment, string(l.Meter), l.Description} {
			// A derived description is stored as null, and is valid UTF-8 when the fields it is made of
			// are: they come before it.
			if i == 5 && describedAsDerived(l, scratch[:0]) {
				dst = append(dst, "null,"...)
				continue
			}
			if !utf8.ValidString(s) {
				return dst, fmt.Errorf("line %d: %s %q is not valid UTF-8", k+1, lineFieldNames[i], s)
			}
			dst = appendJSONText(dst, s)
			dst = append(dst, ',')
		}
		dst = appendJSONDecimal(dst, l, l.Quantity)
		dst = append(dst, ',')
		if !utf8.ValidString(l.Unit) {
			return dst, fmt.Errorf("line %d: unit %q is not valid UTF-8", k+1, l.Unit)
		}
		dst = appendJSONText(dst, l.Unit)
		dst = append(dst, ',')
		dst = appendJSONDecimal(dst, l, l.UnitPrice)
		dst = append(dst, ',', '"')
		dst = rating.AppendQuantity(dst, l.Unrounded)
		dst = append(dst, '"', ',')
		dst = strconv.AppendInt(dst, int64(l.Amount), 10)
		dst = append(dst, ']')
	}
	return append(dst, ']'), nil
}

// derivedDescription is the description a line of kind with these names has unless it says
// otherwise, and false for a kind it does not describe. It is how rating describes lines as this is
// written, but it is the store's own: a stored null description means this text, for good, whatever
// rating says later (a line rating describes otherwise is stored with its text). Migration 5's
// document_lines view writes the same text with SQL; a test compares the two.
func derivedDescription(kind rating.Kind, product, base, deployment string, meter rating.Meter) (string, bool) {
	d, ok := appendDerivedDescription(nil, kind, product, base, deployment, meter)
	return string(d), ok
}

// appendDerivedDescription appends derivedDescription's text to dst.
func appendDerivedDescription(dst []byte, kind rating.Kind, product, base, deployment string, meter rating.Meter) ([]byte, bool) {
	switch kind {
	case rating.KindGPU:
		dst = append(dst, product...)
		dst = append(dst, " on deployment "...)
		dst = append(dst, deployment...)
		return append(dst, ", GPU-seconds"...), true
	case rating.KindFineTuning:
		dst = append(dst, "fine-tuning job "...)
		dst = append(dst, product...)
		dst = append(dst, " on "...)
		dst = append(dst, base...)
		return append(dst, ", training tokens"...), true
	case rating.KindServerless:
		dst = append(dst, product...)
		if base != "" && base != product {
			dst = append(dst, " (priced as "...)
			dst = append(dst, base...)
			dst = append(dst, ')')
		}
		dst = append(dst, ", "...)
		for i := range len(meter) { // the meter's words: input_tokens is "input tokens"
			c := meter[i]
			if c == '_' {
				c = ' '
			}
			dst = append(dst, c)
		}
		return dst, true
	}
	return dst, false
}

// describedAsDerived reports whether l's description is derivedDescription's; scratch is for building
// it.
func describedAsDerived(l *rating.Line, scratch []byte) bool {
	d, ok := appendDerivedDescription(scratch[:0], l.Kind, l.Product, l.BaseModel, l.Deployment, l.Meter)
	return ok && string(d) == l.Description
}

// lineFieldNames name a stored line's fields, as the document_lines view's columns do.
var lineFieldNames = [lineFields]string{"kind", "product", "base_model", "deployment", "meter", "description",
	"quantity", "unit", "unit_price", "unrounded", "amount_cents"}

// decimalAbsent reports whether d, the quantity or unit price of l, is stored as null: a discount
// line has neither (a zero one is null, read back as zero).
func decimalAbsent(l *rating.Line, d decimal.Decimal) bool {
	return l.Kind == rating.KindDiscount && d.IsZero()
}

// appendJSONDecimal appends d, the quantity or unit price of l, as a JSON string, or null when the
// line has none (decimalAbsent).
func appendJSONDecimal(dst []byte, l *rating.Line, d decimal.Decimal) []byte {
	if decimalAbsent(l, d) {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = rating.AppendQuantity(dst, d)
	return append(dst, '"')
}

// appendJSONText appends s, valid UTF-8, as a JSON string: quotes and backslashes escaped, control
// characters as \u00XX, everything else as it is. Runs that need no escape are appended whole.
func appendJSONText(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// parseLinesJSON reads the lines stored by appendLinesJSON — or by a database's own JSON functions
// (migration 4 builds them with json_group_array or json_agg, which put spaces and escapes of their
// own): any JSON whitespace and string escape is taken. Errors name the line and field.
func parseLinesJSON(data []byte) ([]rating.Line, error) {
	return parseLinesJSONShared(data, nil)
}

// parseLinesJSONShared is parseLinesJSON whose lines share their texts (kind, product, base model,
// deployment, meter, description, unit) through texts, the strings made so far by the parses that
// share it (nil: none). A period's lines repeat a few hundred texts over hundreds of thousands of lines:
// sharing them keeps one copy of each, where every line had its own.
func parseLinesJSONShared(data []byte, texts map[string]string) ([]rating.Line, error) {
	p := &linesParser{data: data, texts: texts}
	p.ws()
	if !p.eat('[') {
		return nil, p.fail("want [ to open the lines")
	}
	var lines []rating.Line
	p.ws()
	if p.eat(']') {
		return lines, p.end()
	}
	for {
		l, err := p.line()
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", len(lines)+1, err)
		}
		lines = append(lines, l)
		p.ws()
		if p.eat(']') {
			return lines, p.end()
		}
		if !p.eat(',') {
			return nil, p.fail(fmt.Sprintf("after line %d, want , or ]", len(lines)))
		}
		p.ws()
	}
}

type linesParser struct {
	data  []byte
	pos   int
	buf   []byte            // an unescaped string's bytes, reused
	desc  []byte            // a derived description's bytes, reused
	texts map[string]string // the texts made so far, when shared (parseLinesJSONShared)
}

// keep returns b as a string: the one texts already holds, if any.
func (p *linesParser) keep(b []byte) string {
	if p.texts == nil {
		return string(b)
	}
	if s, ok := p.texts[string(b)]; ok {
		return s
	}
	s := string(b)
	p.texts[s] = s
	return s
}

func (p *linesParser) fail(msg string) error { return fmt.Errorf("at byte %d: %s", p.pos, msg) }

func (p *linesParser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *linesParser) eat(c byte) bool {
	if p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

func (p *linesParser) end() error {
	p.ws()
	if p.pos != len(p.data) {
		return p.fail("unexpected data after the lines")
	}
	return nil
}

// line reads one line's array.
func (p *linesParser) line() (rating.Line, error) {
	var l rating.Line
	if !p.eat('[') {
		return l, p.fail("want [ to open a line")
	}
	var texts [lineFields]string
	var null [lineFields]bool
	for i := range lineFields {
		p.ws()
		if i > 0 {
			if !p.eat(',') {
				return l, p.fail(fmt.Sprintf("want , before %s (a line has %d fields)", lineFieldNames[i], lineFields))
			}
			p.ws()
		}
		var err error
		switch {
		case i == lineFields-1:
			texts[i], err = p.integer()
		case (i == 5 || i == 6 || i == 8) && p.literal("null"):
			null[i] = true
		case i == 6 || i == 8 || i == 9: // a decimal's text, parsed below
			texts[i], err = p.str()
		default:
			var b []byte
			if b, err = p.strBytes(); err == nil {
				texts[i] = p.keep(b)
			}
		}
		if err != nil {
			return l, fmt.Errorf("%s: %w", lineFieldNames[i], err)
		}
	}
	p.ws()
	if !p.eat(']') {
		return l, p.fail(fmt.Sprintf("want ] after amount_cents (a line has %d fields)", lineFields))
	}
	l = rating.Line{Kind: rating.Kind(texts[0]), Product: texts[1], BaseModel: texts[2], Deployment: texts[3],
		Meter: rating.Meter(texts[4]), Description: texts[5], Unit: texts[7]}
	if null[5] {
		d, ok := appendDerivedDescription(p.desc[:0], l.Kind, l.Product, l.BaseModel, l.Deployment, l.Meter)
		if !ok {
			return l, fmt.Errorf("description: null on a %q line, which has none to derive", l.Kind)
		}
		p.desc = d
		l.Description = p.keep(d)
	}
	var err error
	for _, f := range []struct {
		i int
		d *decimal.Decimal
	}{{6, &l.Quantity}, {8, &l.UnitPrice}, {9, &l.Unrounded}} {
		if null[f.i] {
			continue // zero: a discount line's quantity and unit price
		}
		if *f.d, err = decimal.NewFromString(texts[f.i]); err != nil {
			return l, fmt.Errorf("%s: %w", lineFieldNames[f.i], err)
		}
	}
	amount, err := strconv.ParseInt(texts[10], 10, 64)
	if err != nil {
		return l, fmt.Errorf("amount_cents: %w", err)
	}
	l.Amount = rating.Cents(amount)
	return l, nil
}

// literal consumes word if it comes next.
func (p *linesParser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

// integer reads a JSON integer: an optional minus sign, then 0 or digits that do not start with 0.
func (p *linesParser) integer() (string, error) {
	start := p.pos
	p.eat('-')
	digits := p.pos
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
	}
	switch {
	case p.pos == digits:
		return "", p.fail("want an integer")
	case p.data[digits] == '0' && p.pos > digits+1:
		return "", p.fail("an integer with a leading zero")
	}
	return string(p.data[start:p.pos]), nil
}

// str reads a JSON string.
func (p *linesParser) str() (string, error) {
	b, err := p.strBytes()
	return string(b), err
}

// strBytes reads a JSON string and returns its bytes, valid until the next read: a part of the data,
// or of p.buf when the string has escapes.
func (p *linesParser) strBytes() ([]byte, error) {
	if !p.eat('"') {
		return nil, p.fail(`want a string`)
	}
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			b := p.data[start:p.pos]
			p.pos++
			return b, nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return nil, p.fail("control character in a string")
		}
		p.pos++
	}
	return nil, p.fail("unterminated string")
}

// escaped reads the rest of a string that started at start and has an escape at p.pos, into p.buf.
func (p *linesParser) escaped(start int) ([]byte, error) {
	p.buf = append(p.buf[:0], p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return p.buf, nil
		case c < 0x20:
			return nil, p.fail("control character in a string")
		case c != '\\':
			p.buf = append(p.buf, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.data) {
			break
		}
		e := p.data[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			p.buf = append(p.buf, e)
		case 'b':
			p.buf = append(p.buf, '\b')
		case 'f':
			p.buf = append(p.buf, '\f')
		case 'n':
			p.buf = append(p.buf, '\n')
		case 'r':
			p.buf = append(p.buf, '\r')
		case 't':
			p.buf = append(p.buf, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return nil, err
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if p.literal(`\u`) {
					if r2, err = p.hex4(); err != nil {
						return nil, err
					}
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return nil, p.fail("unpaired surrogate in a \\u escape")
				}
			}
			p.buf = utf8.AppendRune(p.buf, r)
		default:
			return nil, p.fail(fmt.Sprintf("unknown escape \\%c", e))
		}
	}
	return nil, p.fail("unterminated string")
}

// hex4 reads the four hex digits of a \u escape.
func (p *linesParser) hex4() (rune, error) {
	if len(p.data)-p.pos < 4 {
		return 0, p.fail("short \\u escape")
	}
	v, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, p.fail("bad \\u escape")
	}
	p.pos += 4
	return rune(v), nil
}
