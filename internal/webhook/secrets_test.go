package webhook_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/secretbox"
	"github.com/ordem/ordem/internal/webhook"
	"github.com/ordem/ordem/migrations"
)

const (
	secretKeyA = "first-secret-key-0123456789abcdef0123456789"
	secretKeyB = "second-secret-key-0123456789abcdef012345678"
	secretKeyC = "third-secret-key-0123456789abcdef0123456789"
)

func newKeyring(t *testing.T, current, previous string) *secretbox.Keyring {
	t.Helper()
	kr, err := webhook.NewKeyring(current, previous)
	require.NoError(t, err)
	return kr
}

// tableText is every webhook_endpoints row as text, every column
// included, bytea as Postgres prints it (hex) and as the raw bytes.
func tableText(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var text string
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT coalesce(string_agg(e::text || encode(coalesce(e.secret_ciphertext, ''), 'escape'), E'\n'), '')
		FROM webhook_endpoints e`).Scan(&text))
	return text
}

// Ensure the upgrade leaves no secret in clear: endpoints registered
// before migration 00014 (their secret in clear) are sealed by the step
// `ordem migrate up` and the processes run after it, then sign with the
// same secret; the step run again seals nothing; and migrating down is
// refused while sealed secrets exist, changing nothing.
func TestUpgradeSealsClearSecrets(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.Connect(t, pgtest.NewEmptyDBURL(t))
	db := migrations.OpenDB(pool)
	defer db.Close()
	p, err := migrations.Provider(db)
	require.NoError(t, err)
	_, err = p.UpTo(ctx, 13)
	require.NoError(t, err)

	secrets := map[int64]string{}
	for i := range 3 {
		s, err := webhook.NewSecret()
		require.NoError(t, err)
		var id int64
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO webhook_endpoints (url, secret, event_types, deleted_at)
			VALUES ('https://hooks.example.com/x', $1, '{order.created}', CASE WHEN $2 THEN now() END) RETURNING id`,
			s, i == 2).Scan(&id))
		secrets[id] = s
	}
	_, err = p.Up(ctx)
	require.NoError(t, err)
	before := tableText(t, pool)
	for _, s := range secrets {
		require.Contains(t, before, s, "the migration itself cannot seal")
	}

	kr := newKeyring(t, secretKeyA, "")
	// Twice at once, as the worker and the API starting together would.
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i := range counts {
		wg.Go(func() {
			n, err := webhook.SealStoredSecrets(ctx, pool, kr)
			require.NoError(t, err)
			counts[i] = n
		})
	}
	wg.Wait()
	require.Equal(t, len(secrets), counts[0]+counts[1], "each clear secret sealed exactly once")

	after := tableText(t, pool)
	for id, s := range secrets {
		require.NotContains(t, after, s)
		require.NotContains(t, after, strings.TrimPrefix(s, "whsec_"))
		got, err := webhook.LoadSecret(ctx, pool, kr, id)
		require.NoError(t, err)
		require.Equal(t, s, got)
	}
	var clear, sealed int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(secret_legacy), count(secret_ciphertext) FROM webhook_endpoints`).Scan(&clear, &sealed))
	require.Equal(t, 0, clear)
	require.Equal(t, len(secrets), sealed)
	n, err := webhook.SealStoredSecrets(ctx, pool, kr)
	require.NoError(t, err)
	require.Zero(t, n)

	// Down to below 00014 (the migrations after it go down first) stops
	// at 00014 while a sealed secret exists.
	_, err = p.DownTo(ctx, 13)
	require.ErrorContains(t, err, "sealed secrets")
	require.Equal(t, after, tableText(t, pool))
	v, err := p.GetDBVersion(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 14, v)
}

// Ensure the table's constraints hold every endpoint to exactly one
// secret, sealed with its key id or (until sealed) clear.
func TestSecretConstraints(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	for _, q := range []string{
		`INSERT INTO webhook_endpoints (url, event_types) VALUES ('https://a.example/x', '{order.created}')`,
		`INSERT INTO webhook_endpoints (url, event_types, secret_legacy, secret_ciphertext, secret_key_id)
			VALUES ('https://a.example/x', '{order.created}', repeat('s', 40), decode(repeat('00', 40), 'hex'), '0123456789abcdef')`,
		`INSERT INTO webhook_endpoints (url, event_types, secret_ciphertext) VALUES ('https://a.example/x', '{order.created}', decode(repeat('00', 40), 'hex'))`,
		`INSERT INTO webhook_endpoints (url, event_types, secret_ciphertext, secret_key_id)
			VALUES ('https://a.example/x', '{order.created}', decode(repeat('00', 40), 'hex'), 'not a key id')`,
	} {
		_, err := pool.Exec(ctx, q)
		require.Error(t, err, q)
	}
}

// Ensure `ordem secrets rotate`'s work: after SECRET_KEY moves to a new
// key with the old one as SECRET_KEY_PREVIOUS, every secret (deleted
// endpoints' too) is re-sealed under the new key and still opens to the
// same value; a second rotation changes nothing; a secret sealed under a
// key neither current nor previous is reported, left as it is, and
// blocks nothing else.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t)
	a := newKeyring(t, secretKeyA, "")
	secrets := map[int64]string{}
	for i := range 5 {
		s, err := webhook.NewSecret()
		require.NoError(t, err)
		id, err := webhook.InsertEndpoint(ctx, pool, a, webhook.Endpoint{URL: "https://hooks.example.com/r",
			Secret: s, EventTypes: []string{webhook.OrderCreated}, Active: i%2 == 0})
		require.NoError(t, err)
		secrets[id] = s
	}
	_, err := pool.Exec(ctx, `UPDATE webhook_endpoints SET deleted_at = now() WHERE id = (SELECT min(id) FROM webhook_endpoints)`)
	require.NoError(t, err)

	b := newKeyring(t, secretKeyB, secretKeyA)
	rep, err := secretbox.Rotate(ctx, pool, b, webhook.SecretColumn)
	require.NoError(t, err)
	require.Equal(t, len(secrets), rep.Resealed)
	require.Zero(t, rep.Sealed)
	require.Equal(t, len(secrets), rep.Current)
	require.Empty(t, rep.Failed)

	rep, err = secretbox.Rotate(ctx, pool, b, webhook.SecretColumn)
	require.NoError(t, err)
	require.Zero(t, rep.Resealed)
	require.Equal(t, len(secrets), rep.Current)

	// SECRET_KEY_PREVIOUS removed: everything still opens.
	bOnly := newKeyring(t, secretKeyB, "")
	for id, s := range secrets {
		got, err := webhook.LoadSecret(ctx, pool, bOnly, id)
		require.NoError(t, err)
		require.Equal(t, s, got)
		_, err = webhook.LoadSecret(ctx, pool, a, id)
		require.ErrorIs(t, err, secretbox.ErrUnknownKey)
	}

	// One endpoint left behind under A while the keys move on to C (B
	// previous): reported, untouched; the others move to C.
	var stale int64
	for id := range secrets {
		stale = id
		break
	}
	_, err = webhook.SetSecret(ctx, pool, a, stale, secrets[stale])
	require.NoError(t, err)
	var staleBefore []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT secret_ciphertext FROM webhook_endpoints WHERE id = $1`, stale).Scan(&staleBefore))
	c := newKeyring(t, secretKeyC, secretKeyB)
	rep, err = secretbox.Rotate(ctx, pool, c, webhook.SecretColumn)
	require.NoError(t, err)
	require.Equal(t, []int64{stale}, rep.Failed)
	require.Equal(t, len(secrets)-1, rep.Resealed)
	require.Equal(t, len(secrets)-1, rep.Current)
	var staleAfter []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT secret_ciphertext FROM webhook_endpoints WHERE id = $1`, stale).Scan(&staleAfter))
	require.Equal(t, staleBefore, staleAfter)

	// A ciphertext moved onto another row does not open there.
	var other int64
	for id := range secrets {
		if id != stale {
			other = id
			break
		}
	}
	_, err = pool.Exec(ctx, `UPDATE webhook_endpoints SET (secret_ciphertext, secret_key_id) =
		(SELECT secret_ciphertext, secret_key_id FROM webhook_endpoints WHERE id = $2) WHERE id = $1`, stale, other)
	require.NoError(t, err)
	_, err = webhook.LoadSecret(ctx, pool, c, stale)
	require.ErrorIs(t, err, secretbox.ErrOpen)
}
