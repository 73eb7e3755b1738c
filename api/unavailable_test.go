package api_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Ensure a database outage is answered 503 unavailable with Retry-After,
// never a 500, on reads and on actions alike, and that the API answers
// normally once the database is back.
func TestDatabaseOutageIsUnavailable(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the real stack")
	}
	s := newObsStack(t)
	client, provider := s.newUser(t, "client"), s.newUser(t, "provider")
	s.fund(t, client, "100.00")
	orderID := s.order(t, client, provider)

	s.proxy.stop()
	for _, r := range []struct {
		method, path string
		who          session
		body         any
	}{
		{"GET", "/v1/orders", client, nil},
		{"GET", "/v1/orders/" + orderID, provider, nil},
		{"POST", "/v1/orders/" + orderID + "/accept", provider, map[string]int{"proposal_version": 1}},
		{"POST", "/v1/orders", client, map[string]any{"provider_id": provider.ID, "title": "Outra", "amount": "10.00"}},
	} {
		res := s.call(t, r.method, r.path, r.who.Token, r.body)
		require.Equal(t, 503, res.Status, "%s %s: %s", r.method, r.path, res.Body)
		require.Equal(t, "unavailable", res.errorCode())
		require.NotEmpty(t, res.Header.Get("Retry-After"))
	}
	s.proxy.restart(t)
	require.Eventually(t, func() bool {
		return s.call(t, "GET", "/v1/orders/"+orderID, provider.Token, nil).Status == 200
	}, 15*time.Second, 100*time.Millisecond)
	got := s.act(t, provider, orderID, "accept", nil)
	require.Equal(t, "in_progress", got.Status)
}
