package usage

import (
	"encoding/json"
	"hash/maphash"
	"strings"
	"testing"
	"time"

	"billrun/rating"
)

// obj builds a JSON object line from raw "key":value members.
func obj(members ...string) string { return "{" + strings.Join(members, ",") + "}" }

const (
	mID   = `"id":"e1"`
	mTS   = `"ts":"2026-10-05T14:03:07Z"`
	mAcct = `"account":"acct_1"`
)

// sv, gpu and ft build valid events of each type; extra members come last, so they override (the
// last of duplicate keys wins).
func sv(extra ...string) string {
	return obj(append([]string{mID, mTS, mAcct, `"type":"serverless"`, `"model":"m-small"`}, extra...)...)
}

func gpu(extra ...string) string {
	return obj(append([]string{mID, mTS, mAcct, `"type":"gpu"`, `"deployment":"dep-1"`, `"gpu_type":"H100-80GB"`,
		`"gpu_count":2`, `"start":"2026-10-05T13:00:00Z"`, `"end":"2026-10-05T14:00:00Z"`}, extra...)...)
}

func ft(extra ...string) string {
	return obj(append([]string{mID, mTS, mAcct, `"type":"fine_tuning"`, `"job":"job-1"`, `"base_model":"base-8b"`,
		`"training_tokens":1000`}, extra...)...)
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

var ts0 = utc("2026-10-05T14:03:07Z")

func svEvent(mod func(*rating.Event)) rating.Event {
	ev := rating.Event{ID: "e1", TS: ts0, Account: "acct_1", Type: rating.KindServerless, Model: "m-small"}
	if mod != nil {
		mod(&ev)
	}
	return ev
}

func gpuEvent(mod func(*rating.Event)) rating.Event {
	ev := rating.Event{ID: "e1", TS: ts0, Account: "acct_1", Type: rating.KindGPU, Deployment: "dep-1",
		GPUType: "H100-80GB", GPUCount: 2, Start: utc("2026-10-05T13:00:00Z"), End: utc("2026-10-05T14:00:00Z")}
	if mod != nil {
		mod(&ev)
	}
	return ev
}

func ftEvent(mod func(*rating.Event)) rating.Event {
	ev := rating.Event{ID: "e1", TS: ts0, Account: "acct_1", Type: rating.KindFineTuning, Job: "job-1",
		BaseModel: "base-8b", TrainingTokens: 1000, Epochs: 1, Method: "lora_sft"}
	if mod != nil {
		mod(&ev)
	}
	return ev
}

// sameEvent compares events field by field, times as instants that must also be in UTC.
func sameEvent(a, b rating.Event) bool {
	for _, t := range []time.Time{a.TS, a.Start, a.End, b.TS, b.Start, b.End} {
		if !t.IsZero() && t.Location() != time.UTC {
			return false
		}
	}
	ta, tb := a, b
	ta.TS, ta.Start, ta.End = time.Time{}, time.Time{}, time.Time{}
	tb.TS, tb.Start, tb.End = time.Time{}, time.Time{}, time.Time{}
	return ta == tb && a.TS.Equal(b.TS) && a.Start.Equal(b.Start) && a.End.Equal(b.End)
}

func TestDecodeValid(t *testing.T) {
	tests := []struct {
		name string
		line string
		want rating.Event
	}{
		{"serverless defaults", sv(), svEvent(nil)},
		{"serverless all fields", sv(`"base_model":"base-8b"`, `"input_tokens":100`, `"output_tokens":50`,
			`"cached_input_tokens":20`, `"batch":true`), svEvent(func(e *rating.Event) {
			e.BaseModel, e.InputTokens, e.OutputTokens, e.CachedInputTokens, e.Batch = "base-8b", 100, 50, 20, true
		})},
		{"cached equal to input", sv(`"input_tokens":7`, `"cached_input_tokens":7`), svEvent(func(e *rating.Event) {
			e.InputTokens, e.CachedInputTokens = 7, 7
		})},
		{"max int64", sv(`"output_tokens":9223372036854775807`), svEvent(func(e *rating.Event) {
			e.OutputTokens = 9223372036854775807
		})},
		{"minus zero is zero", sv(`"input_tokens":-0`), svEvent(nil)},
		{"nulls are absent", sv(`"base_model":null`, `"input_tokens":null`, `"batch":null`, `"gpu_count":null`),
			svEvent(nil)},
		{"empty base_model is absent", sv(`"base_model":""`), svEvent(nil)},
		{"batch false", sv(`"batch":false`), svEvent(nil)},
		{"offset and fraction to UTC", sv(`"ts":"2026-10-05T16:03:07.25+02:00"`), svEvent(func(e *rating.Event) {
			e.TS = utc("2026-10-05T14:03:07.25Z")
		})},
		{"negative offset crossing midnight", sv(`"ts":"2026-10-04T23:30:00-05:30"`), svEvent(func(e *rating.Event) {
			e.TS = utc("2026-10-05T05:00:00Z")
		})},
		{"nanoseconds", sv(`"ts":"2026-10-05T14:03:07.123456789Z"`), svEvent(func(e *rating.Event) {
			e.TS = utc("2026-10-05T14:03:07.123456789Z")
		})},
		{"more than nine fraction digits are truncated", sv(`"ts":"2026-10-05T14:03:07.1234567891Z"`),
			svEvent(func(e *rating.Event) { e.TS = utc("2026-10-05T14:03:07.123456789Z") })},
		{"leap day", sv(`"ts":"2028-02-29T00:00:00Z"`), svEvent(func(e *rating.Event) { e.TS = utc("2028-02-29T00:00:00Z") })},
		// RFC 3339 5.6: "T" and "Z" may be lower case.
		{"lower-case t and z", sv(`"ts":"2026-10-05t14:03:07z"`), svEvent(nil)},
		{"gpu with lower-case t and z", gpu(`"start":"2026-10-05t13:00:00z"`, `"end":"2026-10-05t14:00:00.000z"`), gpuEvent(nil)},
		{"duplicate key: last wins", sv(`"input_tokens":"x"`, `"input_tokens":5`), svEvent(func(e *rating.Event) {
			e.InputTokens = 5
		})},
		{"duplicate key: last wins even if null", sv(`"input_tokens":5`, `"input_tokens":null`), svEvent(nil)},
		{"unknown fields of every shape", sv(`"meta":{"a":[1,-2.5e3,{"b":"x\"y\u00e9"}],"c":null,"d":true}`,
			`"tags":[]`, `"n":1e400`, `"s":"\ud800"`), svEvent(nil)},
		{"other types' fields ignored", sv(`"gpu_count":"lots"`, `"start":"never"`, `"method":"qlora"`), svEvent(nil)},
		{"escaped string in a known field", sv(`"model":"m\u002dsmall"`), svEvent(nil)},
		{"escaped key", sv(`"\u0069nput_tokens":3`), svEvent(func(e *rating.Event) { e.InputTokens = 3 })},
		{"non-ASCII value", sv(`"model":"modèle"`), svEvent(func(e *rating.Event) { e.Model = "modèle" })},
		{"surrogate pair and U+FFFD itself", sv(`"model":"m\ud83d\ude00"`, `"base_model":"\ufffd"`),
			svEvent(func(e *rating.Event) { e.Model, e.BaseModel = "m\U0001F600", "\uFFFD" })},
		{"keys are case-sensitive", sv(`"Input_Tokens":"bad"`), svEvent(nil)},
		{"whitespace and CR", " \t" + sv() + " \r", svEvent(nil)},
		{"gpu", gpu(), gpuEvent(nil)},
		{"gpu with offsets", gpu(`"start":"2026-10-05T15:00:00+02:00"`, `"end":"2026-10-05T10:00:00.5-04:00"`),
			gpuEvent(func(e *rating.Event) { e.End = utc("2026-10-05T14:00:00.5Z") })},
		{"fine-tuning defaults", ft(), ftEvent(nil)},
		{"fine-tuning explicit", ft(`"epochs":3`, `"method":"full_dpo"`), ftEvent(func(e *rating.Event) {
			e.Epochs, e.Method = 3, "full_dpo"
		})},
		{"fine-tuning zero tokens", ft(`"training_tokens":0`), ftEvent(func(e *rating.Event) { e.TrainingTokens = 0 })},
		// DESIGN §11: token fields default to 0 when absent — training_tokens too.
		{"fine-tuning tokens absent", strings.Replace(ft(), `,"training_tokens":1000`, "", 1),
			ftEvent(func(e *rating.Event) { e.TrainingTokens = 0 })},
		{"fine-tuning tokens null", ft(`"training_tokens":null`), ftEvent(func(e *rating.Event) { e.TrainingTokens = 0 })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, code, msg := Decode([]byte(tc.line))
			if code != "" {
				t.Fatalf("Decode(%s) = reject %s: %s, want an event", tc.line, code, msg)
			}
			if !sameEvent(got, tc.want) {
				t.Errorf("Decode(%s) =\n%+v, want\n%+v", tc.line, got, tc.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		code    rating.RejectCode
		msg     string // a substring of the message
		eventID string
	}{
		{"truncated", `{"id":"e1","ts":"2026-10-05T14:03:07Z"`, rating.RejectInvalidJSON, "unexpected end of JSON input", ""},
		{"not JSON", `hello`, rating.RejectInvalidJSON, "invalid character 'h'", ""},
		{"array", `[1,2]`, rating.RejectInvalidJSON, "JSON array; want an object", ""},
		{"string", `"x"`, rating.RejectInvalidJSON, "JSON string; want an object", ""},
		{"null line", `null`, rating.RejectInvalidJSON, "JSON null", ""},
		{"two objects", sv() + sv(), rating.RejectInvalidJSON, "after top-level value", ""},
		{"trailing comma", `{"id":"e1",}`, rating.RejectInvalidJSON, "not valid JSON", ""},
		{"control character in a string", "{\"id\":\"e\x01\"}", rating.RejectInvalidJSON, "not valid JSON", ""},
		{"bad escape", `{"id":"e\x"}`, rating.RejectInvalidJSON, "not valid JSON", ""},
		{"single quotes", `{'id':'e1'}`, rating.RejectInvalidJSON, "not valid JSON", ""},

		{"id missing", obj(mTS, mAcct, `"type":"serverless"`, `"model":"m"`), rating.RejectMissingField, "id is missing", ""},
		{"id null", sv(`"id":null`), rating.RejectMissingField, "id is missing", ""},
		{"ts missing", obj(mID, mAcct, `"type":"serverless"`, `"model":"m"`), rating.RejectMissingField, "ts is missing", "e1"},
		{"account missing", obj(mID, mTS, `"type":"serverless"`, `"model":"m"`), rating.RejectMissingField, "account is missing", "e1"},
		{"type missing", obj(mID, mTS, mAcct, `"model":"m"`), rating.RejectMissingField, "type is missing", "e1"},
		{"model missing", obj(mID, mTS, mAcct, `"type":"serverless"`), rating.RejectMissingField, "model is missing", "e1"},
		{"deployment missing", gpu(`"deployment":null`), rating.RejectMissingField, "deployment is missing", "e1"},
		{"gpu_type missing", gpu(`"gpu_type":null`), rating.RejectMissingField, "gpu_type is missing", "e1"},
		{"gpu_count missing", gpu(`"gpu_count":null`), rating.RejectMissingField, "gpu_count is missing", "e1"},
		{"start missing", gpu(`"start":null`), rating.RejectMissingField, "start is missing", "e1"},
		{"end missing", gpu(`"end":null`), rating.RejectMissingField, "end is missing", "e1"},
		{"job missing", ft(`"job":null`), rating.RejectMissingField, "job is missing", "e1"},
		{"fine-tuning base_model missing", ft(`"base_model":null`), rating.RejectMissingField, "base_model is missing", "e1"},

		{"id not a string", sv(`"id":42`), rating.RejectInvalidValue, "id must be a JSON string, got 42", ""},
		{"id empty", sv(`"id":""`), rating.RejectInvalidValue, "id must not be empty", ""},
		{"account object", sv(`"account":{"id":1}`), rating.RejectInvalidValue, `account must be a JSON string, got {"id":1}`, "e1"},
		{"ts words", sv(`"ts":"yesterday"`), rating.RejectInvalidValue, `ts must be an RFC 3339 time`, "e1"},
		{"ts without offset", sv(`"ts":"2026-10-05T14:03:07"`), rating.RejectInvalidValue, `got "2026-10-05T14:03:07"`, "e1"},
		{"ts space", sv(`"ts":"2026-10-05 14:03:07Z"`), rating.RejectInvalidValue, "ts must be", "e1"},
		{"ts date only", sv(`"ts":"2026-10-05"`), rating.RejectInvalidValue, "ts must be", "e1"},
		{"ts comma fraction", sv(`"ts":"2026-10-05T14:03:07,5Z"`), rating.RejectInvalidValue, "ts must be", "e1"},
		{"ts empty fraction", sv(`"ts":"2026-10-05T14:03:07.Z"`), rating.RejectInvalidValue, "ts must be", "e1"},
		{"ts no such day", sv(`"ts":"2026-02-29T00:00:00Z"`), rating.RejectInvalidValue, "ts must be", "e1"},
		{"ts hour 24", sv(`"ts":"2026-10-05T24:00:00Z"`), rating.RejectInvalidValue, "ts must be", "e1"},
		{"ts leap second", sv(`"ts":"2026-12-31T23:59:60Z"`), rating.RejectInvalidValue, "ts must be", "e1"},
		{"ts offset hour 24", sv(`"ts":"2026-10-05T14:03:07+24:00"`), rating.RejectInvalidValue, "ts must be", "e1"},
		{"ts offset without colon", sv(`"ts":"2026-10-05T14:03:07+0200"`), rating.RejectInvalidValue, "ts must be", "e1"},
		{"ts number", sv(`"ts":1791209000`), rating.RejectInvalidValue, "ts must be an RFC 3339 time", "e1"},
		{"type number", sv(`"type":1`), rating.RejectInvalidValue, "type must be a JSON string", "e1"},
		{"tokens as string", sv(`"input_tokens":"12"`), rating.RejectInvalidValue,
			`input_tokens must be a non-negative JSON integer, got "12"`, "e1"},
		{"tokens 1.0", sv(`"output_tokens":1.0`), rating.RejectInvalidValue,
			"output_tokens must be a non-negative JSON integer, got 1.0 (no fraction or exponent allowed)", "e1"},
		{"tokens 1e3", sv(`"input_tokens":1e3`), rating.RejectInvalidValue, "got 1e3", "e1"},
		{"tokens negative", sv(`"cached_input_tokens":-5`), rating.RejectInvalidValue,
			"cached_input_tokens must be a non-negative JSON integer, got -5", "e1"},
		{"tokens too large", sv(`"input_tokens":9223372036854775808`), rating.RejectInvalidValue, "(too large)", "e1"},
		{"tokens bool", sv(`"input_tokens":true`), rating.RejectInvalidValue, "got true", "e1"},
		{"batch string", sv(`"batch":"yes"`), rating.RejectInvalidValue, `batch must be true or false, got "yes"`, "e1"},
		{"batch number", sv(`"batch":1`), rating.RejectInvalidValue, "batch must be true or false, got 1", "e1"},
		{"model empty", sv(`"model":""`), rating.RejectInvalidValue, "model must not be empty", "e1"},
		// encoding/json decodes an invalid byte and an unpaired surrogate alike as U+FFFD: two ids
		// differing only there would be one id to dedup (DESIGN §3). The reject names the id as decoded.
		{"id invalid UTF-8", sv("\"id\":\"e\xff\""), rating.RejectInvalidValue, "id must be valid UTF-8 text", "e\uFFFD"},
		{"id unpaired high surrogate", sv(`"id":"e\ud800"`), rating.RejectInvalidValue, "id must be valid UTF-8 text", "e\uFFFD"},
		{"id high surrogate at the end", sv(`"id":"e\udbff"`), rating.RejectInvalidValue, "id must be valid UTF-8", "e\uFFFD"},
		{"account unpaired low surrogate", sv(`"account":"a\udc00"`), rating.RejectInvalidValue, "account must be valid UTF-8", "e1"},
		{"model high surrogate before a non-surrogate", sv(`"model":"m\ud800\u0041"`), rating.RejectInvalidValue,
			"model must be valid UTF-8", "e1"},
		{"base_model two high surrogates", sv(`"base_model":"\ud800\ud800"`), rating.RejectInvalidValue,
			"base_model must be valid UTF-8", "e1"},
		{"deployment invalid UTF-8", gpu("\"deployment\":\"d\xfe\""), rating.RejectInvalidValue, "deployment must be valid UTF-8", "e1"},
		{"job truncated UTF-8", ft("\"job\":\"j\xc3\""), rating.RejectInvalidValue, "job must be valid UTF-8", "e1"},
		{"base_model number", sv(`"base_model":7`), rating.RejectInvalidValue, "base_model must be a JSON string", "e1"},
		{"gpu_count zero", gpu(`"gpu_count":0`), rating.RejectInvalidValue,
			"gpu_count must be a JSON integer of at least 1, got 0", "e1"},
		{"gpu_count fraction", gpu(`"gpu_count":1.5`), rating.RejectInvalidValue, "gpu_count must be", "e1"},
		{"start not a time", gpu(`"start":"soon"`), rating.RejectInvalidValue, `start must be an RFC 3339 time`, "e1"},
		{"epochs zero", ft(`"epochs":0`), rating.RejectInvalidValue, "epochs must be a JSON integer of at least 1, got 0", "e1"},
		{"training_tokens negative", ft(`"training_tokens":-1`), rating.RejectInvalidValue, "training_tokens must be", "e1"},
		{"method unknown", ft(`"method":"qlora"`), rating.RejectInvalidValue,
			`method must be lora_sft, lora_dpo, full_sft or full_dpo, got "qlora"`, "e1"},
		{"method empty", ft(`"method":""`), rating.RejectInvalidValue, `got ""`, "e1"},
		{"long value is cut", sv(`"input_tokens":"` + strings.Repeat("x", 200) + `"`), rating.RejectInvalidValue, "xxx…", "e1"},

		{"unknown type", sv(`"type":"batch"`), rating.RejectUnknownType,
			`type must be serverless, gpu or fine_tuning, got "batch"`, "e1"},
		{"type empty", sv(`"type":""`), rating.RejectInvalidValue, "type must not be empty", "e1"},
		{"cached above input", sv(`"input_tokens":10`, `"cached_input_tokens":11`), rating.RejectCachedExceedsInput,
			"cached_input_tokens 11 exceeds input_tokens 10", "e1"},
		{"cached without input", sv(`"cached_input_tokens":5`), rating.RejectCachedExceedsInput,
			"cached_input_tokens 5 exceeds input_tokens 0", "e1"},
		{"end equals start", gpu(`"end":"2026-10-05T13:00:00Z"`), rating.RejectEndNotAfterStart,
			"end 2026-10-05T13:00:00Z is not after start 2026-10-05T13:00:00Z", "e1"},
		{"end before start via offset", gpu(`"end":"2026-10-05T14:30:00+02:00"`), rating.RejectEndNotAfterStart,
			"is not after start", "e1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, code, msg := Decode([]byte(tc.line))
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Errorf("Decode(%s) = %s %q, want %s containing %q", tc.line, code, msg, tc.code, tc.msg)
			}
			if ev.ID != tc.eventID {
				t.Errorf("Decode(%s) event id = %q, want %q", tc.line, ev.ID, tc.eventID)
			}
		})
	}
}

// TestDecodeFastPath checks that plain lines never need the fallback, so the scanner is not dead code.
func TestDecodeFastPath(t *testing.T) {
	for _, line := range []string{
		sv(), sv(`"base_model":"b"`, `"input_tokens":100`, `"output_tokens":50`, `"cached_input_tokens":20`, `"batch":true`),
		sv(`"ts":"2026-10-05T16:03:07.25+02:00"`, `"meta":{"a":[1,2.5,{"b":"x\"y"}],"c":null}`),
		sv(`"input_tokens":"x"`, `"input_tokens":5`), sv(`"batch":null`), gpu(), ft(), ft(`"epochs":2`, `"method":"full_sft"`),
		sv(`"model":"modèle"`),
	} {
		var d decoder
		var out decoded
		if !d.decodeFast([]byte(line), &out) {
			t.Errorf("decodeFast(%s) = false, want the fast path to take it", line)
		}
	}
}

// TestDecodeAllocs checks the read loop's decoding allocates nothing once strings are interned.
func TestDecodeAllocs(t *testing.T) {
	d := decoder{syms: newDecoderSyms(maphash.MakeSeed())}
	var out decoded
	lines := [][]byte{[]byte(sv(`"input_tokens":100`, `"output_tokens":50`)), []byte(gpu()), []byte(ft())}
	for _, l := range lines {
		if code, msg := d.decode(l, &out); code != "" {
			t.Fatalf("decode(%s) = %s %s", l, code, msg)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, l := range lines {
			d.decode(l, &out)
		}
	})
	if allocs != 0 {
		t.Errorf("decode allocates %v times per run of %d lines, want 0", allocs, len(lines))
	}
}

func TestParseTime(t *testing.T) {
	for _, s := range []string{
		"2026-10-05T14:03:07Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999-23:59", "1969-12-31T23:59:59+00:01",
		"2000-02-29T12:00:00Z", "1900-02-28T12:00:00Z", "2026-10-05T14:03:07.1+05:45",
		// RFC 3339 5.6: T and Z may be lower case.
		"2026-10-05t14:03:07z", "2026-10-05t14:03:07.5+01:00", "2026-10-05T14:03:07z",
	} {
		want, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
		if err != nil {
			t.Fatal(err)
		}
		fast, ok := parseTimeFast([]byte(s))
		if !ok || !fast.Equal(want) || fast.Location() != time.UTC {
			t.Errorf("parseTimeFast(%s) = %v, %v, want %v", s, fast, ok, want.UTC())
		}
		ref, ok := parseTimeRef(s)
		if !ok || !ref.Equal(want) || ref.Location() != time.UTC {
			t.Errorf("parseTimeRef(%s) = %v, %v, want %v", s, ref, ok, want.UTC())
		}
	}
	for _, s := range []string{"1900-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-10-05T14:60:00Z",
		"2026-10-05T14:03:07+23:60", "+2026-10-05T14:03:07Z", "2026-10-05T14:03:07ZZ", "2026-10-05x14:03:07Z",
		"2026-10-05T14:03:07Zz"} {
		if _, ok := parseTimeFast([]byte(s)); ok {
			t.Errorf("parseTimeFast(%s) ok, want a failure", s)
		}
		if _, ok := parseTimeRef(s); ok {
			t.Errorf("parseTimeRef(%s) ok, want a failure", s)
		}
	}
}

// fuzzSeeds start FuzzDecode; testdata/fuzz/FuzzDecode keeps the interesting inputs found since.
var fuzzSeeds = []string{
	sv(), gpu(), ft(), sv(`"input_tokens":"12"`), sv(`"input_tokens":1.0`), sv(`"input_tokens":-0`),
	sv(`"ts":"2026-10-05T16:03:07.25+02:00"`), sv(`"meta":{"a":[1,{"b":"\u00e9\""}]}`), sv(`"model":"m\u002d1"`),
	sv(`"input_tokens":"x"`, `"input_tokens":5`), gpu(`"end":"2026-10-05T13:00:00Z"`), ft(`"method":"full_dpo"`, `"epochs":2`),
	`{}`, `[]`, `null`, `{"id":"a"`, "{\"id\":\"\xff\"}", `{"\u0069d":"e1"}`, sv(`"cached_input_tokens":5`),
	sv(`"output_tokens":9223372036854775808`), sv(`"ts":"2026-02-29T00:00:00Z"`), sv(`"ts":"2026-10-05T14:03:07.1234567891Z"`),
	sv(`"ts":"2026-10-05t14:03:07z"`), sv("\"id\":\"e\xfe\""), sv(`"id":"e\ud800"`), sv(`"model":"m\ud83d\ude00"`),
	gpu(`"deployment":"d\udc00x"`),
}

// FuzzDecode checks the fast path against the encoding/json fallback: whenever the fast path accepts a
// line, the fallback must accept it too and produce the same event. (The fast path never rejects — it
// hands everything unusual to the fallback, whose code and message are then the answer.)
func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkDecodeAgrees)
}

// FuzzDecodeFields fuzzes field values inside a well-formed object, where random bytes rarely reach:
// times, counts, flags and names of every type.
func FuzzDecodeFields(f *testing.F) {
	f.Add("serverless", "2026-10-05T14:03:07Z", "100", "20", "false", "m-small", "lora_sft", "2026-10-05T13:00:00Z")
	f.Add("gpu", "2026-10-05T14:03:07+02:00", "8", "1", "true", "dep-1", "full_dpo", "2026-10-05T12:00:00.5Z")
	f.Add("fine_tuning", "2026-10-05T14:03:07.123Z", "1000", "2", "null", "job", "qlora", "2026-10-05T14:03:07Z")
	f.Add("gpu", "2026-02-29T00:00:00Z", "-0", "1e3", "1", "", "", "2026-10-05T14:00:00-00:00")
	f.Fuzz(func(t *testing.T, typ, ts, n1, n2, flag, name, method, start string) {
		q := func(s string) string {
			b, _ := json.Marshal(s)
			return string(b)
		}
		line := obj(`"id":"e1"`, `"ts":`+q(ts), `"account":"acct_1"`, `"type":`+q(typ), `"model":`+q(name),
			`"base_model":`+q(name), `"input_tokens":`+n1, `"output_tokens":`+n2, `"cached_input_tokens":`+n2,
			`"batch":`+flag, `"deployment":`+q(name), `"gpu_type":"H100-80GB"`, `"gpu_count":`+n2, `"start":`+q(start),
			`"end":`+q(ts), `"job":`+q(name), `"training_tokens":`+n1, `"epochs":`+n2, `"method":`+q(method))
		checkDecodeAgrees(t, []byte(line))
	})
}

// checkSyms fails when the Syms the fast path recorded do not name the event's own strings.
func checkSyms(t *testing.T, line []byte, syms *decoderSyms, d *decoded) {
	t.Helper()
	ev, sy := &d.ev, d.syms
	var product, base, aux string
	var productT, baseT, auxT *rating.Symbols
	switch ev.Type {
	case rating.KindServerless:
		product, base = ev.Model, ev.BaseModel
		productT, baseT = &syms.model, &syms.base
	case rating.KindGPU:
		product, aux = ev.GPUType, ev.Deployment
		productT, auxT = &syms.gpuType, &syms.deployment
	case rating.KindFineTuning:
		product, base, aux = ev.Job, ev.BaseModel, ev.Method
		productT, baseT, auxT = &syms.job, &syms.base, &syms.method
	}
	empty := rating.NewSymbols() // a role the type does not have: Sym 0, the empty string
	for _, t := range []**rating.Symbols{&productT, &baseT, &auxT} {
		if *t == nil {
			*t = empty
		}
	}
	for _, c := range []struct {
		role  string
		table *rating.Symbols
		sym   rating.Sym
		want  string
	}{{"account", &syms.account, sy.Account, ev.Account}, {"product", productT, sy.Product, product},
		{"base", baseT, sy.Base, base}, {"aux", auxT, sy.Aux, aux}} {
		if got := c.table.String(c.sym); got != c.want {
			t.Fatalf("line %q: %s Sym %d names %q, want %q", line, c.role, c.sym, got, c.want)
		}
	}
}

// checkDecodeAgrees fails when the fast path accepts line and the fallback does not produce the same
// event, or when the fallback rejects without a message.
func checkDecodeAgrees(t *testing.T, line []byte) {
	// The fast path predicts each line's keys from those of the lines before (decoder.pred): decode the
	// line with no prediction, after a line of another layout, and after itself.
	for _, before := range [][]byte{nil, []byte(gpu(`"meta":{"a":1}`)), line} {
		seed := maphash.MakeSeed()
		fastDec := decoder{syms: newDecoderSyms(seed)}
		h := contentHasher{seed: seed}
		if before != nil {
			var out decoded
			fastDec.decodeFast(before, &out)
		}
		checkDecodeAgreesAfter(t, &fastDec, &h, line)
	}
}

// checkDecodeAgreesAfter is checkDecodeAgrees with the decoder fastDec, in whatever state it is, and
// h, the content hasher of its tables.
func checkDecodeAgreesAfter(t *testing.T, fastDec *decoder, h *contentHasher, line []byte) {
	var fast, ref decoded
	fastOK := fastDec.decodeFast(line, &fast)
	var refDec decoder
	code, msg := refDec.decodeJSON(line, &ref)
	if code != "" && msg == "" {
		t.Fatalf("decodeJSON(%q) = %s with no message", line, code)
	}
	if !fastOK {
		return
	}
	if code != "" {
		t.Fatalf("fast path accepts %q, fallback rejects it: %s %s", line, code, msg)
	}
	if !ref.idOK {
		t.Fatalf("line %q: the fallback accepts it but does not mark its id valid", line)
	}
	fast.ev.ID, ref.ev.ID = string(fast.id), string(ref.id)
	if !sameEvent(fast.ev, ref.ev) {
		t.Fatalf("line %q:\nfast     %+v\nfallback %+v", line, fast.ev, ref.ev)
	}
	checkSyms(t, line, fastDec.syms, &fast)
	// Copies decoded either way must get the same content hash, or an exact copy would be taken
	// for a conflicting one.
	fast.interned = true
	if hf, hr := h.sum(&fast), h.sum(&ref); hf != hr {
		t.Fatalf("line %q: content hash %x on the fast path, %x on the fallback", line, hf, hr)
	}
	// The scope rules' lenient look must agree with the event on valid lines.
	lf, lr := lookAt(line, "", &fast.ev), lookAt(line, rating.RejectInvalidValue, &ref.ev)
	if !sameLook(lf, lr) {
		t.Fatalf("line %q: look from event %+v, lenient look %+v", line, lf, lr)
	}
}

// sameLook compares what the scope rules use of two looks: start and end matter only for GPU events.
func sameLook(a, b look) bool {
	if a.gpu != b.gpu || a.hasTS != b.hasTS || !a.ts.Equal(b.ts) {
		return false
	}
	return !a.gpu || a.hasStart == b.hasStart && a.hasEnd == b.hasEnd && a.start.Equal(b.start) && a.end.Equal(b.end)
}

// FuzzParseTime checks the fast time parser against the reference one.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-10-05T14:03:07Z", "2026-10-05T14:03:07.123456789+05:45", "0000-02-29T00:00:00-23:59",
		"2026-10-05T14:03:07,5Z", "2026-02-29T00:00:00Z", "2026-10-05t14:03:07.5z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, fastOK := parseTimeFast([]byte(s))
		ref, refOK := parseTimeRef(s)
		if fastOK && (!refOK || !fast.Equal(ref)) {
			t.Fatalf("parseTimeFast(%q) = %v, parseTimeRef = %v, %v", s, fast, ref, refOK)
		}
		if refOK && !fastOK && fractionDigits(s) <= 9 {
			t.Fatalf("parseTimeRef(%q) = %v, parseTimeFast fails", s, ref)
		}
	})
}

// FuzzParseTimeCached checks the decoder's time parser, which remembers the last date it converted,
// against the reference parser on two times in a row: the second one finds the first one's date in the
// cache whenever their first ten bytes agree.
func FuzzParseTimeCached(f *testing.F) {
	f.Add("2026-10-05T14:03:07Z", "2026-10-05T23:59:59.5+01:00")
	f.Add("2026-10-05T14:03:07Z", "2026-10-05T24:00:00Z")
	f.Add("2026-02-29T00:00:00Z", "2026-02-29T00:00:01Z")
	f.Add("2024-02-29T00:00:00Z", "2024-02-29t00:00:01z")
	f.Add("2026-10-05X14:03:07Z", "2026-10-05T14:03:07Z")
	f.Add("2026-10-31T23:00:00-02:00", "2026-11-01T00:00:00Z")
	f.Fuzz(func(t *testing.T, a, b string) {
		var c dayCache
		for _, s := range []string{a, b, a} {
			fast, fastOK := c.parse([]byte(s))
			ref, refOK := parseTimeRef(s)
			if fastOK && (!refOK || !fast.Equal(ref)) {
				t.Fatalf("after %q: parse(%q) = %v, parseTimeRef = %v, %v", a, s, fast, ref, refOK)
			}
			if refOK && !fastOK && fractionDigits(s) <= 9 {
				t.Fatalf("after %q: parseTimeRef(%q) = %v, parse fails", a, s, ref)
			}
		}
	})
}

func fractionDigits(s string) int {
	i := strings.IndexByte(s, '.')
	if i < 0 {
		return 0
	}
	n := 0
	for i++; i < len(s) && isDigit(s[i]); i++ {
		n++
	}
	return n
}

func BenchmarkDecode(b *testing.B) {
	lines := [][]byte{
		[]byte(`{"id":"ev-000000000123","ts":"2026-10-05T14:03:07.123Z","account":"acct_00042","type":"serverless","model":"accounts/fireworks/models/llama-v3p1-8b-instruct","input_tokens":1834,"output_tokens":412,"cached_input_tokens":1024,"batch":false}`),
		[]byte(`{"id":"ev-000000000124","ts":"2026-10-05T14:03:08Z","account":"acct_00042","type":"gpu","deployment":"dep-acme-h100","gpu_type":"H100-80GB","gpu_count":8,"start":"2026-10-05T13:00:00Z","end":"2026-10-05T14:00:00Z"}`),
		[]byte(`{"id":"ev-000000000125","ts":"2026-10-05T14:03:09Z","account":"acct_00007","type":"fine_tuning","job":"ftjob-77","base_model":"accounts/fireworks/models/llama-v3p1-8b-instruct","training_tokens":12000000,"epochs":3,"method":"lora_dpo"}`),
	}
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	run := func(b *testing.B, decode func(l []byte)) {
		b.SetBytes(int64(size) / int64(len(lines)))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			decode(lines[i%len(lines)])
		}
	}
	b.Run("fast", func(b *testing.B) {
		d := decoder{syms: newDecoderSyms(maphash.MakeSeed())}
		var out decoded
		run(b, func(l []byte) { d.decode(l, &out) })
	})
	b.Run("Decode", func(b *testing.B) {
		run(b, func(l []byte) { Decode(l) })
	})
	b.Run("fallback", func(b *testing.B) {
		var d decoder
		var out decoded
		run(b, func(l []byte) { d.decodeJSON(l, &out) })
	})
}
