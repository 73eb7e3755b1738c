package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/audit"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/sysconfig"
)

// mountAdmin mounts the system configuration routes (on the admin group)
// and the dashboard and notification routes every role uses.
func (s *Server) mountAdmin(r, admin fiber.Router) {
	admin.Get("/config", s.listConfig)
	admin.Put("/config/:key", s.updateConfig)
	admin.Get("/config/:key/changes", s.configChanges)
	s.mountDashboard(r)
	s.mountNotifications(r)
}

// ConfigEntry is one system configuration key (spec §5) with its current
// value. UpdatedAt is null for a key never stored (its default applies);
// UpdatedBy is null until an admin changes the key (seeded values have
// none). Values are stored canonically: money with two decimals
// ("12.50"), other numbers without trailing zeros ("5.0" is stored "5").
type ConfigEntry struct {
	Key         string     `json:"key"`
	Value       string     `json:"value"`
	Default     string     `json:"default"`
	Description string     `json:"description"`
	Category    string     `json:"category"`
	UpdatedAt   *time.Time `json:"updated_at"`
	UpdatedBy   *string    `json:"updated_by"`
}

// ConfigChange is one audited change of a key.
type ConfigChange struct {
	ID        string    `json:"id"`
	Key       string    `json:"key"`
	OldValue  *string   `json:"old_value"`
	NewValue  string    `json:"new_value"`
	ChangedBy *string   `json:"changed_by"`
	Reason    string    `json:"reason"`
	ChangedAt time.Time `json:"changed_at"`
}

// configEntries reads the entry of key only, or of every key when only is
// empty, in the order of sysconfig.Keys. Keys not stored yet show their
// default.
func configEntries(ctx context.Context, db postgres.DBTX, only string) ([]ConfigEntry, error) {
	got, err := sysconfig.ReadStored(ctx, db)
	if err != nil {
		return nil, err
	}
	out := []ConfigEntry{}
	for _, k := range sysconfig.Keys {
		if only != "" && k.Name != only {
			continue
		}
		e := ConfigEntry{Key: k.Name, Value: k.Default, Default: k.Default, Description: k.Description, Category: k.Category}
		if v, ok := got[k.Name]; ok {
			at := v.At
			e.Value, e.UpdatedAt = v.Value, &at
			if v.By != nil {
				by := id(*v.By)
				e.UpdatedBy = &by
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// listConfig returns every known key with its value, default,
// description, category and last update.
func (s *Server) listConfig(c *fiber.Ctx) error {
	entries, err := configEntries(c.UserContext(), s.Pool, "")
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": entries})
}

type updateConfigRequest struct {
	// Value is a decimal as a JSON string ("5.5") or number (5.5).
	Value  json.RawMessage `json:"value"`
	Reason string          `json:"reason"`
}

// configValue reads the requested value: a JSON string or number holding a
// plain decimal (no exponent, no spaces).
func configValue(raw json.RawMessage) (string, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", "is required"
	}
	const bad = `must be a decimal number such as "5.5"`
	v := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &v) != nil {
			return "", bad
		}
	} else if raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return "", bad
	}
	if v == "" || strings.ContainsAny(v, "eE+ \t\n") {
		return "", bad
	}
	return v, ""
}

// updateConfig sets a key's value: validated for the key, with a
// mandatory reason; the value, its change history (old, new, who, why)
// and the audit log are written in one transaction. Orders already
// created keep the terms they snapshotted.
func (s *Server) updateConfig(c *fiber.Ctx) error {
	p := caller(c)
	k, ok := sysconfig.Lookup(c.Params("key"))
	if !ok {
		return ordem.Errorf(ordem.ENotFound, "no such config key")
	}
	var req updateConfigRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	f := fieldErrors{}
	raw, problem := configValue(req.Value)
	var value string
	if problem != "" {
		f.add("value", problem)
	} else if d, err := k.Validate(raw); err != nil {
		f.add("value", strings.TrimPrefix(err.Error(), k.Name+": "))
	} else if k.Name == sysconfig.ContestationFee {
		value = d.StringFixed(2)
	} else {
		value = d.String()
	}
	checkReason(f, req.Reason)
	if err := f.err(); err != nil {
		return err
	}
	reason := strings.TrimSpace(req.Reason)
	now := s.now()
	var entries []ConfigEntry
	err := postgres.InTx(c.UserContext(), s.Pool, func(tx pgx.Tx) error {
		ctx := c.UserContext()
		old, changeID, err := sysconfig.Set(ctx, tx, k, value, p.ID, reason, now)
		if err != nil {
			return err
		}
		data := map[string]any{"key": k.Name, "old_value": old, "new_value": value, "change_id": id(changeID)}
		if err := audit.Record(ctx, tx, audit.Entry{ActorID: p.ID, ActorRole: string(p.Role), Action: "update_config",
			TargetType: "system_config", TargetID: k.Name, Reason: reason, Data: data, At: now, RequestID: requestID(c),
			Before: map[string]any{"value": old}, After: map[string]any{"value": value}}); err != nil {
			return err
		}
		entries, err = configEntries(ctx, tx, k.Name)
		return err
	})
	if err != nil {
		return err
	}
	if len(entries) != 1 {
		return errors.New("config entry vanished after update")
	}
	return c.JSON(entries[0])
}

// configChanges lists a key's change history, newest first (at most 100).
func (s *Server) configChanges(c *fiber.Ctx) error {
	k, ok := sysconfig.Lookup(c.Params("key"))
	if !ok {
		return ordem.Errorf(ordem.ENotFound, "no such config key")
	}
	list, err := sysconfig.Changes(c.UserContext(), s.Pool, k.Name, 100)
	if err != nil {
		return err
	}
	changes := make([]ConfigChange, len(list))
	for i, ch := range list {
		changes[i] = ConfigChange{ID: id(ch.ID), Key: ch.Key, OldValue: ch.OldValue, NewValue: ch.NewValue,
			Reason: ch.Reason, ChangedAt: ch.ChangedAt}
		if ch.ChangedBy != nil {
			by := id(*ch.ChangedBy)
			changes[i].ChangedBy = &by
		}
	}
	return c.JSON(fiber.Map{"items": changes})
}
