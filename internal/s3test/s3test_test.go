package s3test_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/s3test"
)

func TestStartServesAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the versitygw S3 server; skipped with -short")
	}
	var endpoint string
	t.Run("server", func(t *testing.T) {
		srv := s3test.Start(t)
		endpoint = srv.Endpoint
		assert.True(t, strings.HasPrefix(srv.Endpoint, "http://127.0.0.1:"), srv.Endpoint)
		assert.NotEmpty(t, srv.AccessKey)
		assert.NotEmpty(t, srv.SecretKey)
		assert.Equal(t, "us-east-1", srv.Region)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b1, b2 := srv.NewBucket(t), srv.NewBucket(t)
		assert.NotEqual(t, b1, b2)
		c := srv.Client()
		_, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b1)})
		require.NoError(t, err)

		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b1), Key: aws.String("a/b.txt"),
			Body: strings.NewReader("hi")})
		require.NoError(t, err)
		fi, err := os.Stat(srv.ObjectPath(b1, "a/b.txt"))
		require.NoError(t, err, "objects are files under Dir")
		assert.Equal(t, int64(2), fi.Size())

		srv.Age(t, b1, "a/b.txt", 5*time.Hour)
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b1), Key: aws.String("a/b.txt")})
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now().Add(-5*time.Hour), aws.ToTime(head.LastModified), 2*time.Second,
			"Age changes the LastModified the server reports")

		// Two servers run side by side.
		other := s3test.Start(t)
		assert.NotEqual(t, srv.Endpoint, other.Endpoint)
	})
	// The cleanup stopped the server.
	_, err := (&http.Client{Timeout: time.Second}).Get(endpoint + "/health")
	assert.Error(t, err, "the server is stopped when its test ends")
}

func TestBinaryMissingSaysHowToInstall(t *testing.T) {
	t.Setenv("VERSITYGW", "")
	t.Setenv("PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GOPATH", t.TempDir())
	_, err := s3test.Binary()
	require.Error(t, err)
	t.Log(err)
	assert.Contains(t, err.Error(), "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")

	t.Setenv("VERSITYGW", "/nonexistent/versitygw")
	_, err = s3test.Binary()
	assert.ErrorContains(t, err, "/nonexistent/versitygw")
}

func TestStartMainServesAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the versitygw S3 server; skipped with -short")
	}
	srv, stop, err := s3test.StartMain()
	require.NoError(t, err)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	bucket, err := srv.CreateBucket(ctx)
	require.NoError(t, err)
	_, err = srv.Client().HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	require.NoError(t, err)
	_, err = os.Stat(srv.Dir)
	require.NoError(t, err)

	stop()
	stop() // idempotent
	_, err = (&http.Client{Timeout: time.Second}).Get(srv.Endpoint + "/health")
	assert.Error(t, err, "stopped")
	_, err = os.Stat(srv.Dir)
	assert.True(t, os.IsNotExist(err), "its directory is removed")
}
