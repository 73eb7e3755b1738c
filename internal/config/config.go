// Package config reads Ordem's process configuration from the environment
// once, at start-up. Every problem is reported at once, naming the variable
// and what it expects, so a misconfigured process never starts half-way.
package config

import (
	"errors"
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environments. Outside dev, weak secrets are refused.
const (
	EnvDev        = "dev"
	EnvTest       = "test"
	EnvProduction = "production"
)

// Config is the process configuration (spec §5). System config that admins
// edit at run time (fees, deadlines) lives in Postgres, not here.
type Config struct {
	Env         string // ORDEM_ENV
	DatabaseURL string // DATABASE_URL
	SecretKey   string // SECRET_KEY
	// SecretKeyPrevious is the SECRET_KEY before a rotation: values sealed
	// under it still open until `ordem secrets rotate` re-seals them.
	SecretKeyPrevious string // SECRET_KEY_PREVIOUS
	Currency          string // CURRENCY

	MaxUploadSize     int64    // MAX_UPLOAD_SIZE
	AllowedExtensions []string // ALLOWED_EXTENSIONS

	// AutoConfirmEnabled decides whether a confirmation deadline releases
	// the funds (true) or only alerts the admins (false).
	AutoConfirmEnabled bool // AUTO_CONFIRM_JOB_ENABLED

	LogLevel       string // LOG_LEVEL
	LogDir         string // LOG_DIR
	LogMaxBytes    int64  // LOG_MAX_BYTES
	LogBackupCount int    // LOG_BACKUP_COUNT
	// LogRetentionDays is LOG_RETENTION_DAYS: rotated log files older
	// than this are deleted (0: by LOG_BACKUP_COUNT only).
	LogRetentionDays int

	RateLimitEnabled    bool   // RATELIMIT_ENABLED
	RateLimitStorageURL string // RATELIMIT_STORAGE_URL

	SessionLifetime time.Duration // PERMANENT_SESSION_LIFETIME

	HTTPAddr string // HTTP_ADDR
	// WorkerHTTPAddr is where the worker serves /metrics, /healthz and
	// /readyz; "off" serves nothing (empty when off).
	WorkerHTTPAddr string // WORKER_HTTP_ADDR
	// LedgerVerifyInterval is how often the worker's schedule verifies
	// the ledger.
	LedgerVerifyInterval time.Duration // LEDGER_VERIFY_INTERVAL
	// Pprof serves Go's profiler at /debug/pprof/ on WORKER_HTTP_ADDR, to
	// find where CPU goes under load (a private port: never expose it).
	Pprof bool // PPROF_ENABLED
	// CORSAllowedOrigins lists the browser origins allowed to call the API;
	// empty allows none (same-origin only).
	CORSAllowedOrigins []string // CORS_ALLOWED_ORIGINS
	// TrustedProxies are the addresses of reverse proxies whose
	// X-Forwarded-For names the client (for rate limits and logs); empty
	// trusts none and uses the connection's address.
	TrustedProxies []string // TRUSTED_PROXIES
	// DepositWebhookSecret signs POST /v1/webhooks/deposits; empty turns
	// the webhook off.
	DepositWebhookSecret string // DEPOSIT_WEBHOOK_SECRET

	TemporalAddress   string // TEMPORAL_ADDRESS
	TemporalNamespace string // TEMPORAL_NAMESPACE
	TemporalTaskQueue string // TEMPORAL_TASK_QUEUE
	// TemporalUIURL is the Temporal Web UI's base URL; the web console
	// links each order to its workflow there (GET /v1/meta).
	TemporalUIURL string // TEMPORAL_UI_URL

	S3Endpoint     string // S3_ENDPOINT
	S3Region       string // S3_REGION
	S3Bucket       string // S3_BUCKET
	S3AccessKey    string // S3_ACCESS_KEY_ID
	S3SecretKey    string // S3_SECRET_ACCESS_KEY
	S3UsePathStyle bool   // S3_USE_PATH_STYLE

	AdminEmail    string // ADMIN_EMAIL
	AdminPassword string // ADMIN_PASSWORD
	AdminName     string // ADMIN_NAME

	// SMTP sends e-mails to users; with SMTPHost empty (or in dev) they
	// are logged (recipient and subject) instead.
	SMTPHost     string // SMTP_HOST
	SMTPPort     int    // SMTP_PORT
	SMTPUsername string // SMTP_USERNAME
	SMTPPassword string // SMTP_PASSWORD
	SMTPFrom     string // SMTP_FROM

	// Webhook deliveries retry after WebhookRetryInitial, doubling up to
	// an hour, until WebhookRetryExpiration after the first attempt.
	WebhookRetryInitial    time.Duration // WEBHOOK_RETRY_INITIAL_INTERVAL
	WebhookRetryExpiration time.Duration // WEBHOOK_RETRY_EXPIRATION
	// WebhookAllowPrivateTargets lets webhook endpoints point at loopback
	// and private addresses (local receivers in dev); link-local (cloud
	// metadata), unspecified, multicast and broadcast stay refused.
	WebhookAllowPrivateTargets bool // WEBHOOK_ALLOW_PRIVATE_TARGETS
}

// MinSecretKeyLen is the shortest SECRET_KEY accepted outside dev.
const MinSecretKeyLen = 32

// DevSecretKey is SECRET_KEY in dev and test when none is given: secrets
// sealed under it are no secret from anyone who reads this source, which
// is fine for a developer's own data and refused everywhere else.
const DevSecretKey = "ordem-dev-secret-key-never-use-it-in-production"

// DefaultTaskQueue is the task queue of the order workflows.
const DefaultTaskQueue = "ordem-orders"

// Load reads the process environment.
func Load() (*Config, error) { return Parse(os.LookupEnv) }

// Parse reads configuration through lookup (os.LookupEnv in production, a
// map in tests).
func Parse(lookup func(string) (string, bool)) (*Config, error) {
	p := &parser{lookup: lookup}
	c := &Config{}
	c.Env = p.oneOf("ORDEM_ENV", EnvProduction, EnvDev, EnvTest, EnvProduction)
	dev := c.Env == EnvDev || c.Env == EnvTest

	defaultDB := ""
	if dev {
		defaultDB = "postgres://postgres@127.0.0.1:5432/ordem?sslmode=disable"
	}
	c.DatabaseURL = p.url("DATABASE_URL", defaultDB, "postgres", "postgresql")
	if c.DatabaseURL == "" {
		p.fail("DATABASE_URL", "a postgres:// URL such as postgres://user:password@host:5432/ordem")
	}
	c.SecretKey = p.str("SECRET_KEY", "")
	if !dev && len(c.SecretKey) < MinSecretKeyLen {
		p.fail("SECRET_KEY", fmt.Sprintf("at least %d bytes of random data outside dev (got %d); generate one with: openssl rand -hex 32", MinSecretKeyLen, len(c.SecretKey)))
	}
	if dev && c.SecretKey == "" {
		c.SecretKey = DevSecretKey
	}
	c.SecretKeyPrevious = p.str("SECRET_KEY_PREVIOUS", "")
	if c.SecretKeyPrevious != "" && !dev && len(c.SecretKeyPrevious) < MinSecretKeyLen {
		p.fail("SECRET_KEY_PREVIOUS", fmt.Sprintf("at least %d bytes outside dev, or empty (the SECRET_KEY before a rotation)", MinSecretKeyLen))
	}
	c.Currency = strings.ToUpper(p.str("CURRENCY", "BRL"))
	// Three letters, not three bytes: "€" is three bytes of UTF-8.
	if len(c.Currency) != 3 || strings.Trim(c.Currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		p.fail("CURRENCY", "a three-letter ISO 4217 code such as BRL")
	}

	c.MaxUploadSize = p.int64("MAX_UPLOAD_SIZE", 10485760, 1, 1<<32)
	c.AllowedExtensions = p.list("ALLOWED_EXTENSIONS", "jpg,jpeg,png,pdf,mp4")
	c.AutoConfirmEnabled = p.bool("AUTO_CONFIRM_JOB_ENABLED", true)

	c.LogLevel = strings.ToUpper(p.oneOf("LOG_LEVEL", "INFO", "DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL",
		"debug", "info", "warning", "warn", "error", "critical"))
	c.LogDir = p.str("LOG_DIR", "")
	c.LogMaxBytes = p.int64("LOG_MAX_BYTES", 10485760, 1024, 1<<40)
	c.LogBackupCount = int(p.int64("LOG_BACKUP_COUNT", 10, 0, 1000))
	c.LogRetentionDays = int(p.int64("LOG_RETENTION_DAYS", 30, 0, 3650))

	c.RateLimitEnabled = p.bool("RATELIMIT_ENABLED", true)
	c.RateLimitStorageURL = p.url("RATELIMIT_STORAGE_URL", "", "redis", "rediss")

	c.SessionLifetime = p.duration("PERMANENT_SESSION_LIFETIME", time.Hour)
	c.HTTPAddr = p.str("HTTP_ADDR", ":8080")
	if c.WorkerHTTPAddr = p.str("WORKER_HTTP_ADDR", ":9090"); strings.EqualFold(c.WorkerHTTPAddr, "off") {
		c.WorkerHTTPAddr = ""
	}
	c.LedgerVerifyInterval = p.duration("LEDGER_VERIFY_INTERVAL", 10*time.Minute)
	c.Pprof = p.bool("PPROF_ENABLED", false)
	if c.LedgerVerifyInterval < time.Minute {
		p.fail("LEDGER_VERIFY_INTERVAL", "at least one minute (a verification reads the whole ledger)")
	}
	for _, o := range strings.Split(p.str("CORS_ALLOWED_ORIGINS", ""), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSAllowedOrigins = append(c.CORSAllowedOrigins, o)
		}
	}
	for _, o := range strings.Split(p.str("TRUSTED_PROXIES", ""), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.TrustedProxies = append(c.TrustedProxies, o)
		}
	}
	c.DepositWebhookSecret = p.str("DEPOSIT_WEBHOOK_SECRET", "")
	if c.DepositWebhookSecret != "" && len(c.DepositWebhookSecret) < MinSecretKeyLen && !dev {
		p.fail("DEPOSIT_WEBHOOK_SECRET", fmt.Sprintf("at least %d bytes outside dev", MinSecretKeyLen))
	}

	c.TemporalAddress = p.str("TEMPORAL_ADDRESS", "127.0.0.1:7233")
	c.TemporalNamespace = p.str("TEMPORAL_NAMESPACE", "default")
	c.TemporalTaskQueue = p.str("TEMPORAL_TASK_QUEUE", DefaultTaskQueue)
	c.TemporalUIURL = strings.TrimRight(p.url("TEMPORAL_UI_URL", "http://127.0.0.1:8233", "http", "https"), "/")

	c.S3Endpoint = p.url("S3_ENDPOINT", "", "http", "https")
	c.S3Region = p.str("S3_REGION", "us-east-1")
	c.S3Bucket = p.str("S3_BUCKET", "ordem-evidence")
	c.S3AccessKey = p.str("S3_ACCESS_KEY_ID", "")
	c.S3SecretKey = p.str("S3_SECRET_ACCESS_KEY", "")
	c.S3UsePathStyle = p.bool("S3_USE_PATH_STYLE", c.S3Endpoint != "")

	c.AdminEmail = p.str("ADMIN_EMAIL", "admin@ordem.local")
	c.AdminPassword = p.str("ADMIN_PASSWORD", "")
	c.AdminName = p.str("ADMIN_NAME", "Administrador")
	if c.AdminPassword != "" && len(c.AdminPassword) < 12 && !dev {
		p.fail("ADMIN_PASSWORD", "at least 12 characters outside dev")
	}

	c.SMTPHost = p.str("SMTP_HOST", "")
	c.SMTPPort = int(p.int64("SMTP_PORT", 587, 1, 65535))
	c.SMTPUsername = p.str("SMTP_USERNAME", "")
	c.SMTPPassword = p.str("SMTP_PASSWORD", "")
	c.SMTPFrom = p.str("SMTP_FROM", "Ordem <no-reply@ordem.local>")
	if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
		p.fail("SMTP_FROM", `an e-mail address such as "Ordem <no-reply@example.com>"`)
	}
	if c.SMTPUsername != "" && c.SMTPPassword == "" {
		p.fail("SMTP_PASSWORD", "a password when SMTP_USERNAME is set")
	}
	c.WebhookRetryInitial = p.duration("WEBHOOK_RETRY_INITIAL_INTERVAL", 10*time.Second)
	c.WebhookRetryExpiration = p.duration("WEBHOOK_RETRY_EXPIRATION", 24*time.Hour)
	if c.WebhookRetryExpiration < c.WebhookRetryInitial {
		p.fail("WEBHOOK_RETRY_EXPIRATION", "a duration longer than WEBHOOK_RETRY_INITIAL_INTERVAL")
	}
	c.WebhookAllowPrivateTargets = p.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", false)

	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

// IsDev reports whether the process runs in a developer environment.
func (c *Config) IsDev() bool { return c.Env == EnvDev || c.Env == EnvTest }

type parser struct {
	lookup func(string) (string, bool)
	errs   []error
}

func (p *parser) fail(name, expects string) {
	p.errs = append(p.errs, fmt.Errorf("config: %s: expected %s", name, expects))
}

func (p *parser) raw(name string) (string, bool) {
	v, ok := p.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (p *parser) str(name, def string) string {
	if v, ok := p.raw(name); ok {
		return v
	}
	return def
}

func (p *parser) oneOf(name, def string, allowed ...string) string {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, "one of "+strings.Join(allowed, ", ")+", got "+strconv.Quote(v))
	return def
}

func (p *parser) bool(name string, def bool) bool {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	p.fail(name, "true or false, got "+strconv.Quote(v))
	return def
}

func (p *parser) int64(name string, def, lo, hi int64) int64 {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		p.fail(name, fmt.Sprintf("a whole number between %d and %d, got %q", lo, hi, v))
		return def
	}
	return n
}

// duration accepts whole seconds (the original system's habit, e.g. 3600)
// or a Go duration (e.g. 12h).
func (p *parser) duration(name string, def time.Duration) time.Duration {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	// More seconds than a time.Duration holds (about 292 years) would wrap
	// around, to a negative lifetime or any other value: refused below.
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n <= int64(math.MaxInt64/time.Second) {
		return time.Duration(n) * time.Second
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	p.fail(name, "a positive number of seconds (e.g. 3600) or a duration (e.g. 12h), got "+strconv.Quote(v))
	return def
}

func (p *parser) list(name, def string) []string {
	v := p.str(name, def)
	var out []string
	for _, item := range strings.Split(v, ",") {
		item = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(item), "."))
		if item == "" {
			continue
		}
		if strings.ContainsAny(item, "./\\ ") {
			p.fail(name, "a comma-separated list of file extensions such as jpg,png,pdf, got "+strconv.Quote(v))
			return nil
		}
		out = append(out, item)
	}
	if len(out) == 0 {
		p.fail(name, "at least one file extension")
	}
	return out
}

func (p *parser) url(name, def string, schemes ...string) string {
	v := p.str(name, def)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err == nil {
		for _, s := range schemes {
			if u.Scheme == s && u.Host != "" {
				return v
			}
		}
	}
	// Never echo the value: URLs carry passwords.
	p.fail(name, "a URL with scheme "+strings.Join(schemes, " or ")+" and a host")
	return ""
}
