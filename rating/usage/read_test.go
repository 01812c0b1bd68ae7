package usage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/shopspring/decimal"

	"billrun/rating"
)

// testPriceBook has two versions: from 2026-01-01 H100-80GB costs 4.00 per GPU-hour, from 2026-09-01
// 8.00. m-small costs 0.20 input / 0.40 output per 1M tokens; m-unknown is not in the catalog.
func testPriceBook(t testing.TB) *rating.PriceBook {
	t.Helper()
	d := decimal.RequireFromString
	version := func(from string, h100 string) rating.Version {
		return rating.Version{
			EffectiveFrom: utc(from),
			Serverless: rating.ServerlessPrices{DefaultCachedInputMultiplier: d("0.5"), BatchMultiplier: d("0.5"),
				Models: map[string]rating.ModelPrice{"m-small": {Input: d("0.20"), Output: d("0.40")}}},
			GPUHour: map[string]decimal.Decimal{"H100-80GB": d(h100)},
			FineTuning: rating.FineTuningPrices{
				Buckets: []rating.FineTuningBucket{{Price: d("0.50")}},
				MethodMultipliers: map[string]decimal.Decimal{"lora_sft": d("1"), "lora_dpo": d("2"),
					"full_sft": d("2"), "full_dpo": d("4")},
			},
		}
	}
	pb := &rating.PriceBook{Currency: "USD",
		Versions: []rating.Version{version("2026-01-01T00:00:00Z", "4.00"), version("2026-09-01T00:00:00Z", "8.00")},
		Models:   map[string]rating.ModelInfo{"m-small": {ParamsB: d("8")}, "base-8b": {ParamsB: d("8")}},
	}
	if err := pb.Validate(); err != nil {
		t.Fatal(err)
	}
	return pb
}

var testAccounts = map[string]bool{"acct_1": true, "acct_2": true}

func octWindow() rating.Window {
	return rating.PeriodWindow(rating.Period{Year: 2026, Month: time.October})
}

// svl and gpul write event lines.
func svl(id, ts, acct string, in, out int64, extra ...string) string {
	return obj(append([]string{fmt.Sprintf(`"id":%q,"ts":%q,"account":%q,"type":"serverless","model":"m-small",`+
		`"input_tokens":%d,"output_tokens":%d`, id, ts, acct, in, out)}, extra...)...)
}

func gpul(id, ts string, count int64, start, end string, extra ...string) string {
	return obj(append([]string{fmt.Sprintf(`"id":%q,"ts":%q,"account":"acct_1","type":"gpu","deployment":"dep-1",`+
		`"gpu_type":"H100-80GB","gpu_count":%d,"start":%q,"end":%q`, id, ts, count, start, end)}, extra...)...)
}

func jsonl(lines ...string) []byte { return []byte(strings.Join(lines, "\n") + "\n") }

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t testing.TB, b []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}

// writeTree writes files (path relative to a new temp dir → content) and returns the dir.
func writeTree(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readTree(t testing.TB, files map[string][]byte, opts Options) (*Result, error) {
	t.Helper()
	src, err := NewLocal(writeTree(t, files))
	if err != nil {
		t.Fatal(err)
	}
	if opts.PriceBook == nil {
		opts.PriceBook = testPriceBook(t)
	}
	if opts.Window == (rating.Window{}) {
		opts.Window = octWindow()
	}
	if opts.Accounts == nil {
		opts.Accounts = testAccounts
	}
	return Read(context.Background(), src, opts)
}

func mustRead(t testing.TB, files map[string][]byte, opts Options) *Result {
	t.Helper()
	res, err := readTree(t, files, opts)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	checkInvariants(t, res)
	return res
}

func checkInvariants(t testing.TB, res *Result) {
	t.Helper()
	c := res.Counts
	if c.EventsTaken != c.Accepted+c.Duplicates+c.Rejected {
		t.Errorf("counts: taken %d != accepted %d + duplicates %d + rejected %d", c.EventsTaken, c.Accepted,
			c.Duplicates, c.Rejected)
	}
	if int64(len(res.Rejects)) != c.Rejected {
		t.Errorf("counts: rejected %d, but %d rejects", c.Rejected, len(res.Rejects))
	}
	var byCode int64
	for _, n := range c.RejectsByCode {
		byCode += n
	}
	if byCode != c.Rejected {
		t.Errorf("counts: rejects by code sum to %d, want %d", byCode, c.Rejected)
	}
	if !slices.IsSortedFunc(res.Rejects, func(a, b rating.Reject) int {
		if a.Object != b.Object {
			return strings.Compare(a.Object, b.Object)
		}
		return int(a.Line - b.Line)
	}) {
		t.Errorf("rejects are not sorted by object and line: %v", res.Rejects)
	}
	for _, r := range res.Rejects {
		if r.Message == "" {
			t.Errorf("reject %+v has no message", r)
		}
	}
}

// lineMap renders an aggregate as "account kind product deployment meter @price" → quantity.
func lineMap(a *rating.Aggregate) map[string]string {
	out := make(map[string]string)
	for k, q := range a.LineMap() {
		key := strings.Join(strings.Fields(fmt.Sprintf("%s %s %s %s %s @%s", k.Account, k.Kind, k.Product, k.Deployment,
			k.Meter, k.UnitPrice)), " ")
		out[key] = q.Decimal().String()
	}
	return out
}

func checkLines(t testing.TB, res *Result, want map[string]string) {
	t.Helper()
	got := lineMap(res.Aggregate)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("line %q = %q, want %q", k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected line %q = %q", k, v)
		}
	}
}

type rejectAt struct {
	object string
	line   int64
	id     string
	code   rating.RejectCode
}

func checkRejects(t testing.TB, res *Result, want []rejectAt) {
	t.Helper()
	var got []rejectAt
	for _, r := range res.Rejects {
		got = append(got, rejectAt{r.Object, r.Line, r.EventID, r.Code})
	}
	if !slices.Equal(got, want) {
		t.Errorf("rejects:\n%s\nwant\n%v", fmtRejects(res.Rejects), want)
	}
}

func fmtRejects(rs []rating.Reject) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  %s:%d %s %s: %s\n", r.Object, r.Line, r.EventID, r.Code, r.Message)
	}
	return b.String()
}

func checkCounts(t testing.TB, res *Result, lines, taken, accepted, dups, rejected int64) {
	t.Helper()
	c := res.Counts
	if c.Lines != lines || c.EventsTaken != taken || c.Accepted != accepted || c.Duplicates != dups || c.Rejected != rejected {
		t.Errorf("counts lines/taken/accepted/duplicates/rejected = %d/%d/%d/%d/%d, want %d/%d/%d/%d/%d",
			c.Lines, c.EventsTaken, c.Accepted, c.Duplicates, c.Rejected, lines, taken, accepted, dups, rejected)
	}
}

func TestReadEveryRejectCode(t *testing.T) {
	const obj = "dt=2026-10-05/a.jsonl"
	files := map[string][]byte{obj: jsonl(
		`not json`, // 1
		`{"id":"m1","ts":"2026-10-05T10:00:00Z","type":"serverless","model":"m-small"}`,       // 2 no account
		svl("v1", "2026-10-05T10:00:00Z", "acct_1", 1, 1, `"input_tokens":"12"`),              // 3
		svl("t1", "2026-10-05T10:00:00Z", "acct_1", 1, 1, `"type":"batch"`),                   // 4
		svl("p1", "2026-10-06T00:00:00Z", "acct_1", 1, 1),                                     // 5 ts on the 6th
		gpul("l1", "2026-10-05T15:30:00Z", 1, "2026-10-05T13:30:00Z", "2026-10-05T14:00:00Z"), // 6 1h30 late
		svl("x1", "2026-10-05T10:00:00Z", "acct_1", 10, 1, `"cached_input_tokens":11`),        // 7
		gpul("s1", "2026-10-05T14:00:00Z", 1, "2026-10-05T14:00:00Z", "2026-10-05T14:00:00Z"), // 8 end = start
		gpul("i1", "2026-10-05T13:05:00Z", 1, "2026-10-05T11:00:00Z", "2026-10-05T13:00:00Z"), // 9 2h
		svl("a1", "2026-10-05T10:00:00Z", "acct_9", 1, 1),                                     // 10
		svl("n1", "2026-10-05T10:00:00Z", "acct_1", 1, 1, `"model":"m-unknown"`),              // 11
		svl("c1", "2026-10-05T10:00:00Z", "acct_1", 5, 5),                                     // 12
		svl("c1", "2026-10-05T10:00:00Z", "acct_1", 5, 6),                                     // 13 differs
		svl("ok", "2026-10-05T10:00:00Z", "acct_1", 1000, 500),                                // 14
		gpul("r1", "2026-10-05T13:30:00Z", 1, "2026-10-05T13:00:00Z", "2026-10-05T14:00:00Z"), // 15 ts < end
	)}
	res := mustRead(t, files, Options{})
	checkRejects(t, res, []rejectAt{
		{obj, 1, "", rating.RejectInvalidJSON},
		{obj, 2, "m1", rating.RejectMissingField},
		{obj, 3, "v1", rating.RejectInvalidValue},
		{obj, 4, "t1", rating.RejectUnknownType},
		{obj, 5, "p1", rating.RejectWrongPartition},
		{obj, 6, "l1", rating.RejectLateReport},
		{obj, 7, "x1", rating.RejectCachedExceedsInput},
		{obj, 8, "s1", rating.RejectEndNotAfterStart},
		{obj, 9, "i1", rating.RejectIntervalTooLong},
		{obj, 10, "a1", rating.RejectUnknownAccount},
		{obj, 11, "n1", rating.RejectNoPrice},
		{obj, 12, "c1", rating.RejectDuplicateConflict},
		{obj, 13, "c1", rating.RejectDuplicateConflict},
		{obj, 15, "r1", rating.RejectInvalidValue},
	})
	checkCounts(t, res, 15, 15, 1, 0, 14)
	for code, n := range map[rating.RejectCode]int64{rating.RejectInvalidValue: 2, rating.RejectDuplicateConflict: 2,
		rating.RejectNoPrice: 1, rating.RejectWrongPartition: 1} {
		if got := res.Counts.RejectsByCode[code]; got != n {
			t.Errorf("rejects by code %s = %d, want %d", code, got, n)
		}
	}
	// Only "ok" is billed: 1000 input and 500 output tokens of m-small.
	checkLines(t, res, map[string]string{
		"acct_1 serverless m-small input_tokens @0.2":  "1000",
		"acct_1 serverless m-small output_tokens @0.4": "500",
	})
	for _, r := range res.Rejects {
		if r.Line == 12 && !strings.Contains(r.Message, obj+" line 13") {
			t.Errorf("conflict message %q does not name the other copy", r.Message)
		}
	}
	if got := res.Counts.Meters[rating.MeterInput]; !got.Equal(decimal.NewFromInt(1000)) {
		t.Errorf("meter input_tokens = %s, want 1000", got)
	}
}

func TestReadBlankLines(t *testing.T) {
	const obj = "dt=2026-10-05/a.jsonl"
	content := "\n   \n" + svl("e1", "2026-10-05T10:00:00Z", "acct_1", 1, 0) + "\n\t \r\n\v\f\n" + "{bad\n" +
		svl("e2", "2026-10-05T10:00:00Z", "acct_1", 1, 0) // the last line has no newline
	res := mustRead(t, map[string][]byte{obj: []byte(content)}, Options{})
	checkRejects(t, res, []rejectAt{{obj, 6, "", rating.RejectInvalidJSON}})
	checkCounts(t, res, 3, 3, 2, 0, 1)
}

// TestReadWarnsWithNoObjects: a read that finds no usage object (a mistyped prefix looks just like
// a month without usage) succeeds with zero counts and warns, naming the source and the partitions;
// one that finds objects does not warn.
func TestReadWarnsWithNoObjects(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string][]byte
		warn  bool
	}{
		{"nothing under dt=", map[string][]byte{"README.md": []byte("not usage")}, true},
		{"an object", map[string][]byte{"dt=2026-10-05/a.jsonl": jsonl(svl("e1", "2026-10-05T10:00:00Z", "acct_1", 1, 0))}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			res, err := readTree(t, c.files, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(logs.String(), "level=WARN msg=\"usage: no usage objects found")
			if warned != c.warn {
				t.Errorf("warned = %v, want %v; logs:\n%s", warned, c.warn, logs.String())
			}
			if c.warn && (!strings.Contains(logs.String(), `from="dt=2026-10-01"`) || !strings.Contains(logs.String(), `to="dt=2026-11-01"`)) {
				t.Errorf("the warning does not name the partitions read:\n%s", logs.String())
			}
			if c.warn && (len(res.Manifest) != 0 || res.Counts.Lines != 0) {
				t.Errorf("manifest %v, %d lines: want none", res.Manifest, res.Counts.Lines)
			}
		})
	}
}

// TestMisnamedUsage: which names that are not usage (DESIGN §3: <name>.jsonl[.gz|.zst]) look as if
// they were meant to be.
func TestMisnamedUsage(t *testing.T) {
	for name, want := range map[string]bool{
		"a.jsonl": false, "a.jsonl.gz": false, "a.jsonl.zst": false, // usage
		"a.JSONL": true, "a.Jsonl.gz": true, "a.jsonl.GZ": true, "a.JSONL.ZST": true,
		"a.json": true, "a.json.gz": true, "a.JSON.zst": true, "a.ndjson": true, "a.ndjson.gz": true,
		"README.md": false, "_SUCCESS": false, "a.csv.gz": false, "a.jsonl.bak": false, "a.gz": false,
	} {
		if got := misnamedUsage(name); got != want {
			t.Errorf("misnamedUsage(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestReadWarnsOfMisnamedUsage: an object in a partition that looks like usage but is not named so is
// left out (its events are not read) and Read warns, naming it; one that does not look like usage
// (README.md, _SUCCESS) is left out in silence.
func TestReadWarnsOfMisnamedUsage(t *testing.T) {
	var logs bytes.Buffer
	res, err := readTree(t, map[string][]byte{
		"dt=2026-10-05/a.jsonl":   jsonl(svl("e1", "2026-10-05T10:00:00Z", "acct_1", 1, 0)),
		"dt=2026-10-05/B.JSONL":   jsonl(svl("e2", "2026-10-05T10:00:00Z", "acct_1", 1, 0)),
		"dt=2026-10-06/c.json.gz": []byte("not read"),
		"dt=2026-10-06/_SUCCESS":  nil,
		"dt=2026-10-06/README.md": []byte("not usage"),
	}, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Objects != 1 || res.Counts.Lines != 1 {
		t.Errorf("counts %+v: want the one object a.jsonl and its line", res.Counts)
	}
	if !strings.Contains(logs.String(), `level=WARN msg="usage: objects that look like usage but are not named`) ||
		!strings.Contains(logs.String(), "objects=2") ||
		!strings.Contains(logs.String(), `keys="dt=2026-10-05/B.JSONL dt=2026-10-06/c.json.gz"`) {
		t.Errorf("want a warning naming the 2 misnamed objects; logs:\n%s", logs.String())
	}
}

func TestReadIgnoresOtherObjects(t *testing.T) {
	line := jsonl(svl("e1", "2026-10-05T10:00:00Z", "acct_1", 1, 0))
	res := mustRead(t, map[string][]byte{
		"README.md":                       []byte("not usage"),
		"manifest.jsonl":                  line,
		"dt=2026-10-05/notes.txt":         []byte("not usage"),
		"dt=2026-10-05/a.jsonl.bak":       []byte("not usage"),
		"dt=2026-10-05/a.json":            []byte("not usage"),
		"dt=2026-10-05/sub/b.jsonl":       line,
		"dt=2026-10-5/c.jsonl":            line,
		"other/dt=2026-10-05/d.jsonl":     line,
		"dt=2026-12-01/e.jsonl":           line, // not a partition of October's close
		"dt=2026-10-05/usage.jsonl":       line,
		"dt=2026-10-05/usage.jsonl.bz2":   []byte("not usage"),
		"dt=2026-10-05/.hidden.jsonl.tmp": line,
	}, Options{})
	if len(res.Manifest) != 1 || res.Manifest[0].Key != "dt=2026-10-05/usage.jsonl" {
		t.Errorf("manifest = %+v, want only dt=2026-10-05/usage.jsonl", res.Manifest)
	}
	checkCounts(t, res, 1, 1, 1, 0, 0)
}

func TestReadCompressedObjects(t *testing.T) {
	plain := jsonl(svl("p1", "2026-10-05T10:00:00Z", "acct_1", 100, 0))
	gz := gzipped(t, jsonl(svl("g1", "2026-10-05T10:00:00Z", "acct_1", 20, 0), "",
		svl("g2", "2026-10-05T11:00:00Z", "acct_2", 3, 0)))
	zs := zstded(t, jsonl(svl("z1", "2026-10-06T10:00:00Z", "acct_1", 4000, 0)))
	// Two gzip members in one object are one stream (as `cat a.gz b.gz` makes).
	multi := append(gzipped(t, jsonl(svl("m1", "2026-10-07T10:00:00Z", "acct_1", 500000, 0))),
		gzipped(t, jsonl(svl("m2", "2026-10-07T10:00:00Z", "acct_1", 500000, 0)))...)
	files := map[string][]byte{
		"dt=2026-10-05/a.jsonl":     plain,
		"dt=2026-10-05/b.jsonl.gz":  gz,
		"dt=2026-10-06/c.jsonl.zst": zs,
		"dt=2026-10-07/d.jsonl.gz":  multi,
	}
	res := mustRead(t, files, Options{Workers: 2})
	checkCounts(t, res, 6, 6, 6, 0, 0)
	// acct_1 input: 100 + 20 + 4000 + 500000 + 500000 = 1004120; acct_2: 3.
	checkLines(t, res, map[string]string{
		"acct_1 serverless m-small input_tokens @0.2": "1004120",
		"acct_2 serverless m-small input_tokens @0.2": "3",
	})
	var wantBytes int64
	for _, o := range res.Manifest {
		sum := sha256.Sum256(files[o.Key])
		if want := "sha256:" + hex.EncodeToString(sum[:]); o.ETag != want || o.Size != int64(len(files[o.Key])) {
			t.Errorf("manifest %s = size %d etag %s, want %d %s", o.Key, o.Size, o.ETag, len(files[o.Key]), want)
		}
		wantBytes += o.Size
	}
	if len(res.Manifest) != 4 || res.Counts.Objects != 4 || res.Counts.Bytes != wantBytes {
		t.Errorf("manifest has %d objects, counts %d objects %d bytes; want 4, 4, %d", len(res.Manifest),
			res.Counts.Objects, res.Counts.Bytes, wantBytes)
	}
}

func TestReadCorruptObjects(t *testing.T) {
	content := jsonl(svl("e1", "2026-10-05T10:00:00Z", "acct_1", 1, 0), svl("e2", "2026-10-05T10:00:00Z", "acct_1", 1, 0))
	gz, zs := gzipped(t, content), zstded(t, content)
	badCRC := slices.Clone(gz)
	badCRC[len(badCRC)-6] ^= 0xff // the CRC-32 in the trailer
	tests := []struct {
		name  string
		key   string
		data  []byte
		isEOF bool
		says  string // in the error, when set
	}{
		{"truncated gzip", "dt=2026-10-05/a.jsonl.gz", gz[:len(gz)-10], true, ""},
		{"gzip header only", "dt=2026-10-05/a.jsonl.gz", gz[:10], true, ""},
		{"gzip checksum", "dt=2026-10-05/a.jsonl.gz", badCRC, false, ""},
		{"not gzip", "dt=2026-10-05/a.jsonl.gz", content, false, ""},
		{"empty gzip", "dt=2026-10-05/a.jsonl.gz", nil, true, "empty compressed object"},
		{"gzip with trailing garbage", "dt=2026-10-05/a.jsonl.gz", append(slices.Clone(gz), "garbage"...), false, ""},
		{"truncated zstd", "dt=2026-10-05/a.jsonl.zst", zs[:len(zs)-5], true, ""},
		{"not zstd", "dt=2026-10-05/a.jsonl.zst", content, false, ""},
		{"empty zstd", "dt=2026-10-05/a.jsonl.zst", nil, true, "empty compressed object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string][]byte{tc.key: tc.data, "dt=2026-10-06/fine.jsonl": content}
			_, err := readTree(t, files, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Read = %v, want an error naming %s", err, tc.key)
			}
			if tc.isEOF && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Read = %v, want it to wrap io.ErrUnexpectedEOF", err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("Read = %v, want it to say %q", err, tc.says)
			}
		})
	}
}

func TestReadExactDuplicate(t *testing.T) {
	// The same event twice: key order, spacing, an unknown field and a UTC offset differ, the content
	// does not. It is billed once: 1000 input tokens.
	a := svl("d1", "2026-10-05T10:00:00Z", "acct_1", 1000, 0)
	b := `{ "type":"serverless", "input_tokens":1000, "model":"m-small", "account":"acct_1", "id":"d1",` +
		` "ts":"2026-10-05T12:00:00+02:00", "batch":false, "trace":{"x":[1]} }`
	for _, workers := range []int{1, 4} {
		res := mustRead(t, map[string][]byte{
			"dt=2026-10-05/a.jsonl": jsonl(a), "dt=2026-10-05/b.jsonl.gz": gzipped(t, jsonl(b)),
		}, Options{Workers: workers})
		checkCounts(t, res, 2, 2, 1, 1, 0)
		checkLines(t, res, map[string]string{"acct_1 serverless m-small input_tokens @0.2": "1000"})
	}
}

func TestReadTotalOverflowFailsWithAnyWorkers(t *testing.T) {
	// Two valid events of one line, in two objects: 9,000,000,000,000,000,000 and
	// 8,000,000,000,000,000,000 input tokens. Each fits in 64 bits, their sum 1.7e19 does not (2^63−1 is
	// about 9.22e18). With one worker the second add used to be rejected invalid_value and the first
	// billed; with two, each worker held one and their merge failed the read — the outcome depended on
	// scheduling. Now the read fails the same way with any number of workers, and rejects nothing.
	files := map[string][]byte{
		"dt=2026-10-05/a.jsonl": jsonl(svl("o1", "2026-10-05T10:00:00Z", "acct_1", 9_000_000_000_000_000_000, 0)),
		"dt=2026-10-06/b.jsonl": jsonl(svl("o2", "2026-10-06T10:00:00Z", "acct_1", 8_000_000_000_000_000_000, 0)),
	}
	for _, workers := range []int{1, 2, 4} {
		for range 3 {
			_, err := readTree(t, files, Options{Workers: workers})
			if !errors.Is(err, ErrTotalOverflow) {
				t.Fatalf("Read with %d workers: err = %v, want ErrTotalOverflow", workers, err)
			}
		}
	}
	// Just below the limit nothing fails: 9,000,000,000,000,000,000 + 223,372,036,854,775,807 = 2^63−1.
	files["dt=2026-10-06/b.jsonl"] = jsonl(svl("o2", "2026-10-06T10:00:00Z", "acct_1", 223_372_036_854_775_807, 0))
	for _, workers := range []int{1, 2} {
		res := mustRead(t, files, Options{Workers: workers})
		checkCounts(t, res, 2, 2, 2, 0, 0)
		checkLines(t, res, map[string]string{"acct_1 serverless m-small input_tokens @0.2": "9223372036854775807"})
	}
}

func TestReadConflict(t *testing.T) {
	// c1 has three copies: two equal, one with different output tokens. All three are rejected and
	// nothing of c1 is billed, whatever the file order; e1 and e2 are billed: 1 + 2 = 3 input tokens.
	equal := svl("c1", "2026-10-05T10:00:00Z", "acct_1", 5, 5)
	other := svl("c1", "2026-10-05T10:00:00Z", "acct_1", 5, 6)
	for _, names := range [][3]string{{"a", "b", "c"}, {"c", "b", "a"}, {"b", "c", "a"}} {
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%v/workers=%d", names, workers), func(t *testing.T) {
				key := func(n string) string { return "dt=2026-10-05/" + n + ".jsonl" }
				res := mustRead(t, map[string][]byte{
					key(names[0]): jsonl(svl("e1", "2026-10-05T10:00:00Z", "acct_1", 1, 0), equal),
					key(names[1]): jsonl(other),
					key(names[2]): jsonl(equal, svl("e2", "2026-10-05T10:00:00Z", "acct_1", 2, 0)),
				}, Options{Workers: workers})
				want := []rejectAt{{key(names[0]), 2, "c1", rating.RejectDuplicateConflict},
					{key(names[1]), 1, "c1", rating.RejectDuplicateConflict},
					{key(names[2]), 1, "c1", rating.RejectDuplicateConflict}}
				slices.SortFunc(want, func(a, b rejectAt) int { return strings.Compare(a.object, b.object) })
				checkRejects(t, res, want)
				checkCounts(t, res, 5, 5, 2, 0, 3)
				checkLines(t, res, map[string]string{"acct_1 serverless m-small input_tokens @0.2": "3"})
				for _, r := range res.Rejects {
					if !strings.Contains(r.Message, "3 copies") || strings.Contains(r.Message, r.Object+" line "+fmt.Sprint(r.Line)) {
						t.Errorf("conflict message %q: want the count and only the other copies", r.Message)
					}
				}
			})
		}
	}
}

func TestReadConflictWithRejectedCopy(t *testing.T) {
	// DESIGN §3: two copies of an id with different content are a conflict, all rejected, never
	// silently picked; §11: every copy is one reject. A copy rejected for a reason of its own is still
	// a copy: the valid copy of each id below used to be billed (a copy of an unknown account, by
	// contrast, already made a conflict). Now each valid copy is rejected duplicate_conflict naming the
	// other, which keeps its own reject; a copy identical to the valid one but in the wrong partition
	// is the same event, so w1 is billed once. Billed: w1's 7 input tokens + ok's 1 = 8 (m-small input),
	// nothing else: 14 lines taken = 2 accepted (w1 a:7, ok a:9) + 12 rejects.
	const a, b = "dt=2026-10-05/a.jsonl", "dt=2026-10-06/b.jsonl"
	files := map[string][]byte{
		a: jsonl(
			svl("x1", "2026-10-05T10:00:00Z", "acct_1", 10, 1),                                    // 1 valid
			svl("x1", "2026-10-05T10:00:00Z", "acct_1", 10, 1, `"cached_input_tokens":11`),        // 2 cached > input
			svl("m1", "2026-10-05T10:00:00Z", "acct_1", 10, 1),                                    // 3 valid
			`{"id":"m1","ts":"2026-10-05T10:00:00Z","type":"serverless","model":"m-small"}`,       // 4 no account
			svl("v1", "2026-10-05T10:00:00Z", "acct_1", 10, 1, `"input_tokens":1e1`),              // 5 not an integer
			svl("v1", "2026-10-05T10:00:00Z", "acct_1", 10, 1),                                    // 6 valid
			svl("w1", "2026-10-05T10:00:00Z", "acct_1", 7, 0),                                     // 7 valid
			svl("p1", "2026-10-05T10:00:00Z", "acct_1", 3, 0),                                     // 8 valid
			svl("ok", "2026-10-05T10:00:00Z", "acct_1", 1, 0),                                     // 9 valid
			`{"id":"ok","ts":"2026-10-05T10:00:00Z","account":"acct_1","type":"serverless"`,       // 10 not JSON: no id
			gpul("g1", "2026-10-05T11:00:00Z", 1, "2026-10-05T10:00:00Z", "2026-10-05T11:00:00Z"), // 11 valid
			gpul("g1", "2026-10-05T12:00:01Z", 1, "2026-10-05T10:00:00Z", "2026-10-05T11:00:00Z"), // 12 late
		),
		b: jsonl(
			svl("w1", "2026-10-05T10:00:00Z", "acct_1", 7, 0), // 1 wrong partition, same content as a:7
			svl("p1", "2026-10-05T10:00:00Z", "acct_1", 4, 0), // 2 wrong partition, differs from a:8
		),
	}
	for _, workers := range []int{1, 3} {
		res := mustRead(t, files, Options{Workers: workers})
		checkRejects(t, res, []rejectAt{
			{a, 1, "x1", rating.RejectDuplicateConflict}, {a, 2, "x1", rating.RejectCachedExceedsInput},
			{a, 3, "m1", rating.RejectDuplicateConflict}, {a, 4, "m1", rating.RejectMissingField},
			{a, 5, "v1", rating.RejectInvalidValue}, {a, 6, "v1", rating.RejectDuplicateConflict},
			{a, 8, "p1", rating.RejectDuplicateConflict}, {a, 10, "", rating.RejectInvalidJSON},
			{a, 11, "g1", rating.RejectDuplicateConflict}, {a, 12, "g1", rating.RejectLateReport},
			{b, 1, "w1", rating.RejectWrongPartition}, {b, 2, "p1", rating.RejectWrongPartition},
		})
		checkCounts(t, res, 14, 14, 2, 0, 12)
		checkLines(t, res, map[string]string{"acct_1 serverless m-small input_tokens @0.2": "8"})
		for _, r := range res.Rejects {
			if r.Object == a && r.Line == 8 && !strings.Contains(r.Message, "2 copies") {
				t.Errorf("conflict message %q does not count the rejected copy", r.Message)
			}
			if r.Object == a && r.Line == 8 && !strings.Contains(r.Message, b+" line 2") {
				t.Errorf("conflict message %q does not name the rejected copy", r.Message)
			}
		}
	}
}

func TestReadIDsDifferingInInvalidText(t *testing.T) {
	// encoding/json decodes an invalid byte and an unpaired surrogate escape alike as U+FFFD, so these
	// four different ids would be two to dedup: two real events dropped as duplicates of the others
	// (DESIGN §3: dedup must never drop a real event). Each is a reject instead; only v1 is billed.
	const obj = "dt=2026-10-05/a.jsonl"
	ev := func(id string) string {
		return `{"id":"` + id + `","ts":"2026-10-05T10:00:00Z","account":"acct_1","type":"serverless","model":"m-small","input_tokens":100}`
	}
	res := mustRead(t, map[string][]byte{obj: jsonl(ev("u\xff"), ev("u\xfe"), ev(`s\ud800`), ev(`s\udc00`), ev("v1"))}, Options{})
	checkCounts(t, res, 5, 5, 1, 0, 4)
	checkRejects(t, res, []rejectAt{{obj, 1, "u\uFFFD", rating.RejectInvalidValue}, {obj, 2, "u\uFFFD", rating.RejectInvalidValue},
		{obj, 3, "s\uFFFD", rating.RejectInvalidValue}, {obj, 4, "s\uFFFD", rating.RejectInvalidValue}})
	checkLines(t, res, map[string]string{"acct_1 serverless m-small input_tokens @0.2": "100"})
}

func TestReadDuplicateRejectIsReproducible(t *testing.T) {
	// Two equal copies of an event of an unknown account: one reject, at the first copy, and one
	// duplicate — whichever copy a worker happens to rate first.
	line := svl("u1", "2026-10-05T10:00:00Z", "acct_9", 1, 0)
	var files = map[string][]byte{}
	for i := range 8 {
		files[fmt.Sprintf("dt=2026-10-05/%02d.jsonl", i)] = jsonl(line)
	}
	for _, workers := range []int{1, 4, 8} {
		res := mustRead(t, files, Options{Workers: workers})
		checkRejects(t, res, []rejectAt{{"dt=2026-10-05/00.jsonl", 1, "u1", rating.RejectUnknownAccount}})
		checkCounts(t, res, 8, 8, 0, 7, 1)
	}
}

func TestReadDayAfterPartition(t *testing.T) {
	// October's close reads dt=2026-11-01 for GPU intervals only.
	const obj = "dt=2026-11-01/a.jsonl"
	res := mustRead(t, map[string][]byte{obj: jsonl(
		// 1: 23:30–00:30 on 2 GPUs overlaps October by 30 min: 1800 s × 2 = 3600 GPU-seconds at 8.00.
		gpul("g1", "2026-11-01T00:31:00Z", 2, "2026-10-31T23:30:00Z", "2026-11-01T00:30:00Z"),
		svl("s1", "2026-11-01T00:05:00Z", "acct_1", 1, 1), // 2: November's
		`{"id":"broken"`, // 3: ignored, not rejected
		gpul("g2", "2026-11-01T00:31:00Z", 1, "2026-11-01T00:00:00Z", "2026-11-01T00:30:00Z"), // 4: all November
		gpul("g3", "2026-11-01T00:31:00Z", 0, "2026-10-31T23:30:00Z", "2026-11-01T00:30:00Z"), // 5: invalid, overlaps
		svl("s2", "2026-10-31T23:00:00Z", "acct_1", 1, 1),                                     // 6: not GPU: ignored
		gpul("g4", "2026-11-01T00:31:00Z", 1, "2026-10-31T23:30:00Z", "2026-11-01T00:30:00Z",
			`"account":null`), // 7: overlaps, missing account
		gpul("g5", "2026-11-01T00:31:00Z", 1, "2026-10-31T23:30:00Z", "2026-11-01T00:30:00Z",
			`"type":"serverless"`), // 8: not GPU (and would be invalid): ignored
	)}, Options{})
	checkRejects(t, res, []rejectAt{{obj, 5, "g3", rating.RejectInvalidValue}, {obj, 7, "g4", rating.RejectMissingField}})
	checkCounts(t, res, 8, 3, 1, 0, 2)
	checkLines(t, res, map[string]string{"acct_1 gpu H100-80GB dep-1 gpu_seconds @8": "3600"})
}

func TestReadTakenPerObject(t *testing.T) {
	// Result.Taken counts, per object, the lines in scope: October's read takes 2 lines of its own
	// partition (one accepted, one rejected) and, of its day-after partition, one object's overlapping
	// GPU interval and nothing of an object of November events only.
	files := map[string][]byte{
		"dt=2026-10-05/a.jsonl": jsonl(svl("a1", "2026-10-05T10:00:00Z", "acct_1", 1, 0),
			svl("a2", "2026-10-05T10:00:00Z", "nobody", 1, 0)),
		"dt=2026-11-01/gpu.jsonl": jsonl(gpul("g1", "2026-11-01T00:31:00Z", 1, "2026-10-31T23:30:00Z", "2026-11-01T00:30:00Z"),
			svl("n0", "2026-11-01T00:05:00Z", "acct_1", 1, 0)),
		"dt=2026-11-01/nov.jsonl": jsonl(svl("n1", "2026-11-01T05:00:00Z", "acct_1", 1, 0),
			gpul("g2", "2026-11-01T00:31:00Z", 1, "2026-11-01T00:00:00Z", "2026-11-01T00:30:00Z")),
	}
	for _, workers := range []int{1, 3} {
		res := mustRead(t, files, Options{Workers: workers})
		got := map[string]int64{}
		for i, o := range res.Manifest {
			got[o.Key] = res.Taken[i]
		}
		want := map[string]int64{"dt=2026-10-05/a.jsonl": 2, "dt=2026-11-01/gpu.jsonl": 1, "dt=2026-11-01/nov.jsonl": 0}
		if !maps.Equal(got, want) {
			t.Errorf("workers=%d: taken per object %v, want %v", workers, got, want)
		}
	}
}

func TestReadStartPartition(t *testing.T) {
	// October's close ignores, in dt=2026-10-01, GPU intervals that end at or before October starts:
	// September's close took them from its day-after partition.
	const obj = "dt=2026-10-01/a.jsonl"
	res := mustRead(t, map[string][]byte{obj: jsonl(
		gpul("g1", "2026-10-01T00:02:00Z", 1, "2026-09-30T23:00:00Z", "2026-10-01T00:00:00Z"), // 1: ends at start
		// 2: 23:30–00:30 overlaps October by 30 min: 1800 GPU-seconds at 8.00.
		gpul("g2", "2026-10-01T00:31:00Z", 1, "2026-09-30T23:30:00Z", "2026-10-01T00:30:00Z"),
		gpul("g3", "2026-10-01T00:02:00Z", 0, "2026-09-30T23:00:00Z", "2026-10-01T00:00:00Z"), // 3: ends at start
		gpul("g4", "2026-10-01T00:59:00Z", 1, "2026-09-30T23:00:00Z", "2026-10-01T00:00:00Z"), // 4: ends at start
	)}, Options{})
	checkRejects(t, res, nil)
	checkCounts(t, res, 4, 1, 1, 0, 0)
	checkLines(t, res, map[string]string{"acct_1 gpu H100-80GB dep-1 gpu_seconds @8": "1800"})
}

func TestReadStartPartitionLeavesNoLineToNeitherClose(t *testing.T) {
	// A GPU line in dt=2026-10-01 ending at or before October is September's only if September's close
	// took it from its day-after partition (it overlaps September); every other one is October's to
	// validate. Read with both windows, each such line is taken by exactly one of them.
	const obj = "dt=2026-10-01/a.jsonl"
	gpuEnd := func(id, extra string) string { // a GPU line ending at 23:50 on September 30
		return `{"id":"` + id + `","ts":"2026-10-01T00:30:00Z","account":"acct_1","type":"gpu","deployment":"dep-1",` +
			`"gpu_type":"H100-80GB","gpu_count":1,"end":"2026-09-30T23:50:00Z"` + extra + `}`
	}
	files := map[string][]byte{obj: jsonl(
		gpuEnd("ok", `,"start":"2026-09-30T23:00:00Z"`),        // 1: September's, accepted there: 23:00–23:50 = 3000 s
		gpuEnd("reversed", `,"start":"2026-10-01T00:10:00Z"`),  // 2: start after end, not before October
		gpuEnd("nostart", ``),                                  // 3: no start
		gpuEnd("badstart", `,"start":"yesterday"`),             // 4: a start that does not parse
		gpuEnd("backwards", `,"start":"2026-09-30T23:55:00Z"`), // 5: overlaps September: rejected there
	)}
	sep := mustRead(t, files, Options{Window: rating.PeriodWindow(rating.Period{Year: 2026, Month: time.September})})
	checkRejects(t, sep, []rejectAt{{obj, 5, "backwards", rating.RejectEndNotAfterStart}})
	checkCounts(t, sep, 5, 2, 1, 0, 1)
	checkLines(t, sep, map[string]string{"acct_1 gpu H100-80GB dep-1 gpu_seconds @8": "3000"})
	oct := mustRead(t, files, Options{})
	checkRejects(t, oct, []rejectAt{{obj, 2, "reversed", rating.RejectEndNotAfterStart},
		{obj, 3, "nostart", rating.RejectMissingField}, {obj, 4, "badstart", rating.RejectInvalidValue}})
	checkCounts(t, oct, 5, 3, 0, 0, 3)
}

func TestReadPriceVersionBoundary(t *testing.T) {
	// The price book changes at 2026-09-01: H100-80GB 4.00 → 8.00 per GPU-hour. One GPU from
	// 2026-08-31T23:30Z to 2026-09-01T00:30Z, reported in dt=2026-09-01.
	files := map[string][]byte{
		"dt=2026-09-01/a.jsonl": jsonl(gpul("g1", "2026-09-01T00:31:00Z", 1, "2026-08-31T23:30:00Z", "2026-09-01T00:30:00Z")),
	}
	tests := []struct {
		name   string
		window rating.Window
		want   map[string]string
	}{
		// September bills only its half: 1800 s at the September price.
		{"september close", rating.PeriodWindow(rating.Period{Year: 2026, Month: time.September}),
			map[string]string{"acct_1 gpu H100-80GB dep-1 gpu_seconds @8": "1800"}},
		// August bills the other half from its day-after partition, at the August price.
		{"august close", rating.PeriodWindow(rating.Period{Year: 2026, Month: time.August}),
			map[string]string{"acct_1 gpu H100-80GB dep-1 gpu_seconds @4": "1800"}},
		// A window holding both: the interval is split at the version boundary into two lines.
		{"both months", rating.Window{From: utc("2026-08-01T00:00:00Z"), To: utc("2026-10-01T00:00:00Z")},
			map[string]string{"acct_1 gpu H100-80GB dep-1 gpu_seconds @4": "1800",
				"acct_1 gpu H100-80GB dep-1 gpu_seconds @8": "1800"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRead(t, files, Options{Window: tc.window})
			checkCounts(t, res, 1, 1, 1, 0, 0)
			checkLines(t, res, tc.want)
		})
	}
}

func TestReadGPUValidation(t *testing.T) {
	const obj = "dt=2026-10-05/a.jsonl"
	tests := []struct {
		name       string
		line       string
		maxGPU     time.Duration
		code       rating.RejectCode
		gpuSeconds string
	}{
		{"reported at end", gpul("g", "2026-10-05T14:00:00Z", 1, "2026-10-05T13:00:00Z", "2026-10-05T14:00:00Z"), 0, "", "3600"},
		{"reported 1h after end", gpul("g", "2026-10-05T15:00:00Z", 1, "2026-10-05T13:30:00Z", "2026-10-05T14:00:00Z"), 0, "", "1800"},
		{"reported just over 1h after end", gpul("g", "2026-10-05T15:00:00.000000001Z", 1, "2026-10-05T13:30:00Z",
			"2026-10-05T14:00:00Z"), 0, rating.RejectLateReport, ""},
		{"reported before end", gpul("g", "2026-10-05T13:59:59Z", 1, "2026-10-05T13:30:00Z", "2026-10-05T14:00:00Z"), 0,
			rating.RejectInvalidValue, ""},
		{"interval 1h1s", gpul("g", "2026-10-05T14:00:00Z", 1, "2026-10-05T12:59:59Z", "2026-10-05T14:00:00Z"), 0,
			rating.RejectIntervalTooLong, ""},
		// 4 GPUs × 5400.5 s = 21602 GPU-seconds: fractions are kept.
		{"interval 1h30m0.5s with a 2h maximum", gpul("g", "2026-10-05T14:00:00Z", 4, "2026-10-05T12:29:59.5Z",
			"2026-10-05T14:00:00Z"), 2 * time.Hour, "", "21602"},
		{"wrong partition", gpul("g", "2026-10-06T00:10:00Z", 1, "2026-10-05T23:30:00Z", "2026-10-06T00:00:00Z"), 0,
			rating.RejectWrongPartition, ""},
		// ts 2026-10-06T01:00+02:00 is 2026-10-05T23:00Z: partition dt=2026-10-05 is right.
		{"partition by UTC date", gpul("g", "2026-10-06T01:00:00+02:00", 1, "2026-10-05T22:30:00Z", "2026-10-05T23:00:00Z"),
			0, "", "1800"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRead(t, map[string][]byte{obj: jsonl(tc.line)}, Options{MaxGPUInterval: tc.maxGPU})
			if tc.code != "" {
				checkRejects(t, res, []rejectAt{{obj, 1, "g", tc.code}})
				return
			}
			checkRejects(t, res, nil)
			checkLines(t, res, map[string]string{"acct_1 gpu H100-80GB dep-1 gpu_seconds @8": tc.gpuSeconds})
		})
	}
}

func TestReadSweepWindow(t *testing.T) {
	// A sweep at 2026-10-05T12:00Z reads dt=2026-10-01 … dt=2026-10-05 and bills [Oct 1, 12:00).
	const obj = "dt=2026-10-05/a.jsonl"
	res := mustRead(t, map[string][]byte{
		obj: jsonl(
			svl("s1", "2026-10-05T11:59:59Z", "acct_1", 100, 0), // 1: taken
			svl("s2", "2026-10-05T12:00:00Z", "acct_1", 200, 0), // 2: at `at`: ignored
			`{"id":"broken"`, // 3: no ts to place it: rejected
			// 4: 11:30–12:30, clipped at 12:00: 1800 GPU-seconds.
			gpul("g1", "2026-10-05T12:31:00Z", 1, "2026-10-05T11:30:00Z", "2026-10-05T12:30:00Z"),
			gpul("g2", "2026-10-05T12:31:00Z", 1, "2026-10-05T12:00:00Z", "2026-10-05T12:30:00Z"), // 5: after `at`
			svl("s3", "2026-10-05T13:00:00Z", "acct_1", 1, 0, `"input_tokens":"bad"`),             // 6: after `at`
			gpul("g3", "2026-10-05T11:45:00Z", 1, "2026-10-05T11:00:00Z", "2026-10-05T11:30:00Z"), // 7: 1800 s
		),
		"dt=2026-10-01/b.jsonl": jsonl(svl("s4", "2026-10-01T00:00:00Z", "acct_1", 1, 0)),
		"dt=2026-10-06/c.jsonl": jsonl(svl("s5", "2026-10-06T00:00:00Z", "acct_1", 1000, 0)), // not read
	}, Options{Window: rating.Window{From: utc("2026-10-01T00:00:00Z"), To: utc("2026-10-05T12:00:00Z")}})
	checkRejects(t, res, []rejectAt{{obj, 3, "", rating.RejectInvalidJSON}})
	checkCounts(t, res, 8, 5, 4, 0, 1)
	// Input tokens: s1 100 + s4 1 = 101; GPU-seconds: 1800 + 1800.
	checkLines(t, res, map[string]string{
		"acct_1 serverless m-small input_tokens @0.2": "101",
		"acct_1 gpu H100-80GB dep-1 gpu_seconds @8":   "3600",
	})
	if len(res.Manifest) != 2 {
		t.Errorf("manifest = %+v, want dt=2026-10-01 and dt=2026-10-05 only", res.Manifest)
	}
}

func TestReadLongLines(t *testing.T) {
	// A line of exactly 16 MiB is read (and rejected: it is not JSON); one byte more fails the read.
	const obj = "dt=2026-10-05/a.jsonl"
	long := bytes.Repeat([]byte("x"), maxLineBytes)
	ok := append(append(jsonl(svl("e1", "2026-10-05T10:00:00Z", "acct_1", 1, 0)), long...), '\n')
	res := mustRead(t, map[string][]byte{obj: ok}, Options{})
	checkRejects(t, res, []rejectAt{{obj, 2, "", rating.RejectInvalidJSON}})

	// A long valid line: an event with a 1 MiB unknown field.
	big := svl("e2", "2026-10-05T10:00:00Z", "acct_1", 7, 0, `"pad":"`+strings.Repeat("p", 1<<20)+`"`)
	res = mustRead(t, map[string][]byte{obj: jsonl(big, big[:100])}, Options{})
	checkCounts(t, res, 2, 2, 1, 0, 1)

	tooLong := append(slices.Clone(ok[:len(ok)-1]), "x\n"...)
	_, err := readTree(t, map[string][]byte{obj: tooLong}, Options{})
	if !errors.Is(err, ErrLineTooLong) || !strings.Contains(err.Error(), obj+" line 2") {
		t.Errorf("Read = %v, want ErrLineTooLong naming %s line 2", err, obj)
	}
}

// memSource is a Source over objects in memory, with faults to inject.
type memSource struct {
	objs    []rating.Object
	data    map[string][]byte
	failAt  map[string]int // key → byte offset at which reads fail
	opened  map[string]int
	openErr error
	later   map[string][]byte // key → content served from the second open on
	mu      sync.Mutex
}

func newMemSource(files map[string][]byte) *memSource {
	s := &memSource{data: files, failAt: map[string]int{}, opened: map[string]int{}}
	for k, v := range files {
		s.objs = append(s.objs, rating.Object{Key: k, Size: int64(len(v)), ETag: `"` + k + `"`})
	}
	slices.SortFunc(s.objs, func(a, b rating.Object) int { return strings.Compare(a.Key, b.Key) })
	return s
}

func (s *memSource) List(ctx context.Context, dates []string) ([]rating.Object, []string, error) {
	return slices.Clone(s.objs), nil, nil
}

func (s *memSource) Open(ctx context.Context, obj rating.Object) (io.ReadCloser, error) {
	s.mu.Lock()
	s.opened[obj.Key]++
	data := s.data[obj.Key]
	if later, ok := s.later[obj.Key]; ok && s.opened[obj.Key] > 1 {
		data = later
	}
	s.mu.Unlock()
	if s.openErr != nil {
		return nil, s.openErr
	}
	var r io.Reader = bytes.NewReader(data)
	if at, ok := s.failAt[obj.Key]; ok {
		r = io.MultiReader(bytes.NewReader(s.data[obj.Key][:at]), iotestErrReader{})
	}
	return io.NopCloser(r), nil
}

func (s *memSource) String() string { return "mem://" }

var errConnReset = errors.New("connection reset by peer")

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errConnReset }

func readMem(t *testing.T, src Source, opts Options) (*Result, error) {
	t.Helper()
	opts.PriceBook = testPriceBook(t)
	if opts.Window == (rating.Window{}) {
		opts.Window = octWindow()
	}
	return Read(context.Background(), src, opts)
}

func TestReadSourceFaults(t *testing.T) {
	content := jsonl(svl("e1", "2026-10-05T10:00:00Z", "acct_1", 1, 0), svl("e2", "2026-10-05T10:00:00Z", "acct_1", 1, 0))
	const key = "dt=2026-10-05/a.jsonl"

	t.Run("read error mid-object", func(t *testing.T) {
		src := newMemSource(map[string][]byte{key: content})
		src.failAt[key] = 30
		_, err := readMem(t, src, Options{})
		if !errors.Is(err, errConnReset) || !strings.Contains(err.Error(), key) {
			t.Errorf("Read = %v, want the read error, naming %s", err, key)
		}
	})
	t.Run("short object", func(t *testing.T) {
		src := newMemSource(map[string][]byte{key: content})
		src.objs[0].Size += 100 // listed bigger than what the body delivers: a silent truncation
		_, err := readMem(t, src, Options{})
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), key) {
			t.Errorf("Read = %v, want io.ErrUnexpectedEOF naming %s", err, key)
		}
	})
	t.Run("open error", func(t *testing.T) {
		src := newMemSource(map[string][]byte{key: content})
		src.openErr = os.ErrPermission
		_, err := readMem(t, src, Options{})
		if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), key) {
			t.Errorf("Read = %v, want the open error naming %s", err, key)
		}
	})
	t.Run("object outside the partitions", func(t *testing.T) {
		src := newMemSource(map[string][]byte{"dt=2026-12-05/a.jsonl": content})
		_, err := readMem(t, src, Options{})
		if err == nil || !strings.Contains(err.Error(), "dt=2026-12-05/a.jsonl") {
			t.Errorf("Read = %v, want an error naming the object", err)
		}
	})
	t.Run("listed ETags are kept and objects read once", func(t *testing.T) {
		src := newMemSource(map[string][]byte{key: content, "dt=2026-10-06/b.jsonl": content})
		res, err := readMem(t, src, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Manifest[0].ETag != `"`+key+`"` {
			t.Errorf("manifest ETag = %s, want the listed one", res.Manifest[0].ETag)
		}
		if src.opened[key] != 1 {
			t.Errorf("%s opened %d times, want 1 (no conflicts)", key, src.opened[key])
		}
	})
	t.Run("conflicts read twice", func(t *testing.T) {
		src := newMemSource(map[string][]byte{key: content,
			"dt=2026-10-05/b.jsonl": jsonl(svl("e1", "2026-10-05T10:00:00Z", "acct_1", 2, 0))})
		res, err := readMem(t, src, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if src.opened[key] != 2 || res.Counts.Rejected != 2 || res.Counts.Accepted != 1 {
			t.Errorf("opened %d times, %d rejected, %d accepted; want 2, 2 (both e1), 1 (e2)", src.opened[key],
				res.Counts.Rejected, res.Counts.Accepted)
		}
	})
	t.Run("usage changed between the passes", func(t *testing.T) {
		// e1 conflicts, so the objects are read twice; in between, c.jsonl gains a conflicting copy of e2.
		e2 := svl("e2", "2026-10-05T10:00:00Z", "acct_1", 1, 0)
		e2b := svl("e2", "2026-10-05T10:00:00Z", "acct_1", 9, 0)
		src := newMemSource(map[string][]byte{key: content,
			"dt=2026-10-05/b.jsonl": jsonl(svl("e1", "2026-10-05T10:00:00Z", "acct_1", 2, 0)),
			"dt=2026-10-05/c.jsonl": jsonl(e2)})
		src.later = map[string][]byte{"dt=2026-10-05/c.jsonl": jsonl(e2b)}
		_, err := readMem(t, src, Options{})
		if err == nil || !strings.Contains(err.Error(), "changed between the two passes") {
			t.Errorf("Read = %v, want an error saying the usage changed", err)
		}
		// Without listed ETags the checksums catch any change of content.
		src = newMemSource(map[string][]byte{key: content,
			"dt=2026-10-05/b.jsonl": jsonl(svl("e1", "2026-10-05T10:00:00Z", "acct_1", 2, 0)),
			"dt=2026-10-05/c.jsonl": jsonl(e2)})
		src.later = map[string][]byte{"dt=2026-10-05/c.jsonl": jsonl(strings.Replace(e2, "e2", "e3", 1))}
		for i := range src.objs {
			src.objs[i].ETag = ""
		}
		_, err = readMem(t, src, Options{})
		if err == nil || !strings.Contains(err.Error(), "dt=2026-10-05/c.jsonl: the object changed") {
			t.Errorf("Read = %v, want an error naming the changed object", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		src := newMemSource(map[string][]byte{key: content})
		_, err := Read(ctx, src, Options{PriceBook: testPriceBook(t), Window: octWindow()})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Read = %v, want context.Canceled", err)
		}
	})
}

func TestReadProgress(t *testing.T) {
	files := map[string][]byte{}
	for i := range 5 {
		files[fmt.Sprintf("dt=2026-10-%02d/a.jsonl", i+1)] = jsonl(svl(fmt.Sprint(i), fmt.Sprintf("2026-10-%02dT10:00:00Z", i+1),
			"acct_1", 1, 0))
	}
	var calls []Progress
	res := mustRead(t, files, Options{Progress: func(p Progress) { calls = append(calls, p) }})
	if len(calls) == 0 {
		t.Fatal("Progress never called")
	}
	last := calls[len(calls)-1]
	if !last.Done || last.ObjectsDone != 5 || last.ObjectsTotal != 5 || last.BytesDone != res.Counts.Bytes ||
		last.BytesTotal != res.Counts.Bytes || last.Events != 5 || last.Pass != 1 {
		t.Errorf("last progress = %+v, want done with 5/5 objects, %d bytes, 5 events", last, res.Counts.Bytes)
	}
	for _, p := range calls[:len(calls)-1] {
		if p.Done {
			t.Errorf("progress %+v marked done before the end", p)
		}
	}
}

func TestReadDeterministic(t *testing.T) {
	// The same tree read with different worker counts gives the same result.
	files := map[string][]byte{}
	for i := range 12 {
		var lines []string
		for j := range 50 {
			id := fmt.Sprintf("e%d", (i*50+j)%400) // ids repeat across objects: duplicates
			lines = append(lines, svl(id, "2026-10-05T10:00:00Z", []string{"acct_1", "acct_2", "acct_9"}[(i*50+j)%400%3],
				int64((i*50+j)%400), 1))
			if j%17 == 0 {
				lines = append(lines, `{"id":"bad"`)
			}
		}
		files[fmt.Sprintf("dt=2026-10-05/%02d.jsonl", i)] = jsonl(lines...)
	}
	var first *Result
	for _, workers := range []int{1, 2, 7} {
		res := mustRead(t, files, Options{Workers: workers})
		if first == nil {
			first = res
			// 600 event lines with 400 distinct ids (0…199 twice, same content: 200 duplicates); ids ≡ 2 mod 3
			// are acct_9's: 133 unknown_account; 3 bad lines per object: 36 invalid_json.
			checkCounts(t, res, 636, 636, 267, 200, 169)
			continue
		}
		if !slices.Equal(res.Rejects, first.Rejects) || fmt.Sprint(lineMap(res.Aggregate)) != fmt.Sprint(lineMap(first.Aggregate)) ||
			fmt.Sprint(res.Counts) != fmt.Sprint(first.Counts) {
			t.Errorf("workers=%d: result differs from workers=1", workers)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	pb := testPriceBook(t)
	w := octWindow()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"ok", Options{PriceBook: pb, Window: w}, ""},
		{"no price book", Options{Window: w}, "price book is required"},
		{"no window", Options{PriceBook: pb}, "window needs a start and an end"},
		{"reversed window", Options{PriceBook: pb, Window: rating.Window{From: w.To, To: w.From}}, "before its start"},
		{"interval too long", Options{PriceBook: pb, Window: w, MaxGPUInterval: 24 * time.Hour}, "max GPU interval"},
		{"negative workers", Options{PriceBook: pb, Window: w, Workers: -1}, "workers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDates(t *testing.T) {
	got := Dates(octWindow())
	if len(got) != 32 || got[0] != "2026-10-01" || got[31] != "2026-11-01" {
		t.Errorf("Dates(October) = %v, want 2026-10-01 … 2026-11-01", got)
	}
	got = Dates(rating.Window{From: utc("2026-10-01T00:00:00Z"), To: utc("2026-10-03T09:30:00+02:00")})
	if want := []string{"2026-10-01", "2026-10-02", "2026-10-03"}; !slices.Equal(got, want) {
		t.Errorf("Dates(sweep) = %v, want %v", got, want)
	}
}

func TestReadRejectTextIsStorable(t *testing.T) {
	// A reject's event id and message come from the bad line, and PostgreSQL refuses text holding a NUL
	// or invalid UTF-8: a NUL is kept as the six characters \u0000, an invalid byte as U+FFFD, so one
	// such line is a reject like any other on both databases.
	const obj = "dt=2026-10-05/a.jsonl"
	res := mustRead(t, map[string][]byte{obj: jsonl(
		`{"id":"r\u00001","ts":"2026-10-05T10:00:00Z","account":"acct_1","type":"serverless","model":"m-small","input_tokens":-5}`,
		`{"id":"r2","ts":"2026-10-05T10:00:00Z","account":"acct_\u0000x","type":"serverless","model":"m-small","input_tokens":5}`,
		"{\"id\":\"r\xff3\",\"ts\":\"2026-10-05T10:00:00Z\",\"account\":\"acct_1\",\"type\":\"serverless\",\"model\":\"m-small\",\"input_tokens\":-5}",
	)}, Options{})
	checkRejects(t, res, []rejectAt{{obj, 1, `r\u00001`, rating.RejectInvalidValue},
		{obj, 2, "r2", rating.RejectUnknownAccount}, {obj, 3, "r\uFFFD3", rating.RejectInvalidValue}})
	for _, r := range res.Rejects {
		if strings.ContainsRune(r.EventID+r.Message, 0) || !utf8.ValidString(r.EventID+r.Message) {
			t.Errorf("reject at line %d: id %q message %q hold a NUL or invalid UTF-8", r.Line, r.EventID, r.Message)
		}
	}
	if msg := res.Rejects[1].Message; !strings.Contains(msg, `acct_\u0000x`) {
		t.Errorf("unknown account message %q does not name the account as written", msg)
	}
}

// TestReportWindow: a GPU interval overlapping a window starts before its end E, ends before
// E + maxGPUInterval and is reported at most 1h after it ends: by E + 1h + 1h = E + 2h with the default
// of 1h (0), by E + 23h + 1h = E + 24h at the largest.
func TestReportWindow(t *testing.T) {
	for _, c := range []struct{ max, want time.Duration }{{0, 2 * time.Hour}, {time.Hour, 2 * time.Hour},
		{30 * time.Minute, 90 * time.Minute}, {MaxGPUIntervalLimit, 24 * time.Hour}} {
		if got := ReportWindow(c.max); got != c.want {
			t.Errorf("ReportWindow(%s) = %s, want %s", c.max, got, c.want)
		}
	}
}
