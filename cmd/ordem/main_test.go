package main_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/sysconfig"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ordem-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ordem")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("build ordem: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// ordem runs the built binary against databaseURL and returns its output
// and exit code.
func ordem(t *testing.T, databaseURL string, extraEnv []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), binary, args...)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"ORDEM_ENV=production",
		"SECRET_KEY=0123456789abcdef0123456789abcdef",
		"DATABASE_URL=" + databaseURL,
		"ADMIN_EMAIL=admin@example.com",
		"ADMIN_PASSWORD=correct horse battery",
	}, extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), code
}

func TestMigrateSeedVerify(t *testing.T) {
	url := pgtest.NewEmptyDBURL(t)

	out, code := ordem(t, url, nil, "migrate", "up")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "schema at version")

	out, code = ordem(t, url, nil, "migrate", "status")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "00002_ledger.sql")
	require.NotContains(t, out, "Pending")

	out, code = ordem(t, url, nil, "seed")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "admin admin@example.com created")
	require.Contains(t, out, fmt.Sprintf("%d default key(s) written", len(sysconfig.Keys)))

	pool := pgtest.Connect(t, url)
	ctx := context.Background()
	snapshot := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `
			SELECT (SELECT string_agg(key || '=' || value || '@' || updated_at, ',' ORDER BY key) FROM system_config) || '|' ||
			       (SELECT string_agg(id || email || password_hash, ',' ORDER BY id) FROM users) || '|' ||
			       (SELECT string_agg(code || created_at, ',' ORDER BY code) FROM ledger_accounts)`).Scan(&s))
		return s
	}
	before := snapshot()

	t.Run("Ensure seeding twice changes nothing", func(t *testing.T) {
		out, code := ordem(t, url, nil, "seed")
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "already exists")
		require.Contains(t, out, "0 default key(s) written")
		require.Equal(t, before, snapshot())
	})

	t.Run("Ensure a clean ledger verifies with exit 0 and a summary", func(t *testing.T) {
		out, code := ordem(t, url, nil, "ledger", "verify")
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "ledger verify: OK")
	})

	t.Run("Ensure a corrupted cached balance makes verify exit 1 naming the account", func(t *testing.T) {
		_, err := pool.Exec(ctx, `UPDATE ledger_accounts SET balance = balance + 5 WHERE code = 'platform:revenue'`)
		require.NoError(t, err)
		out, code := ordem(t, url, nil, "ledger", "verify")
		require.Equal(t, 1, code, out)
		require.Contains(t, out, "cached_balance: account platform:revenue")
	})

	t.Run("Ensure migrate down rolls back to empty", func(t *testing.T) {
		out, code := ordem(t, url, nil, "migrate", "down", "--all")
		require.Equal(t, 0, code, out)
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`).Scan(&n))
		require.Zero(t, n)
	})
}

func TestInvalidConfigStopsWithNamedVariable(t *testing.T) {
	out, code := ordem(t, "postgres://localhost/x", []string{"SECRET_KEY=short", "MAX_UPLOAD_SIZE=lots"}, "migrate", "status")
	require.Equal(t, 1, code)
	require.Contains(t, out, "SECRET_KEY")
	require.Contains(t, out, "MAX_UPLOAD_SIZE")
}

func TestSeedGeneratesAdminPasswordOnce(t *testing.T) {
	url := pgtest.NewDBURL(t)
	out, code := ordem(t, url, []string{"ADMIN_PASSWORD="}, "seed")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "generated password")
	// How to change it: the console page and the API call.
	require.Contains(t, out, "/account")
	require.Contains(t, out, "/v1/me/password")
	out, code = ordem(t, url, []string{"ADMIN_PASSWORD="}, "seed")
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "generated password")
}
