package api_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/workflows/order"
)

// orderIn decodes the order a response carries.
func orderIn(t *testing.T, res response) api.Order {
	t.Helper()
	var o api.Order
	res.json(t, &o)
	return o
}

// Ensure nobody is charged terms they did not see: accept names the
// proposal it accepts, every action may carry If-Match with the version
// GET returned as ETag, and cancel the penalty agreed to.
func TestActionPreconditions(t *testing.T) {
	skipShort(t)

	t.Run("Ensure accept of a superseded proposal is refused and holds nothing", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		env.fund(t, client, "5000.00")
		o := env.newOrder(t, client, provider, "50.00")
		res := env.act(t, provider, o.ID, "proposals", map[string]string{"amount": "40.00"})
		require.Equal(t, 200, res.Status, string(res.Body))
		// The client looks at version 2 (40.00); the provider re-proposes.
		res = env.act(t, provider, o.ID, "proposals", map[string]string{"amount": "4000.00"})
		require.Equal(t, 200, res.Status, string(res.Body))
		res = env.act(t, client, o.ID, "accept", map[string]int{"proposal_version": 2})
		require.Equal(t, 409, res.Status, string(res.Body))
		require.Equal(t, "proposal_changed", res.errorCode())
		require.Equal(t, "5000.00/0.00", env.wallet(t, client))
		require.Equal(t, "negotiating", orderIn(t, env.call(t, "GET", "/v1/orders/"+o.ID, client.Token, nil)).Status)

		res = env.act(t, client, o.ID, "accept", map[string]int{})
		require.Equal(t, 422, res.Status, string(res.Body))
		require.Contains(t, string(res.Body), "proposal_version")

		res = env.act(t, client, o.ID, "accept", map[string]int{"proposal_version": 3})
		require.Equal(t, 200, res.Status, string(res.Body))
		require.Equal(t, "1000.00/4000.00", env.wallet(t, client))
	})

	t.Run("Ensure GET returns the version as ETag and a stale If-Match is 412", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		env.fund(t, client, "150.00")
		o := env.newOrder(t, client, provider, "100.00")
		got := env.call(t, "GET", "/v1/orders/"+o.ID, provider.Token, nil)
		require.Equal(t, `"1"`, got.Header.Get("ETag"))
		require.Equal(t, 1, orderIn(t, got).Version)
		seen := got.Header.Get("ETag")

		// The client proposes meanwhile: version 2.
		res := env.call(t, "POST", "/v1/orders/"+o.ID+"/proposals", client.Token, map[string]string{"amount": "150.00"},
			"If-Match", seen)
		require.Equal(t, 200, res.Status, string(res.Body))
		require.Equal(t, `"2"`, res.Header.Get("ETag"))

		// The provider still acts on version 1.
		for _, key := range []string{"", "stale-accept-" + strconv.Itoa(rand.Int())} {
			headers := []string{"If-Match", seen}
			if key != "" {
				headers = append(headers, "Idempotency-Key", key)
			}
			res = env.call(t, "POST", "/v1/orders/"+o.ID+"/accept", provider.Token, map[string]int{"proposal_version": 2}, headers...)
			require.Equal(t, 412, res.Status, string(res.Body))
			require.Equal(t, "precondition_failed", res.errorCode())
		}
		require.Equal(t, "150.00/0.00", env.wallet(t, client))

		res = env.call(t, "POST", "/v1/orders/"+o.ID+"/accept", provider.Token, map[string]int{"proposal_version": 2},
			"If-Match", `"2"`)
		require.Equal(t, 200, res.Status, string(res.Body))
		require.Equal(t, `"3"`, res.Header.Get("ETag"))

		res = env.call(t, "POST", "/v1/orders/"+o.ID+"/deliver", provider.Token, nil, "If-Match", "3")
		require.Equal(t, 400, res.Status, "an If-Match that is not an ETag: %s", res.Body)
	})

	t.Run("Ensure a cancellation never charges a penalty the caller was not shown", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		env.fund(t, client, "100.00")
		o := env.newOrder(t, client, provider, "100.00")
		require.Equal(t, "0.00", o.CancelPenalty.StringFixed(2), "negotiating: free to cancel")
		// The provider accepts before the client's cancel arrives.
		res := env.act(t, provider, o.ID, "accept", nil)
		require.Equal(t, 200, res.Status, string(res.Body))

		res = env.act(t, client, o.ID, "cancel", map[string]string{"reason": "desisti"})
		require.Equal(t, 409, res.Status, string(res.Body))
		require.Equal(t, "penalty_changed", res.errorCode())
		res = env.act(t, client, o.ID, "cancel", map[string]string{"expected_penalty": "0.00"})
		require.Equal(t, 409, res.Status, string(res.Body))
		require.Equal(t, "0.00/100.00", env.wallet(t, client), "nothing moved")

		got := env.call(t, "GET", "/v1/orders/"+o.ID, client.Token, nil)
		require.Equal(t, "10.00", orderIn(t, got).CancelPenalty.StringFixed(2))
		// Either the penalty shown, or If-Match of the state shown, agrees to it.
		res = env.call(t, "POST", "/v1/orders/"+o.ID+"/cancel", client.Token, map[string]string{}, "If-Match", got.Header.Get("ETag"))
		require.Equal(t, 200, res.Status, string(res.Body))
		require.Equal(t, "90.00/0.00", env.wallet(t, client))
		require.Equal(t, "10.00/0.00", env.wallet(t, provider))
		env.requireLedgerClean(t)
	})
}

// Ensure order actions follow the README's rules for Idempotency-Key: the
// same key and request get the first response (Idempotent-Replayed), the
// same key with another request is idempotency_conflict, refusals are not
// stored, and a request whose process died is resumed by its retry.
func TestOrderActionIdempotency(t *testing.T) {
	skipShort(t)
	key := func() string { return fmt.Sprintf("k-%d", rand.Int64()) }

	t.Run("Ensure the same key with another proposal is a conflict and the first is replayed", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		o := env.newOrder(t, client, provider, "100.00")
		k := key()
		first := env.call(t, "POST", "/v1/orders/"+o.ID+"/proposals", provider.Token, map[string]string{"amount": "90.00"}, "Idempotency-Key", k)
		require.Equal(t, 200, first.Status, string(first.Body))
		other := env.call(t, "POST", "/v1/orders/"+o.ID+"/proposals", provider.Token, map[string]string{"amount": "80.00"}, "Idempotency-Key", k)
		require.Equal(t, 409, other.Status, string(other.Body))
		require.Equal(t, "idempotency_conflict", other.errorCode())
		again := env.call(t, "POST", "/v1/orders/"+o.ID+"/proposals", provider.Token, map[string]string{"amount": "90.00"}, "Idempotency-Key", k)
		require.Equal(t, 200, again.Status)
		require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		require.JSONEq(t, string(first.Body), string(again.Body))
		got := orderIn(t, env.call(t, "GET", "/v1/orders/"+o.ID, client.Token, nil))
		require.Equal(t, 2, got.ProposalVersion, "one proposal made")
		require.Equal(t, "90.00", got.Amount.StringFixed(2))
	})

	t.Run("Ensure a refusal is not stored: the corrected retry with the same key succeeds", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		o := env.newOrder(t, client, provider, "100.00")
		res := env.act(t, provider, o.ID, "proposals", map[string]string{"amount": "100.00"})
		require.Equal(t, 200, res.Status, string(res.Body))
		k := key()
		body := map[string]int{"proposal_version": 2}
		res = env.call(t, "POST", "/v1/orders/"+o.ID+"/accept", client.Token, body, "Idempotency-Key", k)
		require.Equal(t, 402, res.Status, string(res.Body))
		env.fund(t, client, "100.00")
		res = env.call(t, "POST", "/v1/orders/"+o.ID+"/accept", client.Token, body, "Idempotency-Key", k)
		require.Equal(t, 200, res.Status, string(res.Body))
		require.Empty(t, res.Header.Get("Idempotent-Replayed"))
		require.Equal(t, "0.00/100.00", env.wallet(t, client))
	})

	t.Run("Ensure a retried confirm gets the first 200, not a refusal", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		env.fund(t, client, "100.00")
		o := env.newOrder(t, client, provider, "100.00")
		for _, a := range []string{"accept", "deliver"} {
			res := env.act(t, provider, o.ID, a, nil)
			require.Equal(t, 200, res.Status, string(res.Body))
		}
		k := key()
		first := env.call(t, "POST", "/v1/orders/"+o.ID+"/confirm", client.Token, nil, "Idempotency-Key", k)
		require.Equal(t, 200, first.Status, string(first.Body))
		again := env.call(t, "POST", "/v1/orders/"+o.ID+"/confirm", client.Token, nil, "Idempotency-Key", k)
		require.Equal(t, 200, again.Status, string(again.Body))
		require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		require.Equal(t, "95.00/0.00", env.wallet(t, provider))
	})

	t.Run("Ensure a confirm whose process died before answering is answered by its retry", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		env.fund(t, client, "100.00")
		o := env.newOrder(t, client, provider, "100.00")
		for _, a := range []string{"accept", "deliver"} {
			res := env.act(t, provider, o.ID, a, nil)
			require.Equal(t, 200, res.Status, string(res.Body))
		}
		// What a process killed mid-request leaves: the key held, no
		// answer stored, the update (named after the attempt) run.
		k := key()
		path := "/v1/orders/" + o.ID + "/confirm"
		attempt := leaveInProgress(t, client, k, path, "", nil)
		res := env.call(t, "POST", path, client.Token, nil, "Idempotency-Key", k)
		require.Equal(t, 409, res.Status, "the lease still runs: %s", res.Body)
		require.Equal(t, "idempotency_conflict", res.errorCode())
		require.NotEmpty(t, res.Header.Get("Retry-After"))
		runUpdate(t, o.ID, "confirm", "idem:"+attempt, map[string]any{"actor": map[string]any{"user_id": client.uid(), "role": "client"}})
		expireLease(t, client, k)
		res = env.call(t, "POST", path, client.Token, nil, "Idempotency-Key", k)
		require.Equal(t, 200, res.Status, "the retry takes the key over and gets the outcome: %s", res.Body)
		require.Equal(t, "completed", orderIn(t, res).Status)
		require.Equal(t, "95.00/0.00", env.wallet(t, provider), "released once")
	})

	t.Run("Ensure a create whose process died after starting the order resumes it instead of making another", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		raw := fmt.Sprintf(`{"provider_id":%q,"title":"Pintura","amount":"120.00"}`, provider.ID)
		k := key()
		first := env.call(t, "POST", "/v1/orders", client.Token, raw, "Idempotency-Key", k)
		require.Equal(t, 201, first.Status, string(first.Body))
		// What the process leaves when it dies after the order's workflow
		// started and before its answer was stored.
		_, err := env.pool.Exec(context.Background(), `UPDATE idempotency_keys SET status_code = NULL, response_body = NULL,
			locked_until = now() - interval '1 second' WHERE user_id = $1 AND key = $2`, client.uid(), k)
		require.NoError(t, err)
		res := env.call(t, "POST", "/v1/orders", client.Token, raw, "Idempotency-Key", k)
		require.Equal(t, 201, res.Status, string(res.Body))
		require.Equal(t, orderIn(t, first).ID, orderIn(t, res).ID, "the same order, resumed")
		again := env.call(t, "POST", "/v1/orders", client.Token, raw, "Idempotency-Key", k)
		require.Equal(t, 201, again.Status)
		require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
		require.Equal(t, 1, ordersOf(t, client), "one order for the key")
	})

	t.Run("Ensure a create whose process died after choosing the order's id creates that order", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		raw := fmt.Sprintf(`{"provider_id":%q,"title":"Pintura","amount":"120.00"}`, provider.ID)
		var orderID int64
		require.NoError(t, env.pool.QueryRow(context.Background(), `SELECT nextval('orders_id_seq')`).Scan(&orderID))
		k := key()
		leaveInProgress(t, client, k, "/v1/orders", raw, &orderID)
		expireLease(t, client, k)
		res := env.call(t, "POST", "/v1/orders", client.Token, raw, "Idempotency-Key", k)
		require.Equal(t, 201, res.Status, string(res.Body))
		require.Equal(t, strconv.FormatInt(orderID, 10), orderIn(t, res).ID, "the recovery point's order")
		require.Equal(t, 1, ordersOf(t, client))
	})
}

func ordersOf(t *testing.T, client session) int {
	t.Helper()
	var n int
	require.NoError(t, env.pool.QueryRow(context.Background(), `SELECT count(*) FROM orders WHERE client_id = $1`, client.uid()).Scan(&n))
	return n
}

// runUpdate runs an update on an order's workflow directly, with the given
// update id, as an API process would before dying.
func runUpdate(t *testing.T, orderID, action, updateID string, arg any) {
	t.Helper()
	id, err := strconv.ParseInt(orderID, 10, 64)
	require.NoError(t, err)
	h, err := env.temporal.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{
		WorkflowID: order.WorkflowID(id), UpdateID: updateID, UpdateName: action, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted})
	require.NoError(t, err)
	require.NoError(t, h.Get(context.Background(), nil))
}

// leaveInProgress writes the idempotency row a request in progress holds
// (as the API does before running it), with recovery point resourceID, and
// returns its attempt id.
func leaveInProgress(t *testing.T, who session, key, path, body string, resourceID *int64) string {
	t.Helper()
	h := sha256.New()
	h.Write([]byte("POST " + path + "\n\n"))
	h.Write([]byte(body))
	var attempt string
	require.NoError(t, env.pool.QueryRow(context.Background(), `
		INSERT INTO idempotency_keys (user_id, key, method, path, request_hash, locked_until, resource_id)
		VALUES ($1, $2, 'POST', $3, $4, now() + interval '1 minute', $5) RETURNING attempt_id::text`,
		who.uid(), key, path, h.Sum(nil), resourceID).Scan(&attempt))
	return attempt
}

// expireLease makes a held key's lease run out, as it does a minute after
// its process died.
func expireLease(t *testing.T, who session, key string) {
	t.Helper()
	_, err := env.pool.Exec(context.Background(), `UPDATE idempotency_keys SET locked_until = now() - interval '1 second'
		WHERE user_id = $1 AND key = $2`, who.uid(), key)
	require.NoError(t, err)
}
