package main_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/pgtest"
)

// Ensure migrations can be applied one at a time, each printing what it
// applied and the version reached, and that status lists the pending ones
// first.
func TestMigrateOneAtATime(t *testing.T) {
	url := pgtest.NewEmptyDBURL(t)

	out, code := ordem(t, url, nil, "migrate", "up", "--one")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "applied 00001_users_and_sessions.sql")
	require.NotContains(t, out, "00002")
	require.Contains(t, out, "schema at version 1 (more pending")

	out, code = ordem(t, url, nil, "migrate", "status")
	require.Equal(t, 0, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Regexp(t, `^\d+ pending, 1 applied$`, lines[0])
	require.Contains(t, lines[2], "pending", "the first migration listed is pending")
	require.Contains(t, lines[len(lines)-1], "00001_users_and_sessions.sql", "the applied one comes last")

	out, code = ordem(t, url, nil, "migrate", "up", "--to", "3")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "applied 00002_ledger.sql")
	require.Contains(t, out, "applied 00003_system_config.sql")
	require.NotContains(t, out, "00004")
	require.Contains(t, out, "schema at version 3")

	out, code = ordem(t, url, nil, "migrate", "up")
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "more pending")

	out, code = ordem(t, url, nil, "migrate", "up", "--one")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "nothing to apply")

	out, code = ordem(t, url, nil, "migrate", "up", "--one", "--to", "5")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "exclude each other")
}
