package order_test

import (
	"errors"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/workflows/order"
)

func dp(s string) *decimal.Decimal {
	v := d(s)
	return &v
}

// Ensure no party can make an order unable to move with actions that are
// accepted and then refused (each one an update Temporal counts): after
// order.FreeRefusals the actor's next attempts are refused by the
// validator, which costs no history, until a cooldown passes; the other
// party's actions are untouched.
func TestRefusedActionsAreBounded(t *testing.T) {
	t.Run("Ensure a provider without the penalty cannot freeze the client's escrow", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "150.00")
		h.toInProgress()
		// The provider has no balance: each cancellation reaches the
		// activity and is refused for the 15.00 penalty.
		attempts := order.FreeRefusals + 3
		for i := range attempts {
			h.update(label("provider-cancel", i), 2*time.Minute+time.Duration(i)*10*time.Second, order.ActionCancel,
				order.CancelInput{Actor: h.provider(), ExpectedPenalty: dp("15.00")})
		}
		// After the cooldown (1 minute) one more attempt is admitted.
		h.update("after-cooldown", 2*time.Minute+time.Duration(attempts)*10*time.Second+2*time.Minute, order.ActionCancel,
			order.CancelInput{Actor: h.provider(), ExpectedPenalty: dp("15.00")})
		h.update("client-cancel", time.Hour, order.ActionCancel, order.CancelInput{Actor: h.client(), ExpectedPenalty: dp("15.00")})
		final := h.run(h.input("150.00"))

		for i := range attempts {
			o := h.outcomes[label("provider-cancel", i)]
			require.True(t, o.done)
			if i < order.FreeRefusals {
				require.Equal(t, ordem.EInsufficientFunds, o.code(), "attempt %d", i)
				require.False(t, o.rejected, "attempt %d reached the activity", i)
			} else {
				require.Equal(t, ordem.ERateLimited, o.code(), "attempt %d", i)
				require.True(t, o.rejected, "attempt %d is refused by the validator: no history", i)
				require.Positive(t, order.RetryAfter(o.err), "a rate-limited refusal says when to retry")
			}
		}
		after := h.requireOutcome("after-cooldown", ordem.EInsufficientFunds)
		require.False(t, after.rejected)
		h.requireOutcome("client-cancel", "")
		require.Equal(t, order.StatusCancelled, final.Status)
		// The client paid the 10% penalty to the provider.
		require.Equal(t, []string{"135.00/0.00", "15.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})

	t.Run("Ensure one actor can have only a few updates running at once", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "150.00")
		h.toInProgress()
		outcomes := make([]*outcome, order.MaxInFlightPerActor+2)
		h.at(2*time.Minute, func() {
			for i := range outcomes {
				o := &outcome{}
				outcomes[i] = o
				h.env.UpdateWorkflow(string(order.ActionCancel), "", updateCallback(o),
					order.CancelInput{Actor: h.provider(), ExpectedPenalty: dp("15.00")})
			}
		})
		h.update("client-cancel", time.Hour, order.ActionCancel, order.CancelInput{Actor: h.client(), ExpectedPenalty: dp("15.00")})
		h.run(h.input("150.00"))
		for i, o := range outcomes {
			require.True(t, o.done, i)
			if i < order.MaxInFlightPerActor {
				require.Equal(t, ordem.EInsufficientFunds, o.code(), i)
			} else {
				require.Equal(t, ordem.ERateLimited, o.code(), i)
				require.True(t, o.rejected, i)
			}
		}
		h.requireOutcome("client-cancel", "")
	})
}

// Ensure an action applies to the state its actor saw, or is refused and
// changes nothing: accept names the proposal, If-Match the order's
// version, cancel the penalty agreed to.
func TestPreconditions(t *testing.T) {
	t.Run("Ensure accept of a superseded proposal is refused and nothing is held", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "5000.00")
		h.update("counter", time.Minute, order.ActionPropose, order.ProposeInput{Actor: h.provider(), Amount: d("4000.00")})
		h.update("stale", 2*time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.client(), ProposalVersion: 1})
		var between []string
		h.at(3*time.Minute, func() { between = h.f.Wallets(t, h.f.Client) })
		h.update("accept", 4*time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.client(), ProposalVersion: 2})
		h.closeByAdmin(time.Hour)
		h.run(h.input("50.00"))
		stale := h.requireOutcome("stale", ordem.EProposalChanged)
		require.True(t, stale.rejected)
		require.Equal(t, []string{"5000.00/0.00"}, between)
		accepted := h.requireOutcome("accept", "")
		require.Equal(t, "4000.00", accepted.state.Amount.StringFixed(2))
	})

	t.Run("Ensure If-Match of an older version is refused", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "100.00")
		var created order.State
		h.at(30*time.Second, func() { created = h.query() })
		h.update("propose", time.Minute, order.ActionPropose, order.ProposeInput{Actor: h.provider(), IfVersion: 1, Amount: d("90.00")})
		h.update("stale", 2*time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.client(), IfVersion: 1})
		h.update("fresh", 3*time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.client(), IfVersion: 2})
		h.closeByAdmin(time.Hour)
		final := h.run(h.input("100.00"))
		require.Equal(t, 1, created.Version)
		proposed := h.requireOutcome("propose", "")
		require.Equal(t, 2, proposed.state.Version)
		require.True(t, h.requireOutcome("stale", ordem.EPreconditionFailed).rejected)
		require.Equal(t, 3, h.requireOutcome("fresh", "").state.Version)
		require.Equal(t, 4, final.Version)
		require.Equal(t, 4, h.f.OrderVersion(t, h.id), "the read model keeps the same version")
	})

	t.Run("Ensure a cancellation charging another penalty than the one agreed is refused", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "100.00")
		h.toInProgress()
		// The client saw 0.00 while negotiating; the accept came first.
		h.update("unseen", 2*time.Minute, order.ActionCancel, order.CancelInput{Actor: h.client(), ExpectedPenalty: dp("0.00")})
		var between []string
		h.at(3*time.Minute, func() { between = h.f.Wallets(t, h.f.Client, h.f.Provider) })
		h.update("agreed", 4*time.Minute, order.ActionCancel, order.CancelInput{Actor: h.client(), ExpectedPenalty: dp("10.00")})
		final := h.run(h.input("100.00"))
		require.True(t, h.requireOutcome("unseen", ordem.EPenaltyChanged).rejected)
		require.Equal(t, []string{"0.00/100.00", "0.00/0.00"}, between)
		h.requireOutcome("agreed", "")
		require.Equal(t, order.StatusCancelled, final.Status)
		require.Equal(t, []string{"90.00/0.00", "10.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})
}

// Ensure an order continues as new when the server suggests it, carrying
// its whole state: the next run keeps the refusal record, starts the
// pending timers again and moves the money exactly once.
func TestContinueAsNew(t *testing.T) {
	f := newHarness(t).f
	h := newHarnessOn(t, f)
	h.f.Deposit(t, h.f.Client, "100.00")
	h.toDelivered()
	// The client contests without the fee's funds until refused by the
	// validator, then the server suggests continuing as new.
	for i := range order.FreeRefusals {
		h.update(label("contest", i), 2*time.Hour+time.Duration(i)*time.Second, order.ActionContest,
			order.ContestInput{Actor: h.client(), Reason: "sem fundos"})
	}
	h.at(3*time.Hour, func() { h.env.SetContinueAsNewSuggested(true) })
	h.env.ExecuteWorkflow(order.WorkflowName, h.input("100.00"))
	require.True(t, h.env.IsWorkflowCompleted())
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(h.env.GetWorkflowError(), &can), "continued as new: %v", h.env.GetWorkflowError())
	require.Equal(t, order.WorkflowName, can.WorkflowType.Name)
	var next order.Input
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.NotNil(t, next.Continued)
	require.Equal(t, order.StatusDelivered, next.Continued.State.Status)
	require.Equal(t, 3, next.Continued.State.Version)
	require.Equal(t, order.FreeRefusals, next.Continued.Actors["client:"+itoa(h.f.Client)+":contest"].Refused)

	// The next run, on the same database: the client's budget is spent,
	// the deadline (36 h after the delivery, an hour in) still stands.
	h2 := newHarnessOn(t, f)
	h2.id = h.id
	h2.update("contest-again", time.Minute, order.ActionContest, order.ContestInput{Actor: h2.client(), Reason: "de novo"})
	deadline := *next.Continued.State.ConfirmDeadline
	final := h2.run(next)
	require.True(t, h2.requireOutcome("contest-again", ordem.ERateLimited).rejected)
	require.Equal(t, order.StatusCompleted, final.Status)
	require.True(t, final.AutoConfirmed)
	require.Equal(t, deadline, *final.ConfirmDeadline)
	require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	require.Equal(t, "5.00", h.f.Revenue(t))
	// The reminder before the deadline was sent once, by the second run.
	require.Equal(t, map[int64]int{h.f.Client: 1}, h.f.Notifications(t, h.id, order.ReminderConfirmation))
}

func label(prefix string, i int) string { return prefix + "-" + itoa(int64(i)) }

func itoa(n int64) string { return decimal.NewFromInt(n).String() }
