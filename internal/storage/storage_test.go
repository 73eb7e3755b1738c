package storage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/s3test"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/workflows/order"
)

const tenMiB = 10 << 20

// newStore starts a server and returns a store over a fresh bucket.
func newStore(t *testing.T) (*storage.Store, *s3test.Server) {
	t.Helper()
	srv := startServer(t)
	st, err := storage.New(storage.Options{
		Endpoint:     srv.Endpoint,
		Region:       srv.Region,
		Bucket:       srv.NewBucket(t),
		AccessKey:    srv.AccessKey,
		SecretKey:    srv.SecretKey,
		UsePathStyle: true,
	})
	require.NoError(t, err)
	return st, srv
}

func startServer(t *testing.T) *s3test.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the versitygw S3 server; skipped with -short")
	}
	return s3test.Start(t)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// stream is a non-seekable reader of n pseudo-random bytes that also
// hashes what it produced.
type stream struct {
	rng  *rand.ChaCha8
	left int64
	sum  interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func newStream(n int64, seed byte) *stream {
	var s [32]byte
	s[0] = seed
	return &stream{rng: rand.NewChaCha8(s), left: n, sum: sha256.New()}
}

func (s *stream) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, _ := s.rng.Read(p)
	s.left -= int64(n)
	s.sum.Write(p[:n])
	return n, nil
}

func (s *stream) hex() string { return hex.EncodeToString(s.sum.Sum(nil)) }

func TestNewValidates(t *testing.T) {
	_, err := storage.New(storage.Options{Bucket: "b"})
	assert.ErrorContains(t, err, "S3_ACCESS_KEY_ID")
	_, err = storage.New(storage.Options{AccessKey: "a", SecretKey: "s"})
	assert.ErrorContains(t, err, "S3_BUCKET")
	_, err = storage.New(storage.Options{Bucket: "b", AccessKey: "a", SecretKey: "s", Endpoint: "ftp://x"})
	assert.ErrorContains(t, err, "S3_ENDPOINT")

	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := map[string]string{
			"ORDEM_ENV": "test", "S3_ENDPOINT": "http://127.0.0.1:9", "S3_BUCKET": "ev",
			"S3_ACCESS_KEY_ID": "a", "S3_SECRET_ACCESS_KEY": "s",
		}[k]
		return v, ok
	})
	require.NoError(t, err)
	o := storage.OptionsFromConfig(cfg)
	assert.Equal(t, storage.Options{Endpoint: "http://127.0.0.1:9", Region: "us-east-1", Bucket: "ev",
		AccessKey: "a", SecretKey: "s", UsePathStyle: true}, o)
	st, err := storage.New(o)
	require.NoError(t, err)
	assert.Equal(t, "ev", st.Bucket())
}

func TestContentDisposition(t *testing.T) {
	cases := []struct{ name, header, fallback string }{
		{"report.pdf", `attachment; filename="report.pdf"`, "report.pdf"},
		{"my photo.jpg", `attachment; filename="my photo.jpg"`, "my photo.jpg"},
		{"relatório final.pdf", `attachment; filename="relat_rio final.pdf"; filename*=UTF-8''relat%C3%B3rio%20final.pdf`, ""},
		{`a"b\c.png`, "", ""},
		{"x\r\nSet-Cookie: a=b.jpg", "", ""},
		{"100%.jpg", "", ""},
		{"../../etc/passwd", `attachment; filename="passwd"`, "passwd"},
		{"", `attachment; filename="download"`, "download"},
		{"日本.mp4", "", ""},
	}
	for _, c := range cases {
		h := storage.ContentDisposition(c.name)
		if c.header != "" {
			assert.Equal(t, c.header, h, c.name)
		}
		assert.NotContains(t, h, "\r")
		assert.NotContains(t, h, "\n")
		disp, params, err := mime.ParseMediaType(h)
		require.NoError(t, err, "%q → %s", c.name, h)
		assert.Equal(t, "attachment", disp)
		// Go's parser prefers filename* (decoded) over filename.
		want := c.name
		if i := strings.LastIndexAny(want, `/\`); i >= 0 {
			want = want[i+1:]
		}
		if want == "" {
			want = "download"
		}
		assert.Equal(t, want, params["filename"], "%q → %s", c.name, h)
	}
}

func TestEnsureBucketPingPrivate(t *testing.T) {
	srv := startServer(t)
	bucket := "ordem-evidence-" + strings.ToLower(uuid.NewString()[:8])
	st, err := storage.New(storage.Options{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: bucket,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, UsePathStyle: true})
	require.NoError(t, err)
	c := ctx(t)

	require.Error(t, st.Ping(c), "the bucket does not exist yet")
	require.NoError(t, st.EnsureBucket(c))
	require.NoError(t, st.Ping(c))
	require.NoError(t, st.EnsureBucket(c), "EnsureBucket is idempotent")

	data := []byte("%PDF-1.4 private")
	staged, err := st.PutStaging(c, bytes.NewReader(data), int64(len(data)), "application/pdf")
	require.NoError(t, err)

	// Anonymous requests are refused: object, listing.
	for _, u := range []string{
		srv.Endpoint + "/" + bucket + "/" + staged.Key,
		srv.Endpoint + "/" + bucket,
		srv.Endpoint + "/" + bucket + "?list-type=2",
	} {
		resp, err := http.Get(u)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s: %s", u, body)
		assert.NotContains(t, string(body), "private")
	}

	// Control: the 403s above come from the bucket being private, not from
	// a server that refuses every anonymous request — a public-read policy
	// opens the object.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",` +
		`"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::` + bucket + `/*"]}]}`
	_, err = srv.Client().PutBucketPolicy(c, &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(policy)})
	require.NoError(t, err)
	resp, err := http.Get(srv.Endpoint + "/" + bucket + "/" + staged.Key)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "public-read control")

	// Wrong credentials cannot reach it either.
	bad, err := storage.New(storage.Options{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: bucket,
		AccessKey: srv.AccessKey, SecretKey: "wrong-secret", UsePathStyle: true})
	require.NoError(t, err)
	assert.Error(t, bad.Ping(c))
}

func TestPutPromotePresignDownload(t *testing.T) {
	st, _ := newStore(t)
	c := ctx(t)

	src := newStream(tenMiB, 1)
	staged, err := st.PutStaging(c, src, tenMiB, "video/mp4")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(staged.Key, "staging/"), staged.Key)
	_, err = uuid.Parse(strings.TrimPrefix(staged.Key, "staging/"))
	assert.NoError(t, err, "the staging key is staging/<uuid>")
	assert.Equal(t, int64(tenMiB), staged.Size)
	assert.Equal(t, src.hex(), staged.SHA256)

	final := order.EvidenceObjectKey(42, uuid.NewString(), "mp4")
	require.NoError(t, st.Promote(c, staged.Key, final))
	ok, err := st.Exists(c, staged.Key)
	require.NoError(t, err)
	assert.False(t, ok, "the staging object is gone after promotion")
	ok, err = st.Exists(c, final)
	require.NoError(t, err)
	assert.True(t, ok)

	name := `vídeo "entrega" 1.mp4`
	u, err := st.PresignGet(c, final, name, 5*time.Minute)
	require.NoError(t, err)
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	require.NoError(t, err)
	assert.Equal(t, int64(tenMiB), n)
	assert.Equal(t, staged.SHA256, hex.EncodeToString(h.Sum(nil)), "downloaded bytes are the uploaded bytes")
	assert.Equal(t, "video/mp4", resp.Header.Get("Content-Type"))
	cd := resp.Header.Get("Content-Disposition")
	disp, params, err := mime.ParseMediaType(cd)
	require.NoError(t, err, cd)
	assert.Equal(t, "attachment", disp)
	assert.Equal(t, name, params["filename"], cd)

	// A tampered URL is refused.
	resp2, err := http.Get(strings.Replace(u, "X-Amz-Expires=300", "X-Amz-Expires=301", 1))
	require.NoError(t, err)
	resp2.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp2.StatusCode)

	_, err = st.PresignGet(c, final, "x.mp4", 0)
	assert.Error(t, err)
	_, err = st.PresignGet(c, final, "x.mp4", 8*24*time.Hour)
	assert.Error(t, err)
}

func TestPresignedURLExpires(t *testing.T) {
	st, _ := newStore(t)
	c := ctx(t)
	staged, err := st.PutStaging(c, strings.NewReader("hello"), 5, "text/plain")
	require.NoError(t, err)
	u, err := st.PresignGet(c, staged.Key, "hello.txt", time.Second)
	require.NoError(t, err)
	time.Sleep(2100 * time.Millisecond)
	resp, err := http.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestPromoteIdempotent(t *testing.T) {
	st, _ := newStore(t)
	c := ctx(t)
	put := func() storage.Staged {
		data := []byte("\x89PNG\r\n\x1a\n evidence " + uuid.NewString())
		s, err := st.PutStaging(c, bytes.NewReader(data), int64(len(data)), "image/png")
		require.NoError(t, err)
		return s
	}

	// Retried after success: staging gone, final present.
	s1 := put()
	final1 := order.EvidenceObjectKey(7, uuid.NewString(), "png")
	require.NoError(t, st.Promote(c, s1.Key, final1))
	require.NoError(t, st.Promote(c, s1.Key, final1), "a retried promotion succeeds")

	// Crash between copy and delete: both exist.
	s2 := put()
	final2 := order.EvidenceObjectKey(7, uuid.NewString(), "png")
	_, err := st.Client().CopyObject(c, &s3.CopyObjectInput{
		Bucket: aws.String(st.Bucket()), Key: aws.String(final2),
		CopySource: aws.String(st.Bucket() + "/" + s2.Key),
	})
	require.NoError(t, err)
	require.NoError(t, st.Promote(c, s2.Key, final2))
	ok, err := st.Exists(c, s2.Key)
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = st.Exists(c, final2)
	require.NoError(t, err)
	assert.True(t, ok)

	// Neither exists: a real error.
	err = st.Promote(c, "staging/"+uuid.NewString(), order.EvidenceObjectKey(7, uuid.NewString(), "png"))
	assert.ErrorIs(t, err, storage.ErrNotFound)

	// Keys outside their areas are refused.
	assert.Error(t, st.Promote(c, "evidence/1/x.png", final1))
	assert.Error(t, st.Promote(c, s1.Key, "staging/other"))

	// Delete is idempotent too.
	require.NoError(t, st.Delete(c, final1))
	require.NoError(t, st.Delete(c, final1))
	ok, err = st.Exists(c, final1)
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestPutStagingWrongSize(t *testing.T) {
	st, srv := newStore(t)
	c := ctx(t)

	_, err := st.PutStaging(c, strings.NewReader("short"), 100, "text/plain")
	assert.ErrorContains(t, err, "only 5 of the declared 100 bytes")
	_, err = st.PutStaging(c, strings.NewReader("longer than declared"), 4, "text/plain")
	assert.ErrorContains(t, err, "longer than the declared")
	_, err = st.PutStaging(c, strings.NewReader(""), -1, "text/plain")
	assert.Error(t, err)

	// Nothing is left in staging.
	out, err := srv.Client().ListObjectsV2(c, &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket()), Prefix: aws.String("staging/")})
	require.NoError(t, err)
	assert.Empty(t, out.Contents)
}

// TestPutStagingStreams checks that a 32 MiB upload is streamed: the
// process allocates far less than the file size.
func TestPutStagingStreams(t *testing.T) {
	st, _ := newStore(t)
	c := ctx(t)
	const size = 32 << 20
	// Warm up the connection and the SDK's lazy state.
	_, err := st.PutStaging(c, strings.NewReader("x"), 1, "")
	require.NoError(t, err)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	staged, err := st.PutStaging(c, newStream(size, 2), size, "application/octet-stream")
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB to upload %d KiB", alloc>>10, size>>10)
	assert.Less(t, alloc, uint64(size/4), "the upload must not buffer the file")
	assert.Equal(t, int64(size), staged.Size)
}

func TestCleanupStaging(t *testing.T) {
	st, srv := newStore(t)
	c := ctx(t)
	put := func() storage.Staged {
		s, err := st.PutStaging(c, strings.NewReader("data"), 4, "")
		require.NoError(t, err)
		return s
	}
	oldA, oldB, fresh, promoted := put(), put(), put(), put()
	final := order.EvidenceObjectKey(9, uuid.NewString(), "pdf")
	require.NoError(t, st.Promote(c, promoted.Key, final))

	srv.Age(t, st.Bucket(), oldA.Key, 3*time.Hour)
	srv.Age(t, st.Bucket(), oldB.Key, 25*time.Hour)
	srv.Age(t, st.Bucket(), final, 48*time.Hour) // old, but promoted evidence

	_, err := st.CleanupStaging(c, 0)
	assert.Error(t, err)

	n, err := st.CleanupStaging(c, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	for key, want := range map[string]bool{oldA.Key: false, oldB.Key: false, fresh.Key: true, final: true} {
		ok, err := st.Exists(c, key)
		require.NoError(t, err)
		assert.Equal(t, want, ok, key)
	}
	n, err = st.CleanupStaging(c, time.Hour)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestMissingBucketIsNotIgnored(t *testing.T) {
	srv := startServer(t)
	st, err := storage.New(storage.Options{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: "no-such-bucket",
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, UsePathStyle: true})
	require.NoError(t, err)
	c := ctx(t)
	assert.Error(t, st.Delete(c, "evidence/1/x.pdf"))
	err = st.Promote(c, "staging/"+uuid.NewString(), "evidence/1/x.pdf")
	assert.Error(t, err)
	assert.NotErrorIs(t, err, storage.ErrNotFound, "a missing bucket is not a missing object")
	assert.Error(t, st.Ping(c))
}

func TestInlineContentDisposition(t *testing.T) {
	for _, name := range []string{"foto.png", "relatório final.pdf", `a"b\c.png`, "x\r\nSet-Cookie: a=b.jpg", "../x.jpg", ""} {
		h := storage.InlineContentDisposition(name)
		assert.NotContains(t, h, "\r")
		assert.NotContains(t, h, "\n")
		disp, params, err := mime.ParseMediaType(h)
		require.NoError(t, err, "%q → %s", name, h)
		assert.Equal(t, "inline", disp)
		_, aparams, err := mime.ParseMediaType(storage.ContentDisposition(name))
		require.NoError(t, err)
		assert.Equal(t, aparams["filename"], params["filename"], "the same name encoding as attachments")
	}
}

// TestOpenStreams checks that Open returns the stored bytes with their
// size and type, streamed (far less allocated than the object's size),
// and that a missing object is ErrNotFound.
func TestOpenStreams(t *testing.T) {
	st, _ := newStore(t)
	c := ctx(t)
	const size = 16 << 20
	src := newStream(size, 3)
	staged, err := st.PutStaging(c, src, size, "video/mp4")
	require.NoError(t, err)

	// Warm up the SDK's lazy state.
	warm, err := st.Open(c, staged.Key)
	require.NoError(t, err)
	warm.Body.Close()

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	obj, err := st.Open(c, staged.Key)
	require.NoError(t, err)
	h := sha256.New()
	n, err := io.CopyBuffer(h, obj.Body, make([]byte, 32<<10))
	require.NoError(t, err)
	require.NoError(t, obj.Body.Close())
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB to read %d KiB", alloc>>10, size>>10)
	assert.Less(t, alloc, uint64(size/4), "reading must not buffer the object")
	assert.Equal(t, int64(size), n)
	assert.Equal(t, int64(size), obj.Size)
	assert.Equal(t, "video/mp4", obj.ContentType)
	assert.Equal(t, staged.SHA256, hex.EncodeToString(h.Sum(nil)))

	_, err = st.Open(c, "evidence/1/"+uuid.NewString()+".png")
	assert.ErrorIs(t, err, storage.ErrNotFound)
}
