package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/pgtest"
)

// devStack is a running `ordem dev` child process.
type devStack struct {
	t       *testing.T
	cmd     *exec.Cmd
	out     *lockedBuffer
	exited  chan struct{}
	baseURL string
}

type devPorts struct{ http, temporal, ui, s3, worker int }

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func newDevPorts(t *testing.T) devPorts {
	ports := freePorts(t, 5)
	return devPorts{http: ports[0], temporal: ports[1], ui: ports[2], s3: ports[3], worker: ports[4]}
}

// startDev runs `ordem dev` on dataDir and waits for its banner. A port
// chosen free can be taken before the stack binds it (the other test
// packages run meanwhile): then it tries again on new ports, updating p.
func startDev(t *testing.T, dataDir, databaseURL string, p *devPorts) *devStack {
	t.Helper()
	for attempt := 1; ; attempt++ {
		d, clash := tryStartDev(t, dataDir, databaseURL, *p)
		if !clash {
			return d
		}
		if attempt == 3 {
			t.Fatalf("ordem dev: ports kept being taken:\n%s", d.out.String())
		}
		*p = newDevPorts(t)
	}
}

func tryStartDev(t *testing.T, dataDir, databaseURL string, p devPorts) (*devStack, bool) {
	t.Helper()
	cmd := exec.Command(binary, "dev", "--data-dir", dataDir,
		"--http-port", strconv.Itoa(p.http), "--temporal-port", strconv.Itoa(p.temporal),
		"--ui-port", strconv.Itoa(p.ui), "--s3-port", strconv.Itoa(p.s3), "--worker-port", strconv.Itoa(p.worker))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"GOPATH=" + os.Getenv("GOPATH"),
		"DATABASE_URL=" + databaseURL,
		"ADMIN_EMAIL=admin@ordem.test",
		"LOG_LEVEL=WARNING",
		"RATELIMIT_ENABLED=false",
	}
	d := &devStack{t: t, cmd: cmd, out: &lockedBuffer{}, exited: make(chan struct{}),
		baseURL: fmt.Sprintf("http://127.0.0.1:%d", p.http)}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("ordem dev output:\n%s", d.out.String())
			if log, err := os.ReadFile(filepath.Join(dataDir, "temporal.log")); err == nil {
				lines := strings.Split(strings.TrimSpace(string(log)), "\n")
				t.Logf("temporal.log (last lines):\n%s", strings.Join(lines[max(0, len(lines)-20):], "\n"))
			}
		}
		select {
		case <-d.exited:
		default:
			_ = cmd.Process.Kill()
			<-d.exited
		}
	})
	deadline := time.After(3 * time.Minute)
	for !strings.Contains(d.out.String(), "Ordem dev stack is up") {
		select {
		case <-d.exited:
			if strings.Contains(d.out.String(), "already in use") {
				return d, true
			}
			t.Fatalf("ordem dev exited before it was up:\n%s", d.out.String())
		case <-deadline:
			t.Fatalf("ordem dev not up within 3 minutes:\n%s", d.out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return d, false
}

// stop sends SIGINT, as Ctrl-C does, and requires a clean exit.
func (d *devStack) stop() {
	d.t.Helper()
	require.NoError(d.t, d.cmd.Process.Signal(os.Interrupt))
	select {
	case <-d.exited:
	case <-time.After(time.Minute):
		d.t.Fatalf("ordem dev did not stop within a minute after SIGINT:\n%s", d.out.String())
	}
	require.Equal(d.t, 0, d.cmd.ProcessState.ExitCode(), d.out.String())
}

// call sends a JSON request (body nil or a value) and decodes the answer
// into out when given, requiring status want.
func (d *devStack) call(method, path, token string, body any, want int, out any) {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(d.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, d.baseURL+path, rd)
	require.NoError(d.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	d.send(req, token, want, out)
}

func (d *devStack) send(req *http.Request, token string, want int, out any) {
	d.t.Helper()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{Timeout: time.Minute}).Do(req)
	require.NoError(d.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(d.t, err)
	require.Equal(d.t, want, res.StatusCode, "%s %s: %s", req.Method, req.URL.Path, raw)
	if out != nil {
		require.NoError(d.t, json.Unmarshal(raw, out), string(raw))
	}
}

type devUser struct{ ID, Token string }

func (d *devStack) login(email, password string) devUser {
	d.t.Helper()
	var res struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	d.call("POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}, 200, &res)
	return devUser{ID: res.User.ID, Token: res.Token}
}

func (d *devStack) register(role string) (devUser, string) {
	d.t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", role, rand.Int64())
	d.call("POST", "/v1/auth/register", "", map[string]string{
		"name": "E2E " + role, "email": email, "phone": "11999999999", "password": "e2e-password-123", "role": role}, 201, nil)
	return d.login(email, "e2e-password-123"), email
}

type devOrder struct {
	ID              string `json:"id"`
	Status          string `json:"status"`
	ProposalVersion int    `json:"proposal_version"`
	Amount          string `json:"amount"`
	AutoConfirmed   bool   `json:"auto_confirmed"`
	EvidenceCount   int    `json:"evidence_count"`
}

func (d *devStack) order(u devUser, id string) devOrder {
	d.t.Helper()
	var o devOrder
	d.call("GET", "/v1/orders/"+id, u.Token, nil, 200, &o)
	return o
}

func (d *devStack) act(u devUser, id, action string, body any) {
	d.t.Helper()
	path := "/v1/orders/" + id + "/" + action
	if action == "resolve" {
		path = "/v1/admin/orders/" + id + "/resolve"
	}
	if action == "accept" && body == nil {
		// Accept names the proposal the caller sees, as the console does.
		body = map[string]int{"proposal_version": d.order(u, id).ProposalVersion}
	}
	d.call("POST", path, u.Token, body, 200, nil)
}

func (d *devStack) newOrder(client, provider devUser, amount string) string {
	d.t.Helper()
	var o devOrder
	d.call("POST", "/v1/orders", client.Token, map[string]any{
		"provider_id": provider.ID, "title": "Pintura da sala", "description": "Duas demãos", "amount": amount}, 201, &o)
	return o.ID
}

func (d *devStack) wallet(u devUser) string {
	d.t.Helper()
	var w struct{ Available, Blocked string }
	d.call("GET", "/v1/wallet", u.Token, nil, 200, &w)
	return w.Available + "/" + w.Blocked
}

func (d *devStack) setConfig(admin devUser, key, value string) {
	d.t.Helper()
	d.call("PUT", "/v1/admin/config/"+key, admin.Token, map[string]string{"value": value, "reason": "teste ponta a ponta"}, 200, nil)
}

// waitStatus polls the order until it reaches status.
func (d *devStack) waitStatus(u devUser, id, status string, within time.Duration) devOrder {
	d.t.Helper()
	deadline := time.Now().Add(within)
	for {
		o := d.order(u, id)
		if o.Status == status {
			return o
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("order %s still %s after %s, want %s", id, o.Status, within, status)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (d *devStack) uploadPNG(u devUser, orderID string) {
	d.t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="foto-parede.png"`)
	h.Set("Content-Type", "image/png")
	pw, err := w.CreatePart(h)
	require.NoError(d.t, err)
	_, err = pw.Write(append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 512)...))
	require.NoError(d.t, err)
	require.NoError(d.t, w.WriteField("description", "parede manchada"))
	require.NoError(d.t, w.Close())
	req, err := http.NewRequest("POST", d.baseURL+"/v1/orders/"+orderID+"/evidence", &b)
	require.NoError(d.t, err)
	req.Header.Set("Content-Type", w.FormDataContentType())
	d.send(req, u.Token, 201, nil)
}

// TestDevStackEndToEnd builds the real binary, runs `ordem dev` and drives
// it over HTTP only: three orders ending confirmed, auto-confirmed and
// resolved with a split, exact balances, then a restart on the same data
// directory during which a delivered order's deadline timer must survive.
func TestDevStackEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole dev stack; skipped with -short")
	}
	dbName := fmt.Sprintf("ordem_e2e_%d", rand.Int64N(1e12))
	databaseURL := pgtest.URLFor(t, dbName)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), pgtest.ServerURL())
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+dbName+" WITH (FORCE)")
			conn.Close(context.Background())
		}
	})
	dataDir := filepath.Join(t.TempDir(), "data")
	p := newDevPorts(t)

	d := startDev(t, dataDir, databaseURL, &p)
	password, err := os.ReadFile(filepath.Join(dataDir, "admin-password"))
	require.NoError(t, err, "a generated admin password is kept in the data directory")
	require.Contains(t, d.out.String(), strings.TrimSpace(string(password)), "the banner shows the admin password")
	require.Contains(t, d.out.String(), d.baseURL+"/v1/me/password", "the banner tells how to change the admin password")
	for _, want := range []string{d.baseURL, fmt.Sprintf("127.0.0.1:%d", p.temporal), fmt.Sprintf("http://127.0.0.1:%d", p.ui), fmt.Sprintf("http://127.0.0.1:%d", p.s3)} {
		require.Contains(t, d.out.String(), want, "the banner lists every URL")
	}
	t.Run("Ensure the worker serves its health and metrics", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", p.worker, path))
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, 200, res.StatusCode, path)
		}
	})
	t.Run("Ensure the Temporal Web UI answers", func(t *testing.T) {
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", p.ui))
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, 200, res.StatusCode)
	})

	admin := d.login("admin@ordem.test", strings.TrimSpace(string(password)))
	client, _ := d.register("client")
	provider, _ := d.register("provider")
	d.call("POST", "/v1/admin/deposits", admin.Token, map[string]string{
		"user_id": client.ID, "amount": "1000.00", "reference": fmt.Sprintf("e2e-%d", rand.Int64()), "reason": "PIX recebido"}, 201, nil)
	require.Equal(t, "1000.00/0.00", d.wallet(client))

	// 1: counter-proposal, accept, deliver, confirm.
	confirmed := d.newOrder(client, provider, "200.00")
	d.act(provider, confirmed, "proposals", map[string]any{"amount": "250.00", "note": "inclui massa corrida"})
	d.act(client, confirmed, "accept", nil)
	require.Equal(t, "750.00/250.00", d.wallet(client))
	d.act(provider, confirmed, "deliver", nil)
	d.act(client, confirmed, "confirm", nil)
	require.Equal(t, "completed", d.order(client, confirmed).Status)

	// 2: auto-confirmed after a deadline of 0.002 h (7.2 s); the order
	// snapshots the terms in force when it is created.
	d.setConfig(admin, "confirmation_deadline_hours", "0.002")
	d.setConfig(admin, "confirmation_reminder_hours", "0")
	auto := d.newOrder(client, provider, "100.00")
	d.act(provider, auto, "accept", nil)
	d.act(provider, auto, "deliver", nil)
	o := d.waitStatus(client, auto, "completed", time.Minute)
	require.True(t, o.AutoConfirmed)

	// 3: contested with evidence, resolved with a split (refund 100.00).
	d.setConfig(admin, "confirmation_deadline_hours", "36")
	disputed := d.newOrder(client, provider, "300.00")
	d.act(provider, disputed, "accept", nil)
	d.act(provider, disputed, "deliver", nil)
	d.act(client, disputed, "contest", map[string]string{"reason": "a parede ficou manchada"})
	require.Equal(t, "340.00/310.00", d.wallet(client), "the contestation fee (10.00) is held")
	d.uploadPNG(client, disputed)
	require.Equal(t, 1, d.order(admin, disputed).EvidenceCount)
	d.act(admin, disputed, "resolve", map[string]string{"refund_amount": "100.00", "reason": "serviço parcial"})
	require.Equal(t, "resolved", d.order(client, disputed).Status)

	// 4: delivered with a 0.01 h (36 s) deadline just before the restart.
	d.setConfig(admin, "confirmation_deadline_hours", "0.01")
	survivor := d.newOrder(client, provider, "150.00")
	d.act(provider, survivor, "accept", nil)
	d.act(provider, survivor, "deliver", nil)
	deliveredAt := time.Now()

	// Client: 1000 − 250 − 100 − 300 − 150 + 100 refund (the 10.00
	// contestation fee came back: the refund is above zero).
	// Provider: 237.50 + 95.00 + (200 − 10.00) from the split.
	// Revenue: 12.50 + 5.00 + 10.00.
	require.Equal(t, "300.00/150.00", d.wallet(client))
	require.Equal(t, "522.50/0.00", d.wallet(provider))
	var dash struct {
		KPIs struct {
			PlatformRevenue string `json:"platform_revenue"`
			Volume          string `json:"volume"`
		} `json:"kpis"`
	}
	d.call("GET", "/v1/dashboard", admin.Token, nil, 200, &dash)
	require.Equal(t, "27.50", dash.KPIs.PlatformRevenue)
	require.Equal(t, "650.00", dash.KPIs.Volume)

	d.stop()
	d = startDev(t, dataDir, databaseURL, &p)
	require.Contains(t, d.out.String(), strings.TrimSpace(string(password)), "the same admin after a restart")

	// The session tokens live in Postgres: they survive too.
	require.Equal(t, "completed", d.order(client, confirmed).Status)
	require.Equal(t, "completed", d.order(client, auto).Status)
	require.Equal(t, "resolved", d.order(client, disputed).Status)
	require.Equal(t, "300.00/150.00", d.wallet(client))
	require.Equal(t, "522.50/0.00", d.wallet(provider))
	if time.Since(deliveredAt) < 30*time.Second {
		require.Equal(t, "delivered", d.order(client, survivor).Status, "the deadline has not passed yet")
	}
	o = d.waitStatus(client, survivor, "completed", 2*time.Minute)
	require.True(t, o.AutoConfirmed, "the timer set before the restart fired after it")
	require.Equal(t, "300.00/0.00", d.wallet(client))
	require.Equal(t, "665.00/0.00", d.wallet(provider))
	d.call("GET", "/v1/dashboard", admin.Token, nil, 200, &dash)
	require.Equal(t, "35.00", dash.KPIs.PlatformRevenue)
	d.stop()

	out, code := ordem(t, databaseURL, nil, "ledger", "verify")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "ledger verify: OK")
}

// lockedBuffer collects a child's output, written from os/exec goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
