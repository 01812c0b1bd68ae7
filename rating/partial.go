package rating

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// PartialSchema names the version of the text form of a Partial. A change to the form that an older
// reader would misread gets a new version; ReadPartial refuses any other.
const PartialSchema = "billrun.partial/v1"

// Partial is the result of rating one shard of a period (DESIGN §12): shard i of N reads every object
// and keeps the events whose id hashes to i, and a final step merges the shards' partials and issues.
//
// A partial holds the shard's aggregate and the counts of its read, and nothing else a merge would have
// to do more than add. Every event id, and so every copy of it, falls in one shard, so the aggregate's
// lines and the counts of events — EventsTaken, Accepted, Duplicates, Rejected, RejectsByCode and
// Meters — are plain sums across shards. Objects, Bytes and Lines are not: every shard reads every
// object, so they are the same in each, and Merge checks that they agree instead of adding them
// (shards that disagree did not read the same objects). The rejects are a list to concatenate and sort,
// and the manifest, with its lines in scope per object, is the same list in every shard: the final step
// takes both from the shards' own outputs, so neither is here.
//
// Counts.Meters must be the aggregate's MeterTotals, as a read's are.
type Partial struct {
	Aggregate *Aggregate
	Counts    Counts
}

// NewPartial returns an empty partial, to merge shards into.
func NewPartial() *Partial {
	return &Partial{Aggregate: NewAggregate(),
		Counts: Counts{RejectsByCode: make(map[RejectCode]int64), Meters: make(map[Meter]decimal.Decimal)}}
}

// The reasons ReadPartial refuses a partial, wrapped in its PartialError, and Validate and Merge refuse
// one; errors.Is tells them apart.
var (
	ErrPartialSchema = errors.New("unknown schema")
	errMissingField  = errors.New("missing")
	errUnknownField  = errors.New("unknown field")
	errMalformed     = errors.New("malformed")
	errInvalidValue  = errors.New("invalid value")
	errNegative      = errors.New("negative")
	errOverflow      = errors.New("overflows 64 bits")
	errDuplicateKey  = errors.New("duplicate key")
	errOutOfOrder    = errors.New("key out of order")
	errInconsistent  = errors.New("inconsistent")
	errReadMismatch  = errors.New("the partials did not read the same objects")
)

// PartialError is the error ReadPartial returns for a partial it refuses: the line at fault (1 is the
// header) and the field, by its name in the form ("counts.accepted", "quantity"; empty when the line as a
// whole is at fault).
type PartialError struct {
	Line  int
	Field string
	Err   error
}

func (e *PartialError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("partial: line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("partial: line %d: %s: %v", e.Line, e.Field, e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// fieldError is an error about one field of a partial, before ReadPartial knows its line.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }

func (e *fieldError) Unwrap() error { return e.err }

func errField(field string, err error) error { return &fieldError{field: field, err: err} }

// atLine returns err, a *fieldError, as the PartialError of line n.
func atLine(n int, err error) error {
	if fe, ok := errors.AsType[*fieldError](err); ok {
		return &PartialError{Line: n, Field: fe.field, Err: fe.err}
	}
	return err
}

// The fields of a partial's header: the counts of Counts, in the order written. The first readCounts
// count what a shard read, the same in every shard; the others its events.
var partialCountFields = []string{"objects", "bytes", "lines", "events_taken", "accepted", "duplicates", "rejected"}

const readCounts = 3

func countFields(c *Counts) []*int64 {
	return []*int64{&c.Objects, &c.Bytes, &c.Lines, &c.EventsTaken, &c.Accepted, &c.Duplicates, &c.Rejected}
}

// maxPartialLineBytes bounds a line ReadPartial reads. A key holds the strings of one usage event, at
// most 16 MiB, and JSON escaping at most doubles them.
const maxPartialLineBytes = 64 << 20

// partialBufferBytes is the buffer WriteTo writes through, and the one ReadPartial starts reading with.
const partialBufferBytes = 64 << 10

// maxTotalDigits bounds the whole digits of a meter's total in a header: 2^63 lines of at most 2^63−1
// each total less than 10^38.
const maxTotalDigits = 38

// WriteTo writes p in its text form, JSON Lines, and returns the number of bytes written. The first
// line is the header:
//
//	{"schema":"billrun.partial/v1","counts":{"objects":2,…,"rejects_by_code":{…},"meters":{…}},"keys":3}
//
// keys is the number of lines that follow, one per line key, every field of the key by name, then its
// quantity:
//
//	{"account":"acct_a","kind":"gpu","product":"H100-80GB","base_model":"","deployment":"dep-1","meter":"gpu_seconds","unit_price":"2.5","quantity":"1.3"}
//
// Quantities and meter totals are decimal strings, never JSON numbers: whole units, and GPU-seconds
// with up to 9 decimal places, no trailing zeros. Keys are sorted by account, kind, product, base
// model, deployment, meter and unit price, byte by byte, reject codes and meters by name, so a partial
// has one text: partials can be compared or hashed as files. Reject codes that did not occur are left
// out. It returns Validate's error, writing nothing, for a partial that ReadPartial would refuse.
func (p *Partial) WriteTo(w io.Writer) (int64, error) {
	if err := p.Validate(); err != nil {
		return 0, err
	}
	a := p.Aggregate // Validate folded it
	accounts := slices.Sorted(maps.Keys(a.accts))
	keys := 0
	for _, m := range a.accts {
		keys += len(m)
	}
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, partialBufferBytes)
	line := appendHeader(nil, &p.Counts, keys)
	bw.Write(line) // a bufio.Writer keeps its first error, which Flush returns
	for _, acct := range accounts {
		m := a.accts[acct]
		for _, k := range sortedKeys(m) {
			line = appendKeyLine(line[:0], &k, m[k])
			bw.Write(line)
		}
	}
	err := bw.Flush()
	return cw.n, err
}

// countingWriter counts the bytes its writer took, for WriteTo's result.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func appendHeader(dst []byte, c *Counts, keys int) []byte {
	dst = append(dst, `{"schema":`...)
	dst = appendJSONString(dst, PartialSchema)
	dst = append(dst, `,"counts":{`...)
	for i, n := range countFields(c) {
		dst = append(dst, `"`+partialCountFields[i]+`":`...)
		dst = strconv.AppendInt(dst, *n, 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"rejects_by_code":{`...)
	sep := ""
	for _, code := range slices.Sorted(maps.Keys(c.RejectsByCode)) {
		if n := c.RejectsByCode[code]; n > 0 {
			dst = appendJSONString(append(dst, sep...), string(code))
			dst = strconv.AppendInt(append(dst, ':'), n, 10)
			sep = ","
		}
	}
	dst = append(dst, `},"meters":{`...)
	for i, m := range slices.Sorted(maps.Keys(c.Meters)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, string(m))
		dst = append(AppendQuantity(append(dst, `:"`...), c.Meters[m]), '"')
	}
	dst = append(dst, `}},"keys":`...)
	return append(strconv.AppendInt(dst, int64(keys), 10), "}\n"...)
}

// The fields of a key line, in the order written.
var keyLineFields = []string{"account", "kind", "product", "base_model", "deployment", "meter", "unit_price", "quantity"}

// keyFields returns the string fields of k in the order of keyLineFields.
func keyFields(k *LineKey) []*string {
	return []*string{&k.Account, (*string)(&k.Kind), &k.Product, &k.BaseModel, &k.Deployment, (*string)(&k.Meter), &k.UnitPrice}
}

func appendKeyLine(dst []byte, k *LineKey, q Quantity) []byte {
	dst = append(dst, '{')
	for i, s := range keyFields(k) {
		dst = append(dst, `"`+keyLineFields[i]+`":`...)
		dst = append(appendJSONString(dst, *s), ',')
	}
	dst = append(dst, `"quantity":"`...)
	return append(AppendQuantity(dst, q.Decimal()), "\"}\n"...)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals; Validate has checked it is UTF-8
	return append(dst, b...)
}

// comparePartialKeys orders keys as a partial lists them (not an invoice's order, compareLineKeys): field by field, byte by byte.
func comparePartialKeys(a, b *LineKey) int {
	fa, fb := keyFields(a), keyFields(b)
	for i := range fa {
		if c := strings.Compare(*fa[i], *fb[i]); c != 0 {
			return c
		}
	}
	return 0
}

// sortedKeys returns the keys of m in comparePartialKeys order.
func sortedKeys(m map[LineKey]Quantity) []LineKey {
	return slices.SortedFunc(maps.Keys(m), func(a, b LineKey) int { return comparePartialKeys(&a, &b) })
}

// Validate returns an error, naming the field at fault, when p cannot be written as it is: a nil
// aggregate or one whose sums overflowed, a line key with a kind or meter of no usage, an empty account
// or product, a string that is not UTF-8 (JSON would change it), a unit price that is not a canonical
// non-negative decimal, a fraction on a meter other than GPU-seconds, a negative quantity or count, a
// reject code billrun does not know, or counts that disagree with each other or with the lines.
// ReadPartial refuses the same, so what WriteTo writes ReadPartial reads.
func (p *Partial) Validate() error {
	if p.Aggregate == nil {
		return errors.New("partial: no aggregate")
	}
	a := p.Aggregate
	a.fold()
	if a.overflow {
		return fmt.Errorf("partial: a line's sum %w", errOverflow)
	}
	for _, m := range a.accts {
		for k, q := range m {
			if err := checkKey(&k, q); err != nil {
				return fmt.Errorf("partial: key %s: %w", keyText(&k), err)
			}
		}
	}
	if err := checkCounts(&p.Counts); err != nil {
		return fmt.Errorf("partial: %w", err)
	}
	if err := checkMeters(p.Counts.Meters, a.MeterTotals()); err != nil {
		return fmt.Errorf("partial: %w", err)
	}
	return nil
}

// keyText spells out k for an error.
func keyText(k *LineKey) string {
	return fmt.Sprintf("(%q, %s, %q, %q, %q, %s, %q)", k.Account, k.Kind, k.Product, k.BaseModel, k.Deployment, k.Meter, k.UnitPrice)
}

// usageKinds and usageMeters are the kinds and meters a line key of usage can have.
var (
	usageKinds  = []Kind{KindServerless, KindGPU, KindFineTuning}
	usageMeters = meterByIndex[:]
)

// checkKey returns a *PartialError naming the field when k and q are not a line of usage as Validate
// describes.
func checkKey(k *LineKey, q Quantity) error {
	for i, s := range keyFields(k) {
		if !utf8.ValidString(*s) {
			return errField(keyLineFields[i], fmt.Errorf("%w: not UTF-8", errInvalidValue))
		}
	}
	switch {
	case k.Account == "":
		return errField("account", fmt.Errorf("%w: empty", errInvalidValue))
	case !slices.Contains(usageKinds, k.Kind):
		return errField("kind", fmt.Errorf("%w: %q, want serverless, gpu or fine_tuning", errInvalidValue, k.Kind))
	case k.Product == "":
		return errField("product", fmt.Errorf("%w: empty", errInvalidValue))
	case !slices.Contains(usageMeters, k.Meter):
		return errField("meter", fmt.Errorf("%w: %q is no meter of usage", errInvalidValue, k.Meter))
	}
	if d, err := decimal.NewFromString(k.UnitPrice); err != nil || d.IsNegative() || d.String() != k.UnitPrice {
		return errField("unit_price", fmt.Errorf("%w: %q, want a non-negative decimal as billrun writes it, like \"0.2\"",
			errInvalidValue, k.UnitPrice))
	}
	switch {
	case q.Units < 0 || q.Nanos < 0:
		return errField("quantity", errNegative)
	case q.Nanos >= nanosPerSecond:
		return errField("quantity", fmt.Errorf("%w: %d nanos", errInvalidValue, q.Nanos))
	case q.Nanos != 0 && k.Meter != MeterGPUSeconds:
		return errField("quantity", fmt.Errorf("%w: a fraction of %s; only gpu_seconds has one", errInvalidValue, k.Meter))
	}
	return nil
}

// checkCounts returns a *PartialError naming the field when c has a negative count, an unknown or
// negative reject code, or counts that disagree: EventsTaken is Accepted + Duplicates + Rejected, and
// Rejected the sum of RejectsByCode.
func checkCounts(c *Counts) error {
	for i, n := range countFields(c) {
		if *n < 0 {
			return errField("counts."+partialCountFields[i], errNegative)
		}
	}
	var rejected int64
	for code, n := range c.RejectsByCode {
		field := "counts.rejects_by_code." + string(code)
		if !slices.Contains(RejectCodes, code) {
			return errField(field, fmt.Errorf("%w: no reject code", errInvalidValue))
		}
		if n < 0 {
			return errField(field, errNegative)
		}
		var ok bool
		if rejected, ok = addCount(rejected, n); !ok {
			return errField("counts.rejected", fmt.Errorf("the sum of rejects_by_code %w", errOverflow))
		}
	}
	if rejected != c.Rejected {
		return errField("counts.rejected", fmt.Errorf("%w: %d, rejects_by_code sum to %d", errInconsistent, c.Rejected, rejected))
	}
	taken, ok1 := addCount(c.Accepted, c.Duplicates)
	taken, ok2 := addCount(taken, c.Rejected)
	if !ok1 || !ok2 {
		return errField("counts.events_taken", fmt.Errorf("accepted + duplicates + rejected %w", errOverflow))
	}
	if taken != c.EventsTaken {
		return errField("counts.events_taken", fmt.Errorf("%w: %d, accepted + duplicates + rejected = %d",
			errInconsistent, c.EventsTaken, taken))
	}
	return nil
}

// addCount returns a+b, both non-negative, and false when the sum overflows.
func addCount(a, b int64) (int64, bool) {
	if b > math.MaxInt64-a {
		return 0, false
	}
	return a + b, true
}

// checkMeters returns a *PartialError naming the meter when meters, a partial's Counts.Meters, are not
// totals, its lines' MeterTotals.
func checkMeters(meters, totals map[Meter]decimal.Decimal) error {
	for _, m := range slices.Sorted(maps.Keys(meters)) {
		if t, ok := totals[m]; !ok || !t.Equal(meters[m]) {
			return errField("counts.meters."+string(m), fmt.Errorf("%w: %s, but the keys total %s", errInconsistent, meters[m], t))
		}
	}
	for _, m := range slices.Sorted(maps.Keys(totals)) {
		if _, ok := meters[m]; !ok {
			return errField("counts.meters."+string(m), fmt.Errorf("%w: the keys total %s", errMissingField, totals[m]))
		}
	}
	return nil
}

// ReadPartial reads a partial in the text form WriteTo writes. It is strict, since a partial is one
// shard's share of invoices: it returns a *PartialError naming the line and field for an unknown schema
// (wrapping ErrPartialSchema), a field unknown, missing or given twice, a string that is not UTF-8, a
// count or quantity that is not written as WriteTo writes it (a JSON number for a quantity, "1.50",
// "1e3", more than 9 decimal places), negative or beyond 2^63−1, keys out of order or given twice,
// counts that disagree (see Validate) or a header whose keys and meter totals are not those of the
// lines that follow, and a last line without its newline (a file cut short). Members of an object may
// come in any order. Errors from r are returned as they are.
func ReadPartial(r io.Reader) (*Partial, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, partialBufferBytes), maxPartialLineBytes)
	sc.Split(scanTerminatedLines)
	n := 1
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, scanError(n, err)
		}
		return nil, &PartialError{Line: 1, Err: fmt.Errorf("%w: empty, want a header", errMalformed)}
	}
	p, keys, err := readHeader(sc.Bytes())
	if err != nil {
		return nil, atLine(n, err)
	}
	var prev LineKey
	for sc.Scan() {
		n++
		k, q, err := readKeyLine(sc.Bytes())
		if err != nil {
			return nil, atLine(n, err)
		}
		if n > 2 {
			switch c := comparePartialKeys(&prev, &k); {
			case c == 0:
				return nil, &PartialError{Line: n, Err: fmt.Errorf("%w: line %d has it too", errDuplicateKey, n-1)}
			case c > 0:
				return nil, &PartialError{Line: n, Err: fmt.Errorf("%w: it sorts before line %d's", errOutOfOrder, n-1)}
			}
		}
		p.Aggregate.Add(k, q) // keys differ, so nothing is summed
		prev = k
	}
	if err := sc.Err(); err != nil {
		return nil, scanError(n+1, err)
	}
	if got := int64(n - 1); got != keys {
		return nil, &PartialError{Line: 1, Field: "keys", Err: fmt.Errorf("%w: %d, but %d key lines follow", errInconsistent, keys, got)}
	}
	if err := checkMeters(p.Counts.Meters, p.Aggregate.MeterTotals()); err != nil {
		return nil, atLine(1, err)
	}
	return p, nil
}

// errNoNewline ends a scan at a last line without its newline.
var errNoNewline = errors.New("no newline at the end: the partial was cut short")

// scanTerminatedLines is bufio.ScanLines, but the last line too must end with "\n". A "\r" before it
// is kept, and read as the JSON whitespace it is.
func scanTerminatedLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return 0, nil, errNoNewline
	}
	return 0, nil, nil
}

// scanError returns the error of a scan that stopped at line n.
func scanError(n int, err error) error {
	switch {
	case errors.Is(err, errNoNewline):
		return &PartialError{Line: n, Err: fmt.Errorf("%w: %w", errMalformed, err)}
	case errors.Is(err, bufio.ErrTooLong):
		return &PartialError{Line: n, Err: fmt.Errorf("%w: longer than %d MiB", errMalformed, maxPartialLineBytes>>20)}
	}
	return fmt.Errorf("partial: read line %d: %w", n, err)
}

// readHeader returns the partial a header describes, without lines, and the number of keys it announces.
func readHeader(line []byte) (*Partial, int64, error) {
	o, err := parseObject("", line)
	if err != nil {
		return nil, 0, err
	}
	// The schema first: another version may have other fields.
	schema, err := o.str("schema")
	if err != nil {
		return nil, 0, err
	}
	if schema != PartialSchema {
		return nil, 0, errField("schema", fmt.Errorf("%w %q: this billrun reads %s", ErrPartialSchema, schema, PartialSchema))
	}
	if err := o.only("schema", "counts", "keys"); err != nil {
		return nil, 0, err
	}
	co, err := o.object("counts")
	if err != nil {
		return nil, 0, err
	}
	if err := co.only(append(slices.Clone(partialCountFields), "rejects_by_code", "meters")...); err != nil {
		return nil, 0, err
	}
	p := NewPartial()
	c := &p.Counts
	for i, dst := range countFields(c) {
		if *dst, err = co.count(partialCountFields[i]); err != nil {
			return nil, 0, err
		}
	}
	ro, err := co.object("rejects_by_code")
	if err != nil {
		return nil, 0, err
	}
	for _, name := range ro.names {
		n, err := ro.count(name)
		if err != nil {
			return nil, 0, err
		}
		if n == 0 {
			return nil, 0, errField(ro.path+name, fmt.Errorf("%w: 0; a code that did not occur is left out", errInvalidValue))
		}
		c.RejectsByCode[RejectCode(name)] = n
	}
	mo, err := co.object("meters")
	if err != nil {
		return nil, 0, err
	}
	for _, name := range mo.names {
		if !slices.Contains(usageMeters, Meter(name)) {
			return nil, 0, errField(mo.path+name, fmt.Errorf("%w: no meter of usage", errInvalidValue))
		}
		raw, _ := mo.take(name)
		whole, nanos, err := parseQuantity(raw, maxTotalDigits)
		if err != nil {
			return nil, 0, errField(mo.path+name, err)
		}
		c.Meters[Meter(name)] = decimal.RequireFromString(whole).Add(decimal.New(nanos, -9))
	}
	if err := checkCounts(c); err != nil {
		return nil, 0, err
	}
	keys, err := o.count("keys")
	if err != nil {
		return nil, 0, err
	}
	return p, keys, nil
}

// readKeyLine returns the key and quantity of a line after the header.
func readKeyLine(line []byte) (LineKey, Quantity, error) {
	var k LineKey
	o, err := parseObject("", line)
	if err == nil {
		err = o.only(keyLineFields...)
	}
	if err != nil {
		return k, Quantity{}, err
	}
	for i, dst := range keyFields(&k) {
		if *dst, err = o.str(keyLineFields[i]); err != nil {
			return k, Quantity{}, err
		}
	}
	raw, err := o.take("quantity")
	if err != nil {
		return k, Quantity{}, err
	}
	whole, nanos, err := parseQuantity(raw, 19)
	if err != nil {
		return k, Quantity{}, errField("quantity", err)
	}
	units, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return k, Quantity{}, errField("quantity", fmt.Errorf("%s %w", whole, errOverflow))
	}
	q := Quantity{Units: units, Nanos: nanos}
	return k, q, checkKey(&k, q)
}

// parseQuantity returns the whole digits and the nanos of a quantity as WriteTo writes it: a JSON string
// holding 0 or digits without a leading zero, then, when there is a fraction, a point and 1 to 9 digits,
// the last not 0. Whole digits beyond maxWhole are an overflow.
func parseQuantity(raw json.RawMessage, maxWhole int) (string, int64, error) {
	bad := func() (string, int64, error) {
		return "", 0, fmt.Errorf("%w: %s, want a decimal string like \"1.3\": no exponent, no trailing zeros, at most 9 decimal places",
			errMalformed, raw)
	}
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return bad()
	}
	s := string(raw[1 : len(raw)-1])
	if strings.HasPrefix(s, "-") {
		return "", 0, fmt.Errorf("%w: %s", errNegative, raw)
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if !allDigits(whole) || len(whole) > 1 && whole[0] == '0' ||
		hasFrac && (!allDigits(frac) || len(frac) > 9 || frac[len(frac)-1] == '0') {
		return bad()
	}
	if len(whole) > maxWhole {
		return "", 0, fmt.Errorf("%s %w", whole, errOverflow)
	}
	var nanos int64
	if hasFrac {
		nanos, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	return whole, nanos, nil
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}

// jsonObject is a JSON object of a partial, its members by name, taken one by one: a member missing,
// unknown or given twice is an error naming it.
type jsonObject struct {
	path  string   // the object's name and a dot, "counts."; "" for a line's object
	names []string // the members, in the order written
	vals  map[string]json.RawMessage
}

// parseObject returns raw as an object named path.
func parseObject(path string, raw []byte) (*jsonObject, error) {
	malformed := func(what string) error {
		return errField(strings.TrimSuffix(path, "."), fmt.Errorf("%w: %s", errMalformed, what))
	}
	if !utf8.Valid(raw) {
		return nil, malformed("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed("want a JSON object")
	}
	o := &jsonObject{path: path, vals: make(map[string]json.RawMessage)}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed("not JSON")
		}
		name, _ := tok.(string) // a key, or Token had failed
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, malformed("not JSON")
		}
		if _, dup := o.vals[name]; dup {
			return nil, errField(path+name, fmt.Errorf("%w: given twice", errMalformed))
		}
		o.names = append(o.names, name)
		o.vals[name] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, malformed("not JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed("more after the object")
	}
	return o, nil
}

// only returns an error naming the first member of o not in known.
func (o *jsonObject) only(known ...string) error {
	for _, name := range o.names {
		if !slices.Contains(known, name) {
			return errField(o.path+name, errUnknownField)
		}
	}
	return nil
}

// take returns the member name, or an error when it is missing.
func (o *jsonObject) take(name string) (json.RawMessage, error) {
	v, ok := o.vals[name]
	if !ok {
		return nil, errField(o.path+name, errMissingField)
	}
	return v, nil
}

// str returns the member name, a string.
func (o *jsonObject) str(name string) (string, error) {
	raw, err := o.take(name)
	if err != nil {
		return "", err
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", errField(o.path+name, fmt.Errorf("%w: %s, want a string", errMalformed, raw))
	}
	if loneSurrogate(raw) {
		// Decoding turned it into U+FFFD, which could make two keys one.
		return "", errField(o.path+name, fmt.Errorf("%w: %s escapes half a surrogate pair", errMalformed, raw))
	}
	return s, nil
}

// count returns the member name, a whole number from 0 to 2^63−1.
func (o *jsonObject) count(name string) (int64, error) {
	raw, err := o.take(name)
	if err != nil {
		return 0, err
	}
	field := o.path + name
	s := string(raw)
	if strings.HasPrefix(s, "-") {
		return 0, errField(field, fmt.Errorf("%w: %s", errNegative, s))
	}
	if !allDigits(s) || len(s) > 1 && s[0] == '0' {
		return 0, errField(field, fmt.Errorf("%w: %s, want a whole number", errMalformed, s))
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errField(field, fmt.Errorf("%s %w", s, errOverflow))
	}
	return n, nil
}

// object returns the member name, an object.
func (o *jsonObject) object(name string) (*jsonObject, error) {
	raw, err := o.take(name)
	if err != nil {
		return nil, err
	}
	return parseObject(o.path+name+".", raw)
}

// loneSurrogate reports whether the JSON string raw escapes half of a UTF-16 surrogate pair.
func loneSurrogate(raw []byte) bool {
	hex := func(i int) rune {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return -1
		}
		r, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 32)
		if err != nil {
			return -1
		}
		return rune(r)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		r := hex(i)
		if r < 0 || !utf16.IsSurrogate(r) {
			i++ // the escaped character, a backslash maybe
			continue
		}
		if r2 := hex(i + 6); r >= 0xdc00 || utf16.DecodeRune(r, r2) == utf8.RuneError {
			return true
		}
		i += 11
	}
	return false
}

// Merge adds o into p: the lines of their aggregates and their counts of events, Meters included, summed
// exactly. Objects, Bytes and Lines must agree, since every shard reads every object; a partial that
// has read nothing, such as NewPartial's, takes o's. It returns an error, changing nothing, when they
// do not, when a sum overflows (naming the key or count), or when either aggregate already overflowed.
func (p *Partial) Merge(o *Partial) error {
	c, err := mergeCounts(&p.Counts, &o.Counts)
	if err != nil {
		return fmt.Errorf("partial: merge: %w", err)
	}
	pa, oa := p.Aggregate, o.Aggregate
	pa.fold()
	oa.fold()
	if pa.overflow || oa.overflow {
		return fmt.Errorf("partial: merge: a line's sum %w", errOverflow)
	}
	for _, acct := range slices.Sorted(maps.Keys(oa.accts)) {
		om, pm := oa.accts[acct], pa.accts[acct]
		for _, k := range sortedKeys(om) {
			if _, ok := pm[k].add(om[k]); !ok {
				return fmt.Errorf("partial: merge: key %s: %s + %s %w", keyText(&k), pm[k].Decimal(), om[k].Decimal(), errOverflow)
			}
		}
	}
	pa.Merge(oa) // no sum overflows: checked above
	p.Counts = c
	return nil
}

// mergeCounts returns the counts of p and o merged as Merge describes.
func mergeCounts(p, o *Counts) (Counts, error) {
	out := *p
	if p.Objects == 0 && p.Bytes == 0 && p.Lines == 0 {
		out.Objects, out.Bytes, out.Lines = o.Objects, o.Bytes, o.Lines
	}
	pf, of, outf := countFields(p), countFields(o), countFields(&out)
	for i, name := range partialCountFields {
		if i < readCounts {
			if *outf[i] != *of[i] {
				return Counts{}, fmt.Errorf("counts.%s: %d and %d: %w", name, *outf[i], *of[i], errReadMismatch)
			}
			continue
		}
		var ok bool
		if *outf[i], ok = addCount(*pf[i], *of[i]); !ok {
			return Counts{}, fmt.Errorf("counts.%s: %d + %d %w", name, *pf[i], *of[i], errOverflow)
		}
	}
	out.RejectsByCode = maps.Clone(p.RejectsByCode)
	if out.RejectsByCode == nil {
		out.RejectsByCode = make(map[RejectCode]int64)
	}
	for _, code := range slices.Sorted(maps.Keys(o.RejectsByCode)) {
		n, ok := addCount(out.RejectsByCode[code], o.RejectsByCode[code])
		if !ok {
			return Counts{}, fmt.Errorf("counts.rejects_by_code.%s: %d + %d %w", code, out.RejectsByCode[code], o.RejectsByCode[code], errOverflow)
		}
		out.RejectsByCode[code] = n
	}
	out.Meters = maps.Clone(p.Meters)
	if out.Meters == nil {
		out.Meters = make(map[Meter]decimal.Decimal)
	}
	for m, d := range o.Meters {
		out.Meters[m] = out.Meters[m].Add(d)
	}
	return out, nil
}
