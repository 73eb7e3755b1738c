package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/s3test"
	"github.com/ordem/ordem/internal/seed"
	"github.com/ordem/ordem/internal/storage"
	hook "github.com/ordem/ordem/internal/webhook"
	"github.com/ordem/ordem/worker"
)

// testEnv is one real stack shared by the package's tests: a Temporal
// server (temporaltest), a worker with the real activities, a migrated
// Postgres database and the Fiber app. Tests isolate themselves by
// registering their own users.
type testEnv struct {
	pool     *pgxpool.Pool
	temporal client.Client
	server   *api.Server
	app      *fiber.App
	cfg      *config.Config
	admin    session
	// baseURL reaches the app over a real TCP listener.
	baseURL string
	// s3 is the real S3-compatible server (versitygw) and store the
	// evidence bucket on it, shared by the API and the worker.
	s3    *s3test.Server
	store *storage.Store
}

var env *testEnv

const adminPassword = "admin-password-for-tests"

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(runWithEnv(m))
}

func runWithEnv(m *testing.M) int {
	ctx := context.Background()
	url, drop, err := pgtest.CreateMigrated()
	if err != nil {
		panic(err)
	}
	defer drop()
	pool, err := postgres.Connect(ctx, url)
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ts := temporaltest.NewServer(temporaltest.WithBaseClientOptions(client.Options{Logger: sdklog.NewStructuredLogger(quiet)}))
	defer ts.Stop()
	c := ts.GetDefaultClient()
	if err := worker.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()); err != nil {
		panic(err)
	}
	s3srv, stopS3, err := s3test.StartMain()
	if err != nil {
		panic(err)
	}
	defer stopS3()
	bucket, err := s3srv.CreateBucket(ctx)
	if err != nil {
		panic(err)
	}
	cfg, err := config.Parse(func(k string) (string, bool) {
		v, ok := map[string]string{"ORDEM_ENV": "test", "DATABASE_URL": url, "RATELIMIT_ENABLED": "false",
			"TEMPORAL_TASK_QUEUE": "api-test", "ADMIN_EMAIL": "admin@api.test", "ADMIN_PASSWORD": adminPassword,
			"DEPOSIT_WEBHOOK_SECRET": "webhook-secret-for-tests-0123456789abcdef",
			// The webhook tests' receivers listen on loopback.
			"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
			// Small, so the evidence size tests are cheap.
			"MAX_UPLOAD_SIZE": "1048576",
			"S3_ENDPOINT":     s3srv.Endpoint, "S3_REGION": s3srv.Region, "S3_BUCKET": bucket,
			"S3_ACCESS_KEY_ID": s3srv.AccessKey, "S3_SECRET_ACCESS_KEY": s3srv.SecretKey, "S3_USE_PATH_STYLE": "true"}[k]
		return v, ok
	})
	if err != nil {
		panic(err)
	}
	store, err := storage.New(storage.Options{Endpoint: s3srv.Endpoint, Region: s3srv.Region, Bucket: bucket,
		AccessKey: s3srv.AccessKey, SecretKey: s3srv.SecretKey, UsePathStyle: true})
	if err != nil {
		panic(err)
	}
	if _, err := seed.Run(ctx, pool, seed.Admin{Name: "Admin", Email: cfg.AdminEmail, Password: cfg.AdminPassword}); err != nil {
		panic(err)
	}
	hooks, err := hook.NewKeyring(cfg.SecretKey, cfg.SecretKeyPrevious)
	if err != nil {
		panic(err)
	}
	w := worker.New(c, cfg.TemporalTaskQueue, &activities.Activities{Pool: pool, AutoConfirmEnabled: true, Evidence: store,
		WebhookSecrets: hooks, WebhookTargets: hook.TargetPolicy{AllowPrivate: cfg.WebhookAllowPrivateTargets, AllowHTTP: cfg.IsDev()}})
	if err := w.Start(); err != nil {
		panic(err)
	}
	defer w.Stop()

	srv := &api.Server{Pool: pool, Temporal: c, Config: cfg, Logger: quiet, Storage: store}
	env = &testEnv{pool: pool, temporal: c, server: srv, app: srv.App(), cfg: cfg, s3: s3srv, store: store}
	// A real listener too, for what only a real connection shows (body
	// limits enforced by the HTTP server before any handler runs).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = env.app.Listener(ln) }()
	defer func() { _ = env.app.Shutdown() }()
	env.baseURL = "http://" + ln.Addr().String()
	env.admin = env.loginAs(cfg.AdminEmail, adminPassword)
	return m.Run()
}

// session is a logged-in user.
type session struct {
	ID    string
	Token string
	Email string
}

func (s session) uid() int64 {
	var n int64
	fmt.Sscan(s.ID, &n)
	return n
}

// response is an HTTP answer.
type response struct {
	Status int
	Body   []byte
	Header http.Header
}

// json decodes the body into v.
func (r response) json(t testing.TB, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), string(r.Body))
}

// errorCode returns the error envelope's code ("" if none).
func (r response) errorCode() string {
	var e api.ErrorBody
	_ = json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// call sends a request through the app. body may be nil, a string (sent
// as is) or a value (sent as JSON).
func (e *testEnv) call(t testing.TB, method, path, token string, body any, headers ...string) response {
	t.Helper()
	return callApp(t, e.app, method, path, token, body, headers...)
}

// callApp sends a request through app, as testEnv.call does.
func callApp(t testing.TB, app *fiber.App, method, path, token string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := app.Test(req, int((60 * time.Second).Milliseconds()))
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{Status: res.StatusCode, Body: raw, Header: res.Header}
}

// callLive sends a request over the real listener.
func (e *testEnv) callLive(t testing.TB, method, path, token string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, e.baseURL+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{Status: res.StatusCode, Body: raw, Header: res.Header}
}

func (e *testEnv) loginAs(email, password string) session {
	req := httptest.NewRequest("POST", "/v1/auth/login", strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)))
	req.Header.Set("Content-Type", "application/json")
	res, err := e.app.Test(req, -1)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	var out api.LoginResponse
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 {
		panic(fmt.Sprintf("login %s: %d %v", email, res.StatusCode, err))
	}
	return session{ID: out.User.ID, Token: out.Token, Email: email}
}

// newUser registers a fresh user of role through the API and logs in.
func (e *testEnv) newUser(t testing.TB, role string) session {
	t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", role, rand.Int64())
	res := e.call(t, "POST", "/v1/auth/register", "", map[string]string{
		"name": "Test " + role, "email": email, "phone": "11999999999", "password": "s3cret-password", "role": role})
	require.Equal(t, 201, res.Status, string(res.Body))
	return e.loginAs(email, "s3cret-password")
}

// fund credits a user's available balance directly in the ledger.
func (e *testEnv) fund(t testing.TB, s session, amount string) {
	t.Helper()
	ctx := context.Background()
	d := decimal.RequireFromString(amount)
	require.NoError(t, postgres.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		_, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: fmt.Sprintf("test-fund:%s:%d", s.ID, rand.Int64()), Kind: "deposit",
			Legs: []ledger.Leg{{Account: ledger.WorldAccount, Amount: d.Neg()}, {Account: ledger.UserAccount(s.uid(), ledger.Available), Amount: d}}})
		return err
	}))
}

// wallet returns "available/blocked" of a user from the ledger.
func (e *testEnv) wallet(t testing.TB, s session) string {
	t.Helper()
	w, err := ledger.UserWallet(context.Background(), e.pool, s.uid())
	require.NoError(t, err)
	return w.Available.StringFixed(2) + "/" + w.Blocked.StringFixed(2)
}

// revenue reads the platform revenue balance.
func (e *testEnv) revenue(t testing.TB) decimal.Decimal {
	t.Helper()
	b, err := ledger.AccountBalance(context.Background(), e.pool, ledger.RevenueAccount)
	require.NoError(t, err)
	return b
}

// requireLedgerClean fails unless every ledger invariant holds.
func (e *testEnv) requireLedgerClean(t testing.TB) {
	t.Helper()
	rep, err := ledger.VerifySnapshot(context.Background(), e.pool)
	require.NoError(t, err)
	require.Empty(t, rep.Violations)
}

// newOrder creates an order from client to provider through the API.
func (e *testEnv) newOrder(t testing.TB, client, provider session, amount string) api.Order {
	t.Helper()
	res := e.call(t, "POST", "/v1/orders", client.Token, map[string]any{
		"provider_id": provider.ID, "title": "Conserto do telhado", "description": "Trocar telhas", "amount": amount})
	require.Equal(t, 201, res.Status, string(res.Body))
	var o api.Order
	res.json(t, &o)
	return o
}

// act posts an order action and returns the response.
func (e *testEnv) act(t testing.TB, s session, orderID, action string, body any) response {
	t.Helper()
	path := "/v1/orders/" + orderID + "/" + action
	if action == "resolve" || action == "extend-deadline" {
		path = "/v1/admin/orders/" + orderID + "/" + action
	}
	if action == "accept" && body == nil {
		// As the console does: accept the proposal the caller sees.
		body = map[string]int{"proposal_version": e.proposalVersion(t, s, orderID)}
	}
	return e.call(t, "POST", path, s.Token, body)
}

// proposalVersion is the latest proposal of an order as s sees it (1 when
// s may not see the order: the request is then refused anyway).
func (e *testEnv) proposalVersion(t testing.TB, s session, orderID string) int {
	t.Helper()
	res := e.call(t, "GET", "/v1/orders/"+orderID, s.Token, nil)
	if res.Status != 200 {
		return 1
	}
	var o api.Order
	res.json(t, &o)
	return o.ProposalVersion
}
