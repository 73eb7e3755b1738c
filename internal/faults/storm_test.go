package faults_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deliveredOrder creates an order of 100.00 from a new funded client and
// drives it to delivered.
func (s *stack) deliveredOrder(t *testing.T, admin string) (client, provider party, orderID string) {
	t.Helper()
	client, provider = s.register(t, "client"), s.register(t, "provider")
	s.fund(t, admin, client, "200.00")
	res, body := s.post(t, "/v1/orders", client.token, fmt.Sprintf(`{"provider_id":%q,"title":"Pintura","amount":"100.00"}`, provider.id))
	require.Equal(t, http.StatusCreated, res.StatusCode, body)
	var o struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &o))
	for _, a := range []struct{ action, body string }{{"accept", `{"proposal_version":1}`}, {"deliver", ""}} {
		code, raw := s.act(t, provider, o.ID, a.action, a.body)
		require.Equal(t, http.StatusOK, code, "%s: %s", a.action, raw)
	}
	return client, provider, o.ID
}

// storm sends n copies of fn at once and counts the statuses.
func storm(n int, fn func(i int) (int, string)) (map[int]int, []string) {
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		bodies []string
		wg     sync.WaitGroup
		start  = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, body := fn(i)
			mu.Lock()
			counts[code]++
			bodies = append(bodies, body)
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return counts, bodies
}

// Fault 7: duplicate storms and races. The same action sent 50 times at
// once by the same user, with one Idempotency-Key and with none, has one
// effect; confirm, contest and an admin's cancel racing each other and the
// deadline resolve to exactly one outcome; never a 500.
func TestDuplicateStormsAndRaces(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binaries")
	}
	s := newStack(t, 1, 1)
	admin := s.login(t)
	releases := func(orderID string) int64 {
		return s.query(t, `SELECT count(*) FROM ledger_transactions WHERE order_id = $1 AND kind IN ('release', 'auto_release')`, orderID)
	}

	t.Run("Ensure 50 confirms with one key release once and all answer the first 200", func(t *testing.T) {
		client, provider, id := s.deliveredOrder(t, admin)
		counts, bodies := storm(50, func(int) (int, string) {
			return s.act(t, client, id, "confirm", "", "Idempotency-Key", "storm-"+id)
		})
		for code := range counts {
			// Those that met the first still running are told to retry.
			require.Contains(t, []int{http.StatusOK, http.StatusConflict}, code, "%v %v", counts, bodies)
		}
		require.Positive(t, counts[http.StatusOK])
		code, body := s.act(t, client, id, "confirm", "", "Idempotency-Key", "storm-"+id)
		require.Equal(t, http.StatusOK, code, body)
		require.EqualValues(t, 1, releases(id))
		require.Equal(t, "95.00", balance(t, s, provider))
	})

	t.Run("Ensure 50 confirms without a key release once: one 200, the rest refused", func(t *testing.T) {
		client, provider, id := s.deliveredOrder(t, admin)
		counts, bodies := storm(50, func(int) (int, string) { return s.act(t, client, id, "confirm", "") })
		require.Equal(t, 1, counts[http.StatusOK], "%v %v", counts, bodies)
		for code := range counts {
			require.Contains(t, []int{http.StatusOK, http.StatusConflict, http.StatusTooManyRequests}, code, "%v %v", counts, bodies)
		}
		require.EqualValues(t, 1, releases(id))
		require.Equal(t, "95.00", balance(t, s, provider))
	})

	// The order runs one transition at a time: the three resolve as some
	// serial order of them would. Confirm first: the others are refused.
	// Cancel first: likewise. Contest first: the admin may still cancel the
	// dispute (refunding the fee too), confirm is refused.
	t.Run("Ensure confirm, contest and cancel racing resolve as one serial order", func(t *testing.T) {
		for range 5 {
			client, provider, id := s.deliveredOrder(t, admin)
			actions := []struct {
				who          party
				action, body string
			}{{client, "confirm", ""}, {client, "contest", `{"reason":"x"}`}, {party{token: admin}, "cancel", `{"reason":"x"}`}}
			counts, bodies := storm(len(actions), func(i int) (int, string) {
				a := actions[i]
				return s.act(t, a.who, id, a.action, a.body)
			})
			require.Contains(t, []int{1, 2}, counts[http.StatusOK], "%v %v", counts, bodies)
			require.Equal(t, 3-counts[http.StatusOK], counts[http.StatusConflict]+counts[http.StatusPreconditionFailed], "%v %v", counts, bodies)
			res, body := s.get(t, "/v1/orders/"+id, client.token)
			require.Equal(t, http.StatusOK, res.StatusCode, body)
			var o struct{ Status string }
			require.NoError(t, json.Unmarshal([]byte(body), &o))
			wallets := balance(t, s, client) + "/" + balance(t, s, provider)
			switch o.Status {
			case "completed": // confirmed: 100 released, 95 to the provider
				require.Equal(t, 1, counts[http.StatusOK])
				require.Equal(t, "100.00/95.00", wallets)
			case "disputed": // contested, the cancel refused: the fee held too
				require.Equal(t, 1, counts[http.StatusOK])
				require.Equal(t, "90.00/0.00", wallets)
				code, raw := s.post(t, "/v1/admin/orders/"+id+"/resolve", admin, `{"refund_amount":"0.00","reason":"ok"}`)
				require.Equal(t, http.StatusOK, code.StatusCode, raw)
			case "cancelled": // cancelled first, or contested then cancelled: everything back
				require.Equal(t, "200.00/0.00", wallets)
			default:
				t.Fatalf("order %s ended %s", id, o.Status)
			}
		}
	})

	t.Run("Ensure a confirm racing the deadline has one outcome", func(t *testing.T) {
		s.setDeadline(t, admin, "0.001") // 3.6 s
		defer s.setDeadline(t, admin, "36")
		for range 3 {
			client, provider, id := s.deliveredOrder(t, admin)
			time.Sleep(3500 * time.Millisecond)
			code, body := s.act(t, client, id, "confirm", "")
			require.Contains(t, []int{http.StatusOK, http.StatusConflict}, code, body)
			require.Eventually(t, func() bool { return releases(id) == 1 }, 30*time.Second, 100*time.Millisecond)
			require.Equal(t, "95.00", balance(t, s, provider))
			require.Equal(t, "100.00", balance(t, s, client))
		}
	})
	code, out := s.ledgerVerify(t)
	require.Equal(t, 0, code, out)
	addRow(row{fault: "duplicate storms: 50 identical confirms at once (one Idempotency-Key, and none); confirm × contest × admin cancel racing; confirm racing the deadline",
		inFlight: "13 orders", seen: "409 (in progress / already done), 429 (in-flight bound); never a 500", recovery: "—", moneyLost: "0.00",
		operators: "none"})
}

// balance is a user's available balance, read by the admin.
func balance(t *testing.T, s *stack, p party) string {
	t.Helper()
	res, body := s.get(t, "/v1/admin/wallets/"+p.id, s.adminToken(t))
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	var w struct{ Available string }
	require.NoError(t, json.Unmarshal([]byte(body), &w))
	return w.Available
}

func (s *stack) adminToken(t *testing.T) string {
	if s.admin == "" {
		s.admin = s.login(t)
	}
	return s.admin
}

func (s *stack) setDeadline(t *testing.T, admin, hours string) {
	res, body := s.do(t, http.MethodPut, "/v1/admin/config/confirmation_deadline_hours", admin,
		fmt.Sprintf(`{"value":%q,"reason":"teste de corrida"}`, hours))
	require.Equal(t, http.StatusOK, res.StatusCode, body)
}
