"""Prints every sheet of a workbook as openpyxl reads it, as JSON: {sheet: [[cell, ...], ...]}.

Usage: python3 openpyxl_dump.py WORKBOOK read_only|full

A cell is [value, number_format], the value as text (numbers with repr, so 0.1 stays 0.1), or null
for an empty cell; trailing empty cells and rows are dropped, so that both modes can be compared.
"""
import json
import sys

import openpyxl


def cell(c):
    v = c.value
    if v is None:
        return None
    return [v if isinstance(v, str) else repr(v), c.number_format]


def main():
    path, mode = sys.argv[1], sys.argv[2]
    wb = openpyxl.load_workbook(path, read_only=(mode == "read_only"))
    out = {}
    for ws in wb.worksheets:
        rows = []
        for row in ws.iter_rows():
            cells = [cell(c) for c in row]
            while cells and cells[-1] is None:
                cells.pop()
            rows.append(cells)
        while rows and not rows[-1]:
            rows.pop()
        out[ws.title] = rows
    json.dump(out, sys.stdout)


main()
