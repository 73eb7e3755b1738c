package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/config"
)

// Ensure the worker's HTTP address and the ledger verification interval
// default, parse, turn off and refuse bad values.
func TestObservabilitySettings(t *testing.T) {
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
	c, err := config.Parse(env(validProduction))
	require.NoError(t, err)
	require.Equal(t, ":9090", c.WorkerHTTPAddr)
	require.Equal(t, 10*time.Minute, c.LedgerVerifyInterval)

	c, err = config.Parse(env(with(map[string]string{"WORKER_HTTP_ADDR": "OFF", "LEDGER_VERIFY_INTERVAL": "1h"})))
	require.NoError(t, err)
	require.Empty(t, c.WorkerHTTPAddr)
	require.Equal(t, time.Hour, c.LedgerVerifyInterval)

	c, err = config.Parse(env(with(map[string]string{"WORKER_HTTP_ADDR": "127.0.0.1:9191", "LEDGER_VERIFY_INTERVAL": "300"})))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9191", c.WorkerHTTPAddr)
	require.Equal(t, 5*time.Minute, c.LedgerVerifyInterval)

	for _, bad := range []string{"10s", "0", "soon"} {
		_, err = config.Parse(env(with(map[string]string{"LEDGER_VERIFY_INTERVAL": bad})))
		require.ErrorContains(t, err, "LEDGER_VERIFY_INTERVAL", bad)
	}
}
