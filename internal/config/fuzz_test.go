package config_test

import (
	"math"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/config"
)

// fuzzBase is a valid production environment; the fuzzed lines override
// it, so most inputs parse and the properties of accepted values get
// checked, not only the refusals.
var fuzzBase = map[string]string{
	"DATABASE_URL": "postgres://ordem:pw@db:5432/ordem",
	"SECRET_KEY":   "0123456789abcdef0123456789abcdef",
}

// envOf reads "NAME=value" lines over fuzzBase.
func envOf(lines string) map[string]string {
	env := map[string]string{}
	for k, v := range fuzzBase {
		env[k] = v
	}
	for _, line := range strings.Split(lines, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// urlVars carry passwords: a refusal must never quote them, so each has
// fixed messages only.
var urlVars = map[string][]string{
	"DATABASE_URL": {"expected a URL with scheme postgres or postgresql and a host",
		"expected a postgres:// URL such as postgres://user:password@host:5432/ordem"},
	"RATELIMIT_STORAGE_URL": {"expected a URL with scheme redis or rediss and a host"},
	"TEMPORAL_UI_URL":       {"expected a URL with scheme http or https and a host"},
	"S3_ENDPOINT":           {"expected a URL with scheme http or https and a host"},
}

// secretVars must never be quoted either, nor anything of them but their
// length.
var secretVars = []string{"SECRET_KEY", "SECRET_KEY_PREVIOUS", "DEPOSIT_WEBHOOK_SECRET", "ADMIN_PASSWORD", "SMTP_PASSWORD", "S3_SECRET_ACCESS_KEY"}

// durationOf is the documented reading of a duration variable: whole
// seconds or a Go duration, positive either way.
func durationOf(t *testing.T, env map[string]string, name string, def time.Duration) time.Duration {
	v, ok := env[name]
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return def
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		require.LessOrEqual(t, n, int64(math.MaxInt64/int64(time.Second)), "%s=%q seconds do not fit a duration", name, v)
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "%s=%q accepted", name, v)
	return d
}

func checkURL(t *testing.T, name, v string, schemes ...string) {
	if v == "" {
		return
	}
	u, err := url.Parse(v)
	require.NoError(t, err, "%s=%q", name, v)
	require.Contains(t, schemes, u.Scheme, "%s=%q", name, v)
	require.NotEmpty(t, u.Host, "%s=%q", name, v)
}

// FuzzParse checks that whatever configuration Parse accepts is within the
// documented bounds of every variable, and that what it refuses is
// explained without echoing a URL or a secret.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"ORDEM_ENV=dev\nDATABASE_URL=\nSECRET_KEY=",
		"ORDEM_ENV=staging",
		"CURRENCY=brl", "CURRENCY=€", "CURRENCY=R$", "CURRENCY=12", "CURRENCY= usd ", "CURRENCY=dólar",
		"MAX_UPLOAD_SIZE=0", "MAX_UPLOAD_SIZE=4294967296", "MAX_UPLOAD_SIZE=4294967297", "MAX_UPLOAD_SIZE=+5", "MAX_UPLOAD_SIZE=1e6",
		"ALLOWED_EXTENSIONS=.JPG, png", "ALLOWED_EXTENSIONS=,", "ALLOWED_EXTENSIONS=../x", "ALLOWED_EXTENSIONS=tar.gz",
		"LOG_LEVEL=warning", "LOG_LEVEL=Trace", "LOG_MAX_BYTES=1023", "LOG_BACKUP_COUNT=-1",
		"PERMANENT_SESSION_LIFETIME=3600", "PERMANENT_SESSION_LIFETIME=12h", "PERMANENT_SESSION_LIFETIME=-1h",
		"PERMANENT_SESSION_LIFETIME=0", "PERMANENT_SESSION_LIFETIME=9223372037", "PERMANENT_SESSION_LIFETIME=9223372036",
		"PERMANENT_SESSION_LIFETIME=99999999999999999", "LEDGER_VERIFY_INTERVAL=59s", "LEDGER_VERIFY_INTERVAL=18446744074",
		"WEBHOOK_RETRY_INITIAL_INTERVAL=1h\nWEBHOOK_RETRY_EXPIRATION=30m",
		"WEBHOOK_RETRY_EXPIRATION=9223372037000",
		"DATABASE_URL=mysql://u:hunter2@db/x", "DATABASE_URL=postgres:///x", "DATABASE_URL=postgres://u:p@[::1/x",
		"RATELIMIT_STORAGE_URL=redis://:pw@cache:6379/0", "TEMPORAL_UI_URL=http://ui:8233///", "S3_ENDPOINT=ftp://s3",
		"SECRET_KEY=short", "DEPOSIT_WEBHOOK_SECRET=tooshort", "ADMIN_PASSWORD=short",
		"SMTP_PORT=0", "SMTP_PORT=65536", "SMTP_FROM=not an address", "SMTP_USERNAME=u",
		"AUTO_CONFIRM_JOB_ENABLED=maybe", "RATELIMIT_ENABLED=OFF", "WORKER_HTTP_ADDR=Off", "HTTP_ADDR=  :8081  ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lines string) {
		env := envOf(lines)
		c, err := config.Parse(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			require.Nil(t, c)
			for _, line := range strings.Split(err.Error(), "\n") {
				require.True(t, strings.HasPrefix(line, "config: "), "%q", line)
				for name, fixed := range urlVars {
					if msg, ok := strings.CutPrefix(line, "config: "+name+": "); ok {
						require.Contains(t, fixed, msg)
					}
				}
			}
			// Only a secret's length may show: the same refusal with every
			// secret replaced by as many x's.
			masked := map[string]string{}
			for k, v := range env {
				masked[k] = v
			}
			for _, name := range secretVars {
				if v, ok := env[name]; ok && strings.TrimSpace(v) != "" {
					masked[name] = strings.Repeat("x", len(strings.TrimSpace(v)))
				}
			}
			_, maskedErr := config.Parse(func(k string) (string, bool) { v, ok := masked[k]; return v, ok })
			require.EqualError(t, maskedErr, err.Error(), "a refusal depends on a secret's content")
			return
		}
		dev := c.Env == config.EnvDev || c.Env == config.EnvTest
		require.Contains(t, []string{config.EnvDev, config.EnvTest, config.EnvProduction}, c.Env)
		require.Equal(t, dev, c.IsDev())
		checkURL(t, "DATABASE_URL", c.DatabaseURL, "postgres", "postgresql")
		require.NotEmpty(t, c.DatabaseURL)
		if !dev {
			require.GreaterOrEqual(t, len(c.SecretKey), config.MinSecretKeyLen)
		}
		require.Len(t, c.Currency, 3, "CURRENCY %q", c.Currency)
		for _, r := range c.Currency {
			require.True(t, r >= 'A' && r <= 'Z', "CURRENCY %q is not a three-letter ISO 4217 code", c.Currency)
		}
		require.True(t, c.MaxUploadSize >= 1 && c.MaxUploadSize <= 1<<32, "MAX_UPLOAD_SIZE %d", c.MaxUploadSize)
		require.NotEmpty(t, c.AllowedExtensions)
		for _, e := range c.AllowedExtensions {
			require.NotEmpty(t, e)
			require.Equal(t, strings.ToLower(e), e)
			require.False(t, strings.ContainsAny(e, `./\ `), "extension %q", e)
		}
		require.Contains(t, []string{"DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"}, c.LogLevel)
		require.True(t, c.LogMaxBytes >= 1024 && c.LogMaxBytes <= 1<<40, "LOG_MAX_BYTES %d", c.LogMaxBytes)
		require.True(t, c.LogBackupCount >= 0 && c.LogBackupCount <= 1000, "LOG_BACKUP_COUNT %d", c.LogBackupCount)
		checkURL(t, "RATELIMIT_STORAGE_URL", c.RateLimitStorageURL, "redis", "rediss")

		// Durations are positive and exactly what was written.
		for _, d := range []struct {
			name string
			got  time.Duration
			def  time.Duration
		}{
			{"PERMANENT_SESSION_LIFETIME", c.SessionLifetime, time.Hour},
			{"LEDGER_VERIFY_INTERVAL", c.LedgerVerifyInterval, 10 * time.Minute},
			{"WEBHOOK_RETRY_INITIAL_INTERVAL", c.WebhookRetryInitial, 10 * time.Second},
			{"WEBHOOK_RETRY_EXPIRATION", c.WebhookRetryExpiration, 24 * time.Hour},
		} {
			require.Positive(t, d.got, d.name)
			require.Equal(t, durationOf(t, env, d.name, d.def), d.got, "%s=%q", d.name, env[d.name])
		}
		require.GreaterOrEqual(t, c.LedgerVerifyInterval, time.Minute)
		require.GreaterOrEqual(t, c.WebhookRetryExpiration, c.WebhookRetryInitial)

		require.False(t, strings.EqualFold(c.WorkerHTTPAddr, "off"))
		checkURL(t, "TEMPORAL_UI_URL", c.TemporalUIURL, "http", "https")
		require.False(t, strings.HasSuffix(c.TemporalUIURL, "/"), "TEMPORAL_UI_URL %q", c.TemporalUIURL)
		checkURL(t, "S3_ENDPOINT", c.S3Endpoint, "http", "https")
		if c.DepositWebhookSecret != "" && !dev {
			require.GreaterOrEqual(t, len(c.DepositWebhookSecret), config.MinSecretKeyLen)
		}
		if c.AdminPassword != "" && !dev {
			require.GreaterOrEqual(t, len(c.AdminPassword), 12)
		}
		require.True(t, c.SMTPPort >= 1 && c.SMTPPort <= 65535, "SMTP_PORT %d", c.SMTPPort)
		_, err = mail.ParseAddress(c.SMTPFrom)
		require.NoError(t, err, "SMTP_FROM %q", c.SMTPFrom)
		if c.SMTPUsername != "" {
			require.NotEmpty(t, c.SMTPPassword)
		}
		// Every value is read trimmed.
		for _, s := range []string{c.SecretKey, c.HTTPAddr, c.WorkerHTTPAddr, c.TemporalAddress, c.TemporalNamespace,
			c.TemporalTaskQueue, c.S3Region, c.S3Bucket, c.AdminEmail, c.AdminName, c.SMTPHost, c.LogDir} {
			require.Equal(t, strings.TrimSpace(s), s)
		}
	})
}
