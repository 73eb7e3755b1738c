package logging_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/logging"
)

func lines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		out = append(out, m)
	}
	return out
}

// Ensure secrets never reach a line: by key (any case, any prefix), in a
// URL's password, in a bearer header quoted in text or in an error.
func TestRedact(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(logging.NewHandler(&buf, slog.LevelDebug))
	l.Info("login", "password", "hunter2-pw", "new_password", "pw-two", "Authorization", "Bearer tok-123",
		"access_token", "tok-456", "S3_SECRET_ACCESS_KEY", "sk-789", "email", "a@b.c",
		"dsn", "postgres://ordem:db-pass@db:5432/ordem", "header", "got Bearer tok-abc from client",
		"error", errors.New("dial postgres://u:err-pass@h/x: refused"),
		slog.Group("req", "token", "tok-group"))
	out := buf.String()
	for _, secret := range []string{"hunter2-pw", "pw-two", "tok-123", "tok-456", "sk-789", "db-pass", "tok-abc", "err-pass", "tok-group"} {
		require.NotContains(t, out, secret)
	}
	m := lines(t, buf.Bytes())[0]
	require.Equal(t, logging.Redacted, m["password"])
	require.Equal(t, logging.Redacted, m["Authorization"])
	require.Equal(t, "a@b.c", m["email"])
	require.Equal(t, "postgres://ordem:xxxxx@db:5432/ordem", m["dsn"])
	require.Equal(t, map[string]any{"token": logging.Redacted}, m["req"])
	require.Contains(t, m["error"], "postgres://u:xxxxx@h/x:")
}

// Ensure LOG_LEVEL filters, files are written per concern with the errors
// also in <concern>-errors.log, and every record names its service.
func TestNewFilesAndLevels(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	l, closer, err := logging.New("worker", logging.Options{Level: "WARNING", Dir: dir, MaxBytes: 1 << 20, Backups: 2, Stderr: &stderr})
	require.NoError(t, err)
	l.Info("dropped")
	l.Warn("kept", "order_id", 7)
	l.Error("failed", "secret", "s")
	require.NoError(t, closer.Close())

	all, err := os.ReadFile(filepath.Join(dir, "worker.log"))
	require.NoError(t, err)
	errs, err := os.ReadFile(filepath.Join(dir, "worker-errors.log"))
	require.NoError(t, err)
	require.Equal(t, stderr.String(), string(all))
	got := lines(t, all)
	require.Len(t, got, 2)
	require.Equal(t, "kept", got[0]["msg"])
	require.Equal(t, "worker", got[0]["service"])
	require.EqualValues(t, 7, got[0]["order_id"])
	e := lines(t, errs)
	require.Len(t, e, 1)
	require.Equal(t, "failed", e[0]["msg"])
	require.Equal(t, logging.Redacted, e[0]["secret"])
}

// Ensure a file past LOG_MAX_BYTES is rotated and LOG_BACKUP_COUNT bounds
// the backups kept.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	l, closer, err := logging.New("api", logging.Options{Level: "INFO", Dir: dir, MaxBytes: 1, Backups: 1, Stderr: &bytes.Buffer{}})
	require.NoError(t, err)
	big := strings.Repeat("x", 300<<10)
	for range 8 { // 8 × 300 KiB over a 1 MiB limit: at least two rotations
		l.Info("bulk", "data", big)
	}
	require.NoError(t, closer.Close())
	require.Eventually(t, func() bool { // lumberjack prunes old backups in the background
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var backups int
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "api-") && !strings.HasPrefix(e.Name(), "api-errors") {
				backups++
			}
		}
		return backups == 1
	}, 5*time.Second, 10*time.Millisecond)
	info, err := os.Stat(filepath.Join(dir, "api.log"))
	require.NoError(t, err)
	require.LessOrEqual(t, info.Size(), int64(1<<20))
}

// Ensure an unwritable LOG_DIR stops start-up with the path named.
func TestNewUnwritableDir(t *testing.T) {
	// A file in place of the directory: fails even for root.
	file := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	_, _, err := logging.New("api", logging.Options{Dir: file})
	require.ErrorContains(t, err, "not-a-dir")
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"DEBUG": slog.LevelDebug, "info": slog.LevelInfo, "WARNING": slog.LevelWarn,
		"WARN": slog.LevelWarn, "ERROR": slog.LevelError, "CRITICAL": slog.LevelError, "": slog.LevelInfo} {
		require.Equal(t, want, logging.ParseLevel(in), in)
	}
}

// Ensure each concern's records reach its own file whatever LOG_LEVEL
// says, named in the record or in the logger's attributes, and that a
// process that writes no concern line leaves no concern file.
func TestConcernFiles(t *testing.T) {
	dir := t.TempDir()
	l, closer, err := logging.New("worker", logging.Options{Level: "ERROR", Dir: dir, MaxBytes: 1 << 20, Backups: 2, Stderr: &bytes.Buffer{}})
	require.NoError(t, err)
	l.Info("order 7: delivered → completed", logging.ConcernAttr(logging.OrderOperations, logging.AutoConfirmation), "order_id", 7)
	l.With(logging.ConcernAttr(logging.Audit)).Info("audit", "action", "config.update", "reason", "sla review")
	l.Error("Ledger violation", logging.ConcernKey, logging.Concerns(logging.Critical), "check", "zero_sum")
	l.Info("plain diagnostics")
	api, apiCloser, err := logging.New("api", logging.Options{Level: "INFO", Dir: dir, MaxBytes: 1 << 20, Backups: 2, Stderr: &bytes.Buffer{}})
	require.NoError(t, err)
	api.Info("request served")
	require.NoError(t, closer.Close())
	require.NoError(t, apiCloser.Close())

	messages := func(name string) []string {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, name)
		var out []string
		for _, m := range lines(t, raw) {
			require.Equal(t, "worker", m["service"])
			out = append(out, m["msg"].(string))
		}
		return out
	}
	require.Equal(t, []string{"order 7: delivered → completed"}, messages("worker-order-operations.log"))
	require.Equal(t, []string{"order 7: delivered → completed"}, messages("worker-auto-confirmation.log"))
	require.Equal(t, []string{"audit"}, messages("worker-audit.log"))
	require.Equal(t, []string{"Ledger violation"}, messages("worker-critical.log"))
	require.Equal(t, []string{"Ledger violation"}, messages("worker.log"), "LOG_LEVEL still filters the service's own file")
	for _, c := range logging.AllConcerns {
		_, err := os.Stat(filepath.Join(dir, "api-"+string(c)+".log"))
		require.True(t, os.IsNotExist(err), "api-%s.log should not exist", c)
	}
}

// Ensure rotated files are compressed and that a backup older than
// LOG_RETENTION_DAYS goes even when the count would keep it.
func TestRotationCompressesAndExpires(t *testing.T) {
	dir := t.TempDir()
	// lumberjack reads a backup's age from its name.
	old := filepath.Join(dir, "api-"+time.Now().AddDate(0, 0, -45).UTC().Format("2006-01-02T15-04-05.000")+".log.gz")
	require.NoError(t, os.WriteFile(old, []byte("old"), 0o640))
	l, closer, err := logging.New("api", logging.Options{Level: "INFO", Dir: dir, MaxBytes: 1, Backups: 10, RetentionDays: 30, Stderr: &bytes.Buffer{}})
	require.NoError(t, err)
	big := strings.Repeat("x", 300<<10)
	for range 5 { // over 1 MiB: one rotation
		l.Info("bulk", "data", big)
	}
	require.NoError(t, closer.Close())
	require.Eventually(t, func() bool { // compression and pruning run in the background
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var gz, plain int
		for _, e := range entries {
			switch n := e.Name(); {
			case n == filepath.Base(old):
				return false // still there
			case strings.HasPrefix(n, "api-") && strings.HasSuffix(n, ".log.gz"):
				gz++
			case strings.HasPrefix(n, "api-") && !strings.HasPrefix(n, "api-errors") && strings.HasSuffix(n, ".log"):
				plain++
			}
		}
		return gz >= 1 && plain == 0
	}, 10*time.Second, 20*time.Millisecond)
}
