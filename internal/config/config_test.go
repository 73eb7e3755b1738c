package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/config"
)

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

var validProduction = map[string]string{
	"DATABASE_URL": "postgres://ordem:pw@db:5432/ordem",
	"SECRET_KEY":   strings.Repeat("k", 32),
}

func TestDefaults(t *testing.T) {
	c, err := config.Parse(env(validProduction))
	require.NoError(t, err)
	require.Equal(t, config.EnvProduction, c.Env)
	require.Equal(t, int64(10485760), c.MaxUploadSize)
	require.Equal(t, []string{"jpg", "jpeg", "png", "pdf", "mp4"}, c.AllowedExtensions)
	require.True(t, c.AutoConfirmEnabled)
	require.Equal(t, time.Hour, c.SessionLifetime)
	require.Equal(t, "BRL", c.Currency)
	require.Equal(t, "INFO", c.LogLevel)
	require.Equal(t, "ordem-orders", c.TemporalTaskQueue)
}

func TestParse(t *testing.T) {
	with := func(kv map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range validProduction {
			out[k] = v
		}
		for k, v := range kv {
			out[k] = v
		}
		return out
	}

	t.Run("Ensure a short SECRET_KEY is refused outside dev and accepted in dev", func(t *testing.T) {
		_, err := config.Parse(env(with(map[string]string{"SECRET_KEY": "short"})))
		require.ErrorContains(t, err, "SECRET_KEY")
		require.ErrorContains(t, err, "at least 32 bytes")
		_, err = config.Parse(env(with(map[string]string{"SECRET_KEY": "short", "ORDEM_ENV": "dev"})))
		require.NoError(t, err)
	})

	t.Run("Ensure DATABASE_URL is required outside dev and defaulted in dev", func(t *testing.T) {
		_, err := config.Parse(env(map[string]string{"SECRET_KEY": strings.Repeat("k", 40)}))
		require.ErrorContains(t, err, "DATABASE_URL")
		c, err := config.Parse(env(map[string]string{"ORDEM_ENV": "dev"}))
		require.NoError(t, err)
		require.Contains(t, c.DatabaseURL, "postgres://")
	})

	t.Run("Ensure every malformed value is reported at once, by name", func(t *testing.T) {
		_, err := config.Parse(env(with(map[string]string{
			"MAX_UPLOAD_SIZE":            "ten megs",
			"AUTO_CONFIRM_JOB_ENABLED":   "maybe",
			"PERMANENT_SESSION_LIFETIME": "-5",
			"LOG_LEVEL":                  "LOUD",
			"RATELIMIT_STORAGE_URL":      "localhost:6379",
			"ALLOWED_EXTENSIONS":         "jpg,../etc",
			"DATABASE_URL":               "mysql://root:hunter2@db/x",
		})))
		require.Error(t, err)
		for _, name := range []string{"MAX_UPLOAD_SIZE", "AUTO_CONFIRM_JOB_ENABLED", "PERMANENT_SESSION_LIFETIME",
			"LOG_LEVEL", "RATELIMIT_STORAGE_URL", "ALLOWED_EXTENSIONS", "DATABASE_URL"} {
			require.ErrorContains(t, err, name)
		}
		require.NotContains(t, err.Error(), "hunter2", "a URL's password is never echoed")
	})

	t.Run("Ensure the original system's spellings are understood", func(t *testing.T) {
		c, err := config.Parse(env(with(map[string]string{
			"AUTO_CONFIRM_JOB_ENABLED":   "False",
			"PERMANENT_SESSION_LIFETIME": "3600",
			"RATELIMIT_ENABLED":          "True",
			"ALLOWED_EXTENSIONS":         "JPG, .png ,pdf",
			"LOG_LEVEL":                  "warning",
		})))
		require.NoError(t, err)
		require.False(t, c.AutoConfirmEnabled)
		require.Equal(t, time.Hour, c.SessionLifetime)
		require.Equal(t, []string{"jpg", "png", "pdf"}, c.AllowedExtensions)
		require.Equal(t, "WARNING", c.LogLevel)
	})
}
