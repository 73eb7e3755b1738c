package devstack

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPostgresStoreFor(t *testing.T) {
	t.Run("Ensure Temporal's databases are named after Ordem's", func(t *testing.T) {
		s, err := PostgresStoreFor("postgres://postgres@127.0.0.1:5432/ordem?sslmode=disable")
		require.NoError(t, err)
		require.Equal(t, "ordem_temporal", s.Database)
		require.Equal(t, "ordem_temporal_visibility", s.VisibilityDatabase)
	})

	t.Run("Ensure the plugin gets the address, credentials and TLS mode of the URL", func(t *testing.T) {
		cfg, maintenance, err := postgresBase("postgres://ordem:s3cr%2Ft@db.local:6543/app?sslmode=require&pool_max_conns=9")
		require.NoError(t, err)
		require.Equal(t, "app", maintenance)
		require.Equal(t, "postgres12_pgx", cfg.PluginName)
		require.Equal(t, "db.local:6543", cfg.ConnectAddr)
		require.Equal(t, "ordem", cfg.User)
		require.Equal(t, "s3cr/t", cfg.Password)
		require.Equal(t, map[string]string{"sslmode": "require"}, cfg.ConnectAttributes, "pgx pool settings are not the plugin's")
	})

	t.Run("Ensure a socket directory is refused with a reason", func(t *testing.T) {
		_, _, err := postgresBase("postgres://postgres@/ordem?host=/var/run/postgresql")
		require.ErrorContains(t, err, "TCP address")
	})
}
