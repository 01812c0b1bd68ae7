package usage

import (
	"encoding/binary"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Times in usage are RFC 3339 (section 5.6), strictly:
//
//	YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
//
// with T and Z in either case (the RFC allows "t" and "z" unless a format using it says otherwise, and
// DESIGN does not), a day that exists in its month, seconds 00-59 (no leap second), any number
// of fraction digits (nanoseconds kept, further digits dropped, as time.Parse does) and an offset of at
// most ±23:59. A time without an offset is rejected: it names no instant. Times are converted to UTC.

// rfc3339Shape is the syntax the reference parser accepts before time.Parse checks the ranges; it keeps
// out what time.Parse would otherwise tolerate (a comma before the fraction, one-digit fields).
var rfc3339Shape = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// parseTimeRef is the reference (fallback) parser: a shape check, time.Parse for the ranges, and an
// explicit offset range check. It is what the fast parser is fuzzed against.
func parseTimeRef(s string) (time.Time, bool) {
	if !rfc3339Shape.MatchString(s) {
		return time.Time{}, false
	}
	s = strings.ToUpper(s) // time.Parse takes only an upper-case T and Z; the rest is digits and signs
	if s[len(s)-1] != 'Z' {
		hh, _ := strconv.Atoi(s[len(s)-5 : len(s)-3])
		mm, _ := strconv.Atoi(s[len(s)-2:])
		if hh > 23 || mm > 59 {
			return time.Time{}, false
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// parseTimeFast parses the common forms of usage times without allocating: at most nine fraction
// digits. It returns false for anything else, valid or not; the caller then falls back to parseTimeRef.
func parseTimeFast(b []byte) (time.Time, bool) {
	var c dayCache
	return c.parse(b)
}

// dayCache is parseTimeFast with a memory: the date of the last time it parsed, already checked, and its
// day number. An object's events are nearly all of one day (its dt partition), so most times skip the
// date's digits and the calendar; a date is only cached once it has been found valid.
type dayCache struct {
	lo   uint64 // the date's first eight bytes, "YYYY-MM-"
	hi   uint16 // and its last two, "DD"
	days int64  // days since 1970-01-01
	set  bool
}

// parse is parseTimeFast.
func (c *dayCache) parse(b []byte) (time.Time, bool) {
	if len(b) < len("2006-01-02T15:04:05Z") {
		return time.Time{}, false
	}
	if b[10] != 'T' && b[10] != 't' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	lo, hi := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint16(b[8:])
	days := c.days
	if !c.set || lo != c.lo || hi != c.hi {
		if b[4] != '-' || b[7] != '-' {
			return time.Time{}, false
		}
		year, ok1 := digits4(b[0:4])
		month, ok2 := digits2(b[5:7])
		day, ok3 := digits2(b[8:10])
		if !(ok1 && ok2 && ok3) || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) {
			return time.Time{}, false
		}
		days = daysFromCivil(year, month, day)
		*c = dayCache{lo: lo, hi: hi, days: days, set: true}
	}
	hour, ok4 := digits2(b[11:13])
	minute, ok5 := digits2(b[14:16])
	sec, ok6 := digits2(b[17:19])
	if !(ok4 && ok5 && ok6) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i := 19
	nsec := 0
	if b[i] == '.' {
		j := i + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			nsec = nsec*10 + int(b[j]-'0')
			j++
		}
		n := j - i - 1
		if n == 0 || n > 9 {
			return time.Time{}, false
		}
		for k := n; k < 9; k++ {
			nsec *= 10
		}
		i = j
	}
	rest := b[i:]
	offset := 0
	switch {
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		hh, ok1 := digits2(rest[1:3])
		mm, ok2 := digits2(rest[4:6])
		if !ok1 || !ok2 || hh > 23 || mm > 59 {
			return time.Time{}, false
		}
		offset = (hh*60 + mm) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	secs := days*86400 + int64(hour*3600+minute*60+sec) - int64(offset)
	return time.Unix(secs, int64(nsec)).UTC(), true
}

func digits2(b []byte) (int, bool) {
	d0, d1 := b[0]-'0', b[1]-'0'
	if d0 > 9 || d1 > 9 {
		return 0, false
	}
	return int(d0)*10 + int(d1), true
}

func digits4(b []byte) (int, bool) {
	hi, ok1 := digits2(b[0:2])
	lo, ok2 := digits2(b[2:4])
	return hi*100 + lo, ok1 && ok2
}

func daysInMonth(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// algorithm), valid for every year time.Date accepts here (0-9999).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
