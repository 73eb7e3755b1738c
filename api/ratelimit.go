package api

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	goredis "github.com/redis/go-redis/v9"

	"github.com/ordem/ordem"
)

// RateLimits are the request budgets of the rate limiter (Fiber's limiter
// middleware), which runs when RATELIMIT_ENABLED is true. Each budget is a
// fixed window of Window; zero fields take the defaults.
//
// Counters live in Redis when RATELIMIT_STORAGE_URL is set, shared by every
// API process and counted atomically (see redisWindow); otherwise in the
// process's memory, each process counting on its own. When Redis does not
// answer within 300 ms the request is let through (fail open: Redis trouble
// must not become an API outage) and the failure is logged at most once a
// minute.
//
// Client IPs are the connection's peer (c.IP()): behind a load balancer,
// Fiber must be told to trust its forwarding header, or every caller
// shares the balancer's IP budget.
type RateLimits struct {
	// Window is the length of a counting window; default one minute.
	Window time.Duration
	// Auth is the budget of POST /v1/auth/login, POST /v1/auth/register
	// and POST /v1/auth/password-reset per client IP, each route counted
	// on its own; default 10 (password guessing, account spam).
	Auth int
	// Caller is the budget of every request per bearer token, or per
	// client IP for requests without one; default 300.
	Caller int
	// IP is the budget of every request per client IP whatever the token,
	// so made-up tokens cannot buy fresh Caller budgets; default 3000
	// (room for many users behind one NAT).
	IP int
	// Prefix namespaces the counters' keys in shared storage; default
	// "ordem:ratelimit:".
	Prefix string
}

// Default rate limits.
const (
	DefaultRateLimitWindow = time.Minute
	DefaultRateLimitAuth   = 10
	DefaultRateLimitCaller = 300
	DefaultRateLimitIP     = 3000
	DefaultRateLimitPrefix = "ordem:ratelimit:"
)

func (l RateLimits) withDefaults() RateLimits {
	// max(…, 0) makes a negative budget zero, which cmp.Or replaces.
	l.Window = cmp.Or(max(l.Window, 0), DefaultRateLimitWindow)
	l.Auth = cmp.Or(max(l.Auth, 0), DefaultRateLimitAuth)
	l.Caller = cmp.Or(max(l.Caller, 0), DefaultRateLimitCaller)
	l.IP = cmp.Or(max(l.IP, 0), DefaultRateLimitIP)
	l.Prefix = cmp.Or(l.Prefix, DefaultRateLimitPrefix)
	return l
}

// authRoutes are the routes with the strict Auth budget.
var authRoutes = map[string]bool{"/v1/auth/login": true, "/v1/auth/register": true, "/v1/auth/password-reset": true}

// unlimitedRoutes are the probes of load balancers and orchestrators.
var unlimitedRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// routeOf is the path as the router matches it: case-insensitive and
// without a trailing slash (Fiber's defaults), so /V1/Auth/Login/ is
// counted as /v1/auth/login.
func routeOf(c *fiber.Ctx) string {
	p := strings.ToLower(c.Path())
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
	}
	return p
}

// mountRateLimits installs the limiters (RATELIMIT_ENABLED). A refused
// request gets 429 rate_limited with Retry-After (seconds until the window
// ends) and is not handled. Health probes and CORS preflights are never
// limited. The X-RateLimit-* headers report the outermost budget that
// applies: Auth on login and register, Caller elsewhere (the IP ceiling
// is a safety net, reported only in its refusals' Retry-After).
func (s *Server) mountRateLimits(app *fiber.App) {
	if !s.Config.RateLimitEnabled {
		return
	}
	l := s.RateLimits.withDefaults()
	var counter limiter.LimiterHandler = limiter.FixedWindow{}
	if rw := s.redisCounter(); rw != nil {
		counter = rw
	}
	exempt := func(c *fiber.Ctx) bool {
		return c.Method() == fiber.MethodOptions || unlimitedRoutes[routeOf(c)]
	}
	newLimiter := func(budget int, next func(*fiber.Ctx) bool, key func(*fiber.Ctx) string) fiber.Handler {
		return limiter.New(limiter.Config{
			Next:              next,
			Max:               budget,
			Expiration:        l.Window,
			KeyGenerator:      key,
			LimitReached:      rateLimited,
			LimiterMiddleware: counter,
		})
	}
	app.Use(newLimiter(l.Auth,
		func(c *fiber.Ctx) bool { return c.Method() != fiber.MethodPost || !authRoutes[routeOf(c)] },
		func(c *fiber.Ctx) string { return l.Prefix + "auth:" + routeOf(c) + ":" + c.IP() }))
	app.Use(newLimiter(l.Caller, exempt,
		func(c *fiber.Ctx) string {
			if token, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer "); ok && token != "" {
				// The token's hash, so storage never holds a credential.
				sum := sha256.Sum256([]byte(token))
				return l.Prefix + "token:" + hex.EncodeToString(sum[:16])
			}
			return l.Prefix + "anon:" + c.IP()
		}))
	app.Use(newLimiter(l.IP, exempt,
		func(c *fiber.Ctx) string { return l.Prefix + "ip:" + c.IP() }))
}

// rateLimited answers a request over budget; the limiter has already set
// Retry-After.
func rateLimited(c *fiber.Ctx) error {
	msg := "too many requests; slow down and retry later"
	if after := c.GetRespHeader(fiber.HeaderRetryAfter); after != "" {
		msg = "too many requests; retry in " + after + " seconds"
	}
	return ordem.Errorf(ordem.ERateLimited, "%s", msg)
}

// redisCounter builds the Redis window counter when RATELIMIT_STORAGE_URL
// is set; nil means each limiter counts in the process's memory.
func (s *Server) redisCounter() *redisWindow {
	url := s.Config.RateLimitStorageURL
	if url == "" {
		return nil
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		// config.Parse accepted the scheme; a URL go-redis cannot use
		// (e.g. a bad database number) leaves each process counting alone.
		s.Logger.Error("RATELIMIT_STORAGE_URL is unusable; rate limits are counted in memory", "error", err)
		return nil
	}
	// A slow Redis must not stall requests: short timeouts, no retries,
	// and the request is let through when Redis does not answer.
	opts.DialTimeout = 500 * time.Millisecond
	opts.ReadTimeout = 250 * time.Millisecond
	opts.WriteTimeout = 250 * time.Millisecond
	opts.MaxRetries = -1
	return &redisWindow{client: goredis.NewClient(opts), logger: s.Logger}
}

// redisWindow is a fixed-window limiter (limiter.LimiterHandler) counting
// in Redis with one atomic INCR script per request: no process-wide lock
// and no lost updates between API processes, unlike Fiber's FixedWindow
// over a fiber.Storage (a read-modify-write under an in-process mutex held
// across the Redis round trips, which would queue every request behind a
// slow Redis).
type redisWindow struct {
	client *goredis.Client
	logger *slog.Logger
	// lastLog is when a Redis failure was last logged (Unix seconds).
	lastLog atomic.Int64
}

// windowScript counts a hit in KEYS[1], starting a window of ARGV[1]
// milliseconds on the first hit, and returns the hits and the window's
// remaining milliseconds.
var windowScript = goredis.NewScript(`
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {hits, ttl}`)

// New implements limiter.LimiterHandler.
func (w *redisWindow) New(cfg limiter.Config) fiber.Handler {
	window := strconv.FormatInt(cfg.Expiration.Milliseconds(), 10)
	limit := strconv.Itoa(cfg.Max)
	return func(c *fiber.Ctx) error {
		if cfg.Next != nil && cfg.Next(c) {
			return c.Next()
		}
		ctx, cancel := context.WithTimeout(c.UserContext(), 300*time.Millisecond)
		res, err := windowScript.Run(ctx, w.client, []string{cfg.KeyGenerator(c)}, window).Int64Slice()
		cancel()
		if err != nil || len(res) != 2 {
			w.report(err)
			return c.Next() // fail open: Redis trouble is not an outage
		}
		hits, ttlMS := res[0], res[1]
		reset := strconv.FormatInt(max((ttlMS+999)/1000, 1), 10)
		if hits > int64(cfg.Max) {
			c.Set(fiber.HeaderRetryAfter, reset)
			return cfg.LimitReached(c)
		}
		// Like Fiber's FixedWindow, the headers are set on the way out, so
		// the outermost limiter's budget is the one reported.
		err = c.Next()
		c.Set("X-RateLimit-Limit", limit)
		c.Set("X-RateLimit-Remaining", strconv.FormatInt(int64(cfg.Max)-hits, 10))
		c.Set("X-RateLimit-Reset", reset)
		return err
	}
}

func (w *redisWindow) report(err error) {
	now := time.Now().Unix()
	if last := w.lastLog.Load(); now-last >= 60 && w.lastLog.CompareAndSwap(last, now) {
		w.logger.Error("Rate limit storage (Redis) failed; requests are let through", "error", err)
	}
}
