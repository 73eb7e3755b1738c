package loadgen_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/loadgen"
	"github.com/ordem/ordem/internal/stacktest"
)

// Ensure a short run of every scenario completes with no error, money
// conserved to the cent per user and in total, and a verified ledger, so
// the load generator never rots between benchmark runs.
func TestShortRunOfEveryScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, a Temporal server and an S3 server")
	}
	s := stacktest.Start(t)
	var log bytes.Buffer
	mix, err := loadgen.ParseMix("confirmed=1,auto_confirmed=1,disputed=1,cancelled=1")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := loadgen.Run(ctx, loadgen.Config{
		BaseURLs: []string{s.URL}, AdminEmail: stacktest.AdminEmail, AdminPassword: stacktest.AdminPassword,
		Users: 4, MaxOrders: 12, Mix: mix, ConfirmDeadline: 3 * time.Second, DatabaseURL: s.DatabaseURL,
		Processes: []string{"postgres"}, Cycle: true, Log: &log,
	})
	require.NoError(t, err, log.String())
	var report bytes.Buffer
	loadgen.WriteReport(&report, res)
	require.True(t, res.OK(), report.String()+log.String())
	total := 0
	for _, sc := range loadgen.Scenarios {
		require.Equal(t, res.Started[sc], res.Completed[sc], "%s: %s", sc, report.String())
		total += res.Completed[sc]
	}
	require.Equal(t, 12, total)
	for _, sc := range loadgen.Scenarios {
		require.Positive(t, res.Completed[sc], "every scenario ran: %v", res.Started)
	}
	require.True(t, res.MoneyConserved)
	require.Empty(t, res.MoneyMismatches)
	require.True(t, res.LedgerVerified, res.LedgerViolations)
	require.Positive(t, res.AutoConfirmLag.Count)
	for _, a := range []string{"create", "accept", "deliver", "confirm", "contest", "evidence", "resolve", "cancel"} {
		require.Positive(t, res.Actions[a].Count, "action %s measured", a)
	}
}

// Ensure the timer benchmark's short run releases every delivered order
// by its deadline timer and measures the lag.
func TestShortTimersRun(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, a Temporal server and an S3 server")
	}
	s := stacktest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log bytes.Buffer
	res, err := loadgen.RunTimers(ctx, loadgen.TimersConfig{BaseURL: s.URL, AdminEmail: stacktest.AdminEmail,
		AdminPassword: stacktest.AdminPassword, Orders: 20, Users: 4, Deadline: 5 * time.Second, Log: &log})
	require.NoError(t, err, log.String())
	require.Equal(t, 20, res.Released, log.String())
	require.Zero(t, res.Lost)
	require.Equal(t, 20, res.Lag.Count)
	require.GreaterOrEqual(t, res.Lag.P50, time.Duration(0), "released at or after the deadline")
	require.Positive(t, res.DrainRate)
}
