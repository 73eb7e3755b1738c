package api_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/api"
)

// newNamedUser registers a user of role with the given name and logs in.
func newNamedUser(t testing.TB, role, name string) session {
	t.Helper()
	email := fmt.Sprintf("%s-%d@example.com", role, rand.Int64())
	res := env.call(t, "POST", "/v1/auth/register", "", map[string]string{
		"name": name, "email": email, "phone": "11999999999", "password": "s3cret-password", "role": role})
	require.Equal(t, 201, res.Status, string(res.Body))
	return env.loginAs(email, "s3cret-password")
}

// directory reads one page of GET /v1/providers as s.
func directory(t testing.TB, s session, query url.Values) api.Page[api.DirectoryProvider] {
	t.Helper()
	res := env.call(t, "GET", "/v1/providers?"+query.Encode(), s.Token, nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var page api.Page[api.DirectoryProvider]
	res.json(t, &page)
	return page
}

// Ensure the directory lists active providers only, finds them by any part
// of the name whatever the case and accents, counts their completed orders,
// and shows no contact details.
func TestProviderDirectory(t *testing.T) {
	skipShort(t)
	tag := fmt.Sprintf("%d", rand.Int64N(1e12))
	joao := newNamedUser(t, "provider", "João Conceição "+tag)
	maria := newNamedUser(t, "provider", "MARIA ÁVILA "+tag)
	gone := newNamedUser(t, "provider", "Joana Saída "+tag)
	client := newNamedUser(t, "client", "João Cliente "+tag)
	res := env.call(t, "DELETE", "/v1/admin/users/"+gone.ID+"?reason=teste", env.admin.Token, nil)
	require.Equal(t, 204, res.Status, string(res.Body))

	// João completes one order; another stays in progress.
	env.fund(t, client, "300.00")
	done := env.newOrder(t, client, joao, "100.00")
	for _, step := range []struct {
		s      session
		action string
	}{{joao, "accept"}, {joao, "deliver"}, {client, "confirm"}} {
		res := env.act(t, step.s, done.ID, step.action, nil)
		require.Equal(t, 200, res.Status, string(res.Body))
	}
	open := env.newOrder(t, client, joao, "50.00")
	require.Equal(t, 200, env.act(t, joao, open.ID, "accept", nil).Status)
	env.requireLedgerClean(t)

	names := func(p api.Page[api.DirectoryProvider]) []string {
		out := []string{}
		for _, x := range p.Items {
			out = append(out, x.Name)
		}
		return out
	}
	// Every role may search; accents and case do not matter either way.
	for _, who := range []session{client, maria, env.admin} {
		page := directory(t, who, url.Values{"q": {tag}})
		require.Equal(t, []string{"João Conceição " + tag, "MARIA ÁVILA " + tag}, names(page))
		require.Equal(t, joao.ID, page.Items[0].ID)
		require.Equal(t, int64(1), page.Items[0].CompletedOrders)
		require.Equal(t, int64(0), page.Items[1].CompletedOrders)
		require.False(t, page.Items[0].MemberSince.IsZero())
	}
	require.Equal(t, []string{"João Conceição " + tag}, names(directory(t, client, url.Values{"q": {"joao conceicao " + tag}})))
	require.Equal(t, []string{"MARIA ÁVILA " + tag}, names(directory(t, client, url.Values{"q": {"maria avila " + tag}})))
	require.Equal(t, []string{"MARIA ÁVILA " + tag}, names(directory(t, client, url.Values{"q": {"  Ávila " + tag + " "}})))
	// Neither the deleted provider nor a client is listed.
	require.Empty(t, directory(t, client, url.Values{"q": {"saída " + tag}}).Items)
	require.Empty(t, directory(t, client, url.Values{"q": {"cliente " + tag}}).Items)
	// LIKE's wildcards are plain characters.
	require.Empty(t, directory(t, client, url.Values{"q": {"jo%o " + tag}}).Items)
	require.Empty(t, directory(t, client, url.Values{"q": {"m_ria " + tag}}).Items)

	// No contact details in the JSON.
	res = env.call(t, "GET", "/v1/providers?q="+tag, client.Token, nil)
	require.Equal(t, 200, res.Status)
	var raw struct {
		Items []map[string]any `json:"items"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &raw))
	require.Len(t, raw.Items, 2)
	for _, item := range raw.Items {
		keys := []string{}
		for k := range item {
			keys = append(keys, k)
		}
		require.ElementsMatch(t, []string{"id", "name", "completed_orders", "member_since"}, keys)
	}
	require.NotContains(t, string(res.Body), "@example.com")
	require.NotContains(t, string(res.Body), "11999999999")
}

// Ensure the directory pages through every match exactly once, in name
// order, and refuses what it cannot read.
func TestProviderDirectoryPagesAndRefusals(t *testing.T) {
	skipShort(t)
	tag := fmt.Sprintf("pg%d", rand.Int64N(1e12))
	for _, n := range []string{"Élia", "bruno", "Ana", "Ângelo", "carla"} {
		newNamedUser(t, "provider", n+" "+tag)
	}
	// Folded order: ana, angelo, bruno, carla, elia.
	want := []string{"Ana " + tag, "Ângelo " + tag, "bruno " + tag, "carla " + tag, "Élia " + tag}
	client := env.newUser(t, "client")
	got := []string{}
	q := url.Values{"q": {tag}, "limit": {"2"}}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		page := directory(t, client, q)
		for _, x := range page.Items {
			got = append(got, x.Name)
		}
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	require.Equal(t, want, got)

	for _, bad := range []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=101", "limit"}, {"limit=x", "limit"},
		{"cursor=nope", "cursor"}, {"q=" + strings.Repeat("a", 101), "q"}, {"q=a%0Ab", "q"}, {"q=%E2%80%AEx", "q"},
	} {
		res := env.call(t, "GET", "/v1/providers?"+bad.query, client.Token, nil)
		require.Equal(t, 422, res.Status, bad.query)
		var e api.ErrorBody
		res.json(t, &e)
		require.Equal(t, "validation_failed", e.Error.Code)
		require.Contains(t, e.Error.Fields, bad.field, bad.query)
	}
	require.Equal(t, 401, env.call(t, "GET", "/v1/providers", "", nil).Status)
}

// Ensure every order response names both parties, on the order, in lists
// and in action answers, for each party and the admin.
func TestOrderPartyNames(t *testing.T) {
	skipShort(t)
	tag := fmt.Sprintf("%d", rand.Int64N(1e12))
	client := newNamedUser(t, "client", "Clara Nome "+tag)
	provider := newNamedUser(t, "provider", "Pedro Nome "+tag)
	env.fund(t, client, "100.00")
	o := env.newOrder(t, client, provider, "40.00")
	require.Equal(t, "Clara Nome "+tag, o.ClientName)
	require.Equal(t, "Pedro Nome "+tag, o.ProviderName)
	for _, s := range []session{client, provider, env.admin} {
		got := orderOf(t, s, o.ID)
		require.Equal(t, "Clara Nome "+tag, got.ClientName)
		require.Equal(t, "Pedro Nome "+tag, got.ProviderName)
	}
	res := env.act(t, provider, o.ID, "accept", nil)
	require.Equal(t, 200, res.Status, string(res.Body))
	var accepted api.Order
	res.json(t, &accepted)
	require.Equal(t, "Clara Nome "+tag, accepted.ClientName)
	require.Equal(t, "Pedro Nome "+tag, accepted.ProviderName)
	for _, s := range []session{client, provider} {
		res := env.call(t, "GET", "/v1/orders", s.Token, nil)
		require.Equal(t, 200, res.Status)
		var page api.Page[api.Order]
		res.json(t, &page)
		require.Len(t, page.Items, 1)
		require.Equal(t, "Clara Nome "+tag, page.Items[0].ClientName)
		require.Equal(t, "Pedro Nome "+tag, page.Items[0].ProviderName)
	}
}
