// Package secretbox encrypts the secrets Ordem must keep in a readable
// form (webhook signing secrets: signing needs them in clear, so they
// cannot be hashed like passwords and session tokens) before they reach
// Postgres.
//
// Each purpose has its own AES-256-GCM key, derived from SECRET_KEY with
// HKDF-SHA256 and the purpose as the info label, so a key leaked or
// misused for one kind of secret opens no other. A sealed value is the
// random 12-byte nonce followed by the GCM ciphertext and tag; beside it
// the caller stores the key id (Sealed.KeyID), a short hash of the key
// that sealed it, so a value sealed under SECRET_KEY_PREVIOUS is still
// opened during a rotation and `ordem secrets rotate` knows which rows to
// re-seal. The additional data binds a value to its row (see Column.AAD):
// a ciphertext copied onto another row does not open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// version labels the derivation and the sealed format; a future format
// gets another label, and so other keys and ids.
const version = "ordem/secretbox/v1"

// Errors of Open.
var (
	// ErrUnknownKey: the value was sealed under a key that is neither the
	// current nor the previous one (SECRET_KEY rotated twice without
	// `ordem secrets rotate` in between, or a wrong SECRET_KEY).
	ErrUnknownKey = errors.New("secretbox: sealed under a key that is neither SECRET_KEY nor SECRET_KEY_PREVIOUS")
	// ErrOpen: the value does not authenticate under the key its id names:
	// altered, truncated, or moved from another row.
	ErrOpen = errors.New("secretbox: sealed value does not authenticate (altered, or moved from another row)")
)

// Sealed is an encrypted value and the id of the key that sealed it, the
// two columns stored.
type Sealed struct {
	Ciphertext []byte
	KeyID      string
}

type key struct {
	id   string
	aead cipher.AEAD
}

// Keyring seals under the key derived from the current SECRET_KEY and
// opens values sealed under it or under SECRET_KEY_PREVIOUS, for one
// purpose.
type Keyring struct {
	purpose  string
	current  key
	previous *key
}

// New returns the keyring of purpose (a label such as
// "webhook-endpoint-secret") over the current secret key and, when not
// empty, the previous one.
func New(purpose, current, previous string) (*Keyring, error) {
	if purpose == "" {
		return nil, errors.New("secretbox: empty purpose")
	}
	if current == "" {
		return nil, errors.New("secretbox: empty secret key (SECRET_KEY)")
	}
	cur, err := derive(purpose, current)
	if err != nil {
		return nil, err
	}
	k := &Keyring{purpose: purpose, current: cur}
	if previous != "" && previous != current {
		prev, err := derive(purpose, previous)
		if err != nil {
			return nil, err
		}
		k.previous = &prev
	}
	return k, nil
}

func derive(purpose, secret string) (key, error) {
	raw, err := hkdf.Key(sha256.New, []byte(secret), nil, version+" "+purpose, 32)
	if err != nil {
		return key{}, fmt.Errorf("derive %s key: %w", purpose, err)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, fmt.Errorf("create %s cipher: %w", purpose, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, fmt.Errorf("create %s AEAD: %w", purpose, err)
	}
	// The id is a hash of the derived key, never of SECRET_KEY itself,
	// and only 8 bytes of it: enough to tell two keys apart.
	sum := sha256.Sum256(append([]byte(version+" key id\x00"), raw...))
	return key{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// Purpose is the keyring's purpose label.
func (k *Keyring) Purpose() string { return k.purpose }

// KeyID is the id of the current key: a row whose key id differs was
// sealed under another key and is re-sealed by a rotation.
func (k *Keyring) KeyID() string { return k.current.id }

// Seal encrypts plaintext under the current key, bound to aad (the row it
// is stored in).
func (k *Keyring) Seal(plaintext []byte, aad string) (Sealed, error) {
	nonce := make([]byte, k.current.aead.NonceSize(), k.current.aead.NonceSize()+len(plaintext)+k.current.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("seal %s: %w", k.purpose, err)
	}
	ct := k.current.aead.Seal(nonce, nonce, plaintext, k.additional(aad))
	return Sealed{Ciphertext: ct, KeyID: k.current.id}, nil
}

// Open decrypts s with the key its id names (current or previous), and
// checks it was sealed for aad.
func (k *Keyring) Open(s Sealed, aad string) ([]byte, error) {
	var kk *key
	switch {
	case s.KeyID == k.current.id:
		kk = &k.current
	case k.previous != nil && s.KeyID == k.previous.id:
		kk = k.previous
	default:
		return nil, fmt.Errorf("open %s (key id %q): %w", k.purpose, s.KeyID, ErrUnknownKey)
	}
	n := kk.aead.NonceSize()
	if len(s.Ciphertext) < n+kk.aead.Overhead() {
		return nil, fmt.Errorf("open %s: %w", k.purpose, ErrOpen)
	}
	pt, err := kk.aead.Open(nil, s.Ciphertext[:n], s.Ciphertext[n:], k.additional(aad))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", k.purpose, ErrOpen)
	}
	return pt, nil
}

func (k *Keyring) additional(aad string) []byte {
	return []byte(version + "\x00" + k.purpose + "\x00" + aad)
}
