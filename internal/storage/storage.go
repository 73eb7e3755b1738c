// Package storage keeps evidence files in an S3-compatible object store
// (spec §6). Uploads land under a server-chosen staging key; an activity
// later promotes them to their final key (order.EvidenceObjectKey); the
// bucket is private and downloads go through short-lived presigned URLs.
package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/ordem/ordem/internal/config"
)

// StagingPrefix is where uploads wait until they are promoted.
const StagingPrefix = "staging/"

// MaxPresignTTL is the longest validity of a presigned URL (a SigV4 limit).
const MaxPresignTTL = 7 * 24 * time.Hour

// ErrNotFound is returned (wrapped) when an object that must exist does not.
var ErrNotFound = errors.New("storage: object not found")

// Options configure a Store.
type Options struct {
	// Endpoint is the base URL of an S3-compatible server
	// (http://127.0.0.1:7070); empty uses AWS S3 for Region.
	Endpoint string
	Region   string
	Bucket   string
	// AccessKey and SecretKey are static credentials.
	AccessKey string
	SecretKey string
	// Credentials, when set, replaces the static keys (for example a
	// provider from the AWS default chain).
	Credentials aws.CredentialsProvider
	// UsePathStyle addresses buckets as ENDPOINT/BUCKET/KEY instead of
	// BUCKET.ENDPOINT/KEY; most self-hosted servers need it.
	UsePathStyle bool
	// HTTPClient, when set, replaces the SDK's default HTTP client.
	HTTPClient s3.HTTPClient
}

// OptionsFromConfig returns the store options of the process
// configuration (S3_* variables).
func OptionsFromConfig(c *config.Config) Options {
	return Options{
		Endpoint:     c.S3Endpoint,
		Region:       c.S3Region,
		Bucket:       c.S3Bucket,
		AccessKey:    c.S3AccessKey,
		SecretKey:    c.S3SecretKey,
		UsePathStyle: c.S3UsePathStyle,
	}
}

// Store is an evidence bucket. It is safe for concurrent use.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	region  string
	now     func() time.Time
}

// Staged describes an upload in the staging area.
type Staged struct {
	Key    string // staging/<uuid>
	SHA256 string // lower-case hex digest of the bytes stored
	Size   int64
}

// New returns a store for o. It does no I/O; call EnsureBucket or Ping to
// reach the server.
func New(o Options) (*Store, error) {
	if o.Bucket == "" {
		return nil, errors.New("storage: S3_BUCKET is empty")
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	creds := o.Credentials
	if creds == nil {
		if o.AccessKey == "" || o.SecretKey == "" {
			return nil, errors.New("storage: S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must both be set")
		}
		creds = credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, "")
	}
	opts := s3.Options{
		Region:       o.Region,
		Credentials:  aws.NewCredentialsCache(creds),
		UsePathStyle: o.UsePathStyle,
	}
	if o.HTTPClient != nil {
		opts.HTTPClient = o.HTTPClient
	}
	if o.Endpoint != "" {
		u, err := url.Parse(o.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("storage: S3_ENDPOINT %q is not an http(s) URL", o.Endpoint)
		}
		opts.BaseEndpoint = aws.String(strings.TrimRight(o.Endpoint, "/"))
		// Self-hosted servers: send checksums only where the API requires
		// them. The SDK's default (a CRC trailer on every upload) needs
		// aws-chunked encoding, which is only possible over TLS and not
		// every S3-compatible server accepts.
		opts.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		opts.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	client := s3.New(opts)
	return &Store{
		client:  client,
		presign: s3.NewPresignClient(client),
		bucket:  o.Bucket,
		region:  o.Region,
		now:     time.Now,
	}, nil
}

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// Client returns the underlying S3 client.
func (s *Store) Client() *s3.Client { return s.client }

// Ping checks that the bucket is reachable with the configured credentials
// (HeadBucket), for readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("storage: bucket %s: %w", s.bucket, err)
	}
	return nil
}

// EnsureBucket creates the bucket when it does not exist. A new bucket is
// private: no ACL grants, and public access blocked where the server
// supports it. An existing bucket is left as it is.
func (s *Store) EnsureBucket(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err == nil {
		return nil
	}
	if !isNotFound(err) && !isNoSuchBucket(err) {
		return fmt.Errorf("storage: check bucket %s: %w", s.bucket, err)
	}
	// No ACL: a new bucket is private to its owner by default.
	in := &s3.CreateBucketInput{Bucket: &s.bucket}
	if s.region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.region),
		}
	}
	if _, err := s.client.CreateBucket(ctx, in); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return fmt.Errorf("storage: create bucket %s: %w", s.bucket, err)
		}
		return nil // created concurrently by another process
	}
	_, err = s.client.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{
		Bucket: &s.bucket,
		PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
			BlockPublicAcls:       aws.Bool(true),
			BlockPublicPolicy:     aws.Bool(true),
			IgnorePublicAcls:      aws.Bool(true),
			RestrictPublicBuckets: aws.Bool(true),
		},
	})
	if err != nil && !isNotImplemented(err) {
		return fmt.Errorf("storage: block public access on %s: %w", s.bucket, err)
	}
	return nil
}

// PutStaging streams exactly size bytes from r to a new staging key,
// computing their SHA-256 on the way; memory use does not grow with the
// size. r must hold exactly size bytes: a shorter or longer body is an
// error and nothing is left behind.
func (s *Store) PutStaging(ctx context.Context, r io.Reader, size int64, contentType string) (Staged, error) {
	if size < 0 {
		return Staged{}, fmt.Errorf("storage: put: negative size %d", size)
	}
	key := StagingPrefix + uuid.NewString()
	h := sha256.New()
	body := &countingReader{r: io.TeeReader(io.LimitReader(r, size), h)}
	in := &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          body,
		ContentLength: aws.Int64(size),
	}
	if contentType != "" {
		in.ContentType = aws.String(contentType)
	}
	// The body is a one-pass stream: sign the request without hashing the
	// payload first (UNSIGNED-PAYLOAD), which would need a seekable body.
	_, err := s.client.PutObject(ctx, in, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	if err != nil {
		if body.eof && body.n < size {
			return Staged{}, fmt.Errorf("storage: put %s: body has only %d of the declared %d bytes: %w", key, body.n, size, err)
		}
		return Staged{}, fmt.Errorf("storage: put %s: %w", key, err)
	}
	var extra [1]byte
	if body.n != size {
		err = fmt.Errorf("storage: put %s: read %d bytes, expected %d", key, body.n, size)
	} else if n, _ := io.ReadFull(r, extra[:]); n > 0 {
		err = fmt.Errorf("storage: put %s: body is longer than the declared %d bytes", key, size)
	}
	if err != nil {
		// Best effort; CleanupStaging removes leftovers.
		_ = s.Delete(context.WithoutCancel(ctx), key)
		return Staged{}, err
	}
	return Staged{Key: key, SHA256: hex.EncodeToString(h.Sum(nil)), Size: size}, nil
}

// Promote moves a staged upload to its final key (copy, then delete the
// staging object). It is idempotent: when the staging object is gone but
// the final object exists — a retry after a crash between copy and delete,
// or after a full success — it succeeds. When neither exists it returns
// an error wrapping ErrNotFound.
func (s *Store) Promote(ctx context.Context, stagingKey, finalKey string) error {
	if !strings.HasPrefix(stagingKey, StagingPrefix) || len(stagingKey) == len(StagingPrefix) {
		return fmt.Errorf("storage: promote: %q is not a staging key", stagingKey)
	}
	if finalKey == "" || strings.HasPrefix(finalKey, StagingPrefix) {
		return fmt.Errorf("storage: promote: %q is not a final key", finalKey)
	}
	_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:     &s.bucket,
		Key:        &finalKey,
		CopySource: aws.String(copySource(s.bucket, stagingKey)),
	})
	if err != nil {
		if !isNotFound(err) {
			return fmt.Errorf("storage: promote %s to %s: %w", stagingKey, finalKey, err)
		}
		ok, herr := s.Exists(ctx, finalKey)
		if herr != nil {
			return fmt.Errorf("storage: promote %s to %s: %w", stagingKey, finalKey, herr)
		}
		if ok {
			return nil
		}
		return fmt.Errorf("storage: promote %s to %s: neither exists: %w", stagingKey, finalKey, ErrNotFound)
	}
	if err := s.Delete(ctx, stagingKey); err != nil {
		return fmt.Errorf("storage: promote %s to %s: %w", stagingKey, finalKey, err)
	}
	return nil
}

// Delete removes an object; deleting a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("storage: delete %s: %w", key, err)
	}
	return nil
}

// Exists reports whether an object exists.
func (s *Store) Exists(ctx context.Context, key string) (bool, error) {
	_, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if err == nil {
		return true, nil
	}
	if isNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("storage: head %s: %w", key, err)
}

// Object is an open object: its bytes and what the server says of them.
// The caller must Close it.
type Object struct {
	Body        io.ReadCloser
	Size        int64  // Content-Length
	ContentType string // as stored
}

// Open starts reading key. The bytes stream from the server as Body is
// read; nothing is buffered beyond the transport's own buffers. A missing
// object is an error wrapping ErrNotFound.
func (s *Store) Open(ctx context.Context, key string) (*Object, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("storage: get %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("storage: get %s: %w", key, err)
	}
	size := int64(-1)
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return &Object{Body: out.Body, Size: size, ContentType: aws.ToString(out.ContentType)}, nil
}

// PresignGet returns a URL that downloads key for ttl without credentials.
// The response is an attachment named filename (Content-Disposition), so
// browsers save it instead of rendering it. It does no I/O: it does not
// check that the object exists.
func (s *Store) PresignGet(ctx context.Context, key, filename string, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > MaxPresignTTL {
		return "", fmt.Errorf("storage: presign %s: ttl %s is outside (0, %s]", key, ttl, MaxPresignTTL)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket:                     &s.bucket,
		Key:                        &key,
		ResponseContentDisposition: aws.String(ContentDisposition(filename)),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("storage: presign %s: %w", key, err)
	}
	return req.URL, nil
}

// CleanupStaging deletes staging objects last modified more than olderThan
// ago (abandoned uploads) and returns how many it deleted. Promoted
// evidence is never touched.
func (s *Store) CleanupStaging(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("storage: cleanup: olderThan must be positive, got %s", olderThan)
	}
	cutoff := s.now().Add(-olderThan)
	deleted := 0
	var batch []types.ObjectIdentifier
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := s.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket,
			Delete: &types.Delete{Objects: batch, Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("storage: cleanup: %w", err)
		}
		failed := 0
		var first string
		for _, e := range out.Errors {
			if aws.ToString(e.Code) == "NoSuchKey" {
				continue // deleted concurrently
			}
			if failed == 0 {
				first = fmt.Sprintf("%s: %s %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
			}
			failed++
		}
		deleted += len(batch) - failed
		batch = batch[:0]
		if failed > 0 {
			return fmt.Errorf("storage: cleanup: %d objects not deleted, first %s", failed, first)
		}
		return nil
	}
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: &s.bucket,
		Prefix: aws.String(StagingPrefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return deleted, fmt.Errorf("storage: cleanup: list: %w", err)
		}
		for _, o := range page.Contents {
			if o.Key == nil || o.LastModified == nil || !o.LastModified.Before(cutoff) {
				continue
			}
			batch = append(batch, types.ObjectIdentifier{Key: o.Key})
			if len(batch) == 1000 { // DeleteObjects limit
				if err := flush(); err != nil {
					return deleted, err
				}
			}
		}
	}
	return deleted, flush()
}

// ContentDisposition returns an attachment Content-Disposition for
// filename, safe whatever the name holds (RFC 6266): a quoted ASCII
// fallback with quotes, backslashes, percent signs, control and non-ASCII
// characters replaced by '_', plus the exact name as filename* (RFC 8187
// UTF-8 percent-encoding) when the two differ. Any directory part is
// dropped.
func ContentDisposition(filename string) string { return disposition("attachment", filename) }

// InlineContentDisposition is ContentDisposition for a response shown in
// the browser (inline) instead of saved; the name is encoded the same way.
func InlineContentDisposition(filename string) string { return disposition("inline", filename) }

func disposition(kind, filename string) string {
	if i := strings.LastIndexAny(filename, `/\`); i >= 0 {
		filename = filename[i+1:]
	}
	var fb strings.Builder
	for _, r := range filename {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '%' {
			fb.WriteByte('_')
		} else {
			fb.WriteRune(r)
		}
	}
	fallback := strings.TrimSpace(fb.String())
	if fallback == "" || strings.Trim(fallback, "._") == "" {
		fallback = "download"
	}
	v := kind + `; filename="` + fallback + `"`
	if fallback != filename && filename != "" {
		v += "; filename*=UTF-8''" + encodeRFC8187(filename)
	}
	return v
}

// encodeRFC8187 percent-encodes every byte outside attr-char.
func encodeRFC8187(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			strings.IndexByte("!#$&+-.^_`|~", c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// copySource is the x-amz-copy-source value: bucket/key, URL-encoded.
func copySource(bucket, key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return bucket + "/" + strings.Join(parts, "/")
}

// isNotFound reports a missing object (not a missing bucket: that is a
// configuration problem, never silently ignored).
func isNotFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "NoSuchKey":
			return true
		case "NoSuchBucket":
			return false
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func isNoSuchBucket(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket"
}

func isNotImplemented(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotImplemented", "NotSupported", "MethodNotAllowed":
			return true
		}
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusNotImplemented ||
		re.HTTPStatusCode() == http.StatusMethodNotAllowed)
}

// countingReader counts the bytes read and notes the end of the stream.
type countingReader struct {
	r   io.Reader
	n   int64
	eof bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}
