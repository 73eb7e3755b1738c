package audit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/audit"
	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/postgres"
)

// Ensure the audit file's line is written once the row is committed, and
// never for a row a rollback undid.
func TestRecordLogsAfterCommit(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(logging.NewHandler(&buf, slog.LevelInfo)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	errRollback := errors.New("the change fails after the audit row")
	err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		require.NoError(t, audit.Record(ctx, tx, audit.Entry{Action: "config.update", TargetType: "config", TargetID: "a", Reason: "undone"}))
		require.Empty(t, buf.String(), "nothing before the commit")
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	require.Empty(t, buf.String())

	require.NoError(t, postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		return audit.Record(ctx, tx, audit.Entry{Action: "config.update", TargetType: "config", TargetID: "b", Reason: "sla review",
			Data: map[string]string{"key": "dispute_sla_hours"}})
	}))
	require.Contains(t, buf.String(), `"log_concern":"audit"`)
	require.Contains(t, buf.String(), `"target":"config:b"`)
	require.Contains(t, buf.String(), `"reason":"sla review"`)
	require.NotContains(t, buf.String(), "undone")
	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE target_type = 'config'`).Scan(&rows))
	require.Equal(t, 1, rows)
}
