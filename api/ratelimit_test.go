package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
)

// testRedisURL is the Redis the Redis-backed limiter tests use
// (TEST_REDIS_URL, default the local server).
func testRedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// limitedEnv is the shared stack behind an app of its own with the rate
// limiter on (the shared app runs with RATELIMIT_ENABLED=false). With
// storageURL set, counters live in that Redis under limits.Prefix.
func limitedEnv(t *testing.T, limits api.RateLimits, storageURL string) *testEnv {
	t.Helper()
	cfg := *env.cfg
	cfg.RateLimitEnabled = true
	cfg.RateLimitStorageURL = storageURL
	srv := &api.Server{Pool: env.pool, Temporal: env.temporal, Config: &cfg, Logger: env.server.Logger, RateLimits: limits}
	return &testEnv{pool: env.pool, temporal: env.temporal, server: srv, app: srv.App(), cfg: &cfg, admin: env.admin}
}

// redisPrefix returns a key prefix unique to this run and test, and
// deletes its keys when the test ends, so parallel runs never share
// counters.
func redisPrefix(t *testing.T) string {
	t.Helper()
	prefix := fmt.Sprintf("ordem-test:%d:%s:", rand.Int64(), t.Name())
	opts, err := redis.ParseURL(testRedisURL())
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	require.NoError(t, rdb.Ping(context.Background()).Err(), "Redis must run at %s (TEST_REDIS_URL)", testRedisURL())
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return prefix
}

// requireLimited checks a refusal: 429, rate_limited, a Retry-After of
// 1 to 60 seconds.
func requireLimited(t *testing.T, res response) {
	t.Helper()
	require.Equal(t, 429, res.Status, string(res.Body))
	require.Equal(t, "rate_limited", res.errorCode())
	after, err := strconv.Atoi(res.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", res.Header.Get("Retry-After"))
	require.GreaterOrEqual(t, after, 1)
	require.LessOrEqual(t, after, 60)
	require.NotEmpty(t, res.Header.Get("X-Request-Id"))
}

// wrongLogin is a failed login of a new unknown e-mail each time: these
// tests count the per-IP budgets, which the per-account throttle
// (TestLoginLockout) would otherwise answer first.
func wrongLogin() map[string]string {
	return map[string]string{"email": fmt.Sprintf("nobody-%d@example.com", rand.Int64()), "password": "wrong-password"}
}

// rateLimitStores runs fn against in-memory counters and Redis counters.
func rateLimitStores(t *testing.T, limits api.RateLimits, fn func(t *testing.T, e *testEnv)) {
	t.Run("memory", func(t *testing.T) { fn(t, limitedEnv(t, limits, "")) })
	t.Run("redis", func(t *testing.T) {
		l := limits
		l.Prefix = redisPrefix(t)
		fn(t, limitedEnv(t, l, testRedisURL()))
	})
}

// Ensure login and register have the strict per-IP budget, each route its
// own, whatever the path's case or trailing slash.
func TestRateLimitAuthRoutes(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, Temporal and Redis")
	}
	rateLimitStores(t, api.RateLimits{Auth: 3, Caller: 100, IP: 100}, func(t *testing.T, e *testEnv) {
		for n := range 3 {
			res := e.call(t, "POST", "/v1/auth/login", "", wrongLogin())
			require.Equal(t, 401, res.Status, "attempt %d: %s", n+1, res.Body)
		}
		requireLimited(t, e.call(t, "POST", "/v1/auth/login", "", wrongLogin()))
		requireLimited(t, e.call(t, "POST", "/V1/Auth/Login/", "", wrongLogin()))
		// Register counts on its own.
		res := e.call(t, "POST", "/v1/auth/register", "", map[string]string{"name": ""})
		require.Equal(t, 422, res.Status, string(res.Body))
		// Other routes have the general budget.
		res = e.call(t, "GET", "/v1/me", "", nil)
		require.Equal(t, 401, res.Status, string(res.Body))
	})
}

// Ensure the general budget is per bearer token (another token has its
// own), per IP without a token, and never applies to health probes.
func TestRateLimitPerCaller(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, Temporal and Redis")
	}
	alice := env.newUser(t, "client")
	bob := env.newUser(t, "provider")
	rateLimitStores(t, api.RateLimits{Auth: 100, Caller: 5, IP: 100}, func(t *testing.T, e *testEnv) {
		for n := range 5 {
			res := e.call(t, "GET", "/v1/me", alice.Token, nil)
			require.Equal(t, 200, res.Status, "request %d: %s", n+1, res.Body)
			require.Equal(t, strconv.Itoa(4-n), res.Header.Get("X-RateLimit-Remaining"))
		}
		requireLimited(t, e.call(t, "GET", "/v1/me", alice.Token, nil))
		res := e.call(t, "GET", "/v1/me", bob.Token, nil)
		require.Equal(t, 200, res.Status, string(res.Body))

		for range 5 {
			require.Equal(t, 401, e.call(t, "GET", "/v1/orders", "", nil).Status)
		}
		requireLimited(t, e.call(t, "GET", "/v1/orders", "", nil))

		for range 20 {
			require.Equal(t, 200, e.call(t, "GET", "/healthz", "", nil).Status)
		}
	})
}

// Ensure made-up tokens cannot escape the limits: the per-IP ceiling
// counts every request whatever the token.
func TestRateLimitPerIPCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, Temporal and Redis")
	}
	rateLimitStores(t, api.RateLimits{Auth: 100, Caller: 100, IP: 4}, func(t *testing.T, e *testEnv) {
		for range 4 {
			res := e.call(t, "GET", "/v1/me", fmt.Sprintf("made-up-%d", rand.Int64()), nil)
			require.Equal(t, 401, res.Status, string(res.Body))
		}
		requireLimited(t, e.call(t, "GET", "/v1/me", fmt.Sprintf("made-up-%d", rand.Int64()), nil))
	})
}

// Ensure API processes sharing a Redis share the budgets, and that the
// counters expire with their window.
func TestRateLimitRedisShared(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, Temporal and Redis")
	}
	limits := api.RateLimits{Auth: 3, Caller: 100, IP: 100, Window: 2 * time.Second, Prefix: redisPrefix(t)}
	one := limitedEnv(t, limits, testRedisURL())
	two := limitedEnv(t, limits, testRedisURL())
	require.Equal(t, 401, one.call(t, "POST", "/v1/auth/login", "", wrongLogin()).Status)
	require.Equal(t, 401, two.call(t, "POST", "/v1/auth/login", "", wrongLogin()).Status)
	require.Equal(t, 401, one.call(t, "POST", "/v1/auth/login", "", wrongLogin()).Status)
	requireLimited(t, two.call(t, "POST", "/v1/auth/login", "", wrongLogin()))
	requireLimited(t, one.call(t, "POST", "/v1/auth/login", "", wrongLogin()))

	opts, err := redis.ParseURL(testRedisURL())
	require.NoError(t, err)
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	keys, err := rdb.Keys(context.Background(), limits.Prefix+"*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		ttl, err := rdb.PTTL(context.Background(), k).Result()
		require.NoError(t, err)
		require.Greater(t, ttl, time.Duration(0), "key %s expires", k)
		require.LessOrEqual(t, ttl, 2*time.Second)
	}

	// A new window, a new budget.
	require.Eventually(t, func() bool {
		return one.call(t, "POST", "/v1/auth/login", "", wrongLogin()).Status == 401
	}, 5*time.Second, 250*time.Millisecond)
}

// Ensure a Redis that does not answer lets requests through (fail open)
// instead of failing the API.
func TestRateLimitRedisDownFailsOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	e := limitedEnv(t, api.RateLimits{Auth: 1, Caller: 1, IP: 1}, "redis://127.0.0.1:1/0")
	for range 3 {
		res := e.call(t, "POST", "/v1/auth/login", "", wrongLogin())
		require.Equal(t, 401, res.Status, string(res.Body))
	}
}

// Ensure the shared app (RATELIMIT_ENABLED=false) has no limiter.
func TestRateLimitDisabled(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	for range 15 {
		require.Equal(t, 401, env.call(t, "POST", "/v1/auth/login", "", wrongLogin()).Status)
	}
}
