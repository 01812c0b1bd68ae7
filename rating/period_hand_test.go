package rating

import (
	"testing"
	"time"
)

// TestHandParseRFC3339Strict: --at and the accounts file's times are RFC 3339 (DESIGN §10, §6). An
// offset is time-hour ":" time-minute, 00-23 and 00-59 (RFC 3339 5.6), so +24:00 and +23:60 are no
// offsets; time.Parse alone took them and moved the time by a day:
//
//	2026-10-20T00:00:00+24:00 would be 2026-10-19T00:00:00Z (00:00 − 24 h),
//	2026-10-20T00:00:00+23:60 would be 2026-10-19T00:00:00Z too (00:00 − 23 h 60 min),
//
// and a comma before the fraction (2026-10-20T00:00:00,5Z) is no RFC 3339 either. Valid forms keep
// their instant: 2026-11-01T01:30:00+02:00 is 2026-10-31T23:30:00Z; -23:59 is the widest offset,
// 2026-10-31T00:01:00-23:59 = 2026-10-31T24:00:00Z = 2026-11-01T00:00:00Z.
func TestHandParseRFC3339Strict(t *testing.T) {
	for _, s := range []string{
		"2026-10-20T00:00:00+24:00",
		"2026-10-20T00:00:00-24:00",
		"2026-10-20T00:00:00+23:60",
		"2026-10-20T00:00:00,5Z",
		"2026-10-20T00:00:00.Z",
		"2026-10-20T00:00:00",
		"2026-10-20 00:00:00Z",
		"2026-10-2T00:00:00Z",
		"2026-10-20T0:00:00Z",
		"2026-10-20T00:00:00+0200",
		"2026-10-20",
	} {
		if got, err := ParseRFC3339(s); err == nil {
			t.Errorf("ParseRFC3339(%q) = %s, want an error", s, got.UTC().Format(time.RFC3339Nano))
		}
	}
	for s, want := range map[string]string{
		"2026-11-01T01:30:00+02:00":      "2026-10-31T23:30:00Z",
		"2026-10-31T00:01:00-23:59":      "2026-11-01T00:00:00Z",
		"2026-10-31T23:59:59.999999999Z": "2026-10-31T23:59:59.999999999Z",
		"2026-10-31t20:30:00.5-04:00":    "2026-11-01T00:30:00.5Z",
		"2026-11-01T00:00:00z":           "2026-11-01T00:00:00Z",
	} {
		got, err := ParseRFC3339(s)
		if err != nil || got.UTC().Format(time.RFC3339Nano) != want {
			t.Errorf("ParseRFC3339(%q) = %s, %v; want %s", s, got.UTC().Format(time.RFC3339Nano), err, want)
		}
	}
}
