package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/temporaltest"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/internal/ordertest"
	"github.com/ordem/ordem/internal/s3test"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/internal/sysconfig"
	"github.com/ordem/ordem/worker"
	"github.com/ordem/ordem/workflows/order"
)

// Task queues of the integration test: the normal worker
// (AUTO_CONFIRM_JOB_ENABLED=true) and one with auto-confirm disabled, used
// by the worst-case history measurement.
const (
	taskQueue     = "ordem-it"
	heldTaskQueue = "ordem-it-held"
)

// realisticHistoryLimit is the ceiling for the longest realistic path
// (docs/workflow.md): create → counter-proposal → accept → deliver →
// reminder → contest → evidence ×3 → dispute SLA reminder → resolve.
const realisticHistoryLimit = 200

// recordHistories makes the test write the histories of the main paths to
// workflows/order/testdata, where TestReplay replays them.
var recordHistories = os.Getenv("ORDEM_RECORD_HISTORIES") == "1"

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// it is a real Temporal server (temporaltest, SQLite) with the order worker
// on it, and a real Postgres database behind the activities.
type it struct {
	f *ordertest.Fixture
	c client.Client
	// store is the evidence store on a real S3-compatible server.
	store *storage.Store

	// cfgMu serialises "set config, create an order, restore config": the
	// fee and deadline snapshot is taken when the order is created.
	cfgMu sync.Mutex
}

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
}

func newIT(t *testing.T, opts ...temporaltest.TestServerOption) *it {
	t.Helper()
	// The fixture first: its database is dropped after the server stops.
	f := ordertest.New(t)
	store := newEvidenceStore(t)
	ts := temporaltest.NewServer(append([]temporaltest.TestServerOption{temporaltest.WithT(t),
		temporaltest.WithBaseClientOptions(client.Options{Logger: quietLogger()})}, opts...)...)
	c := ts.GetDefaultClient()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Twice: the second call finds every attribute and changes nothing.
	require.NoError(t, worker.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	require.NoError(t, worker.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()))
	for _, tq := range []struct {
		name        string
		autoConfirm bool
	}{{taskQueue, true}, {heldTaskQueue, false}} {
		w := worker.New(c, tq.name, &activities.Activities{Pool: f.Pool, AutoConfirmEnabled: tq.autoConfirm, Evidence: store})
		require.NoError(t, w.Start())
		t.Cleanup(w.Stop) // runs before the server's own cleanup
	}
	return &it{f: f, c: c, store: store}
}

// newEvidenceStore starts a real S3-compatible server (versitygw) for t
// and returns a store over a fresh bucket.
func newEvidenceStore(t *testing.T) *storage.Store {
	t.Helper()
	srv := s3test.Start(t)
	st, err := storage.New(storage.Options{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, UsePathStyle: true})
	require.NoError(t, err)
	return st
}

func actor(id int64, role ordem.Role) order.Actor { return order.Actor{UserID: id, Role: role} }

// pair is a client and a provider of one scenario.
type pair struct{ client, provider order.Actor }

func (e *it) newPair(t testing.TB) pair {
	return pair{actor(e.f.User(t, ordem.RoleClient), ordem.RoleClient), actor(e.f.User(t, ordem.RoleProvider), ordem.RoleProvider)}
}

func (e *it) admin() order.Actor { return actor(e.f.Admin, ordem.RoleAdmin) }

// create starts an order workflow with config overrides in force at its
// creation, waits until the order row exists and restores the defaults.
func (e *it) create(t testing.TB, queue string, p pair, amount string, cfg map[string]string) int64 {
	t.Helper()
	e.cfgMu.Lock()
	defer e.cfgMu.Unlock()
	for k, v := range cfg {
		e.f.SetConfig(t, k, v)
	}
	defer func() {
		for k := range cfg {
			key, ok := sysconfig.Lookup(k)
			require.True(t, ok, k)
			e.f.SetConfig(t, k, key.Default)
		}
	}()
	id := e.f.NextOrderID(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: order.WorkflowID(id), TaskQueue: queue},
		order.WorkflowName, order.Input{OrderID: id, ClientID: p.client.UserID, ProviderID: p.provider.UserID,
			Title: fmt.Sprintf("Pedido %d", id), Description: "integração", Amount: d(amount)})
	require.NoError(t, err)
	st, err := e.update(id, "", order.UpdateAwaitCreated)
	require.NoError(t, err)
	require.True(t, st.Created)
	require.Equal(t, order.StatusNegotiating, st.Status)
	for k, v := range cfg {
		switch k {
		case sysconfig.ConfirmationDeadlineHours:
			require.True(t, d(v).Equal(st.Terms.ConfirmationDeadlineHours), "deadline snapshot")
		case sysconfig.ProposalExpiryHours:
			require.True(t, d(v).Equal(st.Terms.ProposalExpiryHours), "expiry snapshot")
		}
	}
	return id
}

// update sends an update and waits for its result.
func (e *it) update(id int64, updateID, name string, args ...any) (order.State, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := e.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{UpdateID: updateID, WorkflowID: order.WorkflowID(id),
		UpdateName: name, WaitForStage: client.WorkflowUpdateStageCompleted, Args: args})
	if err != nil {
		return order.State{}, err
	}
	var st order.State
	err = h.Get(ctx, &st)
	return st, err
}

// act sends an action that must be accepted and returns the new state.
func (e *it) act(t testing.TB, id int64, action order.Action, arg any) order.State {
	t.Helper()
	st, err := e.update(id, "", string(action), arg)
	require.NoError(t, err, "%s on order %d", action, id)
	return st
}

// refused sends an action that must be refused with code.
func (e *it) refused(t testing.TB, id int64, code string, action order.Action, arg any) {
	t.Helper()
	_, err := e.update(id, "", string(action), arg)
	require.Error(t, err, "%s on order %d", action, id)
	require.Equal(t, code, order.RefusalCode(err), "%s on order %d: %v", action, id, err)
}

func (e *it) query(t testing.TB, id int64) order.State {
	t.Helper()
	st, err := e.tryQuery(id)
	require.NoError(t, err)
	return st
}

// tryQuery returns the live state; it never fails the test.
func (e *it) tryQuery(id int64) (order.State, error) {
	v, err := e.c.QueryWorkflow(context.Background(), order.WorkflowID(id), "", order.QueryState)
	if err != nil {
		return order.State{}, err
	}
	var st order.State
	err = v.Get(&st)
	return st, err
}

// result waits for the workflow to end and returns its final state.
func (e *it) result(t testing.TB, id int64) order.State {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var st order.State
	require.NoError(t, e.c.GetWorkflow(ctx, order.WorkflowID(id), "").Get(ctx, &st))
	return st
}

// events counts the order's timeline events of action (refused ones
// only when refused is set); -1 on error. It never fails the test, so
// require.Eventually may call it.
func (e *it) events(id int64, action string, refused bool) int {
	var n int
	err := e.f.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM order_events WHERE order_id = $1 AND action = $2 AND refused = $3`, id, action, refused).Scan(&n)
	if err != nil {
		return -1
	}
	return n
}

// waitEvents waits until the order's timeline has n events of action.
func (e *it) waitEvents(t testing.TB, id int64, action string, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return e.events(id, action, false) >= n }, 30*time.Second, 20*time.Millisecond,
		"order %d: %d %s event(s)", id, n, action)
}

// ledgerTxns counts the order's ledger transactions of kind.
func (e *it) ledgerTxns(t testing.TB, id int64, kind string) int {
	t.Helper()
	var n int
	require.NoError(t, e.f.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM ledger_transactions WHERE order_id = $1 AND kind = $2`, id, kind).Scan(&n))
	return n
}

// history fetches the workflow's full event history.
func (e *it) history(t testing.TB, id int64) *historypb.History {
	t.Helper()
	h, err := e.tryHistory(id)
	require.NoError(t, err)
	return h
}

// tryHistory fetches the history; it never fails the test.
func (e *it) tryHistory(id int64) (*historypb.History, error) {
	iter := e.c.GetWorkflowHistory(context.Background(), order.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			return nil, err
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

// settled reports whether the history has n completed steps (activity
// completions, or local activity markers) after event index from and ends
// with a completed workflow task: the workflow has nothing in flight.
func settled(h *historypb.History, from, n int) bool {
	if h == nil || len(h.Events) <= from {
		return false
	}
	done := 0
	for _, ev := range h.Events[from:] {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			done++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" {
				done++
			}
		}
	}
	return done == n && idle(h)
}

// timerFiresSharingTasks counts the timer firings that shared a workflow
// task with another trigger (timer, activity, signal). Compressed test
// time fires superseded timers almost together; in real time (hours
// apart) each would wake the workflow on its own and cost three more
// events (workflow task scheduled, started, completed).
func timerFiresSharingTasks(h *historypb.History) int {
	n := 0
	timers, others := 0, 0
	for _, ev := range h.Events {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			timers++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED,
			enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			others++
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			switch {
			case timers > 0 && others > 0:
				n += timers
			case timers > 1:
				n += timers - 1
			}
			timers, others = 0, 0
		}
	}
	return n
}

// realTimeEvents is the history length with every timer firing in its
// own workflow task, as real time spreads them.
func realTimeEvents(h *historypb.History) int { return len(h.Events) + 3*timerFiresSharingTasks(h) }

// idle reports whether the history's last workflow task completed: no
// workflow task is scheduled or running.
func idle(h *historypb.History) bool {
	for i := len(h.Events) - 1; i >= 0; i-- {
		switch h.Events[i].GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			return true
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED,
			enumspb.EVENT_TYPE_WORKFLOW_TASK_FAILED, enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
			return false
		}
	}
	return false
}

// replay replays h against the current workflow code, and with
// ORDEM_RECORD_HISTORIES=1 writes it to workflows/order/testdata/name.json
// in the format of `temporal workflow show --output json`.
func (e *it) replayAndRecord(t testing.TB, id int64, name string) *historypb.History {
	t.Helper()
	h := e.history(t, id)
	last := h.Events[len(h.Events)-1].GetEventType()
	require.Equal(t, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, last, "order %d ended", id)
	replayAndRecordRun(t, h, name)
	return h
}

// waitTimersFired waits until every timer the workflow started has fired
// or been cancelled (the workflow cancels a timer a change made moot) and
// the workflow task that followed completed.
func (e *it) waitTimersFired(t testing.TB, id int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		h, err := e.tryHistory(id)
		if err != nil || len(h.Events) == 0 {
			return false
		}
		started, fired := 0, 0
		for _, ev := range h.Events {
			switch ev.GetEventType() {
			case enumspb.EVENT_TYPE_TIMER_STARTED:
				started++
			case enumspb.EVENT_TYPE_TIMER_FIRED, enumspb.EVENT_TYPE_TIMER_CANCELED:
				fired++
			}
		}
		return started == fired && idle(h)
	}, 30*time.Second, 50*time.Millisecond, "order %d: every timer fired", id)
}

// requireSearchStatus waits until visibility lists the order with status.
func (e *it) requireSearchStatus(t testing.TB, id int64, status order.Status) {
	t.Helper()
	q := fmt.Sprintf("OrderId = %d AND OrderStatus = '%s'", id, status)
	require.Eventually(t, func() bool {
		res, err := e.c.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: q})
		return err == nil && len(res.Executions) == 1 && res.Executions[0].GetExecution().GetWorkflowId() == order.WorkflowID(id)
	}, 20*time.Second, 100*time.Millisecond, "visibility: %s", q)
}

// requireDescribedStatus checks the search attributes the workflow keeps
// in its mutable state (DescribeWorkflowExecution).
func (e *it) requireDescribedStatus(t testing.TB, id int64, status order.Status) {
	t.Helper()
	desc, err := e.c.DescribeWorkflow(context.Background(), order.WorkflowID(id), "")
	require.NoError(t, err)
	got, ok := desc.TypedSearchAttributes.GetKeyword(order.SearchOrderStatus)
	require.True(t, ok, "OrderStatus set")
	require.Equal(t, string(status), got)
	oid, ok := desc.TypedSearchAttributes.GetInt64(order.SearchOrderID)
	require.True(t, ok, "OrderId set")
	require.Equal(t, id, oid)
}

// evidence is the record of the n-th piece of evidence, its bytes staged
// in e's store as the API does: a 10-byte PDF.
func (e *it) evidence(t testing.TB, n int) order.AddEvidenceInput {
	t.Helper()
	data := []byte(fmt.Sprintf("%%PDF-%04d\n", n%10000))
	staged, err := e.store.PutStaging(context.Background(), bytes.NewReader(data), int64(len(data)), "application/pdf")
	require.NoError(t, err)
	return order.AddEvidenceInput{
		EvidenceID:  fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		StagingKey:  staged.Key,
		FileName:    "a.pdf",
		Extension:   "pdf",
		ContentType: "application/pdf",
		Size:        staged.Size,
		SHA256:      staged.SHA256,
	}
}

// evidenceSeq makes evidence ids unique across scenarios.
var (
	evidenceMu  sync.Mutex
	evidenceSeq int
)

func (e *it) nextEvidence(t testing.TB) order.AddEvidenceInput {
	t.Helper()
	evidenceMu.Lock()
	evidenceSeq++
	n := evidenceSeq
	evidenceMu.Unlock()
	return e.evidence(t, n)
}

// objectKeys lists the bucket's keys under prefix, sorted.
func (e *it) objectKeys(t testing.TB, prefix string) []string {
	t.Helper()
	out, err := e.store.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(e.store.Bucket()),
		Prefix: aws.String(prefix)})
	require.NoError(t, err)
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// recordedEvidence lists the order's evidence object keys from Postgres,
// sorted.
func (e *it) recordedEvidence(t testing.TB, id int64) []string {
	t.Helper()
	rows, err := e.f.Pool.Query(context.Background(), `SELECT object_key FROM evidence WHERE order_id = $1 ORDER BY object_key`, id)
	require.NoError(t, err)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return keys
}

func withActor(in order.AddEvidenceInput, a order.Actor) order.AddEvidenceInput {
	in.Actor = a
	return in
}

// TestIntegration runs orders end to end on a real Temporal server and a
// real Postgres database: every main path, signals, duplicate updates,
// search attributes, history sizes; then checks balances and the ledger.
func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: real Temporal server and Postgres")
	}
	started := time.Now()
	e := newIT(t)
	f := e.f

	// The three main paths share one client and one provider, so their
	// final balances add up as the spec says.
	trio := pair{actor(f.Client, ordem.RoleClient), actor(f.Provider, ordem.RoleProvider)}
	f.Deposit(t, f.Client, "1000.00")

	var revenueMu sync.Mutex
	revenue := decimal.Zero
	addRevenue := func(s string) {
		revenueMu.Lock()
		defer revenueMu.Unlock()
		revenue = revenue.Add(d(s))
	}

	t.Run("paths", func(t *testing.T) {
		// Order A, 200.00: accepted, delivered, confirmed by the client.
		t.Run("confirmed", func(t *testing.T) {
			t.Parallel()
			id := e.create(t, taskQueue, trio, "200.00", nil)
			st := e.act(t, id, order.ActionAccept, order.AcceptInput{Actor: trio.provider})
			require.Equal(t, order.StatusInProgress, st.Status)
			e.requireDescribedStatus(t, id, order.StatusInProgress)
			st = e.act(t, id, order.ActionDeliver, order.DeliverInput{Actor: trio.provider})
			require.Equal(t, order.StatusDelivered, st.Status)
			require.NotNil(t, st.ConfirmDeadline)
			st = e.act(t, id, order.ActionConfirm, order.ConfirmInput{Actor: trio.client})
			require.Equal(t, order.StatusCompleted, st.Status)

			final := e.result(t, id)
			require.Equal(t, order.StatusCompleted, final.Status)
			require.False(t, final.AutoConfirmed)
			require.Equal(t, "10.00", final.Outcome.PlatformRevenue.StringFixed(2))
			require.Equal(t, "190.00", final.Outcome.ProviderNet.StringFixed(2))
			row := f.Order(t, id)
			require.Equal(t, "completed", row.Status)
			require.Equal(t, "190.00", row.ProviderNet)
			require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress",
				"deliver:in_progress>delivered", "confirm:delivered>completed"}, f.Events(t, id))
			addRevenue("10.00")
			e.requireSearchStatus(t, id, order.StatusCompleted)
			h := e.replayAndRecord(t, id, "confirmed")
			t.Logf("confirmed: %d events", len(h.Events))
		})

		// Order B, 100.00: delivered and left in silence; a 3.6 s deadline
		// (0.001 h) auto-confirms it after a reminder at 1.8 s.
		t.Run("auto_confirmed", func(t *testing.T) {
			t.Parallel()
			id := e.create(t, taskQueue, trio, "100.00", map[string]string{
				sysconfig.ConfirmationDeadlineHours: "0.001",
				sysconfig.ConfirmationReminderHours: "0.0005",
			})
			e.act(t, id, order.ActionAccept, order.AcceptInput{Actor: trio.provider})
			delivered := time.Now()
			st := e.act(t, id, order.ActionDeliver, order.DeliverInput{Actor: trio.provider})
			require.Equal(t, 3600*time.Millisecond, st.ConfirmDeadline.Sub(*st.DeliveredAt))

			final := e.result(t, id)
			require.GreaterOrEqual(t, time.Since(delivered), 3*time.Second, "auto-confirmed only at the deadline")
			require.Equal(t, order.StatusCompleted, final.Status)
			require.True(t, final.AutoConfirmed)
			require.Equal(t, "5.00", final.Outcome.PlatformRevenue.StringFixed(2))
			require.Equal(t, "95.00", final.Outcome.ProviderNet.StringFixed(2))
			row := f.Order(t, id)
			require.Equal(t, "completed", row.Status)
			require.True(t, row.AutoConfirmed)
			require.Equal(t, map[int64]int{trio.client.UserID: 1}, f.Notifications(t, id, order.ReminderConfirmation))
			require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress",
				"deliver:in_progress>delivered", order.ReminderConfirmation + ":>", "auto_confirm:delivered>completed"}, f.Events(t, id))
			require.Equal(t, 1, e.ledgerTxns(t, id, "auto_release"))
			addRevenue("5.00")
			e.requireSearchStatus(t, id, order.StatusCompleted)
			h := e.replayAndRecord(t, id, "auto_confirmed")
			t.Logf("auto_confirmed: %d events", len(h.Events))
		})

		// Order C, the longest realistic path: the client asks 250.00, the
		// provider counters 300.00, the client accepts; delivered; the
		// reminder fires; the client contests; three pieces of evidence;
		// the dispute outlives its SLA; an admin resolves with a split:
		// 100.00 back to the client.
		t.Run("contested_resolved", func(t *testing.T) {
			t.Parallel()
			id := e.create(t, taskQueue, trio, "250.00", map[string]string{
				sysconfig.ProposalExpiryHours:       "0.001",  // 3.6 s: its timers fire during the dispute
				sysconfig.ConfirmationDeadlineHours: "0.002",  // 7.2 s
				sysconfig.ConfirmationReminderHours: "0.001",  // reminder 3.6 s before
				sysconfig.DisputeSLAHours:           "0.0005", // 1.8 s
				sysconfig.DisputeNegotiationHours:   "1",      // the provider asks for a ruling first
			})
			st := e.act(t, id, order.ActionPropose, order.ProposeInput{Actor: trio.provider, Amount: d("300.00"), Note: "inclui material"})
			require.Equal(t, 2, st.ProposalVersion)
			e.refused(t, id, ordem.EInvalidTransition, order.ActionAccept, order.AcceptInput{Actor: trio.provider})
			e.act(t, id, order.ActionAccept, order.AcceptInput{Actor: trio.client})
			e.act(t, id, order.ActionDeliver, order.DeliverInput{Actor: trio.provider})
			e.waitEvents(t, id, order.ReminderConfirmation, 1)
			st = e.act(t, id, order.ActionContest, order.ContestInput{Actor: trio.client, Reason: "não foi o combinado"})
			require.Equal(t, order.StatusDisputed, st.Status)
			require.Equal(t, "10.00", st.ContestFeeHeld.StringFixed(2))
			e.requireDescribedStatus(t, id, order.StatusDisputed)
			e.act(t, id, order.ActionAddEvidence, withActor(e.nextEvidence(t), trio.client))
			e.act(t, id, order.ActionAddEvidence, withActor(e.nextEvidence(t), trio.provider))
			st = e.act(t, id, order.ActionAddEvidence, withActor(e.nextEvidence(t), e.admin()))
			require.Equal(t, 3, st.EvidenceCount)
			keys := e.recordedEvidence(t, id)
			require.Len(t, keys, 3)
			require.Equal(t, keys, e.objectKeys(t, fmt.Sprintf("evidence/%d/", id)), "each recorded piece is at its final key")
			st = e.act(t, id, order.ActionRequestRuling, order.RequestRulingInput{Actor: trio.provider, Reason: "sem acordo"})
			require.NotNil(t, st.QueuedAt())
			e.waitEvents(t, id, order.ReminderDisputeSLA, 1)
			// The dispute stays open until the superseded timers (proposal
			// expiries, confirmation deadline) have fired too.
			e.waitTimersFired(t, id)
			e.refused(t, id, ordem.EValidation, order.ActionResolve, order.ResolveInput{Actor: e.admin(), RefundAmount: d("300.01"), Reason: "x"})
			st = e.act(t, id, order.ActionResolve, order.ResolveInput{Actor: e.admin(), RefundAmount: d("100.00"), Reason: "entrega parcial"})
			require.Equal(t, order.StatusResolved, st.Status)

			final := e.result(t, id)
			require.Equal(t, order.StatusResolved, final.Status)
			require.Equal(t, "100.00", final.Outcome.Refund.StringFixed(2))
			// Provider: (300 − 100) − 5% = 190.00; platform 10.00; the
			// contestation fee goes back to the client (R > 0).
			require.Equal(t, "190.00", final.Outcome.ProviderNet.StringFixed(2))
			require.Equal(t, "10.00", final.Outcome.PlatformRevenue.StringFixed(2))
			row := f.Order(t, id)
			require.Equal(t, "resolved", row.Status)
			require.Equal(t, 3, row.EvidenceCount)
			require.Equal(t, []string{"create:>negotiating", "propose:negotiating>negotiating", "accept:negotiating>in_progress",
				"deliver:in_progress>delivered", order.ReminderConfirmation + ":>", "contest:delivered>disputed",
				"add_evidence:disputed>disputed", "add_evidence:disputed>disputed", "add_evidence:disputed>disputed",
				"request_ruling:disputed>disputed", order.ReminderDisputeSLA + ":>", "resolve:disputed>resolved"}, f.Events(t, id))
			addRevenue("10.00")
			e.requireSearchStatus(t, id, order.StatusResolved)
			h := e.replayAndRecord(t, id, "contested_resolved")
			t.Logf("longest realistic path (contested_resolved): %d events; %d with every timer in its own workflow task",
				len(h.Events), realTimeEvents(h))
			require.Less(t, realTimeEvents(h), realisticHistoryLimit, "history of the longest realistic path")
		})

		// Order D, 100.00 on its own pair: accepted, then cancelled by the
		// client while in progress: 10% penalty to the provider.
		t.Run("cancelled_in_progress", func(t *testing.T) {
			t.Parallel()
			p := e.newPair(t)
			f.Deposit(t, p.client.UserID, "500.00")
			id := e.create(t, taskQueue, p, "100.00", nil)
			e.act(t, id, order.ActionAccept, order.AcceptInput{Actor: p.provider})
			require.Equal(t, []string{"400.00/100.00", "0.00/0.00"}, f.Wallets(t, p.client.UserID, p.provider.UserID))
			e.refused(t, id, ordem.EValidation, order.ActionCancel, order.CancelInput{Actor: e.admin()}) // admin needs a reason
			st := e.act(t, id, order.ActionCancel, order.CancelInput{Actor: p.client, Reason: "mudei de ideia"})
			require.Equal(t, order.StatusCancelled, st.Status)
			final := e.result(t, id)
			require.Equal(t, "10.00", final.Outcome.Penalty.StringFixed(2))
			require.Equal(t, []string{"490.00/0.00", "10.00/0.00"}, f.Wallets(t, p.client.UserID, p.provider.UserID))
			_, err := e.update(id, "", string(order.ActionConfirm), order.ConfirmInput{Actor: p.client})
			require.Error(t, err, "a closed order accepts nothing")
			e.requireSearchStatus(t, id, order.StatusCancelled)
			h := e.replayAndRecord(t, id, "cancelled_in_progress")
			t.Logf("cancelled_in_progress: %d events", len(h.Events))
		})

		// Order E: nobody accepts; the negotiation expires after 3.6 s.
		t.Run("expired", func(t *testing.T) {
			t.Parallel()
			p := e.newPair(t)
			id := e.create(t, taskQueue, p, "70.00", map[string]string{sysconfig.ProposalExpiryHours: "0.001"})
			final := e.result(t, id)
			require.Equal(t, order.StatusExpired, final.Status)
			require.Equal(t, []string{"create:>negotiating", "expire:negotiating>expired"}, f.Events(t, id))
			require.Equal(t, []string{"0.00/0.00", "0.00/0.00"}, f.Wallets(t, p.client.UserID, p.provider.UserID))
			e.requireSearchStatus(t, id, order.StatusExpired)
			h := e.replayAndRecord(t, id, "expired")
			t.Logf("expired: %d events", len(h.Events))
		})

		// Order F: a refused accept (insufficient funds), a duplicate
		// update, a refused and a valid operator signal.
		t.Run("signals_and_duplicates", func(t *testing.T) {
			t.Parallel()
			p := e.newPair(t)
			f.Deposit(t, p.client.UserID, "50.00")
			id := e.create(t, taskQueue, p, "80.00", nil)

			// Accepting without the client's funds is refused by the
			// activity, after the update was admitted: it costs history.
			before := len(e.history(t, id).Events)
			e.refused(t, id, ordem.EInsufficientFunds, order.ActionAccept, order.AcceptInput{Actor: p.provider})
			perFailedAccept := len(e.history(t, id).Events) - before
			t.Logf("one accept refused by the activity (insufficient funds) adds %d history events", perFailedAccept)
			require.Equal(t, order.StatusNegotiating, e.query(t, id).Status)

			// A validator refusal writes nothing to history.
			before = len(e.history(t, id).Events)
			e.refused(t, id, ordem.EForbidden, order.ActionDeliver, order.DeliverInput{Actor: p.client})
			require.Equal(t, before, len(e.history(t, id).Events), "a rejected update leaves no history")

			f.Deposit(t, p.client.UserID, "950.00")
			first, err := e.update(id, "accept-once", string(order.ActionAccept), order.AcceptInput{Actor: p.provider})
			require.NoError(t, err)
			require.Equal(t, order.StatusInProgress, first.Status)
			again, err := e.update(id, "accept-once", string(order.ActionAccept), order.AcceptInput{Actor: p.provider})
			require.NoError(t, err, "the duplicate returns the first result")
			require.Equal(t, first, again)
			require.Equal(t, []string{"920.00/80.00", "0.00/0.00"}, f.Wallets(t, p.client.UserID, p.provider.UserID))
			require.Equal(t, 1, e.ledgerTxns(t, id, "hold"))
			e.requireDescribedStatus(t, id, order.StatusInProgress)

			// Invalid signal: the provider cannot confirm.
			before = len(e.history(t, id).Events)
			require.NoError(t, e.c.SignalWorkflow(context.Background(), order.WorkflowID(id), "", string(order.ActionConfirm),
				order.ConfirmInput{Actor: p.provider}))
			require.Eventually(t, func() bool { return e.events(id, string(order.ActionConfirm), true) == 1 },
				20*time.Second, 20*time.Millisecond, "refused signal recorded")
			var code, from, to string
			require.NoError(t, f.Pool.QueryRow(context.Background(),
				`SELECT data->>'code', from_status, to_status FROM order_events WHERE order_id = $1 AND refused`, id).Scan(&code, &from, &to))
			require.Equal(t, ordem.EForbidden, code)
			require.Equal(t, "in_progress", from)
			require.Equal(t, "in_progress", to)
			require.Equal(t, order.StatusInProgress, e.query(t, id).Status)
			require.Equal(t, []string{"920.00/80.00", "0.00/0.00"}, f.Wallets(t, p.client.UserID, p.provider.UserID))
			require.Eventually(t, func() bool { h, err := e.tryHistory(id); return err == nil && settled(h, before, 1) },
				10*time.Second, 20*time.Millisecond, "refusal settled in history")
			perRefusedSignal := len(e.history(t, id).Events) - before
			t.Logf("one refused signal adds %d history events", perRefusedSignal)

			// Valid signal: the provider delivers from the CLI / Web UI.
			require.NoError(t, e.c.SignalWorkflow(context.Background(), order.WorkflowID(id), "", string(order.ActionDeliver),
				order.DeliverInput{Actor: p.provider}))
			require.Eventually(t, func() bool { st, err := e.tryQuery(id); return err == nil && st.Status == order.StatusDelivered },
				20*time.Second, 20*time.Millisecond, "delivered by signal")
			e.requireDescribedStatus(t, id, order.StatusDelivered)

			e.act(t, id, order.ActionConfirm, order.ConfirmInput{Actor: p.client})
			final := e.result(t, id)
			require.Equal(t, order.StatusCompleted, final.Status)
			require.Equal(t, []string{"920.00/0.00", "76.00/0.00"}, f.Wallets(t, p.client.UserID, p.provider.UserID))
			require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress", "confirm:in_progress>in_progress!refused",
				"deliver:in_progress>delivered", "confirm:delivered>completed"}, f.Events(t, id))
			addRevenue("4.00")
			e.requireSearchStatus(t, id, order.StatusCompleted)
			h := e.replayAndRecord(t, id, "signals")
			t.Logf("signals_and_duplicates: %d events", len(h.Events))
		})

		// Order G: the worst case the caps allow, on a worker with
		// auto-confirm disabled so every deadline also writes a held
		// alert: 9 counter-proposals (MaxProposals = 10 versions), accept,
		// deliver, 6 deadlines each with a reminder (5 of them held and
		// extended, MaxExtensions = 5), contest, dispute SLA reminder,
		// 10 pieces of evidence (MaxEvidence), every superseded timer
		// fired, resolve.
		// Order S, 100.00 on its own pair (issue 17.1): contested; the
		// client asks a 50.00 refund, the provider offers 20.00, the
		// client accepts the counter: the money of a ruling with R = 20.
		t.Run("settled", func(t *testing.T) {
			t.Parallel()
			p := e.newPair(t)
			f.Deposit(t, p.client.UserID, "110.00")
			id := e.create(t, taskQueue, p, "100.00", nil)
			e.act(t, id, order.ActionAccept, order.AcceptInput{Actor: p.provider})
			e.act(t, id, order.ActionDeliver, order.DeliverInput{Actor: p.provider})
			st := e.act(t, id, order.ActionContest, order.ContestInput{Actor: p.client, Reason: "incompleto"})
			require.Nil(t, st.QueuedAt(), "negotiating first")
			e.act(t, id, order.ActionOfferSettlement, order.OfferSettlementInput{Actor: p.client, RefundAmount: d("50.00"), Note: "metade"})
			e.act(t, id, order.ActionOfferSettlement, order.OfferSettlementInput{Actor: p.provider, RefundAmount: d("20.00")})
			e.refused(t, id, ordem.ESettlementChanged, order.ActionAcceptSettlement, order.AcceptSettlementInput{Actor: p.client, OfferVersion: 1})
			st = e.act(t, id, order.ActionAcceptSettlement, order.AcceptSettlementInput{Actor: p.client, OfferVersion: 2})
			require.Equal(t, order.StatusResolved, st.Status)
			final := e.result(t, id)
			require.Equal(t, order.ResolvedBySettlement, final.ResolvedBy)
			// Client: 20.00 + the 10.00 contestation fee back; provider
			// 80.00 − 5% = 76.00; platform 4.00.
			require.Equal(t, []string{"30.00/0.00", "76.00/0.00"}, f.Wallets(t, p.client.UserID, p.provider.UserID))
			require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress", "deliver:in_progress>delivered",
				"contest:delivered>disputed", "offer_settlement:disputed>disputed", "offer_settlement:disputed>disputed",
				"accept_settlement:disputed>resolved"}, f.Events(t, id))
			addRevenue("4.00")
			h := e.replayAndRecord(t, id, "settled")
			t.Logf("settled: %d events", len(h.Events))
		})

		// Order R, 100.00 on its own pair (issue 17.2): delivered, sent
		// back for a revision, delivered again and confirmed.
		t.Run("revised", func(t *testing.T) {
			t.Parallel()
			p := e.newPair(t)
			f.Deposit(t, p.client.UserID, "100.00")
			id := e.create(t, taskQueue, p, "100.00", nil)
			e.act(t, id, order.ActionAccept, order.AcceptInput{Actor: p.provider})
			e.act(t, id, order.ActionDeliver, order.DeliverInput{Actor: p.provider})
			st := e.act(t, id, order.ActionRequestRevision, order.RequestRevisionInput{Actor: p.client, Reason: "faltou a porta"})
			require.Equal(t, order.StatusInProgress, st.Status)
			require.Nil(t, st.ConfirmDeadline)
			st = e.act(t, id, order.ActionDeliver, order.DeliverInput{Actor: p.provider})
			require.NotNil(t, st.ConfirmDeadline)
			e.act(t, id, order.ActionConfirm, order.ConfirmInput{Actor: p.client})
			final := e.result(t, id)
			require.Equal(t, 1, final.Revisions)
			require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, f.Wallets(t, p.client.UserID, p.provider.UserID))
			require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress", "deliver:in_progress>delivered",
				"request_revision:delivered>in_progress", "deliver:in_progress>delivered", "confirm:delivered>completed"}, f.Events(t, id))
			addRevenue("5.00")
			e.requireSearchStatus(t, id, order.StatusCompleted)
			h := e.replayAndRecord(t, id, "revised")
			t.Logf("revised: %d events", len(h.Events))
		})

		t.Run("worst_case", func(t *testing.T) {
			t.Parallel()
			p := e.newPair(t)
			f.Deposit(t, p.client.UserID, "1000.00")
			id := e.create(t, heldTaskQueue, p, "100.00", map[string]string{
				// Windows of seconds, not fractions of one: under a loaded
				// machine (the whole suite in parallel) a reminder due
				// 0.36 s after an extension could be overtaken by the
				// extension's own activity.
				sysconfig.ProposalExpiryHours:       "0.002",  // 7.2 s: its timers fire later
				sysconfig.ConfirmationDeadlineHours: "0.001",  // 3.6 s
				sysconfig.ConfirmationReminderHours: "0.0007", // reminder after 1.08 s
				sysconfig.DisputeSLAHours:           "0.0005",
				sysconfig.DisputeNegotiationHours:   "0.0005",
			})
			var st order.State
			for v := 2; v <= order.MaxProposals; v++ {
				by := p.provider
				if v%2 == 1 {
					by = p.client
				}
				st = e.act(t, id, order.ActionPropose, order.ProposeInput{Actor: by, Amount: d(fmt.Sprintf("%d.00", 100+v)), Note: "contraproposta"})
				require.Equal(t, v, st.ProposalVersion)
			}
			e.refused(t, id, ordem.EInvalidTransition, order.ActionPropose, order.ProposeInput{Actor: p.client, Amount: d("1.00")})
			e.act(t, id, order.ActionAccept, order.AcceptInput{Actor: p.client})
			e.act(t, id, order.ActionDeliver, order.DeliverInput{Actor: p.provider})
			for k := 1; k <= order.MaxExtensions; k++ {
				e.waitEvents(t, id, order.ReminderConfirmation, k)
				e.waitEvents(t, id, "auto_confirm_held", k)
				// The activity writes the event before the workflow, on its
				// return, records the hold in its state.
				require.Eventually(t, func() bool { return e.query(t, id).AutoConfirmHeld }, 10*time.Second, 20*time.Millisecond)
				st = e.act(t, id, order.ActionExtendDeadline, order.ExtendDeadlineInput{Actor: e.admin(), Hours: d("0.001"), Reason: "cliente viajando"})
				require.Equal(t, k, st.Extensions)
				require.False(t, st.AutoConfirmHeld)
			}
			e.waitEvents(t, id, order.ReminderConfirmation, order.MaxExtensions+1)
			e.act(t, id, order.ActionContest, order.ContestInput{Actor: p.client, Reason: "incompleto"})
			e.waitEvents(t, id, order.ReminderDisputeSLA, 1)
			for i := 0; i < order.MaxEvidence; i++ {
				by := []order.Actor{p.client, p.provider, e.admin()}[i%3]
				e.act(t, id, order.ActionAddEvidence, withActor(e.nextEvidence(t), by))
			}
			extra := withActor(e.nextEvidence(t), p.client)
			e.refused(t, id, ordem.EInvalidTransition, order.ActionAddEvidence, extra)
			require.NoError(t, e.store.Delete(context.Background(), extra.StagingKey)) // as the API does
			require.Len(t, e.recordedEvidence(t, id), order.MaxEvidence)
			require.Len(t, e.objectKeys(t, fmt.Sprintf("evidence/%d/", id)), order.MaxEvidence)
			e.waitTimersFired(t, id)
			e.act(t, id, order.ActionResolve, order.ResolveInput{Actor: e.admin(), RefundAmount: decimal.Zero, Reason: "entregue"})
			final := e.result(t, id)
			require.Equal(t, order.StatusResolved, final.Status)
			// 110.00: fee 5.50, provider 104.50; R = 0 forfeits the 10.00
			// contestation fee to the platform.
			require.Equal(t, "15.50", final.Outcome.PlatformRevenue.StringFixed(2))
			require.Equal(t, []string{"880.00/0.00", "104.50/0.00"}, f.Wallets(t, p.client.UserID, p.provider.UserID))
			addRevenue("15.50")
			h := e.replayAndRecord(t, id, "worst_case")
			t.Logf("worst case allowed by the caps (auto-confirm held at every deadline): %d events; %d with every timer in its own workflow task",
				len(h.Events), realTimeEvents(h))
		})
	})

	// The three main orders of f.Client: 1000 − 200 − 100 − 300 + 100
	// (refund) = 500.00; provider 190 + 95 + 190 = 475.00.
	require.Equal(t, []string{"500.00/0.00", "475.00/0.00"}, f.Wallets(t, f.Client, f.Provider))
	require.Equal(t, revenue.StringFixed(2), f.Revenue(t))
	require.Equal(t, "53.50", f.Revenue(t))
	f.RequireLedgerClean(t)
	requireNoOpenHolds(t, e)
	require.Empty(t, e.objectKeys(t, storage.StagingPrefix), "every staged upload was promoted")
	t.Logf("integration test: %s", time.Since(started).Round(time.Millisecond))
}

// requireNoOpenHolds checks every user's blocked balance is zero once
// every order is closed.
func requireNoOpenHolds(t *testing.T, e *it) {
	t.Helper()
	rows, err := e.f.Pool.Query(context.Background(),
		`SELECT code FROM ledger_accounts WHERE kind = 'blocked' AND balance <> 0`)
	require.NoError(t, err)
	codes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, codes, "blocked balances after every order closed")
}
