package api

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/audit"
)

// id formats a database id as the API shows ids: strings.
func id(n int64) string { return strconv.FormatInt(n, 10) }

// parseID reads an id in the one spelling the API writes ids: "05" and
// "+5" are not 5.
func parseID(raw string) (int64, bool) {
	n, err := strconv.ParseInt(raw, 10, 64)
	return n, err == nil && n > 0 && strconv.FormatInt(n, 10) == raw
}

// pathID parses a numeric id path parameter (parseID); anything else is
// not found.
func pathID(c *fiber.Ctx, name string) (int64, error) {
	n, ok := parseID(c.Params(name))
	if !ok {
		return 0, ordem.Errorf(ordem.ENotFound, "no such %s", strings.TrimSuffix(name, "_id"))
	}
	return n, nil
}

// Page is a page of a list with an opaque cursor for the next one.
type Page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// page is a parsed keyset-pagination request: items strictly after
// (after, afterID) in descending (created_at, id) order.
type page struct {
	limit   int
	after   *time.Time
	afterID int64
}

const (
	defaultPageSize = 20
	maxPageSize     = 100
)

func parsePage(c *fiber.Ctx) (page, error) {
	p := page{limit: defaultPageSize}
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPageSize {
			return p, (fieldErrors{"limit": "must be a whole number between 1 and 100"}).err()
		}
		p.limit = n
	}
	if cur := c.Query("cursor"); cur != "" {
		t, n, ok := decodeCursor(cur)
		if !ok {
			return p, (fieldErrors{"cursor": "is not a cursor this API returned"}).err()
		}
		p.after, p.afterID = &t, n
	}
	return p, nil
}

func encodeCursor(t time.Time, n int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + "|" + strconv.FormatInt(n, 10)))
}

func decodeCursor(s string) (time.Time, int64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, 0, false
	}
	ts, ns, ok := strings.Cut(string(b), "|")
	if !ok {
		return time.Time{}, 0, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, 0, false
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return time.Time{}, 0, false
	}
	// Only the API's own spelling: base64 decoding skips line breaks, and
	// the time and the id parse with offsets, trailing zeros and signs
	// encodeCursor never writes.
	if encodeCursor(t, n) != s {
		return time.Time{}, 0, false
	}
	return t, n, true
}

// auditLog records an admin action in the audit log, in tx, with the
// request's id (auditChange records one that replaces something).
func auditLog(c *fiber.Ctx, tx pgx.Tx, p *principal, action, targetType string, targetID int64, reason string, data any) error {
	return audit.Record(c.UserContext(), tx, audit.Entry{ActorID: p.ID, ActorRole: string(p.Role), Action: action,
		TargetType: targetType, TargetID: id(targetID), Reason: reason, Data: data, RequestID: requestID(c)})
}

// pageOf turns up to limit+1 rows, fetched in (created_at, id) descending
// order, into a page: the extra row only says a next page exists, whose
// cursor is the last row shown.
func pageOf[R, T any](rows []R, limit int, key func(R) (time.Time, int64), item func(R) T) Page[T] {
	out := Page[T]{Items: make([]T, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			t, n := key(rows[i-1])
			out.NextCursor = encodeCursor(t, n)
			break
		}
		out.Items = append(out.Items, item(r))
	}
	return out
}
