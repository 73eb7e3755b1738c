package api

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ordem/ordem/internal/accounts"
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
	list, err := accounts.ProviderDirectory(c.UserContext(), s.Pool, pattern, afterKey, afterID, limit+1)
	if err != nil {
		return err
	}
	out := Page[DirectoryProvider]{Items: make([]DirectoryProvider, 0, min(len(list), limit))}
	for i, x := range list {
		if i == limit {
			out.NextCursor = encodeDirectoryCursor(list[i-1].Key, list[i-1].ID)
			break
		}
		out.Items = append(out.Items, DirectoryProvider{ID: id(x.ID), Name: x.Name, CompletedOrders: x.CompletedOrders,
			MemberSince: x.MemberSince})
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
	ids := make([]int64, 0, 2*len(orders))
	for _, o := range orders {
		for _, party := range []string{o.ClientID, o.ProviderID} {
			if n, ok := parseID(party); ok {
				ids = append(ids, n)
			}
		}
	}
	names, err := accounts.Names(ctx, s.Pool, ids)
	if err != nil {
		return err
	}
	for _, o := range orders {
		client, _ := parseID(o.ClientID)
		provider, _ := parseID(o.ProviderID)
		o.ClientName, o.ProviderName = names[client], names[provider]
	}
	return nil
}
