package secretbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordem/ordem/internal/postgres"
)

// Column describes where a table keeps one kind of sealed secret: the
// sealed value and its key id, beside the clear column of rows written
// before the secret was sealed (NULL once sealed). Its owner package
// declares it; `ordem secrets rotate` walks every one.
type Column struct {
	Table      string // the table, e.g. webhook_endpoints
	ID         string // its BIGINT primary key
	Ciphertext string // BYTEA: nonce, ciphertext and tag
	KeyID      string // TEXT: the id of the key that sealed it
	Legacy     string // TEXT: the clear value of a row not sealed yet
}

// AAD is the additional data a row's value is sealed with: the table,
// the column and the row id, so a value copied to another row (or
// another table) does not open.
func (c Column) AAD(id int64) string {
	return c.Table + "." + c.Ciphertext + "#" + strconv.FormatInt(id, 10)
}

// Seal seals plaintext for row id.
func (c Column) Seal(kr *Keyring, id int64, plaintext string) (Sealed, error) {
	return kr.Seal([]byte(plaintext), c.AAD(id))
}

// Open opens row id's sealed value.
func (c Column) Open(kr *Keyring, id int64, s Sealed) (string, error) {
	pt, err := kr.Open(s, c.AAD(id))
	if err != nil {
		return "", err
	}
	return string(pt), nil
}

// Report counts what a rotation did to one column.
type Report struct {
	Column Column
	// Sealed counts clear values (rows from before the column was
	// sealed) now sealed under the current key.
	Sealed int
	// Resealed counts values moved from the previous key to the current.
	Resealed int
	// Current counts values already under the current key: left alone.
	Current int
	// Failed lists the rows no configured key opens (sealed under a key
	// older than SECRET_KEY_PREVIOUS, or altered); they are left as they
	// are.
	Failed []int64
}

// rotateBatch bounds the rows one transaction re-seals: a rotation of a
// large table holds no lock for long.
const rotateBatch = 100

// Rotate re-seals under kr's current key every value of c that is clear
// or sealed under another key, in batches, each in its own transaction
// with its rows locked. Running it again changes nothing (every value is
// then Current), and two rotations at once do not re-seal a value twice:
// a locked row that another rotation re-sealed no longer matches.
func Rotate(ctx context.Context, pool *pgxpool.Pool, kr *Keyring, c Column) (Report, error) {
	rep, err := reseal(ctx, pool, kr, c, false)
	if err != nil {
		return rep, err
	}
	err = pool.QueryRow(ctx, `SELECT count(*) FROM `+c.Table+` WHERE `+c.Legacy+` IS NULL AND `+c.KeyID+` = $1`,
		kr.KeyID()).Scan(&rep.Current)
	if err != nil {
		return rep, fmt.Errorf("count %s sealed under the current key: %w", c.Table, err)
	}
	return rep, nil
}

// SealLegacy seals the clear values of c that remain (rows written before
// the migration that added the sealed column) and clears them. The
// worker and the API run it at start and `ordem migrate up` after the
// migrations, so no secret stays in clear once a release that seals it
// runs; it returns how many it sealed.
func SealLegacy(ctx context.Context, pool *pgxpool.Pool, kr *Keyring, c Column) (int, error) {
	rep, err := reseal(ctx, pool, kr, c, true)
	return rep.Sealed, err
}

func reseal(ctx context.Context, pool *pgxpool.Pool, kr *Keyring, c Column, legacyOnly bool) (Report, error) {
	rep := Report{Column: c}
	filter := c.Legacy + ` IS NOT NULL`
	if !legacyOnly {
		filter = `(` + c.Legacy + ` IS NOT NULL OR ` + c.KeyID + ` IS DISTINCT FROM $2)`
	}
	query := `SELECT ` + c.ID + `, ` + c.Ciphertext + `, ` + c.KeyID + `, ` + c.Legacy + ` FROM ` + c.Table +
		` WHERE ` + c.ID + ` > $1 AND ` + filter + ` ORDER BY ` + c.ID + ` LIMIT ` + strconv.Itoa(rotateBatch) + ` FOR UPDATE`
	update := `UPDATE ` + c.Table + ` SET ` + c.Ciphertext + ` = $2, ` + c.KeyID + ` = $3, ` + c.Legacy + ` = NULL WHERE ` + c.ID + ` = $1`
	var after int64
	for {
		n := 0
		err := postgres.InTx(ctx, pool, func(tx pgx.Tx) error {
			args := []any{after}
			if !legacyOnly {
				args = append(args, kr.KeyID())
			}
			rows, err := tx.Query(ctx, query, args...)
			if err != nil {
				return fmt.Errorf("lock %s secrets: %w", c.Table, err)
			}
			type row struct {
				id     int64
				ct     []byte
				keyID  *string
				legacy *string
			}
			batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
				var x row
				err := r.Scan(&x.id, &x.ct, &x.keyID, &x.legacy)
				return x, err
			})
			if err != nil {
				return fmt.Errorf("read %s secrets: %w", c.Table, err)
			}
			n = len(batch)
			for _, x := range batch {
				after = x.id
				plain := ""
				switch {
				case x.legacy != nil:
					plain = *x.legacy
				case x.keyID != nil:
					plain, err = c.Open(kr, x.id, Sealed{Ciphertext: x.ct, KeyID: *x.keyID})
					if errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrOpen) {
						rep.Failed = append(rep.Failed, x.id)
						continue
					}
					if err != nil {
						return err
					}
				default:
					rep.Failed = append(rep.Failed, x.id)
					continue
				}
				s, err := c.Seal(kr, x.id, plain)
				if err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, update, x.id, s.Ciphertext, s.KeyID); err != nil {
					return fmt.Errorf("re-seal %s %d: %w", c.Table, x.id, err)
				}
				if x.legacy != nil {
					rep.Sealed++
				} else {
					rep.Resealed++
				}
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
		if n < rotateBatch {
			return rep, nil
		}
	}
}
