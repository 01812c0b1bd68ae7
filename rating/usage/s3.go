package usage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"

	"billrun/rating"
)

const (
	// s3DefaultMaxRetries applies when S3Options.MaxRetries is zero, and to sources built by NewS3FromClient.
	s3DefaultMaxRetries = 5
	// s3MaxBackoff caps the SDK retryer's wait between two attempts of one request.
	s3MaxBackoff = 20 * time.Second
	// s3ResumeBaseBackoff and s3ResumeMaxBackoff bound the wait before resuming a broken object body:
	// base × 2^(attempt-1), at most max.
	s3ResumeBaseBackoff = 200 * time.Millisecond
	s3ResumeMaxBackoff  = 5 * time.Second
	// s3ListPageKeys is the page size of ListObjectsV2 (S3's own maximum).
	s3ListPageKeys = 1000
	// s3DefaultRegion is used for an S3-compatible endpoint when no region is configured; such servers
	// accept any region, but the SDK needs one to sign.
	s3DefaultRegion = "us-east-1"
)

// S3API is the part of the S3 client the S3 source calls. *s3.Client satisfies it.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var (
	_ S3API  = (*s3.Client)(nil)
	_ Source = (*S3)(nil)
)

// S3Options configures NewS3. Credentials always come from the AWS SDK's default chain (environment,
// shared config and credentials files, SSO, instance or task roles).
type S3Options struct {
	// Bucket holds the usage tree; required.
	Bucket string
	// Prefix is the key prefix under which the dt=YYYY-MM-DD partitions live, with or without a trailing
	// slash; empty means the bucket root.
	Prefix string
	// Endpoint is the base URL of an S3-compatible server (e.g. "http://127.0.0.1:5000"). Empty means
	// the SDK's own resolution: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the shared config file, else AWS.
	Endpoint string
	// PathStyle addresses buckets as ENDPOINT/BUCKET/KEY instead of BUCKET.ENDPOINT/KEY; most
	// S3-compatible servers need it.
	PathStyle bool
	// AutoPathStyle, when PathStyle is false, addresses buckets path-style exactly when the endpoint
	// is an S3-compatible server's rather than AWS's (see pathStyleFor): with AWS_ENDPOINT_URL_S3 set
	// to http://localhost:5000, virtual-host addressing sends billing.localhost, which does not resolve.
	AutoPathStyle bool
	// Region overrides the SDK's default chain (AWS_REGION, shared config). With no region at all, an
	// S3-compatible endpoint gets us-east-1 and AWS proper is an error.
	Region string
	// MaxRetries bounds the retries of each request (throttling, 5xx, connection errors; with
	// exponential backoff) and the resumptions of each object's body. Zero means 5.
	MaxRetries int
	// Logger receives debug chatter and warnings about resumed reads; nil discards them.
	Logger *slog.Logger
}

// Validate reports the first problem with the options, phrased as what to fix.
func (o S3Options) Validate() error {
	if o.Bucket == "" {
		return errors.New("usage: s3: bucket is required: use --usage s3://BUCKET/PREFIX")
	}
	if strings.ContainsAny(o.Bucket, "/@:?# ") {
		return fmt.Errorf("usage: s3: bucket %q is not a bucket name: use --usage s3://BUCKET/PREFIX", o.Bucket)
	}
	if o.MaxRetries < 0 {
		return fmt.Errorf("usage: s3: max retries %d is negative: use 0 for the default or a positive count", o.MaxRetries)
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("usage: s3: endpoint %q is not a URL: want http(s)://HOST[:PORT]", o.Endpoint)
		}
	}
	return nil
}

// ParseS3URI splits "s3://bucket/prefix" into its bucket and prefix (which may be empty, and keeps any
// trailing slash). It returns an error saying what is wrong when uri is not such a URI.
func ParseS3URI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("usage: %q is not an S3 URI: want s3://BUCKET/PREFIX", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("usage: S3 URI %q has no bucket: want s3://BUCKET/PREFIX", uri)
	}
	if strings.ContainsAny(bucket, "@:?# ") {
		// Credentials or a port in the authority would end up in logs; they belong in the SDK's chain.
		// The message shows only what follows a userinfo's @, so it never prints a secret either.
		shown := bucket
		if i := strings.LastIndexByte(shown, '@'); i >= 0 {
			shown = "…@" + shown[i+1:]
		}
		return "", "", fmt.Errorf("usage: S3 URI s3://%s/…: %q is not a bucket name (put credentials and endpoints in AWS_* "+
			"variables, not the URI)", shown, shown)
	}
	return bucket, prefix, nil
}

// S3 is a usage Source over an S3 bucket and prefix. It is safe for concurrent use; each reader that
// Open returns is for one goroutine.
type S3 struct {
	client     S3API
	bucket     string
	prefix     string // "" or ending in "/"
	logger     *slog.Logger
	maxResumes int
	// listPageKeys is the ListObjectsV2 page size; tests shrink it to exercise pagination.
	listPageKeys int32
	// resumeBackoff is the wait before the n-th resumption (n ≥ 1) of one object's body.
	resumeBackoff func(n int) time.Duration
}

// NewS3 validates opts and builds an S3 source on a client configured from the SDK's default chain,
// with checksums only where S3 requires them (so S3-compatible servers work), the endpoint and
// addressing style from opts, and bounded retries with exponential backoff. It makes no request; an
// error means invalid options, unreadable AWS configuration, or no region for AWS proper.
func NewS3(ctx context.Context, opts S3Options) (*S3, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	maxRetries := cmp.Or(opts.MaxRetries, s3DefaultMaxRetries)
	loadOpts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxRetries + 1
				o.MaxBackoff = s3MaxBackoff
			})
		}),
	}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	// The SDK's own logger prints plain "SDK <time> WARN …" lines on stderr (the credential chain's
	// IMDS fallback, for one), which would break JSON logs: route them through slog.
	loadOpts = append(loadOpts, config.WithLogger(sdkLogger{cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))}))
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("usage: s3: load AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// NewFromConfig has already applied AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL here; an explicit
		// endpoint wins over them.
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle || (opts.AutoPathStyle && pathStyleFor(o.BaseEndpoint))
		if o.Region == "" && o.BaseEndpoint != nil {
			o.Region = s3DefaultRegion
		}
	})
	if client.Options().Region == "" {
		return nil, errors.New("usage: s3: no AWS region configured: set AWS_REGION (or region in ~/.aws/config)")
	}
	s := NewS3FromClient(client, opts.Bucket, opts.Prefix, opts.Logger)
	s.maxResumes = maxRetries
	return s, nil
}

// sdkLogger adapts slog to the AWS SDK's logger: its warnings at Warn, the rest at Debug.
type sdkLogger struct{ log *slog.Logger }

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, "usage: s3: aws sdk", slog.String("message", fmt.Sprintf(format, v...)))
}

// pathStyleFor reports whether a client with base endpoint (nil: the SDK's own, AWS) should address
// buckets path-style when the user did not say: yes for an S3-compatible server (MinIO, Ceph, moto,
// R2 … — every one serves path-style requests, and a host name such as localhost takes no bucket
// subdomain), no for AWS's own hosts, whose virtual-host addressing is the SDK's default.
func pathStyleFor(endpoint *string) bool {
	if endpoint == nil || *endpoint == "" {
		return false
	}
	u, err := url.Parse(*endpoint)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for _, aws := range []string{".amazonaws.com", ".amazonaws.com.cn"} {
		if strings.HasSuffix(host, aws) {
			return false
		}
	}
	return host != ""
}

// NewS3FromClient builds an S3 source on an existing client, for tests and callers that configure the
// SDK themselves. The client's own retryer governs request retries; a broken body is resumed up to 5
// times. A nil logger discards.
func NewS3FromClient(client S3API, bucket, prefix string, logger *slog.Logger) *S3 {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3{
		client:       client,
		bucket:       bucket,
		prefix:       prefix,
		logger:       logger.With("source", "s3://"+bucket+"/"+prefix),
		maxResumes:   s3DefaultMaxRetries,
		listPageKeys: s3ListPageKeys,
		resumeBackoff: func(n int) time.Duration {
			return min(s3ResumeBaseBackoff<<min(n-1, 16), s3ResumeMaxBackoff)
		},
	}
}

// String returns "s3://bucket/prefix" (no credentials, no endpoint).
func (s *S3) String() string {
	return "s3://" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

// uri names a full key for errors and logs.
func (s *S3) uri(key string) string { return "s3://" + s.bucket + "/" + key }

// List returns the usage objects directly inside the dt=DATE/ partition of each date ("YYYY-MM-DD"),
// sorted by key, with keys relative to the prefix and unquoted ETags. It lists exactly those
// partitions, page by page. It returns an error for a malformed date, a failed listing (after the
// client's retries), or a listing the server says is truncated without a new continuation token.
func (s *S3) List(ctx context.Context, dates []string) ([]rating.Object, []string, error) {
	seen := make(map[string]rating.Object)
	misnamed := make(map[string]bool)
	for _, date := range dates {
		if _, err := time.Parse(time.DateOnly, date); err != nil {
			return nil, nil, fmt.Errorf("partition date %q is not YYYY-MM-DD", date)
		}
		partition := s.prefix + "dt=" + date + "/"
		pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
			Bucket:    aws.String(s.bucket),
			Prefix:    aws.String(partition),
			Delimiter: aws.String("/"), // deeper "folders" come back as common prefixes, which we skip
			MaxKeys:   aws.Int32(s.listPageKeys),
			// Keys are returned URL-encoded: XML 1.0 cannot carry every character a key may hold (U+0001,
			// and a CR would come back as LF), so without it such a key fails the whole listing.
			EncodingType: types.EncodingTypeUrl,
		}, func(o *s3.ListObjectsV2PaginatorOptions) {
			o.StopOnDuplicateToken = true // a server repeating its token must not loop us forever
		})
		nPages, nObjects := 0, 0
		token := "" // the continuation token the page was asked for
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				return nil, nil, fmt.Errorf("%s page %d: %w", s.uri(partition), nPages+1, err)
			}
			nPages++
			// The paginator ends quietly on a truncated page with no token, or with the token it
			// asked with: the objects after it would go unbilled without a word.
			if aws.ToBool(page.IsTruncated) {
				next := aws.ToString(page.NextContinuationToken)
				if next == "" || next == token {
					return nil, nil, fmt.Errorf("%s page %d: the listing is truncated but gives no new continuation token "+
						"(%q): the server's listing cannot be completed", s.uri(partition), nPages, next)
				}
				token = next
			}
			for _, o := range page.Contents {
				key, err := listedKey(page.EncodingType, aws.ToString(o.Key))
				if err != nil {
					return nil, nil, fmt.Errorf("%s page %d: %w", s.uri(partition), nPages, err)
				}
				name, ok := strings.CutPrefix(key, partition)
				if !ok || name == "" || strings.Contains(name, "/") {
					continue
				}
				if !isUsageName(name) {
					if misnamedUsage(name) {
						misnamed[strings.TrimPrefix(key, s.prefix)] = true
					}
					continue
				}
				rel := strings.TrimPrefix(key, s.prefix)
				if _, dup := seen[rel]; dup {
					continue // servers (gofakes3) may repeat an entry across pages
				}
				seen[rel] = rating.Object{
					Key:  rel,
					Size: aws.ToInt64(o.Size),
					ETag: strings.Trim(aws.ToString(o.ETag), `"`),
				}
				nObjects++
			}
		}
		s.logger.DebugContext(ctx, "listed s3 partition", "partition", partition, "pages", nPages, "objects", nObjects)
	}
	objects := slices.Collect(maps.Values(seen))
	slices.SortFunc(objects, func(a, b rating.Object) int { return cmp.Compare(a.Key, b.Key) })
	return objects, slices.Sorted(maps.Keys(misnamed)), nil
}

// listedKey returns a key as ListObjectsV2 listed it: URL-decoded when the response says it is encoded
// (a server that ignores the request's encoding type sends keys as they are, and decoding those would
// turn a "+" into a space).
func listedKey(enc types.EncodingType, key string) (string, error) {
	if enc != types.EncodingTypeUrl {
		return key, nil
	}
	decoded, err := url.QueryUnescape(key)
	if err != nil {
		return "", fmt.Errorf("listed key %q is not URL-encoded as the response says: %w", key, err)
	}
	return decoded, nil
}

// Open starts streaming obj's bytes as listed: the GET carries If-Match on the listed ETag, and its
// response must carry that ETag, so an object replaced since List fails instead of being read (also on
// a server that ignores If-Match). When the body breaks mid-stream (a read
// error, or an end before obj.Size bytes), the reader resumes with a ranged GET from the next byte,
// still If-Match, with backoff and a bounded number of resumptions; when it cannot, Read returns an
// error naming the object. Open returns an error wrapping fs.ErrNotExist when the object no longer
// exists, and an error naming the object for any other failure (after the client's retries).
func (s *S3) Open(ctx context.Context, obj rating.Object) (io.ReadCloser, error) {
	r := &s3Reader{s: s, ctx: ctx, obj: obj, key: s.prefix + obj.Key, etag: obj.ETag}
	body, err := r.get(0)
	if err != nil {
		return nil, err
	}
	r.body = body
	return r, nil
}

// s3Reader streams one object, resuming a broken body with ranged GETs.
type s3Reader struct {
	s       *S3
	ctx     context.Context // Open's context, for resumptions
	obj     rating.Object
	key     string // full key in the bucket
	etag    string // unquoted; pins every GET to the same object version
	body    io.ReadCloser
	off     int64 // bytes delivered so far
	resumes int
	lastErr error // why the body last broke
	err     error // sticky: once set, every Read returns it
}

// Read implements io.Reader. It never reports io.EOF before obj.Size bytes have been delivered.
func (r *s3Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if ctxErr := r.ctx.Err(); ctxErr != nil {
		// The transport notices cancellation only eventually; stop now rather than drain buffered bytes.
		r.closeBody()
		r.err = fmt.Errorf("usage: read %s at byte %d of %d: %w", r.s.uri(r.key), r.off, r.obj.Size, ctxErr)
		return 0, r.err
	}
	for {
		if r.body == nil {
			if err := r.resume(); err != nil {
				r.err = err
				return 0, err
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if r.off > r.obj.Size {
			r.closeBody()
			r.err = fmt.Errorf("usage: read %s: more than the listed %d bytes: object changed since listed", r.s.uri(r.key), r.obj.Size)
			return 0, r.err
		}
		if err == nil {
			return n, nil
		}
		if err == io.EOF && r.off == r.obj.Size {
			r.closeBody()
			r.err = io.EOF
			return n, io.EOF
		}
		// The body broke before the end: resume on this or the next Read.
		r.closeBody()
		if ctxErr := r.ctx.Err(); ctxErr != nil {
			r.err = fmt.Errorf("usage: read %s at byte %d of %d: %w", r.s.uri(r.key), r.off, r.obj.Size, ctxErr)
			return n, r.err
		}
		if err == io.EOF {
			err = fmt.Errorf("body ended early: %w", io.ErrUnexpectedEOF)
		}
		r.lastErr = err
		if n > 0 {
			return n, nil
		}
	}
}

// Close releases the current body; later Reads fail.
func (r *s3Reader) Close() error {
	r.closeBody()
	if r.err == nil || r.err == io.EOF {
		r.err = fmt.Errorf("usage: read %s: %w", r.s.uri(r.key), fs.ErrClosed)
	}
	return nil
}

func (r *s3Reader) closeBody() {
	if r.body != nil {
		r.body.Close() // a body we give up on has no error worth reporting
		r.body = nil
	}
}

// resume waits, then reopens the object at r.off, or returns why it cannot.
func (r *s3Reader) resume() error {
	if r.resumes >= r.s.maxResumes {
		return fmt.Errorf("usage: read %s: body broke at byte %d of %d, gave up after %d resumptions: %w",
			r.s.uri(r.key), r.off, r.obj.Size, r.resumes, r.lastErr)
	}
	r.resumes++
	r.s.logger.WarnContext(r.ctx, "resuming broken s3 read", "key", r.obj.Key, "offset", r.off,
		"size", r.obj.Size, "attempt", r.resumes, "err", r.lastErr)
	t := time.NewTimer(r.s.resumeBackoff(r.resumes))
	defer t.Stop()
	select {
	case <-r.ctx.Done():
		return fmt.Errorf("usage: read %s at byte %d of %d: %w", r.s.uri(r.key), r.off, r.obj.Size, r.ctx.Err())
	case <-t.C:
	}
	body, err := r.get(r.off)
	if err != nil {
		return err
	}
	r.body = body
	return nil
}

// get issues one GET of the object from byte off, If-Match on the ETag, and checks that the response
// is the listed object from that byte. The client has already retried throttling, 5xx and connection
// errors, so an error here is final.
func (r *s3Reader) get(off int64) (io.ReadCloser, error) {
	uri := r.s.uri(r.key)
	op := "get " + uri
	in := &s3.GetObjectInput{Bucket: aws.String(r.s.bucket), Key: aws.String(r.key)}
	if r.etag != "" {
		in.IfMatch = aws.String(`"` + r.etag + `"`)
	}
	if off > 0 {
		op = fmt.Sprintf("resume %s at byte %d of %d", uri, off, r.obj.Size)
		if r.etag == "" {
			// Without an ETag a ranged GET could splice two versions of the object.
			return nil, fmt.Errorf("usage: %s: no ETag to pin the object version: %w", op, r.lastErr)
		}
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := r.s.client.GetObject(r.ctx, in)
	if err != nil {
		var noKey *types.NoSuchKey
		switch status := s3HTTPStatus(err); {
		case errors.As(err, &noKey) || status == http.StatusNotFound:
			return nil, fmt.Errorf("usage: %s: object deleted since listed: %w: %w", op, fs.ErrNotExist, err)
		case status == http.StatusPreconditionFailed:
			return nil, fmt.Errorf("usage: %s: object changed since listed (ETag %s): %w", op, r.etag, err)
		default:
			return nil, fmt.Errorf("usage: %s: %w", op, err)
		}
	}
	if r.etag == "" {
		r.etag = strings.Trim(aws.ToString(out.ETag), `"`)
	}
	if err := r.checkResponse(off, out); err != nil {
		out.Body.Close()
		return nil, fmt.Errorf("usage: %s: %w", op, err)
	}
	return out.Body, nil
}

// checkResponse verifies a GET response is the listed object's version and covers it from byte off to
// its end.
func (r *s3Reader) checkResponse(off int64, out *s3.GetObjectOutput) error {
	// If-Match already pins the version on S3, but some S3-compatible servers (gofakes3) ignore it:
	// without this check an object overwritten with one of the same size would be read as the new
	// version under the listed ETag, or, on a resumption, spliced from two versions.
	if got := strings.Trim(aws.ToString(out.ETag), `"`); got != "" && got != r.etag {
		return fmt.Errorf("response ETag %s, listed %s: object changed since listed", got, r.etag)
	}
	if off > 0 {
		// "bytes START-END/TOTAL"; without it the server ignored Range and is sending from byte 0.
		cr := aws.ToString(out.ContentRange)
		spec, ok := strings.CutPrefix(cr, "bytes ")
		startText, rest, ok2 := strings.Cut(spec, "-")
		_, totalText, ok3 := strings.Cut(rest, "/")
		start, err := strconv.ParseInt(startText, 10, 64)
		if !ok || !ok2 || !ok3 || err != nil {
			return fmt.Errorf("response Content-Range %q does not answer the Range request", cr)
		}
		if start != off {
			return fmt.Errorf("response starts at byte %d, want %d", start, off)
		}
		if total, err := strconv.ParseInt(totalText, 10, 64); err == nil && total != r.obj.Size {
			return fmt.Errorf("object has %d bytes, listed %d: object changed since listed", total, r.obj.Size)
		}
	}
	if want := r.obj.Size - off; out.ContentLength != nil && *out.ContentLength != want {
		return fmt.Errorf("response has %d bytes, want %d: object changed since listed", *out.ContentLength, want)
	}
	return nil
}

// s3HTTPStatus returns the HTTP status of a failed SDK call, or 0.
func s3HTTPStatus(err error) int {
	var resp interface{ HTTPStatusCode() int }
	if errors.As(err, &resp) {
		return resp.HTTPStatusCode()
	}
	return 0
}
