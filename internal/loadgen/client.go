package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"time"
)

// apiClient talks to one Ordem API over HTTP, as a frontend would.
type apiClient struct {
	http *http.Client
	base string
	// retryFor is how long a request that failed with a connection error,
	// a 5xx or a 429 is sent again (same Idempotency-Key) before the
	// failure counts; 0 never retries.
	retryFor time.Duration
	// onRetry, when set, sees every failed attempt that is retried: what
	// the client met during an outage.
	onRetry func(err *apiError)
}

// apiError is a non-2xx answer (or a transport failure, Code "network").
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// codeOf returns the API error code of err ("network" for transport
// failures, "other" for anything else).
func codeOf(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return "other"
}

// call sends a JSON request (body may be nil) and decodes a 2xx answer
// into out (may be nil). Mutating requests carry an Idempotency-Key, so a
// retry never acts twice.
func (c *apiClient) call(ctx context.Context, method, path, token string, body, out any, headers ...string) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	key := ""
	if method == http.MethodPost || method == http.MethodPut {
		key = newKey()
	}
	return c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		return req, nil
	}, token, out)
}

// upload posts one file as multipart/form-data (field "file").
func (c *apiClient) upload(ctx context.Context, path, token, name, contentType string, content []byte, out any) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	h.Set("Content-Type", contentType)
	part, err := mw.CreatePart(h)
	if err != nil {
		return fmt.Errorf("build upload: %w", err)
	}
	if _, err := part.Write(content); err != nil {
		return fmt.Errorf("build upload: %w", err)
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("build upload: %w", err)
	}
	raw := buf.Bytes()
	return c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return req, nil
	}, token, out)
}

func (c *apiClient) do(ctx context.Context, build func() (*http.Request, error), token string, out any) error {
	deadline := time.Now().Add(c.retryFor)
	backoff := 100 * time.Millisecond
	for {
		err := c.once(build, token, out)
		if err == nil || !retryable(err) || !time.Now().Before(deadline) {
			return err
		}
		var ae *apiError
		if c.onRetry != nil && errors.As(err, &ae) {
			c.onRetry(ae)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (c *apiClient) once(build func() (*http.Request, error), token string, out any) error {
	req, err := build()
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return &apiError{Code: "network", Message: err.Error()}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return &apiError{Status: res.StatusCode, Code: "network", Message: err.Error()}
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		var env struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(raw, &env)
		code := env.Error.Code
		if code == "" {
			code = "http_" + strconv.Itoa(res.StatusCode)
		}
		return &apiError{Status: res.StatusCode, Code: code, Message: env.Error.Message}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("decode %s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return nil
}

// retryable: a transport failure, an overloaded or unavailable server, or
// a request still in progress under its key.
func retryable(err error) bool {
	var ae *apiError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Code == "network" || ae.Status >= 500 || ae.Status == http.StatusTooManyRequests ||
		ae.Code == "idempotency_conflict" && ae.Message == "a request with this Idempotency-Key is still in progress"
}

func newKey() string {
	return strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36)
}

// newHTTPClient keeps enough idle connections for every virtual user.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// checkLoopback refuses a base URL that is not on this machine: the load
// generator sends thousands of requests, and only ever to loopback.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%q is not a URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address: the load generator only drives a stack on this machine", raw)
	}
	return nil
}
