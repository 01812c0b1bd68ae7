package rating

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Period is a calendar month in UTC, half-open [Start, End).
type Period struct {
	Year  int
	Month time.Month
}

// ParseRFC3339 parses an RFC 3339 time with its "T" and "Z" in either case (RFC 3339 section 5.6), as
// the command line's --at and the accounts file's times are read. It takes RFC 3339's syntax only, as
// usage times are read: time.Parse alone also takes a comma before the fraction and an offset of
// +24:00 or +23:60, which are no RFC 3339 offsets (time-hour is 00-23, time-minute 00-59) and would move
// a payment, a grant or --at by a day rather than be refused.
func ParseRFC3339(s string) (time.Time, error) {
	if !rfc3339Shape.MatchString(s) {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time like 2026-11-01T02:00:00Z", s)
	}
	if z := s[len(s)-1]; z != 'Z' && z != 'z' {
		if s[len(s)-5:len(s)-3] > "23" || s[len(s)-2:] > "59" {
			return time.Time{}, fmt.Errorf("%q: offset %s is out of range (at most ±23:59)", s, s[len(s)-6:])
		}
	}
	return time.Parse(time.RFC3339Nano, strings.ToUpper(s))
}

// rfc3339Shape is RFC 3339's date-time (section 5.6): a full date, T, a full time with an optional
// fraction, and Z or a numeric offset; time.Parse checks the ranges of the fields.
var rfc3339Shape = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// ParsePeriod parses "YYYY-MM". It returns an error naming the expected form otherwise.
func ParsePeriod(s string) (Period, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != 7 {
		return Period{}, fmt.Errorf("period %q: want YYYY-MM, e.g. 2026-10", s)
	}
	// RFC 3339 years have four digits: a period must start after year 0 and end (its day-after
	// partition, dt=P.end) by 9999-12-01.
	if t.Year() < 1 || s >= "9999-12" {
		return Period{}, fmt.Errorf("period %q: want a month from 0001-01 to 9999-11", s)
	}
	return Period{Year: t.Year(), Month: t.Month()}, nil
}

// PeriodOf returns the period that contains t.
func PeriodOf(t time.Time) Period {
	t = t.UTC()
	return Period{Year: t.Year(), Month: t.Month()}
}

// Start returns the first instant of the period.
func (p Period) Start() time.Time { return time.Date(p.Year, p.Month, 1, 0, 0, 0, 0, time.UTC) }

// End returns the first instant after the period (the start of the next one).
func (p Period) End() time.Time { return p.Start().AddDate(0, 1, 0) }

// Prev returns the period before p.
func (p Period) Prev() Period { return PeriodOf(p.Start().AddDate(0, -1, 0)) }

// Next returns the period after p.
func (p Period) Next() Period { return PeriodOf(p.End()) }

// IsZero reports whether p is the zero Period.
func (p Period) IsZero() bool { return p.Year == 0 }

// String returns "YYYY-MM".
func (p Period) String() string { return fmt.Sprintf("%04d-%02d", p.Year, int(p.Month)) }
