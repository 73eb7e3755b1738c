package order_test

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/internal/ordertest"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/s3test"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/worker"
	"github.com/ordem/ordem/workflows/order"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.DropShared()
	os.Exit(code)
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// harness runs one order workflow in the SDK test environment (time
// skipping) with the real activities on a real Postgres database.
type harness struct {
	t   *testing.T
	f   *ordertest.Fixture
	env *testsuite.TestWorkflowEnvironment
	id  int64
	// outcomes of the scheduled actions, by label
	outcomes map[string]*outcome
	start    time.Time
}

type outcome struct {
	state    order.State
	err      error
	rejected bool // refused by the validator (nothing in history)
	done     bool
}

// code is the refusal code of the outcome, "" on success.
func (o *outcome) code() string {
	if o.err == nil {
		return ""
	}
	if c := order.RefusalCode(o.err); c != "" {
		return c
	}
	return "error: " + o.err.Error()
}

type option func(*activities.Activities)

func autoConfirmDisabled(a *activities.Activities) { a.AutoConfirmEnabled = false }

// withEvidence gives the activities the evidence store st.
func withEvidence(st *storage.Store) option {
	return func(a *activities.Activities) { a.Evidence = st }
}

// newEvidenceStore starts a real S3-compatible server (versitygw) for t
// and returns a store over a fresh bucket. Only the tests that attach
// evidence start one, so the others stay fast.
func newEvidenceStore(t *testing.T) *storage.Store {
	t.Helper()
	srv := s3test.Start(t)
	st, err := storage.New(storage.Options{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, UsePathStyle: true})
	require.NoError(t, err)
	return st
}

func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	f := ordertest.New(t)
	return newHarnessOn(t, f, opts...)
}

func newHarnessOn(t *testing.T, f *ordertest.Fixture, opts ...option) *harness {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(60 * time.Second)
	acts := &activities.Activities{Pool: f.Pool, AutoConfirmEnabled: true}
	for _, o := range opts {
		o(acts)
	}
	worker.Register(env, acts)
	h := &harness{t: t, f: f, env: env, id: f.NextOrderID(t), outcomes: map[string]*outcome{}}
	h.start = env.Now()
	return h
}

func (h *harness) client() order.Actor {
	return order.Actor{UserID: h.f.Client, Role: ordem.RoleClient}
}
func (h *harness) provider() order.Actor {
	return order.Actor{UserID: h.f.Provider, Role: ordem.RoleProvider}
}
func (h *harness) admin() order.Actor { return order.Actor{UserID: h.f.Admin, Role: ordem.RoleAdmin} }

// input is a 150.00 order from the fixture's client to its provider.
func (h *harness) input(amount string) order.Input {
	return order.Input{OrderID: h.id, ClientID: h.f.Client, ProviderID: h.f.Provider, Title: "Pintura da sala",
		Description: "Duas demãos", Amount: d(amount)}
}

// update schedules an update at offset after the start, labelled label.
func (h *harness) update(label string, after time.Duration, action order.Action, arg any) {
	h.updateWithID(label, "", after, action, arg)
}

func (h *harness) updateWithID(label, updateID string, after time.Duration, action order.Action, arg any) {
	o := &outcome{}
	h.outcomes[label] = o
	h.env.RegisterDelayedCallback(func() {
		h.env.UpdateWorkflow(string(action), updateID, updateCallback(o), arg)
	}, after)
}

// updateCallback records an update's outcome in o.
func updateCallback(o *outcome) *testsuite.TestUpdateCallback {
	return &testsuite.TestUpdateCallback{
		OnAccept: func() {},
		OnReject: func(err error) { o.err, o.rejected, o.done = err, true, true },
		OnComplete: func(v interface{}, err error) {
			o.err, o.done = err, true
			if err == nil {
				o.state = v.(order.State)
			}
		},
	}
}

// signal schedules a signal at offset after the start.
func (h *harness) signal(after time.Duration, action order.Action, arg any) {
	h.env.RegisterDelayedCallback(func() { h.env.SignalWorkflow(string(action), arg) }, after)
}

// at runs fn at offset after the start (e.g. to query or deposit).
func (h *harness) at(after time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, after) }

// query returns the live state.
func (h *harness) query() order.State {
	v, err := h.env.QueryWorkflow(order.QueryState)
	require.NoError(h.t, err)
	var s order.State
	require.NoError(h.t, v.Get(&s))
	return s
}

// run executes the workflow to its end and returns its final state.
func (h *harness) run(in order.Input) order.State {
	h.t.Helper()
	h.env.ExecuteWorkflow(order.WorkflowName, in)
	require.True(h.t, h.env.IsWorkflowCompleted(), "workflow completed")
	var s order.State
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow failed: %v", err)
	}
	require.NoError(h.t, h.env.GetWorkflowResult(&s))
	h.f.RequireLedgerClean(h.t)
	return s
}

// requireOutcome asserts the labelled action ended with code ("" = ok).
func (h *harness) requireOutcome(label, code string) *outcome {
	h.t.Helper()
	o, ok := h.outcomes[label]
	require.True(h.t, ok, "no action labelled %s", label)
	require.True(h.t, o.done, "action %s never finished", label)
	require.Equal(h.t, code, o.code(), "outcome of %s", label)
	return o
}
