package devstack

import (
	"fmt"
	"io"
	"os"

	"github.com/ordem/ordem/internal/versitygw"
)

// Dev S3 credentials: the store listens on the loopback interface only and
// holds test data, so fixed keys keep the dev setup reproducible (and usable
// from the aws CLI) without being a secret worth protecting.
const (
	S3AccessKey = "ordemdev"
	S3SecretKey = "ordemdev-secret-key"
	S3Region    = "us-east-1"
)

// S3 is a running S3-compatible store over a directory.
type S3 struct {
	proc *versitygw.Process
	// Endpoint is the base URL (S3_ENDPOINT).
	Endpoint string
}

// StartS3 serves dir over the S3 protocol on addr with versitygw, logging
// to out.
func StartS3(addr, dir string, out io.Writer) (*S3, error) {
	bin, err := versitygw.Binary()
	if err != nil {
		return nil, fmt.Errorf("S3 store: %w", err)
	}
	if err := portFree(addr); err != nil {
		return nil, fmt.Errorf("S3 store: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("S3 store: %w", err)
	}
	p, err := versitygw.Start(bin, versitygw.Options{
		Addr: addr, Dir: dir, AccessKey: S3AccessKey, SecretKey: S3SecretKey, Region: S3Region, Output: out,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 store: %w", err)
	}
	return &S3{proc: p, Endpoint: p.Endpoint}, nil
}

// Stop stops the server; the objects stay in the directory.
func (s *S3) Stop() { s.proc.Stop() }

// Exited is closed if the server process ends.
func (s *S3) Exited() <-chan struct{} { return s.proc.Exited() }
