package api_test

import (
	"context"
	"slices"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/internal/sysconfig"
)

type configList struct {
	Items []api.ConfigEntry `json:"items"`
}

// configValue reads a key's current value through the API.
func configValue(t *testing.T, e *testEnv, key string) string {
	t.Helper()
	res := e.call(t, "GET", "/v1/admin/config", e.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var list configList
	res.json(t, &list)
	for _, it := range list.Items {
		if it.Key == key {
			return it.Value
		}
	}
	t.Fatalf("key %s not listed", key)
	return ""
}

// setConfig changes a key through the API and returns the new entry.
func setConfig(t *testing.T, e *testEnv, key, value, reason string) api.ConfigEntry {
	t.Helper()
	res := e.call(t, "PUT", "/v1/admin/config/"+key, e.admin.Token, map[string]any{"value": value, "reason": reason})
	require.Equal(t, 200, res.Status, string(res.Body))
	var entry api.ConfigEntry
	res.json(t, &entry)
	return entry
}

// Ensure GET /v1/admin/config lists every known key, in the order of
// sysconfig.Keys, with value, default, description and category; and only
// admins may read it.
func TestConfigList(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	res := env.call(t, "GET", "/v1/admin/config", env.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var list configList
	res.json(t, &list)
	require.Len(t, list.Items, len(sysconfig.Keys))
	for i, k := range sysconfig.Keys {
		it := list.Items[i]
		require.Equal(t, k.Name, it.Key)
		require.Equal(t, k.Default, it.Default)
		require.Equal(t, k.Description, it.Description)
		require.Equal(t, k.Category, it.Category)
		_, err := k.Validate(it.Value)
		require.NoError(t, err, "stored value of %s", k.Name)
		require.NotNil(t, it.UpdatedAt, "seeded keys have a row")
	}

	client := env.newUser(t, "client")
	provider := env.newUser(t, "provider")
	for _, s := range []session{client, provider} {
		res := env.call(t, "GET", "/v1/admin/config", s.Token, nil)
		require.Equal(t, 403, res.Status, string(res.Body))
		require.Equal(t, "forbidden", res.errorCode())
	}
	res = env.call(t, "GET", "/v1/admin/config", "", nil)
	require.Equal(t, 401, res.Status)
	require.Equal(t, "unauthenticated", res.errorCode())
}

// Ensure a config change is validated for its key, needs a reason, writes
// the value, its history row and an audit row, applies to orders created
// afterwards and leaves the terms (and money) of an existing order alone.
func TestConfigUpdate(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	ctx := context.Background()
	key := sysconfig.PlatformFeePercentage
	before := configValue(t, env, key)
	newValue := "7.5"
	if before == newValue {
		newValue = "6.25"
	}
	// The shared stack's other tests expect the seeded terms back.
	t.Cleanup(func() { setConfig(t, env, key, before, "restore after TestConfigUpdate") })

	client := env.newUser(t, "client")
	provider := env.newUser(t, "provider")
	env.fund(t, client, "200.00")
	old := env.newOrder(t, client, provider, "100.00")

	entry := setConfig(t, env, key, newValue, "campanha de fim de ano")
	require.Equal(t, key, entry.Key)
	require.Equal(t, newValue, entry.Value)
	require.NotNil(t, entry.UpdatedBy)
	require.Equal(t, env.admin.ID, *entry.UpdatedBy)
	require.NotNil(t, entry.UpdatedAt)
	require.Equal(t, newValue, configValue(t, env, key))

	// The value row, the history row and the audit row, together.
	var stored, updatedBy string
	require.NoError(t, env.pool.QueryRow(ctx, `SELECT value, updated_by::text FROM system_config WHERE key = $1`, key).Scan(&stored, &updatedBy))
	require.Equal(t, newValue, stored)
	require.Equal(t, env.admin.ID, updatedBy)
	var (
		oldValue, newStored, changedBy, reason string
		changeID                               int64
	)
	require.NoError(t, env.pool.QueryRow(ctx, `
		SELECT id, old_value, new_value, changed_by::text, reason FROM system_config_changes
		WHERE key = $1 ORDER BY id DESC LIMIT 1`, key).Scan(&changeID, &oldValue, &newStored, &changedBy, &reason))
	require.Equal(t, before, oldValue)
	require.Equal(t, newValue, newStored)
	require.Equal(t, env.admin.ID, changedBy)
	require.Equal(t, "campanha de fim de ano", reason)
	var auditReason, auditActor, auditOld, auditNew string
	require.NoError(t, env.pool.QueryRow(ctx, `
		SELECT reason, actor_id::text, data->>'old_value', data->>'new_value' FROM audit_log
		WHERE action = 'update_config' AND target_type = 'system_config' AND target_id = $1
		ORDER BY id DESC LIMIT 1`, key).Scan(&auditReason, &auditActor, &auditOld, &auditNew))
	require.Equal(t, "campanha de fim de ano", auditReason)
	require.Equal(t, env.admin.ID, auditActor)
	require.Equal(t, before, auditOld)
	require.Equal(t, newValue, auditNew)

	// The history route shows it first.
	res := env.call(t, "GET", "/v1/admin/config/"+key+"/changes", env.admin.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var changes struct {
		Items []api.ConfigChange `json:"items"`
	}
	res.json(t, &changes)
	require.NotEmpty(t, changes.Items)
	require.Equal(t, newValue, changes.Items[0].NewValue)
	require.Equal(t, before, *changes.Items[0].OldValue)

	// The order created before keeps its snapshot; a new one takes the
	// new value.
	res = env.call(t, "GET", "/v1/orders/"+old.ID, client.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var oldNow api.Order
	res.json(t, &oldNow)
	require.Equal(t, old.Terms, oldNow.Terms)
	require.True(t, decimal.RequireFromString(before).Equal(decimal.RequireFromString(oldNow.Terms.PlatformFeePercentage)),
		"snapshot %s, config before %s", oldNow.Terms.PlatformFeePercentage, before)
	fresh := env.newOrder(t, client, provider, "50.00")
	require.True(t, decimal.RequireFromString(newValue).Equal(decimal.RequireFromString(fresh.Terms.PlatformFeePercentage)))

	// And the money follows the old order's snapshot, not the new value.
	for _, step := range []struct {
		who    session
		action string
	}{{provider, "accept"}, {provider, "deliver"}, {client, "confirm"}} {
		res := env.act(t, step.who, old.ID, step.action, nil)
		require.Equal(t, 200, res.Status, "%s: %s", step.action, res.Body)
	}
	fee := money.Percent(decimal.RequireFromString("100.00"), decimal.RequireFromString(before))
	require.Equal(t, decimal.RequireFromString("100.00").Sub(fee).StringFixed(2)+"/0.00", env.wallet(t, provider))
	env.requireLedgerClean(t)
}

// Ensure the config route's refusals: unknown key 404, invalid value 422
// naming the field, missing reason 422, wrong role 403, malformed or
// unexpected body 400; nothing is written by any of them.
func TestConfigUpdateRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	ctx := context.Background()
	countChanges := func() int {
		var n int
		require.NoError(t, env.pool.QueryRow(ctx, `SELECT count(*) FROM system_config_changes`).Scan(&n))
		return n
	}
	changesBefore := countChanges()
	feeBefore := configValue(t, env, sysconfig.PlatformFeePercentage)

	client := env.newUser(t, "client")
	res := env.call(t, "PUT", "/v1/admin/config/platform_fee_percentage", client.Token, map[string]any{"value": "1", "reason": "x"})
	require.Equal(t, 403, res.Status, string(res.Body))
	require.Equal(t, "forbidden", res.errorCode())

	res = env.call(t, "PUT", "/v1/admin/config/no_such_key", env.admin.Token, map[string]any{"value": "1", "reason": "x"})
	require.Equal(t, 404, res.Status, string(res.Body))
	require.Equal(t, "not_found", res.errorCode())
	res = env.call(t, "GET", "/v1/admin/config/no_such_key/changes", env.admin.Token, nil)
	require.Equal(t, 404, res.Status, string(res.Body))

	cases := []struct {
		name, key string
		body      any
		fields    []string
	}{
		{"percentage over 100", "platform_fee_percentage", map[string]any{"value": "150", "reason": "x"}, []string{"value"}},
		{"negative percentage", "cancellation_fee_percentage", map[string]any{"value": "-1", "reason": "x"}, []string{"value"}},
		{"five decimals", "platform_fee_percentage", map[string]any{"value": "2.55555", "reason": "x"}, []string{"value"}},
		{"not a number", "platform_fee_percentage", map[string]any{"value": "abc", "reason": "x"}, []string{"value"}},
		{"exponent", "platform_fee_percentage", map[string]any{"value": "1e1", "reason": "x"}, []string{"value"}},
		{"boolean", "platform_fee_percentage", map[string]any{"value": true, "reason": "x"}, []string{"value"}},
		{"fee with cents of cents", "contestation_fee", map[string]any{"value": "10.001", "reason": "x"}, []string{"value"}},
		{"zero deadline", "confirmation_deadline_hours", map[string]any{"value": "0", "reason": "x"}, []string{"value"}},
		{"missing value", "platform_fee_percentage", map[string]any{"reason": "x"}, []string{"value"}},
		{"missing reason", "platform_fee_percentage", map[string]any{"value": "5"}, []string{"reason"}},
		{"blank reason", "platform_fee_percentage", map[string]any{"value": "5", "reason": "   "}, []string{"reason"}},
		{"both", "platform_fee_percentage", map[string]any{"value": "999"}, []string{"reason", "value"}},
	}
	for _, tc := range cases {
		res := env.call(t, "PUT", "/v1/admin/config/"+tc.key, env.admin.Token, tc.body)
		require.Equal(t, 422, res.Status, "%s: %s", tc.name, res.Body)
		var body api.ErrorBody
		res.json(t, &body)
		// A missing reason has its own code; the other fields are still named.
		wantCode := "validation_failed"
		if slices.Contains(tc.fields, "reason") {
			wantCode = "reason_required"
		}
		require.Equal(t, wantCode, body.Error.Code, tc.name)
		var got []string
		for f := range body.Error.Fields {
			got = append(got, f)
		}
		require.ElementsMatch(t, tc.fields, got, "%s: %s", tc.name, res.Body)
	}

	for name, body := range map[string]any{
		"unknown field": map[string]any{"value": "5", "reason": "x", "updated_by": "1"},
		"not JSON":      "{value: 5",
		"empty":         "",
	} {
		res := env.call(t, "PUT", "/v1/admin/config/platform_fee_percentage", env.admin.Token, body)
		require.Equal(t, 400, res.Status, "%s: %s", name, res.Body)
		require.Equal(t, "invalid_request", res.errorCode(), name)
	}

	require.Equal(t, changesBefore, countChanges(), "refused changes write nothing")
	require.Equal(t, feeBefore, configValue(t, env, sysconfig.PlatformFeePercentage))
}

// Ensure values are accepted as JSON strings or numbers and stored in a
// canonical form (money with two decimals), and that a zero reminder (off)
// is valid while a zero deadline is not.
func TestConfigUpdateValueForms(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	fee := configValue(t, env, sysconfig.ContestationFee)
	reminder := configValue(t, env, sysconfig.ConfirmationReminderHours)
	t.Cleanup(func() {
		setConfig(t, env, sysconfig.ContestationFee, fee, "restore after TestConfigUpdateValueForms")
		setConfig(t, env, sysconfig.ConfirmationReminderHours, reminder, "restore after TestConfigUpdateValueForms")
	})

	res := env.call(t, "PUT", "/v1/admin/config/contestation_fee", env.admin.Token, `{"value": 12.5, "reason": "reajuste"}`)
	require.Equal(t, 200, res.Status, string(res.Body))
	var entry api.ConfigEntry
	res.json(t, &entry)
	require.Equal(t, "12.50", entry.Value)

	entry = setConfig(t, env, sysconfig.ConfirmationReminderHours, "0", "lembretes desligados")
	require.Equal(t, "0", entry.Value)
}
