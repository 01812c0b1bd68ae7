package exporters

import "strings"

// formulaPrefixes are the characters that make a spreadsheet treat a cell as a formula (or, for tab and
// carriage return, that some programs strip before doing so).
const formulaPrefixes = "=+-@\t\r"

// escapeText protects a text cell against formula injection: a value that begins with one of
// formulaPrefixes gets a leading single quote, which spreadsheets show as text. Numbers this package
// formats itself (amounts, quantities, prices) are not passed through it, so a negative amount stays a
// number.
func escapeText(s string) string {
	if s != "" && strings.IndexByte(formulaPrefixes, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// EscapeText is escapeText for the commands that write CSV of their own (billrun standing): DESIGN
// §9 escapes every CSV cell that begins with = + - or @.
func EscapeText(s string) string { return escapeText(s) }
