// Package secrets lists every secret Ordem stores sealed (see
// internal/secretbox) and runs the sealing of clear values and the key
// rotation over all of them: `ordem secrets rotate`, `ordem migrate up`,
// and the start of the worker and the API. A new kind of stored secret
// is added to All.
//
// Session tokens and passwords are not here: only a hash of each is
// stored (SHA-256 of the token, a password hash), which no key opens.
package secrets

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/secretbox"
	"github.com/ordem/ordem/internal/webhook"
)

// Stored is one kind of stored secret: where it is and the keyring that
// seals it.
type Stored struct {
	// Name says what the secrets are, for reports.
	Name    string
	Column  secretbox.Column
	Keyring *secretbox.Keyring
}

// All returns every kind of stored secret, with keyrings over cfg's
// SECRET_KEY and SECRET_KEY_PREVIOUS.
func All(cfg *config.Config) ([]Stored, error) {
	hooks, err := webhook.NewKeyring(cfg.SecretKey, cfg.SecretKeyPrevious)
	if err != nil {
		return nil, err
	}
	return []Stored{{Name: "webhook endpoint secrets", Column: webhook.SecretColumn, Keyring: hooks}}, nil
}

// SealClear seals every stored secret still in clear (rows from before
// the migration that sealed its column) and returns how many it sealed.
func SealClear(ctx context.Context, pool *pgxpool.Pool, cfg *config.Config) (int, error) {
	all, err := All(cfg)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, s := range all {
		n, err := secretbox.SealLegacy(ctx, pool, s.Keyring, s.Column)
		total += n
		if err != nil {
			return total, fmt.Errorf("seal %s: %w", s.Name, err)
		}
	}
	return total, nil
}

// Rotation is what a rotation did to one kind of secret.
type Rotation struct {
	Name string
	secretbox.Report
}

// Rotate re-seals every stored secret under the current SECRET_KEY (see
// secretbox.Rotate): idempotent, in batched transactions. Rows no
// configured key opens are reported in each Rotation's Failed, not an
// error.
func Rotate(ctx context.Context, pool *pgxpool.Pool, cfg *config.Config) ([]Rotation, error) {
	all, err := All(cfg)
	if err != nil {
		return nil, err
	}
	var out []Rotation
	for _, s := range all {
		rep, err := secretbox.Rotate(ctx, pool, s.Keyring, s.Column)
		out = append(out, Rotation{Name: s.Name, Report: rep})
		if err != nil {
			return out, fmt.Errorf("rotate %s: %w", s.Name, err)
		}
	}
	return out, nil
}
