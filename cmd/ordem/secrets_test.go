package main_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/webhook"
)

// Ensure the upgrade and rotation procedure of docs/operations.md:
// `migrate up` from before 00014 seals the clear webhook secrets it finds
// (none stays in clear); after SECRET_KEY moves to a new key with the old
// one as SECRET_KEY_PREVIOUS, `secrets rotate` re-seals every secret
// under the new key and reports it; run again it re-seals nothing; and
// with a key that opens nothing it exits 1 naming the rows, changing
// nothing.
func TestSecretsUpgradeAndRotate(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewEmptyDBURL(t)
	const (
		oldKey = "0123456789abcdef0123456789abcdef" // the helper's SECRET_KEY
		newKey = "fedcba9876543210fedcba9876543210fedcba98"
	)
	out, code := ordem(t, url, nil, "migrate", "up", "--to", "13")
	require.Equal(t, 0, code, out)
	pool := pgtest.Connect(t, url)
	secret, err := webhook.NewSecret()
	require.NoError(t, err)
	var id int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO webhook_endpoints (url, secret, event_types)
		VALUES ('https://hooks.example.com/x', $1, '{order.created}') RETURNING id`, secret).Scan(&id))

	out, code = ordem(t, url, nil, "migrate", "up")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "sealed 1 stored secrets that were in clear")
	rowText := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, `SELECT e::text FROM webhook_endpoints e WHERE id = $1`, id).Scan(&s))
		return s
	}
	require.NotContains(t, rowText(), strings.TrimPrefix(secret, "whsec_"))
	old, err := webhook.NewKeyring(oldKey, "")
	require.NoError(t, err)
	got, err := webhook.LoadSecret(ctx, pool, old, id)
	require.NoError(t, err)
	require.Equal(t, secret, got)

	rotate := []string{"SECRET_KEY=" + newKey, "SECRET_KEY_PREVIOUS=" + oldKey}
	out, code = ordem(t, url, rotate, "secrets", "rotate")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "webhook endpoint secrets: 1 re-sealed, 0 sealed (were in clear), 1 under the current key, 0 unreadable")
	next, err := webhook.NewKeyring(newKey, "")
	require.NoError(t, err)
	got, err = webhook.LoadSecret(ctx, pool, next, id)
	require.NoError(t, err)
	require.Equal(t, secret, got)

	out, code = ordem(t, url, rotate, "secrets", "rotate")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "0 re-sealed, 0 sealed (were in clear), 1 under the current key, 0 unreadable")

	before := rowText()
	out, code = ordem(t, url, []string{"SECRET_KEY=" + strings.Repeat("z", 40)}, "secrets", "rotate")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "1 unreadable")
	require.Contains(t, out, "SECRET_KEY_PREVIOUS")
	require.Equal(t, before, rowText())
}
