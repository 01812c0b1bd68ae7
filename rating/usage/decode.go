package usage

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/bits"
	"time"
	"unicode/utf8"

	"billrun/rating"
)

// Decode decodes and validates one non-blank usage line as DESIGN §3 and §11 define an event: required
// common fields id, ts, account and type; the fields of the event's type with their defaults; times
// converted to UTC. Unknown fields are ignored; for a key given twice the last value wins; a JSON null
// counts as an absent field.
//
// It returns the event and an empty code when the line is a valid event. Otherwise it returns a reject
// code (invalid_json, missing_field, invalid_value, unknown_type, cached_exceeds_input or
// end_not_after_start) and a message naming the field, e.g. `input_tokens must be a non-negative JSON
// integer, got "12"`; the event then holds only the id, when the line has a valid one. Checks that need the
// object's partition or the run's window (wrong_partition, late_report, interval_too_long) are Read's.
//
// A hand-written scanner handles the common case without reflection; whatever it does not recognize
// goes through encoding/json, which decides and explains.
func Decode(line []byte) (rating.Event, rating.RejectCode, string) {
	var d decoder
	var out decoded
	code, msg := d.decode(line, &out)
	if code != "" {
		return rating.Event{ID: string(out.id)}, code, msg
	}
	out.ev.ID = string(out.id)
	return out.ev, "", ""
}

// decoded is an event as the read loop uses it: ev.ID is left empty and id points into the line, so
// the hot path keeps no copy of ids it only hashes. id is valid until the line buffer is reused.
type decoded struct {
	ev rating.Event
	id []byte
	// syms are the Syms of ev's strings when interned is set: the fast path decoded the line with a
	// symbol table.
	syms     rating.EventSyms
	interned bool
	// sums are the content hashes (strSum) of ev's strings in the roles of syms, when interned is set:
	// the hashes interning computed, which equal strSum since every table of a read has its seed.
	sums eventSums
	// idOK is set when id is a valid event id (a non-empty string of exact text), whether or not the
	// rest of the line is valid: a rejected line with a valid id still takes part in conflict
	// detection (DESIGN §3, §11).
	idOK bool
}

// eventSums are the strSums of an event's strings by role, as in rating.EventSyms.
type eventSums struct{ account, product, base, aux uint64 }

// decoder decodes lines. With symbol tables, the fast path interns the strings that repeat from event
// to event (accounts, models, deployments) and records their Syms, so the aggregate's keys are not
// copied per event and the rater keys its groups by integers (Rater.AddInterned). There is one table
// per role and event type: the accounts and models nearly every event looks up stay small and in
// cache, however many one-off fine-tuning jobs or deployments the others collect (a month can have a
// job per fine-tuning event: 100,000 of them in a table the models shared made every model lookup a
// cache miss).
type decoder struct {
	syms *decoderSyms
	// pred holds, for each field (and for the start of the object and for unknown keys), the key token —
	// `"name":` — that last followed it, with its field: producers write their keys in one order, so the
	// next key is most likely the same bytes, matched with one comparison instead of a scan and a name
	// lookup. Optional keys only make some predictions miss; a miss scans as usual.
	pred [numFields + 2]keyPred
	// day is the fast path's time parser, which remembers the last date it converted.
	day dayCache
}

// keyPred is one predicted key token and its field index (-1 for a key billrun does not read).
type keyPred struct {
	tok []byte
	fi  int
}

// decoderSyms are a decoder's symbol tables, by role and event type. Syms of different event types
// may coincide: the rater keys groups by type as well (see rating.Rater.AddInterned).
type decoderSyms struct {
	account             rating.Symbols // every type
	model, base         rating.Symbols // serverless model and base model; fine-tuning base model
	gpuType, deployment rating.Symbols // gpu
	job, method         rating.Symbols // fine_tuning
}

// newDecoderSyms returns empty tables hashing with seed, the read's: the hashes the fast path computes to
// intern an event's strings are then its strSums too (decoded.sums).
func newDecoderSyms(seed maphash.Seed) *decoderSyms {
	d := &decoderSyms{}
	for _, t := range []*rating.Symbols{&d.account, &d.model, &d.base, &d.gpuType, &d.deployment, &d.job, &d.method} {
		*t = *rating.NewSymbolsSeeded(seed)
	}
	return d
}

// decode decodes line into out: the fast path first, the encoding/json fallback for anything else.
func (d *decoder) decode(line []byte, out *decoded) (rating.RejectCode, string) {
	if d.decodeFast(line, out) {
		out.interned = d.syms != nil
		out.idOK = true
		return "", ""
	}
	*out = decoded{}
	return d.decodeJSON(line, out)
}

// strHashed returns b as a string and its Sym, interned in the symbol table t when the decoder has
// tables (else a copy, Sym 0); h is b's hash, which t.Prefetch returned.
func (d *decoder) strHashed(t *rating.Symbols, b []byte, h uint64) (string, rating.Sym) {
	if d.syms == nil {
		return string(b), 0
	}
	return t.InternHashed(b, h)
}

// strSummed is strHashed that hashes b itself, and also returns b's strSum (0 without tables).
func (d *decoder) strSummed(t *rating.Symbols, b []byte) (string, rating.Sym, uint64) {
	if d.syms == nil {
		return string(b), 0, 0
	}
	h := t.Hash(b)
	str, sym := t.InternHashed(b, h)
	return str, sym, sumOf(b, h)
}

// sumOf is the strSum of b, whose table hash is h: 0 for the empty string.
func sumOf(b []byte, h uint64) uint64 {
	if len(b) == 0 {
		return 0
	}
	return h
}

// table returns the symbol table t picks, or nil without tables (strHashed then copies).
func (d *decoder) table(t func(*decoderSyms) *rating.Symbols) *rating.Symbols {
	if d.syms == nil {
		return nil
	}
	return t(d.syms)
}

func accountSyms(d *decoderSyms) *rating.Symbols    { return &d.account }
func modelSyms(d *decoderSyms) *rating.Symbols      { return &d.model }
func baseSyms(d *decoderSyms) *rating.Symbols       { return &d.base }
func gpuTypeSyms(d *decoderSyms) *rating.Symbols    { return &d.gpuType }
func deploymentSyms(d *decoderSyms) *rating.Symbols { return &d.deployment }
func jobSyms(d *decoderSyms) *rating.Symbols        { return &d.job }
func methodSyms(d *decoderSyms) *rating.Symbols     { return &d.method }

// The fields of DESIGN §3, by index.
const (
	fID = iota
	fTS
	fAccount
	fType
	fModel
	fBaseModel
	fInputTokens
	fOutputTokens
	fCachedInputTokens
	fBatch
	fDeployment
	fGPUType
	fGPUCount
	fStart
	fEnd
	fJob
	fTrainingTokens
	fEpochs
	fMethod
	numFields
)

// fieldNames are the JSON names of the fields, by index.
var fieldNames = [numFields]string{
	fID: "id", fTS: "ts", fAccount: "account", fType: "type", fModel: "model", fBaseModel: "base_model",
	fInputTokens: "input_tokens", fOutputTokens: "output_tokens", fCachedInputTokens: "cached_input_tokens",
	fBatch: "batch", fDeployment: "deployment", fGPUType: "gpu_type", fGPUCount: "gpu_count",
	fStart: "start", fEnd: "end", fJob: "job", fTrainingTokens: "training_tokens", fEpochs: "epochs",
	fMethod: "method",
}

func fieldIndex(key []byte) int {
	switch string(key) {
	case "id":
		return fID
	case "ts":
		return fTS
	case "account":
		return fAccount
	case "type":
		return fType
	case "model":
		return fModel
	case "base_model":
		return fBaseModel
	case "input_tokens":
		return fInputTokens
	case "output_tokens":
		return fOutputTokens
	case "cached_input_tokens":
		return fCachedInputTokens
	case "batch":
		return fBatch
	case "deployment":
		return fDeployment
	case "gpu_type":
		return fGPUType
	case "gpu_count":
		return fGPUCount
	case "start":
		return fStart
	case "end":
		return fEnd
	case "job":
		return fJob
	case "training_tokens":
		return fTrainingTokens
	case "epochs":
		return fEpochs
	case "method":
		return fMethod
	}
	return -1
}

// Kinds of JSON values the fast scanner records for the known fields.
const (
	vAbsent  uint8 = iota
	vString        // a string without escapes: off..end is its content
	vEscaped       // a string with escapes
	vInt           // an integer literal: off..end is the literal
	vNumber        // a number with a fraction or an exponent
	vTrue
	vFalse
	vNull
	vComposite // an object or an array
)

type span struct {
	off, end int32
	kind     uint8
	// utf8 is set for a string (vString) with a byte outside ASCII: fastReqString then checks that it
	// is valid UTF-8. The scan finds such bytes as it looks for the closing quote.
	utf8 bool
}

// fastMaxDepth bounds the nesting the fast scanner follows; deeper lines take the fallback, whose limit
// is encoding/json's.
const fastMaxDepth = 64

// decodeFast decodes the common case: a valid JSON object whose known fields have plain values that
// are all valid. It returns false, leaving out in an undefined state, for anything else — a syntax
// error, an escaped key or string value, invalid UTF-8, a value that breaks a rule — so that the
// fallback can decide and explain.
func (d *decoder) decodeFast(s []byte, out *decoded) bool {
	var f [numFields]span
	i := skipWS(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == '}' {
		i++
	} else {
		prev := predStart
		for {
			if i >= len(s) || s[i] != '"' {
				return false
			}
			var fi int
			if p := &d.pred[prev]; p.tok != nil && len(s)-i >= len(p.tok) && string(s[i:i+len(p.tok)]) == string(p.tok) {
				// The same bytes as a key already scanned: a plain string, then the colon.
				fi = p.fi
				i = skipWS(s, i+len(p.tok))
			} else {
				kend, escaped, _, ok := scanString(s, i+1)
				if !ok || escaped {
					return false
				}
				fi = fieldIndex(s[i+1 : kend-1])
				colon := skipWS(s, kend)
				if colon >= len(s) || s[colon] != ':' {
					return false
				}
				if colon == kend {
					d.pred[prev] = keyPred{tok: append(d.pred[prev].tok[:0], s[i:colon+1]...), fi: fi}
				}
				i = skipWS(s, colon+1)
			}
			prev = predAfter(fi)
			var end int
			if i < len(s) && s[i] == '"' {
				// A string, scanned here so that the span can say whether it is all ASCII.
				e, escaped, nonASCII, ok := scanString(s, i+1)
				if !ok {
					return false
				}
				if fi >= 0 {
					if escaped {
						f[fi] = span{off: int32(i), end: int32(e), kind: vEscaped}
					} else {
						f[fi] = span{off: int32(i + 1), end: int32(e - 1), kind: vString, utf8: nonASCII}
					}
				}
				end = e
			} else {
				e, kind, ok := scanValue(s, i, 0)
				if !ok {
					return false
				}
				if fi >= 0 {
					f[fi] = span{off: int32(i), end: int32(e), kind: kind}
				}
				end = e
			}
			i = skipWS(s, end)
			if i >= len(s) {
				return false
			}
			if s[i] == ',' {
				i = skipWS(s, i+1)
				continue
			}
			if s[i] != '}' {
				return false
			}
			i++
			break
		}
	}
	if skipWS(s, i) != len(s) {
		return false
	}
	return d.fastFields(s, &f, out)
}

// predStart indexes decoder.pred at the start of an object; predAfter(fi) after the key of field fi
// (-1: a key billrun does not read).
const predStart = numFields + 1

func predAfter(fi int) int {
	if fi < 0 {
		return numFields
	}
	return fi
}

// fastFields interprets the recorded fields; any deviation returns false.
func (d *decoder) fastFields(s []byte, f *[numFields]span, out *decoded) bool {
	ev := &out.ev
	*ev = rating.Event{}
	sy := &out.syms
	*sy = rating.EventSyms{}
	sums := &out.sums
	*sums = eventSums{}
	// Nearly every event interns its account and model (and many a base model): hash them and start
	// loading their table slots first, so the three lookups' cache misses overlap.
	var hAccount, hModel, hBase uint64
	if d.syms != nil {
		if sp := f[fAccount]; sp.kind == vString {
			hAccount = d.syms.account.Prefetch(s[sp.off:sp.end])
		}
		if sp := f[fModel]; sp.kind == vString {
			hModel = d.syms.model.Prefetch(s[sp.off:sp.end])
		}
		if sp := f[fBaseModel]; sp.kind == vString {
			hBase = d.syms.base.Prefetch(s[sp.off:sp.end])
		}
	}
	var ok bool
	if out.id, ok = fastReqString(s, f[fID]); !ok {
		return false
	}
	if ev.TS, ok = d.fastTime(s, f[fTS]); !ok {
		return false
	}
	acct, ok := fastReqString(s, f[fAccount])
	if !ok {
		return false
	}
	ev.Account, sy.Account = d.strHashed(d.table(accountSyms), acct, hAccount)
	sums.account = sumOf(acct, hAccount)
	typ, ok := fastReqString(s, f[fType])
	if !ok {
		return false
	}
	switch string(typ) {
	case "serverless":
		ev.Type = rating.KindServerless
		model, ok := fastReqString(s, f[fModel])
		if !ok {
			return false
		}
		ev.Model, sy.Product = d.strHashed(d.table(modelSyms), model, hModel)
		sums.product = sumOf(model, hModel)
		if ev.BaseModel, sy.Base, ok = d.fastOptString(d.table(baseSyms), s, f[fBaseModel], hBase); !ok {
			return false
		}
		if ev.BaseModel != "" {
			sums.base = hBase
		}
		if ev.InputTokens, ok = fastInt(s, f[fInputTokens], 0, 0); !ok {
			return false
		}
		if ev.OutputTokens, ok = fastInt(s, f[fOutputTokens], 0, 0); !ok {
			return false
		}
		if ev.CachedInputTokens, ok = fastInt(s, f[fCachedInputTokens], 0, 0); !ok {
			return false
		}
		if ev.CachedInputTokens > ev.InputTokens {
			return false
		}
		switch f[fBatch].kind {
		case vAbsent, vNull, vFalse:
		case vTrue:
			ev.Batch = true
		default:
			return false
		}
	case "gpu":
		ev.Type = rating.KindGPU
		dep, ok := fastReqString(s, f[fDeployment])
		if !ok {
			return false
		}
		ev.Deployment, sy.Aux, sums.aux = d.strSummed(d.table(deploymentSyms), dep)
		gt, ok := fastReqString(s, f[fGPUType])
		if !ok {
			return false
		}
		ev.GPUType, sy.Product, sums.product = d.strSummed(d.table(gpuTypeSyms), gt)
		if f[fGPUCount].kind != vInt {
			return false
		}
		if ev.GPUCount, ok = fastInt(s, f[fGPUCount], 1, 0); !ok {
			return false
		}
		if ev.Start, ok = d.fastTime(s, f[fStart]); !ok {
			return false
		}
		if ev.End, ok = d.fastTime(s, f[fEnd]); !ok {
			return false
		}
		if !ev.End.After(ev.Start) {
			return false
		}
	case "fine_tuning":
		ev.Type = rating.KindFineTuning
		job, ok := fastReqString(s, f[fJob])
		if !ok {
			return false
		}
		ev.Job, sy.Product, sums.product = d.strSummed(d.table(jobSyms), job)
		base, ok := fastReqString(s, f[fBaseModel])
		if !ok {
			return false
		}
		ev.BaseModel, sy.Base = d.strHashed(d.table(baseSyms), base, hBase)
		sums.base = sumOf(base, hBase)
		if ev.TrainingTokens, ok = fastInt(s, f[fTrainingTokens], 0, 0); !ok {
			return false
		}
		if ev.Epochs, ok = fastInt(s, f[fEpochs], 1, 1); !ok {
			return false
		}
		method := []byte("lora_sft")
		switch sp := f[fMethod]; sp.kind {
		case vAbsent, vNull:
		case vString:
			if method = s[sp.off:sp.end]; methodName(method) == "" {
				return false
			}
		default:
			return false
		}
		ev.Method, sy.Aux, sums.aux = d.strSummed(d.table(methodSyms), method)
	default:
		return false
	}
	return true
}

// methodName returns the canonical string of a fine-tuning method, or "" for an unknown one.
func methodName(b []byte) string {
	switch string(b) {
	case "lora_sft":
		return "lora_sft"
	case "lora_dpo":
		return "lora_dpo"
	case "full_sft":
		return "full_sft"
	case "full_dpo":
		return "full_dpo"
	}
	return ""
}

// fastReqString returns a required, non-empty string field without escapes and with valid UTF-8.
func fastReqString(s []byte, sp span) ([]byte, bool) {
	if sp.kind != vString || sp.end == sp.off {
		return nil, false
	}
	b := s[sp.off:sp.end]
	if sp.utf8 && !utf8.Valid(b) {
		return nil, false
	}
	return b, true
}

// fastOptString returns an optional string field ("" when absent, null or empty) and its Sym; h is
// the field's hash from t.Prefetch.
func (d *decoder) fastOptString(t *rating.Symbols, s []byte, sp span, h uint64) (string, rating.Sym, bool) {
	switch sp.kind {
	case vAbsent, vNull:
		return "", 0, true
	case vString:
		if sp.end == sp.off {
			return "", 0, true
		}
		b, ok := fastReqString(s, sp)
		if !ok {
			return "", 0, false
		}
		str, sym := d.strHashed(t, b, h)
		return str, sym, true
	}
	return "", 0, false
}

// fastTime returns a required time field in the common form.
func (d *decoder) fastTime(s []byte, sp span) (time.Time, bool) {
	if sp.kind != vString {
		return time.Time{}, false
	}
	return d.day.parse(s[sp.off:sp.end])
}

// fastInt returns an integer field that is at least min: def when absent or null, false when it is
// anything but a non-negative integer literal that fits in int64.
func fastInt(s []byte, sp span, min, def int64) (int64, bool) {
	switch sp.kind {
	case vAbsent, vNull:
		return def, true
	case vInt:
	default:
		return 0, false
	}
	b := s[sp.off:sp.end]
	if b[0] == '-' || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		n = n*10 + uint64(c-'0')
	}
	if n > math.MaxInt64 || int64(n) < min {
		return 0, false
	}
	return int64(n), true
}

func skipWS(s []byte, i int) int {
	for i < len(s) {
		if s[i] > ' ' { // every JSON whitespace byte is at most a space: one comparison for the common case
			return i
		}
		switch s[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainStringByte marks the ASCII bytes a JSON string may hold without escaping: everything but the
// quote, the backslash and control characters.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// scanString scans a JSON string whose opening quote is at i-1. It returns the index after the
// closing quote, whether the string has escapes, whether it has bytes outside ASCII (whose UTF-8 the
// caller checks), and false for a malformed string.
func scanString(s []byte, i int) (end int, escaped, nonASCII, ok bool) {
	for {
		i = skipPlain(s, i)
		if i >= len(s) {
			return 0, false, false, false
		}
		switch c := s[i]; {
		case c == '"':
			return i + 1, escaped, nonASCII, true
		case c >= utf8.RuneSelf:
			nonASCII = true
			i++
		case c == '\\':
			escaped = true
			if i+1 >= len(s) {
				return 0, false, false, false
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s) {
					return 0, false, false, false
				}
				for _, c := range s[i+2 : i+6] {
					if !isHex(c) {
						return 0, false, false, false
					}
				}
				i += 6
			default:
				return 0, false, false, false
			}
		default: // a control character
			return 0, false, false, false
		}
	}
}

// skipPlain returns the index of the first byte at or after i that is not a plain ASCII string byte
// (see plainStringByte) — the closing quote, a backslash, a control character or a byte outside ASCII —
// or len(s): eight bytes at a time while it can.
func skipPlain(s []byte, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for i+8 <= len(s) {
		x := binary.LittleEndian.Uint64(s[i:])
		q := x ^ ('"' * ones)
		b := x ^ ('\\' * ones)
		// A byte's high bit is set where it is zero in q or b, below 0x20 in x, or outside ASCII in x; a
		// borrow can set bits above a true hit, never below one, so the lowest bit set marks the first
		// such byte.
		m := ((q-ones)&^q | (b-ones)&^b | (x-0x20*ones)&^x | x) & highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	for i < len(s) && plainStringByte[s[i]] {
		i++
	}
	return i
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber scans a JSON number at i. It returns the index after it, whether it is an integer
// literal (no fraction, no exponent), and false for a malformed number.
func scanNumber(s []byte, i int) (end int, isInt, ok bool) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i >= len(s) {
		return 0, false, false
	}
	switch {
	case s[i] == '0':
		i++
	case s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return 0, false, false
	}
	isInt = true
	if i < len(s) && s[i] == '.' {
		isInt = false
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return 0, false, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		isInt = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return 0, false, false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	return i, isInt, true
}

// scanValue scans any JSON value at i (no leading whitespace) and returns the index after it and its
// kind; false for a malformed value or nesting deeper than fastMaxDepth.
func scanValue(s []byte, i, depth int) (end int, kind uint8, ok bool) {
	if i >= len(s) {
		return 0, 0, false
	}
	switch c := s[i]; {
	case c == '"':
		end, escaped, _, ok := scanString(s, i+1)
		if escaped {
			return end, vEscaped, ok
		}
		return end, vString, ok
	case c == '-' || isDigit(c):
		end, isInt, ok := scanNumber(s, i)
		if isInt {
			return end, vInt, ok
		}
		return end, vNumber, ok
	case c == 't':
		return literal(s, i, "true", vTrue)
	case c == 'f':
		return literal(s, i, "false", vFalse)
	case c == 'n':
		return literal(s, i, "null", vNull)
	case c == '{' || c == '[':
		if depth >= fastMaxDepth {
			return 0, 0, false
		}
		end, ok := scanComposite(s, i, depth+1)
		return end, vComposite, ok
	}
	return 0, 0, false
}

func literal(s []byte, i int, lit string, kind uint8) (int, uint8, bool) {
	if len(s)-i < len(lit) || string(s[i:i+len(lit)]) != lit {
		return 0, 0, false
	}
	return i + len(lit), kind, true
}

// scanComposite scans an object or array whose opening bracket is at i.
func scanComposite(s []byte, i, depth int) (int, bool) {
	obj := s[i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = skipWS(s, i+1)
	if i < len(s) && s[i] == closer {
		return i + 1, true
	}
	for {
		if obj {
			if i >= len(s) || s[i] != '"' {
				return 0, false
			}
			end, _, _, ok := scanString(s, i+1)
			if !ok {
				return 0, false
			}
			i = skipWS(s, end)
			if i >= len(s) || s[i] != ':' {
				return 0, false
			}
			i = skipWS(s, i+1)
		}
		end, _, ok := scanValue(s, i, depth)
		if !ok {
			return 0, false
		}
		i = skipWS(s, end)
		if i >= len(s) {
			return 0, false
		}
		if s[i] == ',' {
			i = skipWS(s, i+1)
			continue
		}
		if s[i] != closer {
			return 0, false
		}
		return i + 1, true
	}
}
