package usage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// benchTree writes a gzip usage tree for October 2026: objects × perObject events, 80% serverless,
// 15% GPU, 5% fine-tuning, over 1,000 accounts. It returns the root and the uncompressed size.
func benchTree(b *testing.B, objects, perObject int) (string, int64) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	files := make(map[string][]byte, objects)
	var raw int64
	id := 0
	for o := range objects {
		day := 1 + o%30
		var sb strings.Builder
		for range perObject {
			id++
			acct := fmt.Sprintf("acct_%05d", rng.IntN(1000))
			ts := time.Date(2026, 10, day, rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000)*1e6, time.UTC)
			switch r := rng.IntN(100); {
			case r < 80:
				in := rng.Int64N(8000)
				fmt.Fprintf(&sb, `{"id":"ev-%09d","ts":%q,"account":%q,"type":"serverless","model":"m-small",`+
					`"input_tokens":%d,"output_tokens":%d,"cached_input_tokens":%d,"batch":%t}`+"\n",
					id, ts.Format(time.RFC3339Nano), acct, in, rng.Int64N(2000), in/2, r < 10)
			case r < 95:
				if ts.Hour() == 0 {
					ts = ts.Add(time.Hour)
				}
				end := ts.Truncate(time.Minute)
				fmt.Fprintf(&sb, `{"id":"ev-%09d","ts":%q,"account":%q,"type":"gpu","deployment":"dep-%d",`+
					`"gpu_type":"H100-80GB","gpu_count":%d,"start":%q,"end":%q}`+"\n",
					id, ts.Format(time.RFC3339Nano), acct, rng.IntN(3), 1+rng.IntN(8),
					end.Add(-time.Duration(1+rng.IntN(60))*time.Minute).Format(time.RFC3339), end.Format(time.RFC3339))
			default:
				fmt.Fprintf(&sb, `{"id":"ev-%09d","ts":%q,"account":%q,"type":"fine_tuning","job":"job-%d",`+
					`"base_model":"base-8b","training_tokens":%d,"epochs":%d,"method":"lora_sft"}`+"\n",
					id, ts.Format(time.RFC3339Nano), acct, rng.IntN(50), rng.Int64N(1e7), 1+rng.IntN(3))
			}
		}
		raw += int64(sb.Len())
		files[fmt.Sprintf("dt=2026-10-%02d/part-%04d.jsonl.gz", day, o)] = gzipped(b, []byte(sb.String()))
	}
	return writeTree(b, files), raw
}

// BenchmarkRead reads 200,000 events in 20 gzip objects. Metrics: events/s, ns/event, allocs/event,
// and MB/s of uncompressed JSON.
func BenchmarkRead(b *testing.B) {
	const objects, perObject = 20, 10_000
	root, raw := benchTree(b, objects, perObject)
	src, err := NewLocal(root)
	if err != nil {
		b.Fatal(err)
	}
	pb := testPriceBook(b)
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(raw)
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var res *Result
			for b.Loop() {
				res, err = Read(context.Background(), src, Options{PriceBook: pb, Window: octWindow(), Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			if res.Counts.Accepted != objects*perObject {
				b.Fatalf("accepted %d events, want %d (rejects: %v)", res.Counts.Accepted, objects*perObject, res.Counts.RejectsByCode)
			}
			events := float64(b.N) * objects * perObject
			b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/events, "ns/event")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/events, "allocs/event")
		})
	}
}

// BenchmarkReadOneObject reads 200,000 events in one gzip object with a worker per CPU, with and
// without the read-ahead that decompresses an object on a goroutine of its own while its lines are
// decoded: with one object, the only way a second core helps.
func BenchmarkReadOneObject(b *testing.B) {
	const objects, perObject = 1, 200_000
	root, raw := benchTree(b, objects, perObject)
	src, err := NewLocal(root)
	if err != nil {
		b.Fatal(err)
	}
	pb := testPriceBook(b)
	for _, off := range []bool{true, false} {
		b.Run(fmt.Sprintf("read-ahead=%t", !off), func(b *testing.B) {
			readAheadOff = off
			defer func() { readAheadOff = false }()
			b.SetBytes(raw)
			for b.Loop() {
				res, err := Read(context.Background(), src, Options{PriceBook: pb, Window: octWindow(), Workers: runtime.GOMAXPROCS(0)})
				if err != nil {
					b.Fatal(err)
				}
				if res.Counts.Accepted != objects*perObject {
					b.Fatalf("accepted %d events, want %d", res.Counts.Accepted, objects*perObject)
				}
			}
			b.ReportMetric(float64(b.N)*objects*perObject/b.Elapsed().Seconds(), "events/s")
		})
	}
}
