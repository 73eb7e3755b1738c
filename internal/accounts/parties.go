package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
)

// The users as the parties of orders see each other: who may take part in
// an order, whom a notification reaches, the names shown on orders and
// the provider directory.

// ActiveAs reports whether uid is a live user of role. With share set
// (in the caller's transaction) the row is locked FOR KEY SHARE, so a
// deletion, which locks it FOR UPDATE and then looks for open orders,
// either waits for that transaction and sees what it wrote, or commits
// first and this no longer finds the user.
func ActiveAs(ctx context.Context, db postgres.DBTX, uid int64, role ordem.Role, share bool) (bool, error) {
	lock := ""
	if share {
		lock = " FOR KEY SHARE"
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT 1 FROM users WHERE id = $1 AND role = $2 AND deleted_at IS NULL`+lock+`) AS u`, uid, string(role)).Scan(&n); err != nil {
		return false, fmt.Errorf("look up %s %d: %w", role, uid, err)
	}
	return n == 1, nil
}

// Names reads the names of the users ids (deleted ones included: a
// deleted user keeps their name on their orders).
func Names(ctx context.Context, db postgres.DBTX, ids []int64) (map[int64]string, error) {
	rows, err := db.Query(ctx, `SELECT id, name FROM users WHERE id = ANY($1::bigint[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("read user names: %w", err)
	}
	names := map[int64]string{}
	var (
		uid  int64
		name string
	)
	if _, err := pgx.ForEachRow(rows, []any{&uid, &name}, func() error { names[uid] = name; return nil }); err != nil {
		return nil, fmt.Errorf("read user names: %w", err)
	}
	return names, nil
}

// Recipient is a user a notification is written for, in their language
// and time zone.
type Recipient struct {
	ID       int64
	Locale   string
	TimeZone string
}

// Recipients reads the users ids (deleted or not) and, with admins set,
// every live admin; each once, by id.
func Recipients(ctx context.Context, db postgres.DBTX, ids []int64, admins bool) ([]Recipient, error) {
	return postgres.Collect(ctx, db, "read recipients", pgx.RowToStructByPos[Recipient], `
		SELECT id, locale, time_zone FROM users
		WHERE id = ANY($1::bigint[]) OR ($2 AND role = 'admin' AND deleted_at IS NULL) ORDER BY id`, ids, admins)
}

// DirectoryEntry is a provider as the directory lists them: never their
// e-mail or phone.
type DirectoryEntry struct {
	ID   int64
	Name string
	// Key is the name folded (case and accents ignored): the directory's
	// order and, with ID, its keyset.
	Key         string
	MemberSince time.Time
	// CompletedOrders counts their orders in status completed.
	CompletedOrders int64
}

// ProviderDirectory lists live providers in Key order whose name matches
// the LIKE pattern (case and accents ignored), after (afterKey, afterID)
// when afterID is set, at most limit. The predicate and the order match
// the partial indexes of migration 00018 (users_provider_name_trgm_idx,
// users_provider_name_idx).
func ProviderDirectory(ctx context.Context, db postgres.DBTX, pattern, afterKey string, afterID int64, limit int) ([]DirectoryEntry, error) {
	return postgres.Collect(ctx, db, "list providers", pgx.RowToStructByPos[DirectoryEntry], `
		SELECT u.id, u.name, ordem_fold(u.name), u.created_at,
		       (SELECT count(*) FROM orders o WHERE o.provider_id = u.id AND o.status = 'completed')
		FROM users u
		WHERE u.role = 'provider' AND u.deleted_at IS NULL
		  AND ($1 = '%%' OR ordem_fold(u.name) LIKE ordem_fold($1))
		  AND ($2::bigint = 0 OR (ordem_fold(u.name), u.id) > ($3, $2))
		ORDER BY ordem_fold(u.name), u.id LIMIT $4`, pattern, afterID, afterKey, limit)
}
