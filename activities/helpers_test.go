package activities_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/internal/ordertest"
	"github.com/ordem/ordem/internal/s3test"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/workflows/order"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// t0 is when every order under test is created; whole seconds, so times
// survive Postgres' microsecond precision unchanged.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// newEnv returns an SDK activity test environment with the activities
// registered under their contract names: each call goes through the real
// registration, payload encoding and activity context (logger included).
func newEnv(acts *activities.Activities) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	env := suite.NewTestActivityEnvironment()
	acts.Register(env)
	return env
}

// orderRun drives one order through the activities in the order the
// workflow would, building each input exactly as workflows/order does and
// keeping the order's State like the workflow (committed only on success).
type orderRun struct {
	t    *testing.T
	f    *ordertest.Fixture
	acts *activities.Activities
	env  *testsuite.TestActivityEnvironment
	// store is the evidence store (withStore); nil until a test needs it.
	store *storage.Store
	id    int64
	st    order.State
	now   time.Time
	// refusals numbers recorded refusals like the workflow does.
	refusals int
}

func newRun(t *testing.T, f *ordertest.Fixture) *orderRun {
	t.Helper()
	acts := &activities.Activities{Pool: f.Pool, AutoConfirmEnabled: true}
	return &orderRun{t: t, f: f, acts: acts, env: newEnv(acts), id: f.NextOrderID(t), now: t0}
}

// newEvidenceStore starts a real S3-compatible server (versitygw) for t
// and returns a store over a fresh bucket. Only the tests that attach
// evidence start one.
func newEvidenceStore(t *testing.T) *storage.Store {
	t.Helper()
	srv := s3test.Start(t)
	st, err := storage.New(storage.Options{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t),
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, UsePathStyle: true})
	require.NoError(t, err)
	return st
}

// withStore gives the run's activities the evidence store st.
func (r *orderRun) withStore(st *storage.Store) *orderRun {
	r.store = st
	r.acts.Evidence = st
	r.env = newEnv(r.acts)
	return r
}

// autoConfirmDisabled switches AUTO_CONFIRM_JOB_ENABLED off for this run.
func (r *orderRun) autoConfirmDisabled() *orderRun {
	r.acts.AutoConfirmEnabled = false
	r.env = newEnv(r.acts)
	return r
}

func (r *orderRun) client() order.Actor {
	return order.Actor{UserID: r.f.Client, Role: ordem.RoleClient}
}

func (r *orderRun) provider() order.Actor {
	return order.Actor{UserID: r.f.Provider, Role: ordem.RoleProvider}
}

func (r *orderRun) admin() order.Actor { return order.Actor{UserID: r.f.Admin, Role: ordem.RoleAdmin} }

// advance moves the run's clock.
func (r *orderRun) advance(dur time.Duration) { r.now = r.now.Add(dur) }

// exec runs one activity by name; out (if not nil) receives its result.
func (r *orderRun) exec(name string, in any, out any) error {
	r.t.Helper()
	v, err := r.env.ExecuteActivity(name, in)
	if err != nil {
		return err
	}
	if out != nil {
		require.NoError(r.t, v.Get(out))
	}
	return nil
}

// input is the order as the API starts it: amount from the client to the
// fixture's provider.
func (r *orderRun) input(amount string, due *time.Time) order.Input {
	return order.Input{OrderID: r.id, ClientID: r.f.Client, ProviderID: r.f.Provider, Title: "Pintura da sala",
		Description: "Duas demãos", Amount: d(amount), DueDate: due}
}

// createInput prepares the workflow's initial state for in (as the
// workflow does, order.NewState) and returns the CreateOrder input.
func (r *orderRun) createInput(in order.Input) order.CreateOrderInput {
	r.st = order.NewState(in, r.now)
	return r.st.CreateInput()
}

// createWith runs CreateOrder for in and, on success, completes the state
// as the workflow does.
func (r *orderRun) createWith(in order.Input) (order.CreateOrderResult, error) {
	r.t.Helper()
	var res order.CreateOrderResult
	if err := r.exec(order.ActivityCreateOrder, r.createInput(in), &res); err != nil {
		return res, err
	}
	r.st = r.st.WithTerms(res.Terms)
	return res, nil
}

// create creates an order of amount (no due date) and requires success.
func (r *orderRun) create(amount string) order.CreateOrderResult {
	r.t.Helper()
	res, err := r.createWith(r.input(amount, nil))
	require.NoError(r.t, err)
	require.False(r.t, res.Replayed)
	return res
}

// call is one prepared transition: the step the workflow takes (the
// activity, its input and the state it commits when it succeeds).
type call = order.Step

// permit checks the transition table as the workflow's update validator
// does, so every prepared call is one the workflow would make.
func (r *orderRun) permit(action order.Action, actor order.Actor) {
	r.t.Helper()
	require.NoError(r.t, r.st.Permit(action, actor, r.now), "workflow would refuse %s by %s", action, actor.Role)
}

// run executes c; on success the run's state becomes c.Next.
func (r *orderRun) run(c call) (order.TransitionResult, error) {
	r.t.Helper()
	var res order.TransitionResult
	if err := r.exec(c.Activity, c.Input, &res); err != nil {
		return res, err
	}
	r.st = c.Next
	return res, nil
}

// must executes c, requiring a first (not replayed) success.
func (r *orderRun) must(c call) order.TransitionResult {
	r.t.Helper()
	res, err := r.run(c)
	require.NoError(r.t, err, "%s", c.Activity)
	require.False(r.t, res.Replayed, "%s replayed on its first run", c.Activity)
	return res
}

// replay executes c again and requires that nothing new was written.
func (r *orderRun) replay(c call) order.TransitionResult {
	r.t.Helper()
	res, err := r.run(c)
	require.NoError(r.t, err, "%s", c.Activity)
	require.True(r.t, res.Replayed, "%s replay must report Replayed", c.Activity)
	return res
}

// The calls below check the rules as the workflow's validator does, then
// build the step with the workflow's own transitions (transitions.go).

func (r *orderRun) propose(actor order.Actor, amount string, due *time.Time, note string) call {
	r.t.Helper()
	r.permit(order.ActionPropose, actor)
	in := order.ProposeInput{Actor: actor, Amount: d(amount), DueDate: due, Note: note}
	require.NoError(r.t, in.Validate(r.now))
	return r.st.Propose(in, r.now)
}

func (r *orderRun) accept(actor order.Actor) call {
	r.t.Helper()
	r.permit(order.ActionAccept, actor)
	return r.st.Accept(order.AcceptInput{Actor: actor}, r.now)
}

func (r *orderRun) deliver() call {
	r.t.Helper()
	r.permit(order.ActionDeliver, r.provider())
	return r.st.Deliver(order.DeliverInput{Actor: r.provider()}, r.now)
}

func (r *orderRun) cancel(actor order.Actor, reason string) call {
	r.t.Helper()
	r.permit(order.ActionCancel, actor)
	in := order.CancelInput{Actor: actor, Reason: reason}
	require.NoError(r.t, in.Validate())
	return r.st.Cancel(in, r.now)
}

func (r *orderRun) confirm() call {
	r.t.Helper()
	r.permit(order.ActionConfirm, r.client())
	return r.st.Confirm(order.ConfirmInput{Actor: r.client()}, r.now)
}

// autoConfirmInput is the workflow's auto-confirm step's input.
func (r *orderRun) autoConfirmInput() order.ReleaseInput {
	r.t.Helper()
	require.Equal(r.t, order.StatusDelivered, r.st.Status)
	return r.st.AutoConfirm(r.now).Input.(order.ReleaseInput)
}

// autoConfirm runs AutoConfirmOrder with in and commits what the workflow
// would: the completed state, or the held one.
func (r *orderRun) autoConfirm(in order.ReleaseInput) (order.AutoConfirmResult, error) {
	r.t.Helper()
	var res order.AutoConfirmResult
	if err := r.exec(order.ActivityAutoConfirm, in, &res); err != nil {
		return res, err
	}
	if res.Held {
		r.st = r.st.Held(order.Step{Activity: order.ActivityAutoConfirm, Input: in, Next: in.Next})
	} else {
		r.st = in.Next
	}
	return res, nil
}

func (r *orderRun) contest(reason string) call {
	r.t.Helper()
	r.permit(order.ActionContest, r.client())
	in := order.ContestInput{Actor: r.client(), Reason: reason}
	require.NoError(r.t, in.Validate())
	return r.st.Contest(in, r.now)
}

// evidence is a valid uploaded file record with the given id (a UUID).
func evidence(actor order.Actor, id, name string) order.AddEvidenceInput {
	return order.AddEvidenceInput{Actor: actor, EvidenceID: id, StagingKey: "staging/" + id, FileName: name,
		Extension: "pdf", ContentType: "application/pdf", Size: 2048, SHA256: strings.Repeat("ab", 32),
		Description: "foto da parede"}
}

// stage uploads in.Size real bytes (a PDF header, then padding) to the
// store's staging area, as the API does, and returns in with the staging
// key and digest of what was stored.
func (r *orderRun) stage(in order.AddEvidenceInput) order.AddEvidenceInput {
	r.t.Helper()
	require.NotNil(r.t, r.store, "stage needs withStore")
	data := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte(in.EvidenceID[:8]), int(in.Size))...)[:in.Size]
	staged, err := r.store.PutStaging(context.Background(), bytes.NewReader(data), in.Size, in.ContentType)
	require.NoError(r.t, err)
	sum := sha256.Sum256(data)
	require.Equal(r.t, hex.EncodeToString(sum[:]), staged.SHA256)
	in.StagingKey, in.SHA256, in.Size = staged.Key, staged.SHA256, staged.Size
	return in
}

// objectSHA256 returns the hex SHA-256 of the object at key, "" when the
// object does not exist.
func objectSHA256(t *testing.T, st *storage.Store, key string) string {
	t.Helper()
	ok, err := st.Exists(context.Background(), key)
	require.NoError(t, err)
	if !ok {
		return ""
	}
	out, err := st.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(st.Bucket()), Key: aws.String(key)})
	require.NoError(t, err)
	defer out.Body.Close()
	h := sha256.New()
	_, err = io.Copy(h, out.Body)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

// objectKeys lists the bucket's keys under prefix, sorted; nil if none.
func objectKeys(t *testing.T, st *storage.Store, prefix string) []string {
	t.Helper()
	out, err := st.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket()),
		Prefix: aws.String(prefix)})
	require.NoError(t, err)
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func (r *orderRun) addEvidence(in order.AddEvidenceInput) call {
	r.t.Helper()
	r.permit(order.ActionAddEvidence, in.Actor)
	require.NoError(r.t, in.Validate())
	return r.st.AddEvidence(in, r.now)
}

func (r *orderRun) resolve(refund, reason string) call {
	r.t.Helper()
	r.permit(order.ActionResolve, r.admin())
	in := order.ResolveInput{Actor: r.admin(), RefundAmount: d(refund), Reason: reason}
	require.NoError(r.t, in.Validate(r.st.Amount))
	step, err := r.st.Resolve(in, r.now)
	require.NoError(r.t, err)
	return step
}

func (r *orderRun) extend(hours, reason string) call {
	r.t.Helper()
	r.permit(order.ActionExtendDeadline, r.admin())
	in := order.ExtendDeadlineInput{Actor: r.admin(), Hours: d(hours), Reason: reason}
	require.NoError(r.t, in.Validate())
	return r.st.ExtendDeadline(in, r.now)
}

func (r *orderRun) expire() call {
	r.t.Helper()
	require.Equal(r.t, order.StatusNegotiating, r.st.Status)
	return r.st.Expire(r.now)
}

func (r *orderRun) reminder(kind, step string, deadline time.Time) order.ReminderInput {
	return order.ReminderInput{OrderID: r.st.OrderID, Step: step, Kind: kind, Deadline: deadline, At: r.now}
}

// refusal mirrors orderWorkflow.recordRefusal for a refused signal.
func (r *orderRun) refusal(action order.Action, actor order.Actor, cause error) order.RefusalInput {
	r.refusals++
	code := order.RefusalCode(cause)
	if code == "" {
		code = ordem.EInternal
	}
	msg := cause.Error()
	var appErr *temporal.ApplicationError
	if errors.As(cause, &appErr) {
		msg = appErr.Message()
	}
	return order.RefusalInput{OrderID: r.st.OrderID, Step: fmt.Sprintf("refused:%d", r.refusals), Action: action,
		Actor: actor, Status: r.st.Status, Code: code, Message: msg, At: r.now}
}

// toDelivered creates an order of amount (client funded with deposit),
// accepts it as the provider and delivers it.
func (r *orderRun) toDelivered(deposit, amount string) {
	r.t.Helper()
	r.toInProgress(deposit, amount)
	r.advance(2 * time.Hour)
	r.must(r.deliver())
}

// toInProgress creates an order and has the provider accept it.
func (r *orderRun) toInProgress(deposit, amount string) {
	r.t.Helper()
	if deposit != "" {
		r.f.Deposit(r.t, r.f.Client, deposit)
	}
	r.create(amount)
	r.advance(time.Hour)
	r.must(r.accept(r.provider()))
}

// toDisputed delivers and has the client contest.
func (r *orderRun) toDisputed(deposit, amount string) {
	r.t.Helper()
	r.toDelivered(deposit, amount)
	r.advance(time.Hour)
	r.must(r.contest("a parede ficou manchada"))
}

// ---- database probes ----

// ledgerKinds lists the kinds of the order's ledger transactions, oldest
// first.
func ledgerKinds(t *testing.T, f *ordertest.Fixture, orderID int64) []string {
	t.Helper()
	rows, err := f.Pool.Query(context.Background(),
		`SELECT kind FROM ledger_transactions WHERE order_id = $1 ORDER BY id`, orderID)
	require.NoError(t, err)
	return collect(t, rows)
}

// ledgerTxCount counts the ledger transactions posted under key.
func ledgerTxCount(t *testing.T, f *ordertest.Fixture, key string) int {
	t.Helper()
	var n int
	require.NoError(t, f.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM ledger_transactions WHERE idempotency_key = $1`, key).Scan(&n))
	return n
}

// legs returns the entries of the ledger transaction posted under key as
// "account=amount", sorted by account.
func legs(t *testing.T, f *ordertest.Fixture, key string) []string {
	t.Helper()
	rows, err := f.Pool.Query(context.Background(), `
		SELECT a.code || '=' || e.amount::text
		FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
		JOIN ledger_accounts a ON a.id = e.account_id
		WHERE t.idempotency_key = $1 ORDER BY a.code`, key)
	require.NoError(t, err)
	return collect(t, rows)
}

func count(t *testing.T, f *ordertest.Fixture, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, f.Pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// snapshot is everything a refused or replayed activity must leave alone.
type snapshot struct {
	row           ordertest.OrderRow
	events        []string
	ledgerTx      int
	entries       int
	notifications int
	wallets       []string
	revenue       string
}

func (r *orderRun) snapshot() snapshot {
	r.t.Helper()
	f, t := r.f, r.t
	return snapshot{
		row:           f.Order(t, r.id),
		events:        f.Events(t, r.id),
		ledgerTx:      count(t, f, `SELECT count(*) FROM ledger_transactions`),
		entries:       count(t, f, `SELECT count(*) FROM ledger_entries`),
		notifications: count(t, f, `SELECT count(*) FROM notifications`),
		wallets:       f.Wallets(t, f.Client, f.Provider),
		revenue:       f.Revenue(t),
	}
}

// extraRow reads the read-model columns OrderRow leaves out.
type extraRow struct {
	DueDate           *time.Time
	ProposalExpiresAt time.Time
	LastProposedBy    int64
	RefundAmount      *decimal.Decimal
	PenaltyAmount     *decimal.Decimal
	AcceptedAt        *time.Time
	DeliveredAt       *time.Time
	ConfirmDeadline   *time.Time
	ContestedAt       *time.Time
	ContestReason     *string
	Extensions        int
	CancelledBy       *int64
	CancelledByRole   *string
	CancelReason      *string
	ResolutionReason  *string
	ClosedAt          *time.Time
	UpdatedAt         time.Time
}

func readExtra(t *testing.T, f *ordertest.Fixture, id int64) extraRow {
	t.Helper()
	var e extraRow
	require.NoError(t, f.Pool.QueryRow(context.Background(), `
		SELECT due_date, proposal_expires_at, last_proposed_by, refund_amount, penalty_amount, accepted_at,
		       delivered_at, confirm_deadline, contested_at, contest_reason, extensions, cancelled_by,
		       cancelled_by_role, cancel_reason, resolution_reason, closed_at, updated_at
		FROM orders WHERE id = $1`, id).Scan(&e.DueDate, &e.ProposalExpiresAt, &e.LastProposedBy, &e.RefundAmount,
		&e.PenaltyAmount, &e.AcceptedAt, &e.DeliveredAt, &e.ConfirmDeadline, &e.ContestedAt, &e.ContestReason,
		&e.Extensions, &e.CancelledBy, &e.CancelledByRole, &e.CancelReason, &e.ResolutionReason, &e.ClosedAt,
		&e.UpdatedAt))
	return e
}

// requireTime compares instants (Postgres returns them in local time).
func requireTime(t *testing.T, want time.Time, got *time.Time, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	require.True(t, want.Equal(*got), "want %s, got %s %v", want, *got, fmt.Sprint(msgAndArgs...))
}

// fixedPtr renders an optional amount for compact asserts.
func fixedPtr(v *decimal.Decimal) string {
	if v == nil {
		return "<nil>"
	}
	return v.StringFixed(2)
}

// balances renders a TransitionResult's balances like Fixture.Wallets.
func balances(b order.Balances) []string {
	return []string{
		b.ClientAvailable.StringFixed(2) + "/" + b.ClientBlocked.StringFixed(2),
		b.ProviderAvailable.StringFixed(2) + "/" + b.ProviderBlocked.StringFixed(2),
		b.PlatformRevenue.StringFixed(2),
	}
}

// requireRefusal requires err to be a non-retryable refusal with code.
func requireRefusal(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, order.RefusalCode(err), "refusal code of %v", err)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.True(t, appErr.NonRetryable(), "a refusal must not be retried")
}

// collect collects a one-column result; empty is nil, for compact asserts.
func collect(t *testing.T, rows pgx.Rows) []string {
	t.Helper()
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	if len(out) == 0 {
		return nil
	}
	return out
}
