// Package versitygw runs the Versity S3 Gateway (Apache-2.0) as a child
// process: a real S3-compatible server over a directory (its posix
// backend). The tests use it for evidence storage and `ordem dev` as the
// local S3 store.
//
// The binary is looked up as $VERSITYGW, then in PATH, then in
// $(go env GOPATH)/bin. Install it with
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
package versitygw

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Version is the versitygw release Ordem is written and tested against.
const Version = "v1.8.0"

// InstallHint is the command that installs the server binary.
const InstallHint = "go install github.com/versity/versitygw/cmd/versitygw@" + Version

// Options say where and how to serve.
type Options struct {
	// Addr is the host:port to listen on (keep it on 127.0.0.1 for dev).
	Addr string
	// Dir is the posix backend's root: bucket B's object K is Dir/B/K.
	Dir string
	// Root credentials, handed over in the environment (not in argv, where
	// ps would show them).
	AccessKey, SecretKey string
	Region               string
	// Output receives the server's stdout and stderr; nil discards them.
	Output io.Writer
	// ReadyTimeout bounds the wait for the health endpoint (30 s if zero).
	ReadyTimeout time.Duration
}

// Process is a running server.
type Process struct {
	// Endpoint is the base URL, as in S3_ENDPOINT: http://ADDR.
	Endpoint string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Binary returns the path of the versitygw binary, or an error naming the
// install command.
func Binary() (string, error) {
	if p := os.Getenv("VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("VERSITYGW=%s: %w", p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	gopath := os.Getenv("GOPATH")
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		gopath = strings.TrimSpace(string(out))
	}
	for _, d := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(d, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("the versitygw S3 server binary was not found in $VERSITYGW, PATH or %s; install it with:\n\t%s",
		strings.Join(dirs, ", "), InstallHint)
}

// Start runs bin with o and waits until it answers its health check. The
// kernel kills the server if this process dies without stopping it.
func Start(bin string, o Options) (*Process, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	p := &Process{Endpoint: "http://" + o.Addr, exited: make(chan struct{})}
	p.cmd = exec.Command(bin,
		"--port", o.Addr,
		"--region", o.Region,
		"--health", "/health",
		"--quiet",
		"posix", o.Dir)
	// The parent's VGW_* and ROOT_* settings must not change the server.
	env := []string{"ROOT_ACCESS_KEY_ID=" + o.AccessKey, "ROOT_SECRET_ACCESS_KEY=" + o.SecretKey}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VGW_") && !strings.HasPrefix(kv, "ROOT_") {
			env = append(env, kv)
		}
	}
	p.cmd.Env = env
	if o.Output != nil {
		p.cmd.Stdout, p.cmd.Stderr = o.Output, o.Output
	}
	dieWithParent(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(o.ReadyTimeout); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitReady(timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(p.Endpoint + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("versitygw exited before answering on %s", p.Endpoint)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("versitygw did not answer on %s within %s (last error: %v)", p.Endpoint, timeout, err)
		}
	}
}

// Stop asks the server to exit (SIGTERM), killing it after 5 seconds.
// Stopping a stopped server does nothing.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Exited is closed when the server process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }
