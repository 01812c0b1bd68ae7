package usage

import (
	"context"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// BenchmarkReadSources reads the same 200,000 events (20 gzip objects) from a local directory, from
// gofakes3 in process, and from the out-of-process S3 at BILLRUN_TEST_S3_ENDPOINT (moto in CI) when
// set, with the real SDK client: the cost of S3 against local files. Metrics: events/s and MB/s of
// uncompressed JSON.
func BenchmarkReadSources(b *testing.B) {
	const objects, perObject = 20, 10_000
	root, raw := benchTree(b, objects, perObject)
	tree := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		data, err := os.ReadFile(p)
		tree["bench/"+filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	local, err := NewLocal(root)
	if err != nil {
		b.Fatal(err)
	}
	sources := []struct {
		name string
		src  func(b *testing.B) Source
	}{
		{"local", func(*testing.B) Source { return local }},
		{"gofakes3", func(b *testing.B) Source {
			srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
			b.Cleanup(srv.Close)
			return benchBucket(b, s3TestClient(b, srv.URL), "bench", tree)
		}},
		{"moto", func(b *testing.B) Source {
			endpoint := os.Getenv("BILLRUN_TEST_S3_ENDPOINT")
			if endpoint == "" {
				b.Skip("BILLRUN_TEST_S3_ENDPOINT not set: skipping out-of-process S3")
			}
			return benchBucket(b, s3TestClient(b, endpoint), fmt.Sprintf("billrun-bench-%d", os.Getpid()), tree)
		}},
	}
	pb := testPriceBook(b)
	for _, s := range sources {
		b.Run(s.name, func(b *testing.B) {
			src := s.src(b)
			b.SetBytes(raw)
			var res *Result
			for b.Loop() {
				res, err = Read(context.Background(), src, Options{PriceBook: pb, Window: octWindow()})
				if err != nil {
					b.Fatal(err)
				}
			}
			if res.Counts.Accepted != objects*perObject {
				b.Fatalf("accepted %d events, want %d", res.Counts.Accepted, objects*perObject)
			}
			b.ReportMetric(float64(b.N)*objects*perObject/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// benchBucket creates bucket, puts tree into it and returns an S3 source on its "bench" prefix.
func benchBucket(b *testing.B, client *s3.Client, bucket string, tree map[string][]byte) Source {
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		b.Fatalf("create bucket: %v", err)
	}
	s3TestPut(b, ctx, client, bucket, tree)
	b.Cleanup(func() {
		for key := range tree {
			_, _ = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		}
		_, _ = client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	return s3TestSource(client, bucket, "bench")
}
