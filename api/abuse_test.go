package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/worker"
	"github.com/ordem/ordem/workflows/order"
)

// abuseLimit is the per-run update limit of the abuse test's Temporal
// server (history.maxTotalUpdates, 2,000 by default): low, so an attack
// that would exhaust it needs only a few dozen requests.
const abuseLimit = 12

// abuseStack is an API and a worker on a Temporal server of their own
// whose per-workflow update limit is abuseLimit (continue-as-new suggested
// at half of it), over the package's database and S3 store.
type abuseStack struct {
	app      *fiber.App
	temporal client.Client
}

func quietSlog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func newAbuseStack(t *testing.T) *abuseStack {
	t.Helper()
	dc := dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():                       []dynamicconfig.ConstrainedValue{{Value: true}},
		dynamicconfig.WorkflowExecutionMaxTotalUpdates.Key():                              []dynamicconfig.ConstrainedValue{{Value: abuseLimit}},
		dynamicconfig.WorkflowExecutionMaxTotalUpdatesSuggestContinueAsNewThreshold.Key(): []dynamicconfig.ConstrainedValue{{Value: 0.5}},
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseClientOptions(client.Options{Logger: sdklog.NewStructuredLogger(quietSlog())}),
		temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(dc)))
	c := ts.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, worker.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	const queue = "abuse-test"
	w := worker.New(c, queue, &activities.Activities{Pool: env.pool, AutoConfirmEnabled: true, Evidence: env.store})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	cfg := *env.cfg
	cfg.TemporalTaskQueue = queue
	srv := &api.Server{Pool: env.pool, Temporal: c, Config: &cfg, Logger: quietSlog(), Storage: env.store}
	return &abuseStack{app: srv.App(), temporal: c}
}

func (s *abuseStack) call(t *testing.T, method, path string, who session, body any, headers ...string) response {
	t.Helper()
	return callApp(t, s.app, method, path, who.Token, body, headers...)
}

// order creates an order of amount and returns its id.
func (s *abuseStack) order(t *testing.T, client, provider session, amount string) string {
	t.Helper()
	res := s.call(t, "POST", "/v1/orders", client, map[string]any{"provider_id": provider.ID, "title": "Reforma", "amount": amount})
	require.Equal(t, 201, res.Status, string(res.Body))
	var o api.Order
	res.json(t, &o)
	return o.ID
}

func (s *abuseStack) act(t *testing.T, who session, orderID, action string, body any) response {
	t.Helper()
	return s.call(t, "POST", "/v1/orders/"+orderID+"/"+action, who, body)
}

// historyLength is the number of events of the order's current run.
func (s *abuseStack) historyLength(t *testing.T, orderID int64) int64 {
	t.Helper()
	d, err := s.temporal.DescribeWorkflowExecution(context.Background(), order.WorkflowID(orderID), "")
	require.NoError(t, err)
	return d.GetWorkflowExecutionInfo().GetHistoryLength()
}

// runs is how many runs the order's workflow has had (1 + continue-as-new).
func (s *abuseStack) continuedAsNew(t *testing.T, orderID int64) bool {
	t.Helper()
	d, err := s.temporal.DescribeWorkflowExecution(context.Background(), order.WorkflowID(orderID), "")
	require.NoError(t, err)
	info := d.GetWorkflowExecutionInfo()
	return info.GetFirstRunId() != info.GetExecution().GetRunId()
}

// direct sends an update straight to the order's workflow, past the API's
// own checks, as a request whose balance changed between the API's check
// and the activity would arrive. It returns the refusal code ("" on
// success); any other error fails the test.
func (s *abuseStack) direct(t *testing.T, orderID int64, action order.Action, arg any) string {
	t.Helper()
	for {
		h, err := s.temporal.UpdateWorkflow(context.Background(), client.UpdateWorkflowOptions{
			WorkflowID: order.WorkflowID(orderID), UpdateName: string(action), Args: []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err == nil {
			err = h.Get(context.Background(), nil)
		}
		code := order.RefusalCode(err)
		if code == ordem.EUnavailable {
			time.Sleep(100 * time.Millisecond) // the run is handing over, as the API retries
			continue
		}
		require.True(t, err == nil || code != "", "update %s: %v", action, err)
		return code
	}
}

func sid(t *testing.T, id string) int64 {
	t.Helper()
	var n int64
	_, err := fmt.Sscan(id, &n)
	require.NoError(t, err)
	return n
}

// Ensure no sequence of requests by one party can make an order unable to
// move (spec: "No sequence of requests may freeze an order"): a provider
// who cannot pay the cancellation penalty and a client who cannot pay the
// contestation fee retry without end, over the API and straight at the
// workflow; the orders stay far from Temporal's update limit, continue as
// new when the server suggests it, and then cancel and confirm normally.
// With the limit at 12 updates, before the fix the 11th refused attempt
// exhausted it and every later action on the order failed.
func TestAbuseCannotFreezeAnOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres and a Temporal server")
	}
	s := newAbuseStack(t)
	clientA, provider := env.newUser(t, "client"), env.newUser(t, "provider")
	env.fund(t, clientA, "100.00")
	a := s.order(t, clientA, provider, "100.00")
	aid := sid(t, a)
	res := s.act(t, provider, a, "accept", map[string]int{"proposal_version": 1})
	require.Equal(t, 200, res.Status, string(res.Body))

	t.Run("Ensure the API refuses a penalty the provider cannot pay before the order sees it", func(t *testing.T) {
		before := s.historyLength(t, aid)
		for range 3 * abuseLimit {
			res := s.act(t, provider, a, "cancel", map[string]string{"expected_penalty": "10.00"})
			require.Equal(t, 402, res.Status, string(res.Body))
			require.Equal(t, ordem.EInsufficientFunds, res.errorCode())
		}
		require.Equal(t, before, s.historyLength(t, aid), "no event was written")
	})

	t.Run("Ensure refusals that reach the workflow are bounded per actor", func(t *testing.T) {
		codes := map[string]int{}
		for range 3 * abuseLimit {
			codes[s.direct(t, aid, order.ActionCancel, order.CancelInput{
				Actor: order.Actor{UserID: provider.uid(), Role: ordem.RoleProvider}, ExpectedPenalty: ptr(decimal.RequireFromString("10.00"))})]++
		}
		require.Equal(t, map[string]int{ordem.EInsufficientFunds: order.FreeRefusals,
			ordem.ERateLimited: 3*abuseLimit - order.FreeRefusals}, codes)
		require.True(t, s.continuedAsNew(t, aid), "the server suggested continuing as new and the order did")
	})

	t.Run("Ensure the client can still cancel, paying exactly the penalty shown", func(t *testing.T) {
		res := s.act(t, clientA, a, "cancel", map[string]string{"expected_penalty": "10.00"})
		require.Equal(t, 200, res.Status, string(res.Body))
		var o api.Order
		res.json(t, &o)
		require.Equal(t, "cancelled", o.Status)
		require.Equal(t, "90.00/0.00", env.wallet(t, clientA))
		require.Equal(t, "10.00/0.00", env.wallet(t, provider))
	})

	t.Run("Ensure a client without the contestation fee cannot freeze the provider's payment", func(t *testing.T) {
		clientB := env.newUser(t, "client")
		env.fund(t, clientB, "100.00")
		b := s.order(t, clientB, provider, "100.00")
		bid := sid(t, b)
		for _, step := range []string{"accept", "deliver"} {
			body := any(map[string]int{"proposal_version": 1})
			if step == "deliver" {
				body = nil
			}
			res := s.act(t, provider, b, step, body)
			require.Equal(t, 200, res.Status, string(res.Body))
		}
		res := s.act(t, clientB, b, "contest", map[string]string{"reason": "incompleto"})
		require.Equal(t, 402, res.Status, string(res.Body))
		codes := map[string]int{}
		for range 3 * abuseLimit {
			codes[s.direct(t, bid, order.ActionContest, order.ContestInput{
				Actor: order.Actor{UserID: clientB.uid(), Role: ordem.RoleClient}, Reason: "sem fundos"})]++
		}
		require.Equal(t, map[string]int{ordem.EInsufficientFunds: order.FreeRefusals,
			ordem.ERateLimited: 3*abuseLimit - order.FreeRefusals}, codes)
		revenue := env.revenue(t)
		res = s.act(t, clientB, b, "confirm", nil)
		require.Equal(t, 200, res.Status, string(res.Body))
		require.Equal(t, "0.00/0.00", env.wallet(t, clientB))
		require.Equal(t, "105.00/0.00", env.wallet(t, provider))
		require.Equal(t, "5.00", env.revenue(t).Sub(revenue).StringFixed(2))
	})
	env.requireLedgerClean(t)
}

func ptr[T any](v T) *T { return &v }

// Ensure the largest order the API takes can always be closed: every leg
// a later transition posts (the amount plus the contestation fee, or plus
// a penalty) fits, and a larger order or proposal is refused with the
// limit. Before the fix an order of 999,999,999,999.99 once contested
// refused every ruling and the admin's cancel with a ledger message.
func TestLargestOrderCloses(t *testing.T) {
	skipShort(t)
	const largest = "499999999999.99"
	admin := env.admin

	t.Run("Ensure a larger amount or proposal is refused with the limit", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		res := env.call(t, "POST", "/v1/orders", client.Token, map[string]any{"provider_id": provider.ID, "title": "Obra", "amount": "500000000000.00"})
		require.Equal(t, 422, res.Status, string(res.Body))
		require.Contains(t, string(res.Body), largest)
		o := env.newOrder(t, client, provider, largest)
		res = env.act(t, provider, o.ID, "proposals", map[string]string{"amount": "500000000000.00"})
		require.Equal(t, 422, res.Status, string(res.Body))
		require.Contains(t, string(res.Body), largest)
	})

	t.Run("Ensure the largest order, contested, is resolved", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		env.fund(t, client, "500000000009.99")
		o := env.newOrder(t, client, provider, largest)
		for _, s := range []struct {
			who    session
			action string
			body   any
		}{{provider, "accept", nil}, {provider, "deliver", nil}, {client, "contest", map[string]string{"reason": "incompleto"}}} {
			res := env.act(t, s.who, o.ID, s.action, s.body)
			require.Equal(t, 200, res.Status, "%s: %s", s.action, res.Body)
		}
		require.Equal(t, "0.00/500000000009.99", env.wallet(t, client))
		res := env.act(t, admin, o.ID, "resolve", map[string]string{"refund_amount": "0.00", "reason": "entregue"})
		require.Equal(t, 200, res.Status, string(res.Body))
		require.Equal(t, "0.00/0.00", env.wallet(t, client))
		// 5% fee: 25,000,000,000.00 (half-up); the provider gets the rest.
		require.Equal(t, "474999999999.99/0.00", env.wallet(t, provider))
	})

	t.Run("Ensure the largest order, cancelled by its provider, returns the hold and the penalty", func(t *testing.T) {
		client, provider := env.newUser(t, "client"), env.newUser(t, "provider")
		env.fund(t, client, largest)
		env.fund(t, provider, "50000000000.00")
		o := env.newOrder(t, client, provider, largest)
		res := env.act(t, provider, o.ID, "accept", nil)
		require.Equal(t, 200, res.Status, string(res.Body))
		res = env.act(t, provider, o.ID, "cancel", map[string]string{"expected_penalty": "50000000000.00"})
		require.Equal(t, 200, res.Status, string(res.Body))
		require.Equal(t, "549999999999.99/0.00", env.wallet(t, client))
		require.Equal(t, "0.00/0.00", env.wallet(t, provider))
	})
	env.requireLedgerClean(t)
}
