package webhook

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/secretbox"
)

// SecretPurpose is the HKDF label of the key that seals endpoint secrets.
// Never changed: the sealed values depend on it.
const SecretPurpose = "webhook-endpoint-secret"

// SecretColumn is where webhook_endpoints keeps each endpoint's signing
// secret, sealed (migration 00014).
var SecretColumn = secretbox.Column{
	Table:      "webhook_endpoints",
	ID:         "id",
	Ciphertext: "secret_ciphertext",
	KeyID:      "secret_key_id",
	Legacy:     "secret_legacy",
}

// NewKeyring returns the keyring of endpoint secrets over SECRET_KEY and
// SECRET_KEY_PREVIOUS (empty when none).
func NewKeyring(secretKey, previous string) (*secretbox.Keyring, error) {
	kr, err := secretbox.New(SecretPurpose, secretKey, previous)
	if err != nil {
		return nil, fmt.Errorf("webhook secrets keyring: %w", err)
	}
	return kr, nil
}

// Endpoint is a receiver to register.
type Endpoint struct {
	URL         string
	Secret      string
	Description string
	EventTypes  []string
	Active      bool
	CreatedBy   *int64
}

// InsertEndpoint registers e, its secret sealed under kr, and returns its
// id. The id is taken first because the sealed value is bound to it.
func InsertEndpoint(ctx context.Context, db postgres.DBTX, kr *secretbox.Keyring, e Endpoint) (int64, error) {
	var id int64
	if err := db.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('webhook_endpoints', 'id'))`).Scan(&id); err != nil {
		return 0, fmt.Errorf("allocate webhook endpoint id: %w", err)
	}
	s, err := SecretColumn.Seal(kr, id, e.Secret)
	if err != nil {
		return 0, err
	}
	_, err = db.Exec(ctx, `
		INSERT INTO webhook_endpoints (id, url, secret_ciphertext, secret_key_id, description, event_types, active, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, e.URL, s.Ciphertext, s.KeyID, e.Description, e.EventTypes, e.Active, e.CreatedBy)
	if err != nil {
		return 0, fmt.Errorf("insert webhook endpoint: %w", err)
	}
	return id, nil
}

// SetSecret replaces endpoint id's secret with secret, sealed under kr.
// It reports whether the endpoint exists.
func SetSecret(ctx context.Context, db postgres.DBTX, kr *secretbox.Keyring, id int64, secret string) (bool, error) {
	s, err := SecretColumn.Seal(kr, id, secret)
	if err != nil {
		return false, err
	}
	tag, err := db.Exec(ctx, `UPDATE webhook_endpoints SET secret_ciphertext = $2, secret_key_id = $3, secret_legacy = NULL,
		updated_at = now() WHERE id = $1`, id, s.Ciphertext, s.KeyID)
	if err != nil {
		return false, fmt.Errorf("set webhook secret: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// StoredSecret is an endpoint's secret as read from its row: sealed, or
// (a row from before migration 00014 not sealed yet) clear.
type StoredSecret struct {
	Ciphertext []byte
	KeyID      *string
	Legacy     *string
}

// SecretColumns are the columns to scan into a StoredSecret, in order,
// for a query over webhook_endpoints aliased e.
const SecretColumns = `e.secret_ciphertext, e.secret_key_id, e.secret_legacy`

// Open returns endpoint id's secret in clear. A row not sealed yet (a
// worker started before the sealing step ran) still signs with its clear
// value.
func (s StoredSecret) Open(kr *secretbox.Keyring, id int64) (string, error) {
	switch {
	case s.KeyID != nil:
		return SecretColumn.Open(kr, id, secretbox.Sealed{Ciphertext: s.Ciphertext, KeyID: *s.KeyID})
	case s.Legacy != nil:
		return *s.Legacy, nil
	}
	return "", errors.New("webhook endpoint has no secret")
}

// LoadSecret reads and opens endpoint id's secret.
func LoadSecret(ctx context.Context, db postgres.DBTX, kr *secretbox.Keyring, id int64) (string, error) {
	var s StoredSecret
	err := db.QueryRow(ctx, `SELECT `+SecretColumns+` FROM webhook_endpoints e WHERE e.id = $1`, id).Scan(&s.Ciphertext, &s.KeyID, &s.Legacy)
	if err != nil {
		return "", fmt.Errorf("load webhook secret %d: %w", id, err)
	}
	return s.Open(kr, id)
}

// SealStoredSecrets seals the endpoint secrets still in clear (rows from
// before migration 00014) and returns how many it sealed.
func SealStoredSecrets(ctx context.Context, pool *pgxpool.Pool, kr *secretbox.Keyring) (int, error) {
	n, err := secretbox.SealLegacy(ctx, pool, kr, SecretColumn)
	if err != nil {
		return n, fmt.Errorf("seal webhook secrets: %w", err)
	}
	return n, nil
}
