package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
)

// mountProviders mounts the provider directory, for every signed-in user.
func (s *Server) mountProviders(r fiber.Router) {
	r.Get("/providers", s.authenticate, s.listProviders)
}

// DirectoryProvider is a provider as the directory shows them: never their
// e-mail or phone.
type DirectoryProvider struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// CompletedOrders counts their orders in status completed.
	CompletedOrders int64 `json:"completed_orders"`
	// MemberSince is when they signed up.
	MemberSince time.Time `json:"member_since"`
}

// maxDirectoryQuery bounds the search text, in characters.
const maxDirectoryQuery = 100

// listProviders lists active (not deleted) providers in name order
// (case and accents ignored), optionally only those whose name contains q,
// keyset-paginated with cursor and limit.
func (s *Server) listProviders(c *fiber.Ctx) error {
	f := fieldErrors{}
	limit := defaultPageSize
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPageSize {
			f.add("limit", "must be a whole number between 1 and 100")
		}
		limit = n
	}
	q := strings.TrimSpace(c.Query("q"))
	checkLine(f, "q", q, false, maxDirectoryQuery)
	var (
		afterKey string
		afterID  int64
	)
	if cur := c.Query("cursor"); cur != "" {
		var ok bool
		if afterKey, afterID, ok = decodeDirectoryCursor(cur); !ok {
			f.add("cursor", "is not a cursor this API returned")
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	// LIKE's wildcards in the search text are literal characters.
	pattern := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
	// The predicate and the order match the partial indexes of migration
	// 00018 (users_provider_name_trgm_idx, users_provider_name_idx).
	rows, err := s.Pool.Query(c.UserContext(), `
		SELECT u.id, u.name, ordem_fold(u.name), u.created_at,
		       (SELECT count(*) FROM orders o WHERE o.provider_id = u.id AND o.status = 'completed')
		FROM users u
		WHERE u.role = 'provider' AND u.deleted_at IS NULL
		  AND ($1 = '%%' OR ordem_fold(u.name) LIKE ordem_fold($1))
		  AND ($2::bigint = 0 OR (ordem_fold(u.name), u.id) > ($3, $2))
		ORDER BY ordem_fold(u.name), u.id LIMIT $4`, pattern, afterID, afterKey, limit+1)
	if err != nil {
		return fmt.Errorf("list providers: %w", err)
	}
	type row struct {
		DirectoryProvider
		uid int64
		key string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.uid, &x.Name, &x.key, &x.MemberSince, &x.CompletedOrders)
		x.ID = id(x.uid)
		return x, err
	})
	if err != nil {
		return fmt.Errorf("read providers: %w", err)
	}
	out := Page[DirectoryProvider]{Items: make([]DirectoryProvider, 0, min(len(list), limit))}
	for i, x := range list {
		if i == limit {
			out.NextCursor = encodeDirectoryCursor(list[i-1].key, list[i-1].uid)
			break
		}
		out.Items = append(out.Items, x.DirectoryProvider)
	}
	return c.JSON(out)
}

// A directory cursor is the last provider shown: their folded name and id.
func encodeDirectoryCursor(key string, n int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(n, 10) + "|" + key))
}

func decodeDirectoryCursor(s string) (string, int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", 0, false
	}
	ns, key, ok := strings.Cut(string(b), "|")
	if !ok {
		return "", 0, false
	}
	n, ok := parseID(ns)
	// Only the API's own spelling (base64 decoding skips line breaks).
	if !ok || encodeDirectoryCursor(key, n) != s {
		return "", 0, false
	}
	return key, n, true
}

// nameParties fills the names of each order's client and provider, in one
// query for a whole page. A deleted user keeps their name on their orders.
func (s *Server) nameParties(ctx context.Context, orders ...*Order) error {
	if len(orders) == 0 {
		return nil
	}
	ids := make([]string, 0, 2*len(orders))
	for _, o := range orders {
		ids = append(ids, o.ClientID, o.ProviderID)
	}
	rows, err := s.Pool.Query(ctx, `SELECT id::text, name FROM users WHERE id = ANY($1::bigint[])`, ids)
	if err != nil {
		return fmt.Errorf("read names of order parties: %w", err)
	}
	names := map[string]string{}
	var uid, name string
	if _, err := pgx.ForEachRow(rows, []any{&uid, &name}, func() error { names[uid] = name; return nil }); err != nil {
		return fmt.Errorf("read names of order parties: %w", err)
	}
	for _, o := range orders {
		o.ClientName, o.ProviderName = names[o.ClientID], names[o.ProviderID]
	}
	return nil
}
