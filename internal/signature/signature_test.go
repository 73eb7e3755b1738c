package signature

import (
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Ensure the MAC is the documented formula, so senders and receivers in
// any language can compute it: hex HMAC-SHA256(secret, "<ts>.<body>").
func TestSignKnownVector(t *testing.T) {
	// printf '1700000000.{}' | openssl dgst -sha256 -hmac key
	require.Equal(t, "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae", Sign("key", 1700000000, []byte("{}")))
}

// Ensure Verify takes a signed request exactly: any of several MACs may
// match; another body, secret or timestamp, a malformed or stale
// timestamp, or a MAC that is not hex is refused with its own error.
func TestVerify(t *testing.T) {
	const secret = "s3cret"
	now := time.Unix(1_767_225_600, 0)
	body := []byte(`{"id":"evt_1"}`)
	ts := now.Unix()
	stamp := strconv.FormatInt(ts, 10)
	mac := Sign(secret, ts, body)
	tol := 5 * time.Minute

	require.NoError(t, Verify(now, secret, stamp, body, []string{mac}, tol))
	require.NoError(t, Verify(now, secret, stamp, body, []string{"zz", "00", mac}, tol), "a rotation lists several")
	require.ErrorIs(t, Verify(now, secret, stamp, []byte(`{"id":"evt_2"}`), []string{mac}, tol), ErrBadSignature)
	require.ErrorIs(t, Verify(now, "other", stamp, body, []string{mac}, tol), ErrBadSignature)
	require.ErrorIs(t, Verify(now, secret, strconv.FormatInt(ts-1, 10), body, []string{mac}, tol), ErrBadSignature)
	require.ErrorIs(t, Verify(now, secret, stamp, body, nil, tol), ErrBadSignature)
	require.ErrorIs(t, Verify(now, secret, stamp, body, []string{"not hex"}, tol), ErrBadSignature)
	require.ErrorIs(t, Verify(now, secret, "yesterday", body, []string{mac}, tol), ErrBadTimestamp)
	require.ErrorIs(t, Verify(now, secret, "", body, []string{mac}, tol), ErrBadTimestamp)

	// The MAC covers the timestamp text as sent: "+<ts>" is the same
	// second but another text, so it needs its own MAC.
	require.ErrorIs(t, Verify(now, secret, "+"+stamp, body, []string{mac}, tol), ErrBadSignature)
	plus := MAC(secret, "+"+stamp, body)
	require.NoError(t, Verify(now, secret, "+"+stamp, body, []string{hex.EncodeToString(plus)}, tol))

	old, future := ts-301, ts+301
	require.ErrorIs(t, Verify(now, secret, strconv.FormatInt(old, 10), body, []string{Sign(secret, old, body)}, tol), ErrStale)
	require.ErrorIs(t, Verify(now, secret, strconv.FormatInt(future, 10), body, []string{Sign(secret, future, body)}, tol), ErrStale)
}

// Ensure the tolerance is inclusive both ways and extreme timestamps are
// stale rather than wrapping around.
func TestFresh(t *testing.T) {
	now := time.Unix(1_767_225_600, 0)
	tol := 5 * time.Minute
	for ts, want := range map[int64]bool{
		now.Unix(): true, now.Unix() - 300: true, now.Unix() + 300: true,
		now.Unix() - 301: false, now.Unix() + 301: false,
		0: false, -1: false, 1<<63 - 1: false, -1 << 63: false,
	} {
		require.Equal(t, want, Fresh(now, ts, tol), "ts %d", ts)
	}
	// A clock between seconds: only what is within tolerance of the
	// instant itself.
	require.False(t, Fresh(now.Add(500*time.Millisecond), now.Unix()-300, tol))
	require.True(t, Fresh(now.Add(500*time.Millisecond), now.Unix()+300, tol))
}
