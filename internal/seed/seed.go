// Package seed prepares a database for use: default system config,
// platform accounts, the first admin and missing wallets. Running it again
// changes nothing.
package seed

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordem/ordem/internal/auth"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/sysconfig"
)

// Admin is the first administrator to create when no live user has its
// e-mail. An empty Password makes Run generate one.
type Admin struct {
	Name     string
	Email    string
	Password string
}

// Result says what Run wrote.
type Result struct {
	ConfigKeys int64
	Wallets    int64
	// AdminCreated is true when the admin did not exist before.
	AdminCreated bool
	AdminID      int64
	// GeneratedPassword is set only when Run created the admin with a
	// password of its own making: it is shown once and stored nowhere.
	GeneratedPassword string
}

// Run seeds the database in one transaction.
func Run(ctx context.Context, pool *pgxpool.Pool, admin Admin) (Result, error) {
	var res Result
	email := strings.ToLower(strings.TrimSpace(admin.Email))
	if email == "" {
		return res, fmt.Errorf("seed: admin e-mail is empty")
	}
	err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
		var err error
		if res.ConfigKeys, err = sysconfig.Seed(ctx, tx); err != nil {
			return err
		}
		if err := ledger.EnsurePlatformAccounts(ctx, tx); err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `SELECT id FROM users WHERE lower(email) = $1 AND deleted_at IS NULL`, email).Scan(&res.AdminID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			password := admin.Password
			if password == "" {
				password = auth.GeneratePassword()
				res.GeneratedPassword = password
			}
			hash, err := auth.HashPassword(password)
			if err != nil {
				return err
			}
			err = tx.QueryRow(ctx, `
				INSERT INTO users (name, email, password_hash, role) VALUES ($1, $2, $3, 'admin') RETURNING id`,
				admin.Name, email, hash).Scan(&res.AdminID)
			if err != nil {
				return fmt.Errorf("create admin: %w", err)
			}
			res.AdminCreated = true
		case err != nil:
			return fmt.Errorf("find admin: %w", err)
		}
		res.Wallets, err = ledger.OpenUserAccounts(ctx, tx, 0)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}
