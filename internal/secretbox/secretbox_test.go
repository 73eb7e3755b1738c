package secretbox_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/secretbox"
)

const (
	keyA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	keyB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	keyC = "cccccccccccccccccccccccccccccccccccccccc"
)

func keyring(t *testing.T, purpose, current, previous string) *secretbox.Keyring {
	t.Helper()
	kr, err := secretbox.New(purpose, current, previous)
	require.NoError(t, err)
	return kr
}

// Ensure a sealed value opens to what was sealed, carries the current
// key's id, never contains the clear value, and differs each time (a
// fresh nonce) while opening to the same value.
func TestRoundTrip(t *testing.T) {
	kr := keyring(t, "test-purpose", keyA, "")
	secret := "whsec_0123456789abcdef0123456789abcdef"
	s1, err := kr.Seal([]byte(secret), "row#1")
	require.NoError(t, err)
	s2, err := kr.Seal([]byte(secret), "row#1")
	require.NoError(t, err)
	require.Equal(t, kr.KeyID(), s1.KeyID)
	require.Len(t, s1.KeyID, 16)
	require.NotEqual(t, s1.Ciphertext, s2.Ciphertext)
	require.False(t, bytes.Contains(s1.Ciphertext, []byte(secret)))
	require.Len(t, s1.Ciphertext, 12+len(secret)+16)
	for _, s := range []secretbox.Sealed{s1, s2} {
		got, err := kr.Open(s, "row#1")
		require.NoError(t, err)
		require.Equal(t, secret, string(got))
	}
	empty, err := kr.Seal(nil, "row#2")
	require.NoError(t, err)
	got, err := kr.Open(empty, "row#2")
	require.NoError(t, err)
	require.Empty(t, got)
}

// Ensure the key depends on the secret key and on the purpose: the same
// SECRET_KEY gives another key (and id) for another purpose, and a value
// sealed for one purpose does not open under another even with the
// right id forced.
func TestKeysAreSeparatedByPurposeAndSecret(t *testing.T) {
	hooks := keyring(t, "webhook-endpoint-secret", keyA, "")
	other := keyring(t, "other-purpose", keyA, "")
	otherKey := keyring(t, "webhook-endpoint-secret", keyB, "")
	require.NotEqual(t, hooks.KeyID(), other.KeyID())
	require.NotEqual(t, hooks.KeyID(), otherKey.KeyID())
	require.Equal(t, hooks.KeyID(), keyring(t, "webhook-endpoint-secret", keyA, keyB).KeyID(), "the id depends on the key only")
	require.NotContains(t, hooks.KeyID(), "aaaa")

	s, err := hooks.Seal([]byte("x"), "row#1")
	require.NoError(t, err)
	_, err = other.Open(s, "row#1")
	require.ErrorIs(t, err, secretbox.ErrUnknownKey)
	_, err = other.Open(secretbox.Sealed{Ciphertext: s.Ciphertext, KeyID: other.KeyID()}, "row#1")
	require.ErrorIs(t, err, secretbox.ErrOpen)
}

// Ensure a value sealed under another SECRET_KEY is refused by id
// (ErrUnknownKey), and that forcing the id does not help: the tag fails.
func TestWrongKey(t *testing.T) {
	a := keyring(t, "p", keyA, "")
	b := keyring(t, "p", keyB, "")
	s, err := a.Seal([]byte("secret"), "row#1")
	require.NoError(t, err)
	_, err = b.Open(s, "row#1")
	require.ErrorIs(t, err, secretbox.ErrUnknownKey)
	require.NotContains(t, err.Error(), "secret\"")
	_, err = b.Open(secretbox.Sealed{Ciphertext: s.Ciphertext, KeyID: b.KeyID()}, "row#1")
	require.ErrorIs(t, err, secretbox.ErrOpen)
}

// Ensure every single-bit change of a sealed value, a truncation, and a
// value moved to another row (other additional data) are refused.
func TestTampered(t *testing.T) {
	kr := keyring(t, "p", keyA, "")
	s, err := kr.Seal([]byte("whsec_secret"), "row#1")
	require.NoError(t, err)
	for i := range s.Ciphertext {
		for bit := range 8 {
			ct := bytes.Clone(s.Ciphertext)
			ct[i] ^= 1 << bit
			_, err := kr.Open(secretbox.Sealed{Ciphertext: ct, KeyID: s.KeyID}, "row#1")
			require.ErrorIs(t, err, secretbox.ErrOpen, "byte %d bit %d", i, bit)
		}
	}
	for _, n := range []int{0, 1, 12, 27, len(s.Ciphertext) - 1} {
		_, err := kr.Open(secretbox.Sealed{Ciphertext: s.Ciphertext[:n], KeyID: s.KeyID}, "row#1")
		require.ErrorIs(t, err, secretbox.ErrOpen, "truncated to %d", n)
	}
	_, err = kr.Open(s, "row#2")
	require.ErrorIs(t, err, secretbox.ErrOpen)
	_, err = kr.Open(secretbox.Sealed{Ciphertext: s.Ciphertext, KeyID: "0000000000000000"}, "row#1")
	require.ErrorIs(t, err, secretbox.ErrUnknownKey)
}

// Ensure a rotation works: after SECRET_KEY moves from A to B with
// SECRET_KEY_PREVIOUS=A, values sealed under A open (their key id names
// the previous key), new values are sealed under B, and once A is gone
// only the re-sealed values open.
func TestPreviousKey(t *testing.T) {
	before := keyring(t, "p", keyA, "")
	old, err := before.Seal([]byte("old secret"), "row#1")
	require.NoError(t, err)

	during := keyring(t, "p", keyB, keyA)
	require.NotEqual(t, before.KeyID(), during.KeyID())
	got, err := during.Open(old, "row#1")
	require.NoError(t, err)
	require.Equal(t, "old secret", string(got))
	resealed, err := during.Seal(got, "row#1")
	require.NoError(t, err)
	require.Equal(t, during.KeyID(), resealed.KeyID)

	after := keyring(t, "p", keyB, "")
	_, err = after.Open(old, "row#1")
	require.ErrorIs(t, err, secretbox.ErrUnknownKey)
	got, err = after.Open(resealed, "row#1")
	require.NoError(t, err)
	require.Equal(t, "old secret", string(got))

	// A third key with B as previous no longer knows A.
	next := keyring(t, "p", keyC, keyB)
	_, err = next.Open(old, "row#1")
	require.ErrorIs(t, err, secretbox.ErrUnknownKey)
}

func TestNewRefusesEmptyInput(t *testing.T) {
	_, err := secretbox.New("p", "", keyA)
	require.ErrorContains(t, err, "SECRET_KEY")
	_, err = secretbox.New("", keyA, "")
	require.Error(t, err)
	kr, err := secretbox.New("p", keyA, keyA)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(kr.Purpose(), "p"))
}
