package webhook

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const secret = "whsec_0123456789abcdef0123456789abcdef"

// Ensure a signed body verifies, and a tampered body, another secret, a
// stale or future timestamp and malformed headers do not.
func TestVerify(t *testing.T) {
	body := []byte(`{"id":"e1","type":"order.created","data":{"amount":"150.00"}}`)
	now := time.Now()
	ts := now.Unix()
	sig := Sign(secret, ts, body)
	require.Regexp(t, `^v1=[0-9a-f]{64}$`, sig)
	tsStr := strconv.FormatInt(ts, 10)

	require.NoError(t, Verify(secret, tsStr, body, sig, DefaultTolerance))
	// Several signatures (a receiver rotating secrets): any one matching.
	require.NoError(t, Verify(secret, tsStr, body, "v1=00ff,"+sig, DefaultTolerance))

	tampered := []byte(`{"id":"e1","type":"order.created","data":{"amount":"950.00"}}`)
	require.ErrorIs(t, Verify(secret, tsStr, tampered, sig, DefaultTolerance), ErrBadSignature)
	require.ErrorIs(t, Verify("whsec_another", tsStr, body, sig, DefaultTolerance), ErrBadSignature)
	// The timestamp is signed: moving it breaks the signature.
	require.ErrorIs(t, Verify(secret, strconv.FormatInt(ts+1, 10), body, sig, DefaultTolerance), ErrBadSignature)
	require.ErrorIs(t, Verify(secret, tsStr, body, "", DefaultTolerance), ErrBadSignature)
	require.ErrorIs(t, Verify(secret, tsStr, body, "v0="+sig[3:], DefaultTolerance), ErrBadSignature)
	require.ErrorIs(t, Verify(secret, "yesterday", body, sig, DefaultTolerance), ErrBadTimestamp)

	old := now.Add(-10 * time.Minute).Unix()
	require.ErrorIs(t, Verify(secret, strconv.FormatInt(old, 10), body, Sign(secret, old, body), DefaultTolerance), ErrStale,
		"a correctly signed but stale delivery is a possible replay")
	future := now.Add(10 * time.Minute).Unix()
	require.ErrorIs(t, Verify(secret, strconv.FormatInt(future, 10), body, Sign(secret, future, body), DefaultTolerance), ErrStale)
	require.NoError(t, verifyAt(time.Unix(old, 0).Add(time.Minute), secret, strconv.FormatInt(old, 10), body,
		Sign(secret, old, body), DefaultTolerance), "within tolerance of the receiver's clock")
}

// Ensure the signature is the documented formula, so receivers in any
// language can compute it: hex HMAC-SHA256(secret, "<ts>.<body>").
func TestSignKnownVector(t *testing.T) {
	// Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac key
	require.Equal(t, "v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae", Sign("key", 1700000000, []byte("{}")))
}

// Ensure endpoint URLs are checked: https outside dev, no credentials.
func TestCheckURL(t *testing.T) {
	require.Empty(t, CheckURL("https://example.com/hooks", false))
	require.Empty(t, CheckURL("http://127.0.0.1:8080/x", true))
	require.NotEmpty(t, CheckURL("http://example.com/hooks", false))
	for _, bad := range []string{"", "example.com", "ftp://example.com", "https://", "https://user:pw@example.com", "https://e.com/#x", "not a url"} {
		require.NotEmpty(t, CheckURL(bad, true), bad)
	}
}

// Ensure event ids are stable per key and distinct across keys.
func TestEventID(t *testing.T) {
	require.Equal(t, EventID("order:1:accept#order.accepted"), EventID("order:1:accept#order.accepted"))
	require.NotEqual(t, EventID("order:1:accept#order.accepted"), EventID("order:2:accept#order.accepted"))
	s1, err := NewSecret()
	require.NoError(t, err)
	s2, err := NewSecret()
	require.NoError(t, err)
	require.NotEqual(t, s1, s2)
	require.Len(t, s1, len("whsec_")+64)
}
