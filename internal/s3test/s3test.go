// Package s3test gives tests a real S3-compatible server: the Versity S3
// Gateway (versitygw) with its posix backend over a temporary directory,
// started as a child process on a free 127.0.0.1 port and stopped when the
// test ends.
//
// The binary is looked up as $VERSITYGW, then in PATH, then in
// $(go env GOPATH)/bin. Install it with
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ordem/ordem/internal/versitygw"
)

// Version is the versitygw release the helper is written and tested for.
const Version = versitygw.Version

// InstallHint is the command that installs the server binary.
const InstallHint = versitygw.InstallHint

// Server is a running versitygw.
type Server struct {
	// Endpoint is the base URL, as in S3_ENDPOINT: http://127.0.0.1:PORT.
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
	// Dir is the posix backend's root: bucket B's object K is the file
	// Dir/B/K, so tests can inspect or age objects (os.Chtimes changes the
	// LastModified the server reports).
	Dir string

	proc *versitygw.Process
	log  *syncBuffer
}

// Start runs a fresh server for tb and stops it when tb ends. It fails tb
// when the binary is missing (saying how to install it) or the server does
// not answer.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	var lastErr error
	// A free port can be taken between choosing and binding it; retry.
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(bin, dir)
		if err == nil {
			tb.Cleanup(s.stop)
			return s
		}
		lastErr = err
	}
	tb.Fatalf("s3test: start versitygw: %v", lastErr)
	return nil
}

// StartMain runs a fresh server for a whole test binary, from TestMain
// where there is no testing.TB: call stop (idempotent) when the tests are
// done; it stops the server and removes its directory. The error names the
// install command when the binary is missing.
func StartMain() (srv *Server, stop func(), err error) {
	bin, err := Binary()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "s3test-")
	if err != nil {
		return nil, nil, fmt.Errorf("s3test: %w", err)
	}
	// A free port can be taken between choosing and binding it; retry.
	for attempt := 0; attempt < 3; attempt++ {
		s, serr := start(bin, dir)
		if serr == nil {
			var once sync.Once
			return s, func() {
				once.Do(func() {
					s.stop()
					_ = os.RemoveAll(dir)
				})
			}, nil
		}
		err = serr
	}
	_ = os.RemoveAll(dir)
	return nil, nil, fmt.Errorf("s3test: start versitygw: %w", err)
}

// Binary returns the path of the versitygw binary, or an error naming the
// install command.
func Binary() (string, error) {
	p, err := versitygw.Binary()
	if err != nil {
		return "", fmt.Errorf("s3test: %w", err)
	}
	return p, nil
}

func start(bin, dir string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{
		AccessKey: "ordemtest" + randHex(4),
		SecretKey: randHex(20),
		Region:    "us-east-1",
		Dir:       dir,
		log:       &syncBuffer{},
	}
	s.proc, err = versitygw.Start(bin, versitygw.Options{
		Addr:      fmt.Sprintf("127.0.0.1:%d", port),
		Dir:       dir,
		AccessKey: s.AccessKey,
		SecretKey: s.SecretKey,
		Region:    s.Region,
		Output:    s.log,
	})
	if err != nil {
		return nil, fmt.Errorf("%w; server output:\n%s", err, s.log.String())
	}
	s.Endpoint = s.proc.Endpoint
	return s, nil
}

func (s *Server) stop() { s.proc.Stop() }

// Log returns what the server printed so far (for failure messages).
func (s *Server) Log() string { return s.log.String() }

// Client returns an S3 client for the server with the root credentials.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(s.Endpoint),
		Region:       s.Region,
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// NewBucket creates a bucket with a fresh random name and returns its name.
func (s *Server) NewBucket(tb testing.TB) string {
	tb.Helper()
	name, err := s.CreateBucket(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return name
}

// CreateBucket is NewBucket without a testing.TB (for TestMain).
func (s *Server) CreateBucket(ctx context.Context) (string, error) {
	name := "ordem-test-" + randHex(6)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return "", fmt.Errorf("s3test: create bucket %s: %w", name, err)
	}
	return name, nil
}

// ObjectPath is the file that holds bucket's object key on disk.
func (s *Server) ObjectPath(bucket, key string) string {
	return filepath.Join(s.Dir, bucket, filepath.FromSlash(key))
}

// Age makes the object look d older than now to the server (its
// LastModified comes from the file's modification time).
func (s *Server) Age(tb testing.TB, bucket, key string, d time.Duration) {
	tb.Helper()
	t := time.Now().Add(-d)
	if err := os.Chtimes(s.ObjectPath(bucket, key), t, t); err != nil {
		tb.Fatalf("s3test: age %s/%s: %v", bucket, key, err)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("s3test: unexpected listener address")
	}
	return addr.Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer collects the child's output; os/exec writes from its own
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 { // keep memory bounded on a chatty server
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
