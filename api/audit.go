package api

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem/internal/audit"
)

// reasonMissing is the field message of a missing reason on an admin
// action; fieldErrors.err answers reason_required when it is present, so
// consoles and scripts can branch on the code and ask for one.
const reasonMissing = "is required: every admin action that changes state says why (it is kept in the audit log)"

// maxReason bounds a reason's length (runes).
const maxReason = 2000

// checkReason validates the reason an admin action that changes state
// must carry (spec §2, §8): present, not blank, one line of at most
// maxReason runes.
func checkReason(f fieldErrors, v string) {
	if strings.TrimSpace(v) == "" {
		f.add("reason", reasonMissing)
		return
	}
	checkLine(f, "reason", v, true, maxReason)
}

// reasonBody reads the body of an admin action whose only field is
// {"reason"}: the body may be left out, but the reason may not.
func reasonBody(c *fiber.Ctx) (reasonRequest, error) {
	var req reasonRequest
	if err := decodeOptionalJSON(c, &req); err != nil {
		return req, err
	}
	f := fieldErrors{}
	checkReason(f, req.Reason)
	req.Reason = strings.TrimSpace(req.Reason)
	return req, f.err()
}

// queryReason reads the reason of an admin DELETE from the query string
// (?reason=...), where a body is not expected.
func queryReason(c *fiber.Ctx) (string, error) {
	r := c.Query("reason")
	f := fieldErrors{}
	checkReason(f, r)
	return strings.TrimSpace(r), f.err()
}

// auditChange records an admin action that replaces something, with the
// object as it was (before) and as the action left it (after), in tx.
func auditChange(c *fiber.Ctx, tx pgx.Tx, p *principal, action, targetType string, targetID int64, reason string,
	data, before, after any) error {
	return audit.Record(c.UserContext(), tx, audit.Entry{ActorID: p.ID, ActorRole: string(p.Role), Action: action,
		TargetType: targetType, TargetID: id(targetID), Reason: reason, Data: data, Before: before, After: after,
		RequestID: requestID(c)})
}

// AuditEntry is one audit log row as the API shows it. ActorID is null
// for the system or a payment gateway (ActorRole then says which);
// Before and After are null for actions that replace nothing.
type AuditEntry struct {
	ID         string          `json:"id"`
	ActorID    *string         `json:"actor_id"`
	ActorRole  string          `json:"actor_role"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"`
	ObjectID   string          `json:"object_id"`
	Reason     string          `json:"reason"`
	Data       json.RawMessage `json:"data"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	RequestID  string          `json:"request_id"`
	CreatedAt  time.Time       `json:"created_at"`
}

func auditEntryOf(r audit.Row) AuditEntry {
	e := AuditEntry{ID: id(r.ID), ActorRole: r.ActorRole, Action: r.Action, ObjectType: r.TargetType,
		ObjectID: r.TargetID, Reason: r.Reason, Data: r.Data, Before: r.Before, After: r.After, RequestID: r.RequestID,
		CreatedAt: r.CreatedAt}
	if r.ActorID != nil {
		a := id(*r.ActorID)
		e.ActorID = &a
	}
	null := json.RawMessage("null")
	if e.Data == nil {
		e.Data = json.RawMessage("{}")
	}
	if e.Before == nil {
		e.Before = null
	}
	if e.After == nil {
		e.After = null
	}
	return e
}

// mountAudit mounts the audit log's read route on the admin group.
func (s *Server) mountAudit(admin fiber.Router) {
	admin.Get("/audit", s.listAudit)
}

// auditToken is the shape of action and object_type filters: the
// snake_case names the code writes.
func auditToken(v string) bool {
	if v == "" || len(v) > 100 {
		return false
	}
	for _, r := range v {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// listAudit lists the audit log, newest first, in cursor pages, filtered
// by actor_id, action, object_type, object_id and a created_at range
// (from inclusive, to exclusive, RFC 3339).
func (s *Server) listAudit(c *fiber.Ctx) error {
	pg, err := parsePage(c)
	if err != nil {
		return err
	}
	f := fieldErrors{}
	filter := audit.Filter{Limit: pg.limit + 1, AfterAt: pg.after, AfterID: pg.afterID}
	if v := c.Query("actor_id"); v != "" {
		n, ok := parseID(v)
		if !ok {
			f.add("actor_id", "must be a user id")
		}
		filter.ActorID = n
	}
	for _, q := range []struct {
		name string
		dst  *string
	}{{"action", &filter.Action}, {"object_type", &filter.TargetType}} {
		if v := c.Query(q.name); v != "" {
			if !auditToken(v) {
				f.add(q.name, "must be a name such as delete_user (lower case letters, digits and _)")
			}
			*q.dst = v
		}
	}
	if v := c.Query("object_id"); v != "" {
		if len(v) > 200 || !printable(v) {
			f.add("object_id", "must be 1 to 200 printable characters")
		}
		filter.TargetID = v
	}
	for _, q := range []struct {
		name string
		dst  **time.Time
	}{{"from", &filter.From}, {"to", &filter.To}} {
		if v := c.Query(q.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				f.add(q.name, "must be a time in RFC 3339 form, such as 2026-01-31T12:00:00Z")
				continue
			}
			*q.dst = &t
		}
	}
	if filter.From != nil && filter.To != nil && !filter.From.Before(*filter.To) {
		f.add("to", "must be after from")
	}
	// Ids are unique only within a type: an id alone names nothing.
	if filter.TargetID != "" && filter.TargetType == "" {
		f.add("object_type", "is required with object_id")
	}
	if err := f.err(); err != nil {
		return err
	}
	rows, err := audit.List(c.UserContext(), s.Pool, filter)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(rows, pg.limit, func(r audit.Row) (time.Time, int64) { return r.CreatedAt, r.ID }, auditEntryOf))
}
