package exporters

import "strings"

// formulaPrefixes are the characters that make a spreadsheet treat a cell as a formula (or, for tab and
// carriage return, that some programs strip before doing so).
const formulaPrefixes = "=+-@\t\r"

// escapeText protects a CSV cell against formula injection (DESIGN §9: "CSV cells that begin with = + -
// @ are escaped"): a value that begins with one of formulaPrefixes gets a leading single quote, which
// spreadsheets show as text. Every cell of every CSV billrun writes goes through it, numbers included:
// a negative amount is written '-13.00, to the letter of the contract, and a program reading the file
// strips the quote (the workbook, finance's copy, keeps its amounts as numbers).
func escapeText(s string) string {
	if s != "" && strings.IndexByte(formulaPrefixes, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// EscapeText is escapeText for the commands that write CSV of their own (billrun standing): DESIGN
// §9 escapes every CSV cell that begins with = + - or @, numbers included.
func EscapeText(s string) string { return escapeText(s) }
