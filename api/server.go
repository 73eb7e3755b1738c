// Package api is Ordem's HTTP API on Fiber: the contract the client,
// provider and admin frontends and integrations build on. Order actions go
// to the order workflows as Updates; reads come from the Postgres read
// model kept by the workflow's activities.
package api

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/helmet"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/health"
	"github.com/ordem/ordem/internal/metrics"
	"github.com/ordem/ordem/internal/secretbox"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/web"
)

// Server holds the API's dependencies.
type Server struct {
	Pool     *pgxpool.Pool
	Temporal client.Client
	Config   *config.Config
	Logger   *slog.Logger
	// Payouts sends payouts to a payment provider; nil uses ManualGateway.
	Payouts PayoutGateway
	// Storage keeps dispute evidence (S3-compatible).
	Storage *storage.Store
	// Now is the clock (tests may fix it); nil is time.Now.
	Now func() time.Time
	// RateLimits are the limiter's budgets (RATELIMIT_ENABLED); zero
	// fields take the defaults.
	RateLimits RateLimits
	// LoginThrottle is the per-account budget of failed logins; zero
	// fields take the defaults.
	LoginThrottle LoginThrottle
	// PasswordResetLifetime is how long an admin-issued password reset
	// token stays valid; zero is DefaultPasswordResetLifetime.
	PasswordResetLifetime time.Duration
	// Metrics is the registry GET /metrics serves and the HTTP metrics
	// are counted in; nil creates one. The KPI collector is added to it.
	Metrics     *metrics.Metrics
	metricsOnce sync.Once
	// WebhookSecrets seals webhook endpoint secrets; nil makes one from
	// Config (SECRET_KEY, SECRET_KEY_PREVIOUS).
	WebhookSecrets     *secretbox.Keyring
	webhookKeyringOnce sync.Once
	webhookKeyringErr  error
}

// jsonBodyLimit bounds every JSON request body.
const jsonBodyLimit = 64 * 1024

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// App builds the Fiber application with every route and middleware.
func (s *Server) App() *fiber.App {
	if s.Payouts == nil {
		s.Payouts = ManualGateway{}
	}
	s.initMetrics()
	app := fiber.New(fiber.Config{
		AppName: "ordem",
		// The server-wide limit admits an evidence upload; every other
		// route is held to jsonBodyLimit by limitBody.
		BodyLimit:             int(s.Config.MaxUploadSize) + uploadOverhead,
		ErrorHandler:          s.errorHandler,
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		// Behind a trusted reverse proxy, the client is the first address
		// of X-Forwarded-For; from anyone else the header is ignored.
		EnableTrustedProxyCheck: len(s.Config.TrustedProxies) > 0,
		TrustedProxies:          s.Config.TrustedProxies,
		ProxyHeader:             proxyHeader(s.Config.TrustedProxies),
		WriteTimeout:            30 * time.Second,
		IdleTimeout:             2 * time.Minute,
	})
	app.Use(recover.New())
	app.Use(requestid.New(requestid.Config{Header: fiber.HeaderXRequestID}))
	// Access log and HTTP metrics of every request, refused ones included
	// (an oversized body too: limitBody comes after).
	app.Use(s.observe)
	app.Use(limitBody)
	// The web console's pages load scripts and styles only from this origin.
	app.Use(helmet.New(helmet.Config{ContentSecurityPolicy: web.CSP}))
	// No configured origin means same-origin only: cors.New with an empty
	// AllowOrigins would answer "*" (Fiber's default), so then no CORS
	// middleware runs and no Access-Control-Allow-* header is ever sent.
	if len(s.Config.CORSAllowedOrigins) > 0 {
		app.Use(cors.New(cors.Config{
			AllowOrigins:  joinOrigins(s.Config.CORSAllowedOrigins),
			AllowHeaders:  "Authorization, Content-Type, Idempotency-Key",
			ExposeHeaders: "X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset",
			MaxAge:        600,
		}))
	}
	s.mountRateLimits(app)

	app.Get("/healthz", s.healthz)
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.metricsHandler())
	app.Get("/openapi.yaml", s.openapi)

	v1 := app.Group("/v1")
	// Every admin route is under this one group: its guard runs first for
	// all of them, whatever order the mounts come in.
	admin := v1.Group("/admin", s.authenticate, requireRole(ordem.RoleAdmin))
	s.mountAuth(v1, admin)
	s.mountOrders(v1, admin)
	s.mountWallet(v1, admin)
	s.mountAdmin(v1, admin)
	s.mountEvidence(v1)
	s.mountWebhooks(admin)
	s.mountAudit(admin)
	s.mountMeta(v1)
	s.mountProviders(v1)
	// The web console at / (embedded assets); it never answers /v1, the
	// health checks, /metrics or /openapi.yaml, wherever they are mounted.
	web.New().Mount(app)
	return app
}

// limitBody refuses bodies over jsonBodyLimit everywhere but the evidence
// upload, whose whole request the server-wide limit bounds.
func limitBody(c *fiber.Ctx) error {
	if len(c.Request().Body()) > jsonBodyLimit && !isUpload(c) {
		return ordem.Errorf(ordem.ETooLarge, "the request body is larger than %d bytes", jsonBodyLimit)
	}
	return c.Next()
}

func proxyHeader(trusted []string) string {
	if len(trusted) == 0 {
		return ""
	}
	return fiber.HeaderXForwardedFor
}

func joinOrigins(origins []string) string {
	out := ""
	for i, o := range origins {
		if i > 0 {
			out += ","
		}
		out += o
	}
	return out
}

func requestID(c *fiber.Ctx) string {
	if id, ok := c.Locals("requestid").(string); ok {
		return id
	}
	return string(c.Response().Header.Peek(fiber.HeaderXRequestID))
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz reports whether the dependencies answer: Postgres, Temporal and
// the S3 store (the worker's /readyz answers the same).
func (s *Server) readyz(c *fiber.Ctx) error {
	ready, checks := health.Probes{Pool: s.Pool, Temporal: s.Temporal, Storage: s.Storage}.Ready(c.UserContext())
	status := fiber.StatusOK
	if !ready {
		status = fiber.StatusServiceUnavailable
	}
	return c.Status(status).JSON(fiber.Map{"ready": ready, "checks": checks})
}

// Run serves the API on cfg.HTTPAddr until ctx is cancelled, then shuts
// down gracefully (in-flight requests get 10 seconds).
func (s *Server) Run(ctx context.Context) error {
	app := s.App()
	errc := make(chan error, 1)
	go func() { errc <- app.Listen(s.Config.HTTPAddr) }()
	s.Logger.Info("API listening", "addr", s.Config.HTTPAddr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Logger.Info("API shutting down")
	return app.ShutdownWithTimeout(10 * time.Second)
}
