// Package exporters writes a period's invoices.Report for people and programs: the finance workbook
// (XLSX, through excelize's StreamWriter), the billrun.period/v1 and billrun.standing/v1 JSON documents,
// and CSV files of rejects and invoice lines.
//
// Every writer is deterministic: the same report gives the same bytes (for XLSX, the same cells; compare
// workbooks with DumpXLSX). Money never passes through binary floating point in this package's
// arithmetic: amounts are summed as integer cents and formatted from them. The conversion of exact
// decimals to spreadsheet numbers (and of column widths) is isolated in xlsxnumber.go.
package exporters
