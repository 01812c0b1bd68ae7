package exporters

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// xlsxDump is the comparable content of a workbook: what a reader sees, not how the bytes are laid out.
type xlsxDump struct {
	Sheets []sheetDump `json:"sheets"`
}

type sheetDump struct {
	Name       string     `json:"name"`
	Freeze     string     `json:"freeze,omitempty"`     // top-left cell below a frozen pane
	AutoFilter string     `json:"autofilter,omitempty"` // range of the sheet's autofilter
	Cells      []cellDump `json:"cells"`
}

type cellDump struct {
	Ref     string `json:"ref"`
	Type    string `json:"type"` // string, number, bool, date, error, formula
	Value   string `json:"value"`
	Format  string `json:"format"` // number format code; "General" when none
	Bold    bool   `json:"bold,omitempty"`
	Formula string `json:"formula,omitempty"`
}

// DumpXLSX reads a workbook from r and returns a JSON dump of it for golden tests: per sheet in
// workbook order, its frozen pane, its autofilter range, and every non-empty cell with its reference,
// type, raw value (numbers and dates as stored, e.g. "12.3" or a date serial), number format code, bold
// font and formula. Byte-level differences between excelize versions do not show; content changes do.
// The dump is indented JSON, one cell per line, ending in a newline. It returns an error when r is not
// a readable workbook.
func DumpXLSX(r io.Reader) ([]byte, error) {
	f, err := excelize.OpenReader(r)
	if err != nil {
		return nil, fmt.Errorf("dump xlsx: open: %w", err)
	}
	defer f.Close()
	filters := make(map[string]string)
	for _, dn := range f.GetDefinedName() {
		if dn.Name == "_xlnm._FilterDatabase" {
			_, ref, _ := strings.Cut(dn.RefersTo, "!")
			filters[dn.Scope] = strings.ReplaceAll(ref, "$", "")
		}
	}
	var d xlsxDump
	for _, name := range f.GetSheetList() {
		s, err := dumpSheet(f, name)
		if err != nil {
			return nil, fmt.Errorf("dump xlsx: sheet %s: %w", name, err)
		}
		s.AutoFilter = filters[name]
		d.Sheets = append(d.Sheets, s)
	}
	return encodeDump(d)
}

// DumpXLSXFile is DumpXLSX of the workbook at path.
func DumpXLSXFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dump xlsx: %w", err)
	}
	out, err := DumpXLSX(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return out, nil
}

func dumpSheet(f *excelize.File, name string) (sheetDump, error) {
	s := sheetDump{Name: name, Cells: []cellDump{}}
	panes, err := f.GetPanes(name)
	if err != nil {
		return s, fmt.Errorf("panes: %w", err)
	}
	if panes.Freeze {
		s.Freeze = panes.TopLeftCell
	}
	rows, err := f.GetRows(name, excelize.Options{RawCellValue: true})
	if err != nil {
		return s, fmt.Errorf("rows: %w", err)
	}
	formats := make(map[int]struct {
		code string
		bold bool
	})
	for ri, row := range rows {
		for ci, v := range row {
			ref, err := excelize.CoordinatesToCellName(ci+1, ri+1)
			if err != nil {
				return s, err
			}
			formula, err := f.GetCellFormula(name, ref)
			if err != nil {
				return s, fmt.Errorf("%s: formula: %w", ref, err)
			}
			if v == "" && formula == "" {
				continue
			}
			typ, err := f.GetCellType(name, ref)
			if err != nil {
				return s, fmt.Errorf("%s: type: %w", ref, err)
			}
			styleID, err := f.GetCellStyle(name, ref)
			if err != nil {
				return s, fmt.Errorf("%s: style: %w", ref, err)
			}
			fm, ok := formats[styleID]
			if !ok {
				style, err := f.GetStyle(styleID)
				if err != nil {
					return s, fmt.Errorf("%s: style %d: %w", ref, styleID, err)
				}
				fm.code = numberFormatCode(style)
				fm.bold = style.Font != nil && style.Font.Bold
				formats[styleID] = fm
			}
			s.Cells = append(s.Cells, cellDump{Ref: ref, Type: cellTypeName(typ), Value: v, Format: fm.code,
				Bold: fm.bold, Formula: formula})
		}
	}
	return s, nil
}

func numberFormatCode(s *excelize.Style) string {
	switch {
	case s.CustomNumFmt != nil:
		return *s.CustomNumFmt
	case s.NumFmt == 0:
		return "General"
	}
	return "builtin:" + strconv.Itoa(s.NumFmt)
}

func cellTypeName(t excelize.CellType) string {
	switch t {
	case excelize.CellTypeBool:
		return "bool"
	case excelize.CellTypeDate:
		return "date"
	case excelize.CellTypeError:
		return "error"
	case excelize.CellTypeFormula:
		return "formula"
	case excelize.CellTypeInlineString, excelize.CellTypeSharedString:
		return "string"
	}
	return "number" // t="n" or no t attribute
}

// encodeDump writes the dump with one cell per line, so a golden's diff shows the cells that changed.
func encodeDump(d xlsxDump) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n  \"sheets\": [")
	for i, s := range d.Sheets {
		if i > 0 {
			b.WriteString(",")
		}
		head, err := marshalCompact(struct {
			Name       string `json:"name"`
			Freeze     string `json:"freeze,omitempty"`
			AutoFilter string `json:"autofilter,omitempty"`
		}{s.Name, s.Freeze, s.AutoFilter})
		if err != nil {
			return nil, err
		}
		b.WriteString("\n    ")
		b.Write(head[:len(head)-1]) // the object stays open for its cells
		b.WriteString(`,"cells": [`)
		for j, c := range s.Cells {
			line, err := marshalCompact(c)
			if err != nil {
				return nil, err
			}
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n      ")
			b.Write(line)
		}
		if len(s.Cells) > 0 {
			b.WriteString("\n    ")
		}
		b.WriteString("]}")
	}
	b.WriteString("\n  ]\n}\n")
	return b.Bytes(), nil
}

// marshalCompact is json.Marshal without HTML escaping, so "<", ">" and "&" stay readable in goldens.
func marshalCompact(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
