package rating

import (
	"bytes"
	"errors"
	"maps"
	"math"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

// The keys of the hand-built partials: one of each kind.
var (
	partGPU      = LineKey{Account: "acct_a", Kind: KindGPU, Product: "H100-80GB", Deployment: "dep-1", Meter: MeterGPUSeconds, UnitPrice: "2.5"}
	partInput    = LineKey{Account: "acct_a", Kind: KindServerless, Product: "m-small", Meter: MeterInput, UnitPrice: "0.2"}
	partTraining = LineKey{Account: "acct_b", Kind: KindFineTuning, Product: "job-1", BaseModel: "llama-3-8b", Meter: MeterTrainingTokens, UnitPrice: "3"}
	partOutput   = LineKey{Account: "acct_c", Kind: KindServerless, Product: "m-small", Meter: MeterOutput, UnitPrice: "0.8"}
)

// handPartial returns a partial of the given lines and counts, its meters given as decimal strings.
func handPartial(t *testing.T, lines map[LineKey]Quantity, c Counts, meters map[Meter]string) *Partial {
	t.Helper()
	p := &Partial{Aggregate: NewAggregate(), Counts: c}
	for k, q := range lines {
		if !p.Aggregate.Add(k, q) {
			t.Fatalf("Add(%v) overflowed", k)
		}
	}
	p.Counts.Meters = make(map[Meter]decimal.Decimal)
	for m, s := range meters {
		p.Counts.Meters[m] = handDec(s)
	}
	return p
}

// handPartials returns three shards' partials of one period: every shard read the same 2 objects
// (1,239 bytes, 10 lines) and took its own events.
func handPartials(t *testing.T) []*Partial {
	read := Counts{Objects: 2, Bytes: 1239, Lines: 10}
	withEvents := func(taken, accepted, duplicates, rejected int64, byCode map[RejectCode]int64) Counts {
		c := read
		c.EventsTaken, c.Accepted, c.Duplicates, c.Rejected, c.RejectsByCode = taken, accepted, duplicates, rejected, byCode
		return c
	}
	return []*Partial{
		// 6 events taken = 4 accepted + 1 duplicate + 1 rejected.
		handPartial(t, map[LineKey]Quantity{partGPU: handQ(0, 600_000_000), partInput: handQ(1200, 0), partTraining: handQ(5000, 0)},
			withEvents(6, 4, 1, 1, map[RejectCode]int64{RejectInvalidJSON: 1}),
			map[Meter]string{MeterGPUSeconds: "0.6", MeterInput: "1200", MeterTrainingTokens: "5000"}),
		// 4 = 3 + 0 + 1.
		handPartial(t, map[LineKey]Quantity{partGPU: handQ(0, 700_000_000), partInput: handQ(800, 0), partOutput: handQ(300, 0)},
			withEvents(4, 3, 0, 1, map[RejectCode]int64{RejectNoPrice: 1}),
			map[Meter]string{MeterGPUSeconds: "0.7", MeterInput: "800", MeterOutput: "300"}),
		// 1 = 1 + 0 + 0; 0.700000001 s, all 9 decimal places.
		handPartial(t, map[LineKey]Quantity{partGPU: handQ(0, 700_000_001)},
			withEvents(1, 1, 0, 0, nil), map[Meter]string{MeterGPUSeconds: "0.700000001"}),
	}
}

// partialGolden is handPartials(t)[0] written, by hand: the header, then its keys sorted by account, then
// kind (gpu before serverless), every field by name; 600,000,000 nanos are "0.6".
const partialGolden = `{"schema":"billrun.partial/v1","counts":{"objects":2,"bytes":1239,"lines":10,"events_taken":6,"accepted":4,"duplicates":1,"rejected":1,"rejects_by_code":{"invalid_json":1},"meters":{"gpu_seconds":"0.6","input_tokens":"1200","training_tokens":"5000"}},"keys":3}
{"account":"acct_a","kind":"gpu","product":"H100-80GB","base_model":"","deployment":"dep-1","meter":"gpu_seconds","unit_price":"2.5","quantity":"0.6"}
{"account":"acct_a","kind":"serverless","product":"m-small","base_model":"","deployment":"","meter":"input_tokens","unit_price":"0.2","quantity":"1200"}
{"account":"acct_b","kind":"fine_tuning","product":"job-1","base_model":"llama-3-8b","deployment":"","meter":"training_tokens","unit_price":"3","quantity":"5000"}
`

// partialText returns p written.
func partialText(t testing.TB, p *Partial) string {
	t.Helper()
	var b bytes.Buffer
	n, err := p.WriteTo(&b)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(b.Len()) {
		t.Errorf("WriteTo = %d, wrote %d bytes", n, b.Len())
	}
	return b.String()
}

// countsEqual compares counts as values: decimals by value, a nil map as an empty one.
func countsEqual(a, b Counts) bool {
	return a.Objects == b.Objects && a.Bytes == b.Bytes && a.Lines == b.Lines && a.EventsTaken == b.EventsTaken &&
		a.Accepted == b.Accepted && a.Duplicates == b.Duplicates && a.Rejected == b.Rejected &&
		maps.Equal(a.RejectsByCode, b.RejectsByCode) &&
		maps.EqualFunc(a.Meters, b.Meters, decimal.Decimal.Equal)
}

func TestPartialGolden(t *testing.T) {
	if got := partialText(t, handPartials(t)[0]); got != partialGolden {
		t.Errorf("WriteTo =\n%s\nwant\n%s", got, partialGolden)
	}
}

// TestPartialRoundTrip: what WriteTo writes, ReadPartial reads as the same lines and counts, and writes
// again to the same bytes.
func TestPartialRoundTrip(t *testing.T) {
	for i, p := range append(handPartials(t), NewPartial()) {
		text := partialText(t, p)
		got, err := ReadPartial(strings.NewReader(text))
		if err != nil {
			t.Fatalf("partial %d: ReadPartial: %v", i, err)
		}
		if !maps.Equal(got.Aggregate.LineMap(), p.Aggregate.LineMap()) {
			t.Errorf("partial %d: ReadPartial lines = %v, want %v", i, got.Aggregate.LineMap(), p.Aggregate.LineMap())
		}
		if !countsEqual(got.Counts, p.Counts) {
			t.Errorf("partial %d: ReadPartial counts = %+v, want %+v", i, got.Counts, p.Counts)
		}
		if again := partialText(t, got); again != text {
			t.Errorf("partial %d: written again =\n%s\nwant\n%s", i, again, text)
		}
	}
}

// TestReadPartialNotAsWritten: a line written otherwise than WriteTo writes it — members in another
// order, spaces, escapes — reads as the same partial, and is written as WriteTo writes it.
func TestReadPartialNotAsWritten(t *testing.T) {
	text := strings.Replace(partialGolden,
		`{"account":"acct_a","kind":"gpu","product":"H100-80GB","base_model":"","deployment":"dep-1","meter":"gpu_seconds","unit_price":"2.5","quantity":"0.6"}`,
		`{ "quantity": "0.6", "unit_price":"2.5", "meter":"gpu_seconds","deployment":"dep-1","base_model":"","product":"H100-80GB","kind":"gpu","account":"acct_\u0061" }`, 1)
	text = strings.Replace(text, `"meters":{"gpu_seconds":"0.6","input_tokens":"1200"`, `"meters":{"input_tokens":"1200","gpu_seconds":"0.6"`, 1)
	p, err := ReadPartial(strings.NewReader(text))
	if err != nil {
		t.Fatalf("ReadPartial: %v", err)
	}
	if got := partialText(t, p); got != partialGolden {
		t.Errorf("written =\n%s\nwant\n%s", got, partialGolden)
	}
}

// TestPartialMerge: the partials read back and merged hold the lines of MergeAll over the aggregates
// written, and the counts of the shards summed, whatever the order of the merges.
func TestPartialMerge(t *testing.T) {
	// Worked by hand: acct_a's GPU line 0.6 + 0.7 + 0.700000001 = 2.000000001 s (nanos carried twice),
	// its input 1200 + 800 = 2000; events taken 6 + 4 + 1 = 11 = accepted (4 + 3 + 1 = 8) + duplicates 1 +
	// rejected (1 + 1 = 2). Objects, bytes and lines are each shard's, not summed.
	wantLines := map[LineKey]Quantity{partGPU: handQ(2, 1), partInput: handQ(2000, 0), partTraining: handQ(5000, 0),
		partOutput: handQ(300, 0)}
	want := Counts{Objects: 2, Bytes: 1239, Lines: 10, EventsTaken: 11, Accepted: 8, Duplicates: 1, Rejected: 2,
		RejectsByCode: map[RejectCode]int64{RejectInvalidJSON: 1, RejectNoPrice: 1},
		Meters: map[Meter]decimal.Decimal{MeterGPUSeconds: handDec("2.000000001"), MeterInput: handDec("2000"),
			MeterTrainingTokens: handDec("5000"), MeterOutput: handDec("300")}}

	originals := handPartials(t)
	aggs := make([]*Aggregate, len(originals))
	for i, p := range originals {
		aggs[i] = p.Aggregate
	}
	all, ok := MergeAll(aggs, 2)
	if !ok {
		t.Fatal("MergeAll overflowed")
	}
	if !maps.Equal(all.LineMap(), wantLines) {
		t.Fatalf("MergeAll = %v, want %v", all.LineMap(), wantLines)
	}
	var texts []string
	for _, order := range [][]int{{0, 1, 2}, {2, 0, 1}} {
		merged := NewPartial()
		for _, i := range order {
			p, err := ReadPartial(strings.NewReader(partialText(t, handPartials(t)[i])))
			if err != nil {
				t.Fatalf("ReadPartial: %v", err)
			}
			if err := merged.Merge(p); err != nil {
				t.Fatalf("order %v: Merge: %v", order, err)
			}
		}
		if got := merged.Aggregate.LineMap(); !maps.Equal(got, all.LineMap()) {
			t.Errorf("order %v: merged lines = %v, want %v", order, got, all.LineMap())
		}
		if !countsEqual(merged.Counts, want) {
			t.Errorf("order %v: merged counts = %+v, want %+v", order, merged.Counts, want)
		}
		texts = append(texts, partialText(t, merged))
	}
	if texts[0] != texts[1] {
		t.Errorf("merged in another order, written =\n%s\nwant\n%s", texts[1], texts[0])
	}
}

// TestPartialMergeRefuses: Merge refuses partials that did not read the same objects and sums that
// overflow, and changes nothing then.
func TestPartialMergeRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(o *Partial)
		want   error
	}{
		{"objects differ", func(o *Partial) { o.Counts.Objects = 3 }, errReadMismatch},
		{"bytes differ", func(o *Partial) { o.Counts.Bytes = 1240 }, errReadMismatch},
		// acct_a's input: 1200 + (2^63 − 1 − 1199) is 2^63.
		{"a line overflows", func(o *Partial) {
			o.Aggregate = NewAggregate()
			o.Aggregate.Add(partInput, handQ(math.MaxInt64-1199, 0))
		}, errOverflow},
		// GPU: 0.6 + (2^63 − 1).4 is 2^63: the carry overflows.
		{"a carry overflows", func(o *Partial) {
			o.Aggregate = NewAggregate()
			o.Aggregate.Add(partGPU, handQ(math.MaxInt64, 400_000_000))
		}, errOverflow},
		{"a count overflows", func(o *Partial) { o.Counts.Accepted = math.MaxInt64 }, errOverflow},
		{"a reject code overflows", func(o *Partial) { o.Counts.RejectsByCode[RejectInvalidJSON] = math.MaxInt64 }, errOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts := handPartials(t)
			p, o := parts[0], parts[1]
			tc.change(o)
			before := partialText(t, p)
			err := p.Merge(o)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Merge = %v, want %v", err, tc.want)
			}
			if after := partialText(t, p); after != before {
				t.Errorf("a refused Merge changed the partial to\n%s", after)
			}
		})
	}
}

// TestPartialValidate: WriteTo refuses, writing nothing, a partial ReadPartial would refuse.
func TestPartialValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(p *Partial)
		want   error
	}{
		{"meters are not the lines' totals", func(p *Partial) { p.Counts.Meters[MeterGPUSeconds] = handDec("0.7") }, errInconsistent},
		{"a meter missing", func(p *Partial) { delete(p.Counts.Meters, MeterInput) }, errMissingField},
		{"negative quantity", func(p *Partial) { p.Aggregate.Add(partOutput, handQ(-1, 0)) }, errNegative},
		{"a fraction of a token", func(p *Partial) { p.Aggregate.Add(partOutput, handQ(0, 5)) }, errInvalidValue},
		{"an account not UTF-8", func(p *Partial) {
			k := partOutput
			k.Account = "acct_\xff"
			p.Aggregate.Add(k, handQ(0, 0))
		}, errInvalidValue},
		{"a unit price written otherwise", func(p *Partial) {
			k := partOutput
			k.UnitPrice = "0.80"
			p.Aggregate.Add(k, handQ(0, 0))
		}, errInvalidValue},
		{"rejects do not add up", func(p *Partial) { p.Counts.RejectsByCode[RejectNoPrice] = 1 }, errInconsistent},
		{"a negative count", func(p *Partial) { p.Counts.Duplicates = -1; p.Counts.EventsTaken = 4 }, errNegative},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := handPartials(t)[0]
			tc.change(p)
			var b bytes.Buffer
			n, err := p.WriteTo(&b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("WriteTo = %v, want %v", err, tc.want)
			}
			if n != 0 || b.Len() != 0 {
				t.Errorf("WriteTo wrote %d bytes of a partial it refused", b.Len())
			}
		})
	}
}

// TestReadPartialRefuses changes the golden partial in one place per case and checks the line, the
// field and the reason of the error.
func TestReadPartialRefuses(t *testing.T) {
	lines := strings.SplitAfter(partialGolden, "\n")[:4] // header, gpu, input, training
	tests := []struct {
		name      string
		old, new  string // replaced once in the golden partial; old "" gives new as the whole input
		wantLine  int
		wantField string
		want      error
	}{
		{"empty", "", "", 1, "", errMalformed},
		{"another schema version", "billrun.partial/v1", "billrun.partial/v2", 1, "schema", ErrPartialSchema},
		{"no schema", `"schema":"billrun.partial/v1",`, ``, 1, "schema", errMissingField},
		{"unknown header field", `"keys":3}`, `"keys":3,"shard":0}`, 1, "shard", errUnknownField},
		{"unknown count", `"objects":2,`, `"objects":2,"retries":0,`, 1, "counts.retries", errUnknownField},
		{"missing count", `"accepted":4,`, ``, 1, "counts.accepted", errMissingField},
		{"missing keys", `,"keys":3}`, `}`, 1, "keys", errMissingField},
		{"negative count", `"bytes":1239`, `"bytes":-1239`, 1, "counts.bytes", errNegative},
		{"count as a string", `"bytes":1239`, `"bytes":"1239"`, 1, "counts.bytes", errMalformed},
		{"count with an exponent", `"bytes":1239`, `"bytes":1.239e3`, 1, "counts.bytes", errMalformed},
		{"count overflows", `"bytes":1239`, `"bytes":9223372036854775808`, 1, "counts.bytes", errOverflow},
		{"header member twice", `"lines":10,`, `"lines":10,"lines":10,`, 1, "counts.lines", errMalformed},
		// 4 + 1 + 1 = 6, not 7.
		{"events taken disagree", `"events_taken":6`, `"events_taken":7`, 1, "counts.events_taken", errInconsistent},
		// (2^63 − 1) + 1 + 1 overflows before it is compared with events_taken.
		{"events taken overflow", `"accepted":4`, `"accepted":9223372036854775807`, 1, "counts.events_taken", errOverflow},
		// rejected 1, rejects_by_code 1 + 1.
		{"rejects disagree", `{"invalid_json":1}`, `{"invalid_json":1,"no_price":1}`, 1, "counts.rejected", errInconsistent},
		{"rejects overflow", `{"invalid_json":1}`, `{"invalid_json":9223372036854775807,"no_price":1}`, 1, "counts.rejected", errOverflow},
		{"unknown reject code", `"invalid_json":1`, `"bad_vibes":1`, 1, "counts.rejects_by_code.bad_vibes", errInvalidValue},
		{"reject code that did not occur", `"invalid_json":1}`, `"invalid_json":1,"no_price":0}`, 1, "counts.rejects_by_code.no_price", errInvalidValue},
		{"unknown meter", `"gpu_seconds":"0.6",`, `"gpu_seconds":"0.6","gpu_minutes":"0",`, 1, "counts.meters.gpu_minutes", errInvalidValue},
		{"meter total malformed", `"gpu_seconds":"0.6"`, `"gpu_seconds":0.6`, 1, "counts.meters.gpu_seconds", errMalformed},
		// The keys' GPU-seconds total 0.6.
		{"meter total disagrees", `"gpu_seconds":"0.6"`, `"gpu_seconds":"0.5"`, 1, "counts.meters.gpu_seconds", errInconsistent},
		{"meter total missing", `"gpu_seconds":"0.6",`, ``, 1, "counts.meters.gpu_seconds", errMissingField},
		{"fewer keys than announced", lines[3], ``, 1, "keys", errInconsistent},
		{"cut short", lines[3], strings.TrimSuffix(lines[3], "\n"), 4, "", errMalformed},
		{"cut mid-line", lines[3], lines[3][:40], 4, "", errMalformed},
		{"not JSON", lines[2], "hello\n", 3, "", errMalformed},
		{"not UTF-8", `"acct_b"`, "\"acct_\xff\"", 4, "", errMalformed},
		{"half a surrogate pair", `"acct_b"`, `"acct_\ud800"`, 4, "account", errMalformed},
		{"a low surrogate alone", `"acct_b"`, `"acct_\udc00b"`, 4, "account", errMalformed},
		{"unknown key field", `"quantity":"0.6"}`, `"quantity":"0.6","region":"eu"}`, 2, "region", errUnknownField},
		{"missing key field", `"base_model":"","deployment":"dep-1"`, `"deployment":"dep-1"`, 2, "base_model", errMissingField},
		{"missing quantity", `,"quantity":"0.6"}`, `}`, 2, "quantity", errMissingField},
		{"key field twice", `"kind":"gpu"`, `"kind":"gpu","kind":"gpu"`, 2, "kind", errMalformed},
		{"key field not a string", `"product":"H100-80GB"`, `"product":null`, 2, "product", errMalformed},
		{"unknown kind", `"kind":"gpu"`, `"kind":"tpu"`, 2, "kind", errInvalidValue},
		{"unknown meter of a key", `"meter":"gpu_seconds"`, `"meter":"gpu_minutes"`, 2, "meter", errInvalidValue},
		{"empty product", `"product":"H100-80GB"`, `"product":""`, 2, "product", errInvalidValue},
		{"unit price written otherwise", `"unit_price":"2.5"`, `"unit_price":"2.50"`, 2, "unit_price", errInvalidValue},
		{"quantity as a number", `"quantity":"0.6"`, `"quantity":0.6`, 2, "quantity", errMalformed},
		{"quantity with a trailing zero", `"quantity":"0.6"`, `"quantity":"0.60"`, 2, "quantity", errMalformed},
		{"quantity with 10 places", `"quantity":"0.6"`, `"quantity":"0.6000000001"`, 2, "quantity", errMalformed},
		{"quantity with an exponent", `"quantity":"0.6"`, `"quantity":"6e-1"`, 2, "quantity", errMalformed},
		{"quantity without whole digits", `"quantity":"0.6"`, `"quantity":".6"`, 2, "quantity", errMalformed},
		{"quantity ending in a point", `"quantity":"0.6"`, `"quantity":"1."`, 2, "quantity", errMalformed},
		{"quantity with a leading zero", `"quantity":"0.6"`, `"quantity":"00.6"`, 2, "quantity", errMalformed},
		{"quantity with a plus", `"quantity":"0.6"`, `"quantity":"+0.6"`, 2, "quantity", errMalformed},
		{"quantity empty", `"quantity":"0.6"`, `"quantity":""`, 2, "quantity", errMalformed},
		{"negative quantity", `"quantity":"0.6"`, `"quantity":"-0.6"`, 2, "quantity", errNegative},
		// 2^63 tokens, one more than a quantity holds.
		{"quantity overflows", `"quantity":"1200"`, `"quantity":"9223372036854775808"`, 3, "quantity", errOverflow},
		{"quantity of 20 digits", `"quantity":"1200"`, `"quantity":"12000000000000000000000"`, 3, "quantity", errOverflow},
		{"a fraction of a token", `"quantity":"1200"`, `"quantity":"1200.5"`, 3, "quantity", errInvalidValue},
		{"duplicate key", "", lines[0] + lines[1] + lines[1] + lines[3], 3, "", errDuplicateKey},
		{"keys out of order", "", lines[0] + lines[2] + lines[1] + lines[3], 3, "", errOutOfOrder},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := tc.new
			if tc.old != "" {
				if !strings.Contains(partialGolden, tc.old) {
					t.Fatalf("the golden partial has no %q", tc.old)
				}
				text = strings.Replace(partialGolden, tc.old, tc.new, 1)
			}
			_, err := ReadPartial(strings.NewReader(text))
			pe, ok := errors.AsType[*PartialError](err)
			if !ok {
				t.Fatalf("ReadPartial = %v, want a *PartialError", err)
			}
			if pe.Line != tc.wantLine || pe.Field != tc.wantField || !errors.Is(err, tc.want) {
				t.Errorf("ReadPartial = %v (line %d, field %q), want line %d, field %q, %v",
					err, pe.Line, pe.Field, tc.wantLine, tc.wantField, tc.want)
			}
		})
	}
}

// FuzzReadPartial: ReadPartial never panics, refuses with a *PartialError, and what it accepts it writes
// to bytes that it reads as the same partial and that are written again unchanged.
func FuzzReadPartial(f *testing.F) {
	f.Add([]byte(partialGolden))
	f.Add([]byte(strings.Replace(partialGolden, `"acct_b"`, `"acct_\u00e9\ud83d\ude00"`, 1)))
	f.Add([]byte(strings.Replace(partialGolden, `"0.6"`, `"0.000000001"`, 2)))
	f.Add([]byte(`{"schema":"billrun.partial/v1","counts":{"objects":0,"bytes":0,"lines":0,"events_taken":0,"accepted":0,"duplicates":0,"rejected":0,"rejects_by_code":{},"meters":{}},"keys":0}` + "\n"))
	f.Add([]byte(`{"schema":"billrun.partial/v2"}` + "\n"))
	f.Fuzz(checkPartialRoundTrip)
}

// FuzzReadPartialFields fuzzes the values of a well-formed partial, where random bytes rarely reach: an
// account (as JSON string text, escapes included), the GPU line's quantity and the header's total of it.
func FuzzReadPartialFields(f *testing.F) {
	f.Add(`"acct_b"`, `"0.6"`, `"0.6"`)
	f.Add(`"acct_\u0062"`, `"9223372036854775807.999999999"`, `"9223372036854775807.999999999"`)
	f.Add(`"acct_\ud800\udc00"`, `"0.000000001"`, `"0.000000001"`)
	f.Add(`"acct_\\ud800"`, `"1"`, `"1.0"`)
	f.Fuzz(func(t *testing.T, account, quantity, total string) {
		text := strings.Replace(partialGolden, `"acct_b"`, account, 1)
		text = strings.Replace(text, `"quantity":"0.6"`, `"quantity":`+quantity, 1)
		text = strings.Replace(text, `"gpu_seconds":"0.6"`, `"gpu_seconds":`+total, 1)
		checkPartialRoundTrip(t, []byte(text))
	})
}

// checkPartialRoundTrip fails when ReadPartial refuses data with another error than a *PartialError, or
// accepts it and what it read does not survive a write and a read.
func checkPartialRoundTrip(t *testing.T, data []byte) {
	p, err := ReadPartial(bytes.NewReader(data))
	if err != nil {
		if _, ok := errors.AsType[*PartialError](err); !ok {
			t.Fatalf("ReadPartial = %v, want a *PartialError", err)
		}
		return
	}
	text := partialText(t, p)
	q, err := ReadPartial(strings.NewReader(text))
	if err != nil {
		t.Fatalf("ReadPartial of what it accepted, written: %v\n%s", err, text)
	}
	if !maps.Equal(q.Aggregate.LineMap(), p.Aggregate.LineMap()) || !countsEqual(q.Counts, p.Counts) {
		t.Fatalf("read back differently:\n%s", text)
	}
	if again := partialText(t, q); again != text {
		t.Fatalf("written again =\n%s\nwant\n%s", again, text)
	}
}
