package usage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"billrun/rating"
)

// decodeJSON is the fallback decoder: encoding/json splits the object into raw values, and each field
// is checked on its own with a message that says what to fix. It is the reference the fast path is
// fuzzed against, so it favours plainness over speed.
func (d *decoder) decodeJSON(line []byte, out *decoded) (rating.RejectCode, string) {
	m, code, msg := jsonObject(line)
	if code != "" {
		return code, msg
	}
	jf := jsonFields{m: m}
	ev := &out.ev

	id, code, msg := jf.reqString(fID)
	out.id = []byte(id) // an id that is not exact text is still named by its reject, as decoded
	if code != "" {
		return code, msg
	}
	out.idOK = true
	if ev.TS, code, msg = jf.reqTime(fTS); code != "" {
		return code, msg
	}
	if ev.Account, code, msg = jf.reqString(fAccount); code != "" {
		return code, msg
	}
	typ, code, msg := jf.reqString(fType)
	if code != "" {
		return code, msg
	}
	switch rating.Kind(typ) {
	case rating.KindServerless:
		ev.Type = rating.KindServerless
		if ev.Model, code, msg = jf.reqString(fModel); code != "" {
			return code, msg
		}
		if ev.BaseModel, code, msg = jf.optString(fBaseModel); code != "" {
			return code, msg
		}
		if ev.InputTokens, code, msg = jf.count(fInputTokens, 0, 0, false); code != "" {
			return code, msg
		}
		if ev.OutputTokens, code, msg = jf.count(fOutputTokens, 0, 0, false); code != "" {
			return code, msg
		}
		if ev.CachedInputTokens, code, msg = jf.count(fCachedInputTokens, 0, 0, false); code != "" {
			return code, msg
		}
		if ev.CachedInputTokens > ev.InputTokens {
			return rating.RejectCachedExceedsInput, fmt.Sprintf(
				"cached_input_tokens %d exceeds input_tokens %d: cached tokens are part of the input",
				ev.CachedInputTokens, ev.InputTokens)
		}
		if ev.Batch, code, msg = jf.optBool(fBatch); code != "" {
			return code, msg
		}
	case rating.KindGPU:
		ev.Type = rating.KindGPU
		if ev.Deployment, code, msg = jf.reqString(fDeployment); code != "" {
			return code, msg
		}
		if ev.GPUType, code, msg = jf.reqString(fGPUType); code != "" {
			return code, msg
		}
		if ev.GPUCount, code, msg = jf.count(fGPUCount, 1, 0, true); code != "" {
			return code, msg
		}
		if ev.Start, code, msg = jf.reqTime(fStart); code != "" {
			return code, msg
		}
		if ev.End, code, msg = jf.reqTime(fEnd); code != "" {
			return code, msg
		}
		if !ev.End.After(ev.Start) {
			return rating.RejectEndNotAfterStart, fmt.Sprintf("end %s is not after start %s",
				ev.End.Format(time.RFC3339Nano), ev.Start.Format(time.RFC3339Nano))
		}
	case rating.KindFineTuning:
		ev.Type = rating.KindFineTuning
		if ev.Job, code, msg = jf.reqString(fJob); code != "" {
			return code, msg
		}
		if ev.BaseModel, code, msg = jf.reqString(fBaseModel); code != "" {
			return code, msg
		}
		// A token field: 0 when absent (DESIGN §11), like the serverless ones.
		if ev.TrainingTokens, code, msg = jf.count(fTrainingTokens, 0, 0, false); code != "" {
			return code, msg
		}
		if ev.Epochs, code, msg = jf.count(fEpochs, 1, 1, false); code != "" {
			return code, msg
		}
		method, present, code, msg := jf.string(fMethod)
		if code != "" {
			return code, msg
		}
		ev.Method = "lora_sft"
		if present {
			if !rating.IsFineTuningMethod(method) {
				return rating.RejectInvalidValue, fmt.Sprintf(
					"method must be lora_sft, lora_dpo, full_sft or full_dpo, got %s", strconv.Quote(method))
			}
			ev.Method = method
		}
	default:
		return rating.RejectUnknownType, fmt.Sprintf(
			"type must be serverless, gpu or fine_tuning, got %s", strconv.Quote(typ))
	}
	return "", ""
}

// jsonObject parses line as one JSON object into its raw values. It returns invalid_json, with where
// and why, when the line is not valid JSON or not an object.
func jsonObject(line []byte) (map[string]json.RawMessage, rating.RejectCode, string) {
	var m map[string]json.RawMessage
	err := json.Unmarshal(line, &m)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return nil, rating.RejectInvalidJSON, fmt.Sprintf("not valid JSON: %s (at byte %d)", syn, syn.Offset)
	case errors.As(err, &typ):
		return nil, rating.RejectInvalidJSON, fmt.Sprintf("the line is a JSON %s; want an object", typ.Value)
	case err != nil:
		return nil, rating.RejectInvalidJSON, "not valid JSON: " + err.Error()
	case m == nil:
		return nil, rating.RejectInvalidJSON, "the line is JSON null; want an object"
	}
	return m, "", ""
}

// jsonFields reads the fields of DESIGN §3 from an object's raw values.
type jsonFields struct {
	m map[string]json.RawMessage
}

// raw returns the raw value of a field, or nil when it is absent or null.
func (j jsonFields) raw(f int) json.RawMessage {
	r, ok := j.m[fieldNames[f]]
	if !ok || string(r) == "null" {
		return nil
	}
	return r
}

// string returns an optional string field and whether it is present (not absent, not null). A string
// that is not exact text (see exactText) is invalid_value; s then holds it as decoded, for messages.
func (j jsonFields) string(f int) (string, bool, rating.RejectCode, string) {
	r := j.raw(f)
	if r == nil {
		return "", false, "", ""
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		return "", false, rating.RejectInvalidValue, fmt.Sprintf("%s must be a JSON string, got %s", fieldNames[f], shown(r))
	}
	if !exactText(r) {
		return s, true, rating.RejectInvalidValue, fmt.Sprintf(
			"%s must be valid UTF-8 text, got %s (an invalid byte or an unpaired surrogate escape)", fieldNames[f], shown(r))
	}
	return s, true, "", ""
}

// exactText reports whether the raw JSON string r (valid JSON, quotes included) decodes to exactly the
// text it spells: valid UTF-8, and every \uD800-\uDFFF escape half of a surrogate pair. encoding/json
// turns an invalid byte and an unpaired surrogate alike into U+FFFD, so without this check two
// different ids ("e\xff" and "e\xfe", "e\ud800" and "e\udc00") would decode equal and dedup would drop
// one of two real events (DESIGN §3); two models or deployments would share a line.
func exactText(r []byte) bool {
	if !utf8.Valid(r) {
		return false
	}
	for i := 1; i < len(r)-1; i++ {
		if r[i] != '\\' {
			continue
		}
		i++
		if r[i] != 'u' {
			continue
		}
		c := hex4(r[i+1 : i+5])
		i += 4
		switch {
		case c < 0xD800 || c > 0xDFFF:
		case c <= 0xDBFF && i+6 < len(r)-1 && r[i+1] == '\\' && r[i+2] == 'u':
			if lo := hex4(r[i+3 : i+7]); lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		default:
			return false
		}
	}
	return true
}

// hex4 returns the value of four hex digits, which the caller has checked.
func hex4(b []byte) rune {
	var v rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		default:
			v = v<<4 | rune(c-'A'+10)
		}
	}
	return v
}

// reqString returns a required, non-empty string field; with a reject, the string as decoded, if any.
func (j jsonFields) reqString(f int) (string, rating.RejectCode, string) {
	s, present, code, msg := j.string(f)
	switch {
	case code != "":
		return s, code, msg
	case !present:
		return "", rating.RejectMissingField, fieldNames[f] + " is missing"
	case s == "":
		return "", rating.RejectInvalidValue, fieldNames[f] + " must not be empty"
	}
	return s, "", ""
}

// optString returns an optional string field; empty counts as absent.
func (j jsonFields) optString(f int) (string, rating.RejectCode, string) {
	s, _, code, msg := j.string(f)
	return s, code, msg
}

// reqTime returns a required RFC 3339 time field, in UTC.
func (j jsonFields) reqTime(f int) (time.Time, rating.RejectCode, string) {
	r := j.raw(f)
	if r == nil {
		return time.Time{}, rating.RejectMissingField, fieldNames[f] + " is missing"
	}
	var s string
	if json.Unmarshal(r, &s) == nil {
		if t, ok := parseTimeRef(s); ok {
			return t, "", ""
		}
	}
	return time.Time{}, rating.RejectInvalidValue, fmt.Sprintf(
		"%s must be an RFC 3339 time with an offset, e.g. \"2026-10-05T14:03:07Z\", got %s", fieldNames[f], shown(r))
}

// count returns an integer field that must be at least min: def when absent (or a missing_field
// reject when required), invalid_value for anything but a JSON integer literal in range.
func (j jsonFields) count(f int, min, def int64, required bool) (int64, rating.RejectCode, string) {
	r := j.raw(f)
	if r == nil {
		if required {
			return 0, rating.RejectMissingField, fieldNames[f] + " is missing"
		}
		return def, "", ""
	}
	want := "a non-negative JSON integer"
	if min == 1 {
		want = "a JSON integer of at least 1"
	}
	bad := func(why string) (int64, rating.RejectCode, string) {
		return 0, rating.RejectInvalidValue, fmt.Sprintf("%s must be %s, got %s%s", fieldNames[f], want, shown(r), why)
	}
	if r[0] != '-' && !isDigit(r[0]) { // a string, bool, object or array
		return bad("")
	}
	if bytes.ContainsAny(r, ".eE") {
		return bad(" (no fraction or exponent allowed)")
	}
	n, err := strconv.ParseInt(string(r), 10, 64)
	if err != nil {
		return bad(" (too large)")
	}
	if n < min {
		return bad("")
	}
	return n, "", ""
}

// optBool returns an optional boolean field, false when absent.
func (j jsonFields) optBool(f int) (bool, rating.RejectCode, string) {
	r := j.raw(f)
	if r == nil {
		return false, "", ""
	}
	var b bool
	if err := json.Unmarshal(r, &b); err != nil {
		return false, rating.RejectInvalidValue, fmt.Sprintf("%s must be true or false, got %s", fieldNames[f], shown(r))
	}
	return b, "", ""
}

// maxShownValueBytes bounds how much of a bad value a reject message quotes.
const maxShownValueBytes = 64

// shown returns a raw JSON value for a message, cut short when long.
func shown(r json.RawMessage) string {
	if len(r) <= maxShownValueBytes {
		return string(r)
	}
	cut := maxShownValueBytes
	for cut > 0 && !utf8.RuneStart(r[cut]) {
		cut--
	}
	return string(r[:cut]) + "…"
}
