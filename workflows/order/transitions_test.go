package order_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/internal/sysconfig"
	"github.com/ordem/ordem/workflows/order"
)

// Default terms (spec §5): 5% platform fee, 10.00 contestation fee, 10%
// cancellation penalty, 36 h to confirm, 72 h proposal expiry, reminder
// 12 h before the deadline.

// toInProgress schedules a provider accept of the client's first proposal.
func (h *harness) toInProgress() {
	h.update("accept", time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.provider()})
}

func (h *harness) toDelivered() {
	h.toInProgress()
	h.update("deliver", time.Hour, order.ActionDeliver, order.DeliverInput{Actor: h.provider()})
}

func (h *harness) toDisputed() {
	h.toDelivered()
	h.update("contest", 2*time.Hour, order.ActionContest, order.ContestInput{Actor: h.client(), Reason: "serviço incompleto"})
}

// closeByAdmin ends an order left open by a test, so the workflow completes.
func (h *harness) closeByAdmin(after time.Duration) {
	h.update("admin-close", after, order.ActionCancel, order.CancelInput{Actor: h.admin(), Reason: "test cleanup"})
}

func TestCreate(t *testing.T) {
	t.Run("Ensure a new order negotiates with the fee snapshot of system config", func(t *testing.T) {
		h := newHarness(t)
		h.f.SetConfig(t, sysconfig.PlatformFeePercentage, "7.5")
		var live order.State
		h.at(time.Second, func() { live = h.query() })
		h.update("cancel", time.Minute, order.ActionCancel, order.CancelInput{Actor: h.client()})
		final := h.run(h.input("150.00"))
		require.Equal(t, order.StatusNegotiating, live.Status)
		require.True(t, live.Created)
		require.Equal(t, "7.5", live.Terms.PlatformFeePercentage.String())
		require.Equal(t, "10", live.Terms.ContestationFee.String())
		require.Equal(t, h.start.Add(72*time.Hour), live.ProposalExpiresAt.Local())
		require.Equal(t, order.StatusCancelled, final.Status)
		require.Equal(t, []string{"0.00/0.00", "0.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})

	t.Run("Ensure an inactive provider fails creation and no order exists", func(t *testing.T) {
		h := newHarness(t)
		_, err := h.f.Pool.Exec(t.Context(), `UPDATE users SET deleted_at = now() WHERE id = $1`, h.f.Provider)
		require.NoError(t, err)
		h.env.ExecuteWorkflow(order.WorkflowName, h.input("150.00"))
		require.Error(t, h.env.GetWorkflowError())
		require.Equal(t, ordem.EValidation, order.RefusalCode(h.env.GetWorkflowError()))
		var n int
		require.NoError(t, h.f.Pool.QueryRow(t.Context(), `SELECT count(*) FROM orders`).Scan(&n))
		require.Zero(t, n)
	})
}

func TestFeeSnapshot(t *testing.T) {
	// Ensure a config change after creation never touches an order in flight.
	h := newHarness(t)
	h.f.Deposit(t, h.f.Client, "100.00")
	h.at(30*time.Second, func() { h.f.SetConfig(t, sysconfig.PlatformFeePercentage, "50") })
	h.toDelivered()
	h.update("confirm", 2*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
	h.run(h.input("100.00"))
	h.requireOutcome("confirm", "")
	require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	require.Equal(t, "5.00", h.f.Revenue(t))
}

func TestPropose(t *testing.T) {
	h := newHarness(t)
	h.f.Deposit(t, h.f.Client, "1000.00")
	due := h.start.Add(10 * 24 * time.Hour)
	h.update("provider-counter", time.Minute, order.ActionPropose, order.ProposeInput{Actor: h.provider(), Amount: d("180.00"), DueDate: &due, Note: "inclui material"})
	h.update("provider-accepts-own", 2*time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.provider()})
	h.update("client-counter", 3*time.Minute, order.ActionPropose, order.ProposeInput{Actor: h.client(), Amount: d("170.00")})
	h.update("stranger", 4*time.Minute, order.ActionPropose, order.ProposeInput{Actor: order.Actor{UserID: h.f.OtherClient, Role: ordem.RoleClient}, Amount: d("1.00")})
	h.update("bad-amount", 5*time.Minute, order.ActionPropose, order.ProposeInput{Actor: h.provider(), Amount: d("10.001")})
	h.update("zero-amount", 5*time.Minute, order.ActionPropose, order.ProposeInput{Actor: h.provider(), Amount: d("0")})
	h.update("past-due", 5*time.Minute, order.ActionPropose, order.ProposeInput{Actor: h.provider(), Amount: d("1.00"), DueDate: &h.start})
	h.update("accept", 6*time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.provider()})
	h.update("propose-after-accept", 7*time.Minute, order.ActionPropose, order.ProposeInput{Actor: h.provider(), Amount: d("1.00")})
	h.closeByAdmin(time.Hour)
	h.run(h.input("150.00"))

	require.Equal(t, 2, h.requireOutcome("provider-counter", "").state.ProposalVersion)
	h.requireOutcome("provider-accepts-own", ordem.EInvalidTransition)
	require.Equal(t, "170", h.requireOutcome("client-counter", "").state.Amount.String())
	h.requireOutcome("stranger", ordem.EForbidden)
	h.requireOutcome("bad-amount", ordem.EValidation)
	h.requireOutcome("zero-amount", ordem.EValidation)
	h.requireOutcome("past-due", ordem.EValidation)
	accepted := h.requireOutcome("accept", "")
	require.Equal(t, "170", accepted.state.Amount.String())
	require.Equal(t, due.Unix(), accepted.state.DueDate.Unix(), "the due date survives a counter-proposal without one")
	h.requireOutcome("propose-after-accept", ordem.EInvalidTransition)

	rows, err := h.f.Pool.Query(t.Context(), `
		SELECT version || ':' || proposer_role || ':' || amount || ':' || coalesce(previous_amount::text, '-') || ':' || note
		FROM order_proposals WHERE order_id = $1 ORDER BY version`, h.id)
	require.NoError(t, err)
	var audit []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		audit = append(audit, s)
	}
	require.Equal(t, []string{"1:client:150.00:-:", "2:provider:180.00:150.00:inclui material", "3:client:170.00:180.00:"}, audit)
}

func TestProposalLimit(t *testing.T) {
	h := newHarness(t)
	for i := 1; i < order.MaxProposals; i++ {
		actor := h.provider()
		if i%2 == 0 {
			actor = h.client()
		}
		h.update("p"+string(rune('a'+i)), time.Duration(i)*time.Minute, order.ActionPropose, order.ProposeInput{Actor: actor, Amount: d("100.00")})
	}
	h.update("one-too-many", time.Hour, order.ActionPropose, order.ProposeInput{Actor: h.client(), Amount: d("100.00")})
	h.closeByAdmin(2 * time.Hour)
	h.run(h.input("150.00"))
	h.requireOutcome("one-too-many", ordem.EInvalidTransition)
	require.Equal(t, order.MaxProposals, h.f.Order(t, h.id).ProposalVersion)
}

func TestAccept(t *testing.T) {
	t.Run("Ensure accept holds the amount in the client's blocked balance", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "200.00")
		h.update("client-accepts-own", 30*time.Second, order.ActionAccept, order.AcceptInput{Actor: h.client()})
		h.update("other-provider", 40*time.Second, order.ActionAccept, order.AcceptInput{Actor: order.Actor{UserID: h.f.OtherProvider, Role: ordem.RoleProvider}})
		h.toInProgress()
		var mid []string
		h.at(10*time.Minute, func() { mid = h.f.Wallets(t, h.f.Client) })
		h.closeByAdmin(time.Hour)
		h.run(h.input("150.00"))
		h.requireOutcome("client-accepts-own", ordem.EInvalidTransition)
		h.requireOutcome("other-provider", ordem.EForbidden)
		require.Equal(t, order.StatusInProgress, h.requireOutcome("accept", "").state.Status)
		require.Equal(t, []string{"50.00/150.00"}, mid)
	})

	t.Run("Ensure accept without funds is refused, changes nothing, and works once funded", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "149.99")
		h.update("poor", time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.provider()})
		var after []string
		var status order.Status
		h.at(2*time.Minute, func() {
			after = h.f.Wallets(t, h.f.Client)
			status = h.query().Status
			h.f.Deposit(t, h.f.Client, "0.01")
		})
		h.update("funded", 3*time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.provider()})
		h.closeByAdmin(time.Hour)
		h.run(h.input("150.00"))
		h.requireOutcome("poor", ordem.EInsufficientFunds)
		require.Equal(t, []string{"149.99/0.00"}, after)
		require.Equal(t, order.StatusNegotiating, status)
		h.requireOutcome("funded", "")
		// The admin cancel returned the hold.
		require.Equal(t, []string{"150.00/0.00"}, h.f.Wallets(t, h.f.Client))
	})
}

func TestProposalExpiry(t *testing.T) {
	t.Run("Ensure a negotiation expires proposal_expiry_hours after the latest proposal", func(t *testing.T) {
		h := newHarness(t)
		h.update("counter", 10*time.Hour, order.ActionPropose, order.ProposeInput{Actor: h.provider(), Amount: d("99.00")})
		var at72 order.Status
		h.at(72*time.Hour+time.Minute, func() { at72 = h.query().Status })
		final := h.run(h.input("150.00"))
		require.Equal(t, order.StatusNegotiating, at72, "the counter-proposal restarted the window")
		require.Equal(t, order.StatusExpired, final.Status)
		require.Equal(t, h.start.Add(82*time.Hour), final.ClosedAt.Local())
		require.Equal(t, map[int64]int{h.f.Client: 1, h.f.Provider: 1}, h.f.Notifications(t, h.id, "order_expired"))
	})

	t.Run("Ensure proposing or accepting at or after expiry is refused", func(t *testing.T) {
		// The expiry timer closes the order at the deadline; the rule also
		// guards the instant before the timer's workflow task runs.
		expires := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		s := order.State{Status: order.StatusNegotiating, ClientID: 1, ProviderID: 2, LastProposedBy: 1, ProposalVersion: 1,
			ProposalExpiresAt: expires, Created: true}
		provider := order.Actor{UserID: 2, Role: ordem.RoleProvider}
		require.NoError(t, s.Permit(order.ActionAccept, provider, expires.Add(-time.Millisecond)))
		for _, a := range []order.Action{order.ActionAccept, order.ActionPropose} {
			require.Equal(t, ordem.EInvalidTransition, order.RefusalCode(s.Permit(a, provider, expires)), a)
		}
	})
}

func TestDeliver(t *testing.T) {
	h := newHarness(t)
	h.f.Deposit(t, h.f.Client, "150.00")
	h.update("too-early", 30*time.Second, order.ActionDeliver, order.DeliverInput{Actor: h.provider()})
	h.toInProgress()
	h.update("client-delivers", 30*time.Minute, order.ActionDeliver, order.DeliverInput{Actor: h.client()})
	h.update("deliver", time.Hour, order.ActionDeliver, order.DeliverInput{Actor: h.provider()})
	h.update("twice", 2*time.Hour, order.ActionDeliver, order.DeliverInput{Actor: h.provider()})
	h.closeByAdmin(3 * time.Hour)
	h.run(h.input("150.00"))
	h.requireOutcome("too-early", ordem.EInvalidTransition)
	h.requireOutcome("client-delivers", ordem.EForbidden)
	s := h.requireOutcome("deliver", "").state
	require.Equal(t, order.StatusDelivered, s.Status)
	require.Equal(t, h.start.Add(time.Hour+36*time.Hour), s.ConfirmDeadline.Local())
	h.requireOutcome("twice", ordem.EInvalidTransition)
	require.Equal(t, map[int64]int{h.f.Client: 1}, h.f.Notifications(t, h.id, "order_delivered"))
}

func TestCancel(t *testing.T) {
	t.Run("Ensure either party cancels a negotiation without money", func(t *testing.T) {
		for _, who := range []string{"client", "provider"} {
			h := newHarness(t)
			actor := h.client()
			if who == "provider" {
				actor = h.provider()
			}
			h.update("cancel", time.Minute, order.ActionCancel, order.CancelInput{Actor: actor})
			require.Equal(t, order.StatusCancelled, h.run(h.input("150.00")).Status)
			require.Equal(t, []string{"0.00/0.00", "0.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		}
	})

	t.Run("Ensure a client cancelling in progress pays the penalty to the provider", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "200.00")
		h.toInProgress()
		h.update("cancel", time.Hour, order.ActionCancel, order.CancelInput{Actor: h.client(), Reason: "mudei de ideia"})
		final := h.run(h.input("150.00"))
		require.Equal(t, order.StatusCancelled, final.Status)
		require.Equal(t, "15", final.Outcome.Penalty.String())
		// 150.00 held; penalty 15.00 to the provider; 135.00 back.
		require.Equal(t, []string{"185.00/0.00", "15.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		require.Equal(t, "15.00", h.f.Order(t, h.id).ProviderNet)
	})

	t.Run("Ensure no penalty when the agreed due date passed undelivered", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "200.00")
		in := h.input("150.00")
		due := h.start.Add(48 * time.Hour)
		in.DueDate = &due
		h.toInProgress()
		h.update("cancel", 49*time.Hour, order.ActionCancel, order.CancelInput{Actor: h.client()})
		final := h.run(in)
		require.Nil(t, final.Outcome.Penalty)
		require.Equal(t, []string{"200.00/0.00", "0.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})

	t.Run("Ensure a provider cancelling in progress refunds in full and pays the penalty", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "150.00")
		h.f.Deposit(t, h.f.Provider, "20.00")
		h.toInProgress()
		h.update("cancel", time.Hour, order.ActionCancel, order.CancelInput{Actor: h.provider(), Reason: "agenda cheia"})
		final := h.run(h.input("150.00"))
		require.Equal(t, order.StatusCancelled, final.Status)
		require.Equal(t, []string{"165.00/0.00", "5.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		require.Equal(t, "-15.00", h.f.Order(t, h.id).ProviderNet)
	})

	t.Run("Ensure a provider without the penalty in available cannot cancel", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "150.00")
		h.f.Deposit(t, h.f.Provider, "14.99")
		h.toInProgress()
		h.update("cancel", time.Hour, order.ActionCancel, order.CancelInput{Actor: h.provider()})
		h.closeByAdmin(2 * time.Hour)
		h.run(h.input("150.00"))
		h.requireOutcome("cancel", ordem.EInsufficientFunds)
		require.Equal(t, []string{"150.00/0.00", "14.99/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})

	t.Run("Ensure client and provider cannot cancel after delivery", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "150.00")
		h.toDelivered()
		h.update("client", 2*time.Hour, order.ActionCancel, order.CancelInput{Actor: h.client()})
		h.update("provider", 2*time.Hour, order.ActionCancel, order.CancelInput{Actor: h.provider()})
		h.update("stranger", 2*time.Hour, order.ActionCancel, order.CancelInput{Actor: order.Actor{UserID: h.f.OtherClient, Role: ordem.RoleClient}})
		h.update("admin-no-reason", 2*time.Hour, order.ActionCancel, order.CancelInput{Actor: h.admin()})
		h.closeByAdmin(3 * time.Hour)
		h.run(h.input("150.00"))
		h.requireOutcome("client", ordem.EInvalidTransition)
		h.requireOutcome("provider", ordem.EInvalidTransition)
		h.requireOutcome("stranger", ordem.EForbidden)
		h.requireOutcome("admin-no-reason", ordem.EValidation)
		require.Equal(t, []string{"150.00/0.00", "0.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})

	t.Run("Ensure an admin cancelling a dispute refunds amount and contestation fee", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "200.00")
		h.toDisputed()
		var mid []string
		h.at(3*time.Hour, func() { mid = h.f.Wallets(t, h.f.Client) })
		h.update("admin", 4*time.Hour, order.ActionCancel, order.CancelInput{Actor: h.admin(), Reason: "fraude confirmada"})
		final := h.run(h.input("150.00"))
		require.Equal(t, []string{"40.00/160.00"}, mid)
		require.Equal(t, order.StatusCancelled, final.Status)
		require.Equal(t, []string{"200.00/0.00", "0.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		var reason string
		require.NoError(t, h.f.Pool.QueryRow(t.Context(), `SELECT reason FROM audit_log WHERE action = 'cancel_order' AND target_id = $1`, fmt.Sprint(h.id)).Scan(&reason))
		require.Equal(t, "fraude confirmada", reason)
	})
}

func TestConfirm(t *testing.T) {
	t.Run("Ensure confirm releases amount minus fee to the provider and the fee to revenue", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "333.33")
		h.toDelivered()
		h.update("provider", 2*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.provider()})
		h.update("confirm", 3*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
		final := h.run(h.input("333.33"))
		h.requireOutcome("provider", ordem.EForbidden)
		require.Equal(t, order.StatusCompleted, final.Status)
		// 5% of 333.33 = 16.6665 → 16.67 (half-up); provider gets 316.66.
		require.Equal(t, []string{"0.00/0.00", "316.66/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		require.Equal(t, "16.67", h.f.Revenue(t))
		require.Equal(t, map[int64]int{h.f.Client: 1, h.f.Provider: 1}, h.f.Notifications(t, h.id, "order_completed"))
	})

	t.Run("Ensure the same confirm twice is refused the second time and pays once", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "100.00")
		h.toDelivered()
		h.update("confirm", 3*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
		h.update("again", 3*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
		h.run(h.input("100.00"))
		h.requireOutcome("confirm", "")
		h.requireOutcome("again", ordem.EInvalidTransition)
		require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})

	t.Run("Ensure actions on a terminal order are refused", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "100.00")
		h.toDelivered()
		h.update("confirm", 3*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
		h.run(h.input("100.00"))
		// The workflow completed: a late client gets a refusal from the
		// rules the API applies to the last known state.
		final := h.query()
		for _, a := range order.Actions {
			require.Error(t, final.Permit(a, h.admin(), h.env.Now()), a)
			require.Error(t, final.Permit(a, h.client(), h.env.Now()), a)
		}
	})
}

func TestAutoConfirm(t *testing.T) {
	t.Run("Ensure silence auto-confirms exactly at the deadline, after one reminder", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "100.00")
		h.toDelivered()
		deadline := h.start.Add(time.Hour + 36*time.Hour)
		var beforeReminder, afterReminder map[int64]int
		var justBefore order.Status
		h.at(time.Hour+24*time.Hour-time.Second, func() { beforeReminder = h.f.Notifications(t, h.id, order.ReminderConfirmation) })
		h.at(time.Hour+24*time.Hour+time.Second, func() { afterReminder = h.f.Notifications(t, h.id, order.ReminderConfirmation) })
		h.at(time.Hour+36*time.Hour-time.Millisecond, func() { justBefore = h.query().Status })
		final := h.run(h.input("100.00"))
		require.Empty(t, beforeReminder)
		require.Equal(t, map[int64]int{h.f.Client: 1}, afterReminder, "reminder 12 h before the deadline, to the client")
		require.Equal(t, order.StatusDelivered, justBefore)
		require.Equal(t, order.StatusCompleted, final.Status)
		require.True(t, final.AutoConfirmed)
		require.Equal(t, deadline, final.ClosedAt.Local())
		require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		require.Equal(t, "5.00", h.f.Revenue(t))
		row := h.f.Order(t, h.id)
		require.True(t, row.AutoConfirmed)
		require.Equal(t, map[int64]int{h.f.Client: 1}, h.f.Notifications(t, h.id, order.ReminderConfirmation))
	})

	t.Run("Ensure a confirm at the last millisecond wins over the deadline", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "100.00")
		h.toDelivered()
		h.update("confirm", time.Hour+36*time.Hour-time.Millisecond, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
		final := h.run(h.input("100.00"))
		h.requireOutcome("confirm", "")
		require.False(t, final.AutoConfirmed)
		require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		require.Equal(t, "5.00", h.f.Revenue(t), "released exactly once")
	})

	t.Run("Ensure a contest at the deadline is late", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "100.00")
		h.toDelivered()
		h.update("contest", time.Hour+36*time.Hour, order.ActionContest, order.ContestInput{Actor: h.client(), Reason: "tarde"})
		final := h.run(h.input("100.00"))
		require.NotEqual(t, "", h.requireOutcome("contest", h.outcomes["contest"].code()).code())
		require.Equal(t, ordem.EInvalidTransition, h.outcomes["contest"].code())
		require.True(t, final.AutoConfirmed)
	})

	t.Run("Ensure an extension moves the deadline and the reminder", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "100.00")
		h.toDelivered()
		h.update("client-extends", 2*time.Hour, order.ActionExtendDeadline, order.ExtendDeadlineInput{Actor: h.client(), Hours: d("24"), Reason: "x"})
		h.update("no-reason", 2*time.Hour, order.ActionExtendDeadline, order.ExtendDeadlineInput{Actor: h.admin(), Hours: d("24")})
		h.update("zero-hours", 2*time.Hour, order.ActionExtendDeadline, order.ExtendDeadlineInput{Actor: h.admin(), Hours: d("0"), Reason: "x"})
		h.update("extend", 30*time.Hour, order.ActionExtendDeadline, order.ExtendDeadlineInput{Actor: h.admin(), Hours: d("24"), Reason: "cliente viajando"})
		var atOldDeadline order.Status
		h.at(time.Hour+36*time.Hour+time.Minute, func() { atOldDeadline = h.query().Status })
		final := h.run(h.input("100.00"))
		h.requireOutcome("client-extends", ordem.EForbidden)
		h.requireOutcome("no-reason", ordem.EValidation)
		h.requireOutcome("zero-hours", ordem.EValidation)
		s := h.requireOutcome("extend", "").state
		newDeadline := h.start.Add(time.Hour + 60*time.Hour)
		require.Equal(t, newDeadline, s.ConfirmDeadline.Local())
		require.Equal(t, order.StatusDelivered, atOldDeadline)
		require.True(t, final.AutoConfirmed)
		require.Equal(t, newDeadline, final.ClosedAt.Local())
		require.Equal(t, map[int64]int{h.f.Client: 2}, h.f.Notifications(t, h.id, order.ReminderConfirmation), "one reminder per deadline")
	})

	t.Run("Ensure AUTO_CONFIRM_JOB_ENABLED=false alerts admins instead of releasing", func(t *testing.T) {
		h := newHarness(t, autoConfirmDisabled)
		h.f.Deposit(t, h.f.Client, "100.00")
		h.toDelivered()
		var held order.State
		var wallets []string
		h.at(time.Hour+37*time.Hour, func() { held = h.query(); wallets = h.f.Wallets(t, h.f.Client, h.f.Provider) })
		h.update("contest-late", time.Hour+38*time.Hour, order.ActionContest, order.ContestInput{Actor: h.client(), Reason: "x"})
		h.update("confirm", time.Hour+40*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
		final := h.run(h.input("100.00"))
		require.Equal(t, order.StatusDelivered, held.Status)
		require.True(t, held.AutoConfirmHeld)
		require.Equal(t, []string{"0.00/100.00", "0.00/0.00"}, wallets, "nothing released at the deadline")
		require.Equal(t, map[int64]int{h.f.Admin: 1}, h.f.Notifications(t, h.id, "auto_confirm_held"))
		h.requireOutcome("contest-late", ordem.EInvalidTransition)
		h.requireOutcome("confirm", "")
		require.False(t, final.AutoConfirmed)
		require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})

	t.Run("Ensure a held order gets a new window when an admin extends it", func(t *testing.T) {
		h := newHarness(t, autoConfirmDisabled)
		h.f.Deposit(t, h.f.Client, "110.00")
		h.toDelivered()
		h.update("extend", time.Hour+40*time.Hour, order.ActionExtendDeadline, order.ExtendDeadlineInput{Actor: h.admin(), Hours: d("2"), Reason: "dar nova chance"})
		h.update("contest", time.Hour+41*time.Hour, order.ActionContest, order.ContestInput{Actor: h.client(), Reason: "não recebi"})
		h.closeByAdmin(50 * time.Hour)
		h.run(h.input("100.00"))
		require.Equal(t, h.start.Add(time.Hour+42*time.Hour), h.requireOutcome("extend", "").state.ConfirmDeadline.Local())
		require.Equal(t, order.StatusDisputed, h.requireOutcome("contest", "").state.Status)
	})
}

func TestContest(t *testing.T) {
	t.Run("Ensure contest holds the contestation fee and stops the timer", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "110.00")
		h.toDelivered()
		h.update("no-reason", 90*time.Minute, order.ActionContest, order.ContestInput{Actor: h.client()})
		h.update("provider", 90*time.Minute, order.ActionContest, order.ContestInput{Actor: h.provider(), Reason: "x"})
		h.update("contest", 2*time.Hour, order.ActionContest, order.ContestInput{Actor: h.client(), Reason: "incompleto"})
		var afterDeadline order.Status
		var wallets []string
		h.at(time.Hour+40*time.Hour, func() { afterDeadline = h.query().Status; wallets = h.f.Wallets(t, h.f.Client) })
		// The dispute SLA runs once the 72 h negotiation window ended: 2 + 72 + 48 h.
		h.closeByAdmin(130 * time.Hour)
		h.run(h.input("100.00"))
		h.requireOutcome("no-reason", ordem.EValidation)
		h.requireOutcome("provider", ordem.EForbidden)
		h.requireOutcome("contest", "")
		require.Equal(t, order.StatusDisputed, afterDeadline, "no auto-confirm once disputed")
		require.Equal(t, []string{"0.00/110.00"}, wallets)
		require.Equal(t, map[int64]int{h.f.Provider: 1, h.f.Admin: 1}, h.f.Notifications(t, h.id, "order_contested"))
		require.Equal(t, map[int64]int{h.f.Admin: 1}, h.f.Notifications(t, h.id, order.ReminderDisputeSLA), "dispute SLA reminder to admins")
	})

	t.Run("Ensure a client without the contestation fee cannot contest", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "109.99")
		h.toDelivered()
		h.update("contest", 2*time.Hour, order.ActionContest, order.ContestInput{Actor: h.client(), Reason: "x"})
		final := h.run(h.input("100.00"))
		h.requireOutcome("contest", ordem.EInsufficientFunds)
		require.True(t, final.AutoConfirmed, "the deadline still ran")
	})
}

func TestEvidence(t *testing.T) {
	st := newEvidenceStore(t)
	ev := func(h *harness, actor order.Actor, id string) order.AddEvidenceInput {
		return order.AddEvidenceInput{Actor: actor, EvidenceID: id, StagingKey: "staging/" + id, FileName: "foto.jpg",
			Extension: "jpg", ContentType: "image/jpeg", Size: 1234,
			SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}
	}
	// staged uploads real bytes, as the API does, and points in at them.
	staged := func(in order.AddEvidenceInput) order.AddEvidenceInput {
		data := append([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"), bytes.Repeat([]byte(in.EvidenceID[len(in.EvidenceID)-1:]), int(in.Size))...)[:in.Size]
		s, err := st.PutStaging(t.Context(), bytes.NewReader(data), in.Size, in.ContentType)
		require.NoError(t, err)
		in.StagingKey, in.SHA256 = s.Key, s.SHA256
		return in
	}
	h := newHarness(t, withEvidence(st))
	h.f.Deposit(t, h.f.Client, "110.00")
	h.update("before-dispute", 90*time.Minute, order.ActionAddEvidence, ev(h, h.client(), "00000000-0000-0000-0000-000000000001"))
	h.toDisputed()
	client := staged(ev(h, h.client(), "00000000-0000-0000-0000-000000000002"))
	h.update("client", 3*time.Hour, order.ActionAddEvidence, client)
	h.update("provider", 3*time.Hour, order.ActionAddEvidence, staged(ev(h, h.provider(), "00000000-0000-0000-0000-000000000003")))
	h.update("admin", 3*time.Hour, order.ActionAddEvidence, staged(ev(h, h.admin(), "00000000-0000-0000-0000-000000000004")))
	h.update("stranger", 3*time.Hour, order.ActionAddEvidence, ev(h, order.Actor{UserID: h.f.OtherProvider, Role: ordem.RoleProvider}, "00000000-0000-0000-0000-000000000005"))
	empty := ev(h, h.client(), "00000000-0000-0000-0000-000000000006")
	empty.Size = 0
	h.update("empty", 3*time.Hour, order.ActionAddEvidence, empty)
	// Admitted, but its upload is gone: the activity refuses it.
	h.update("gone", 3*time.Hour, order.ActionAddEvidence, ev(h, h.client(), "00000000-0000-0000-0000-000000000007"))
	h.closeByAdmin(4 * time.Hour)
	h.run(h.input("100.00"))
	h.requireOutcome("before-dispute", ordem.EInvalidTransition)
	h.requireOutcome("client", "")
	h.requireOutcome("provider", "")
	h.requireOutcome("admin", "")
	h.requireOutcome("stranger", ordem.EForbidden)
	h.requireOutcome("empty", ordem.EValidation)
	h.requireOutcome("gone", ordem.EValidation)
	require.Equal(t, 3, h.f.Order(t, h.id).EvidenceCount)
	var keys []string
	rows, err := h.f.Pool.Query(t.Context(), `SELECT object_key FROM evidence WHERE order_id = $1 ORDER BY object_key`, h.id)
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		keys = append(keys, k)
	}
	require.Len(t, keys, 3)
	require.Equal(t, order.EvidenceObjectKey(h.id, "00000000-0000-0000-0000-000000000002", "jpg"), keys[0])
	// The client's upload told the provider and the admins.
	require.Equal(t, 2, h.f.Notifications(t, h.id, "evidence_added")[h.f.Admin])
	// The bucket holds exactly the three recorded objects, at their final
	// keys; staging is empty.
	require.Equal(t, keys, bucketKeys(t, st, ""))
	out, err := st.Client().GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(st.Bucket()), Key: aws.String(keys[0])})
	require.NoError(t, err)
	data, err := io.ReadAll(out.Body)
	out.Body.Close()
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	require.Equal(t, client.SHA256, hex.EncodeToString(sum[:]), "the client's bytes")
}

// bucketKeys lists the store's keys under prefix, sorted.
func bucketKeys(t *testing.T, st *storage.Store, prefix string) []string {
	t.Helper()
	out, err := st.Client().ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(st.Bucket()), Prefix: aws.String(prefix)})
	require.NoError(t, err)
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name, refund              string
		client, provider, revenue string
	}{
		// Deposit 210.00; order 200.00; contestation fee 10.00; fee 5%.
		{"R = 0: all to the provider, contestation fee forfeited", "0", "0.00/0.00", "190.00/0.00", "20.00"},
		{"0 < R < amount: split, contestation fee returned", "50.00", "60.00/0.00", "142.50/0.00", "7.50"},
		{"R = amount: full refund, contestation fee returned", "200.00", "210.00/0.00", "0.00/0.00", "0.00"},
	}
	for _, c := range cases {
		t.Run("Ensure "+c.name, func(t *testing.T) {
			h := newHarness(t)
			h.f.Deposit(t, h.f.Client, "210.00")
			h.toDisputed()
			h.update("provider", 3*time.Hour, order.ActionResolve, order.ResolveInput{Actor: h.provider(), RefundAmount: d("0"), Reason: "x"})
			h.update("too-much", 3*time.Hour, order.ActionResolve, order.ResolveInput{Actor: h.admin(), RefundAmount: d("200.01"), Reason: "x"})
			h.update("negative", 3*time.Hour, order.ActionResolve, order.ResolveInput{Actor: h.admin(), RefundAmount: d("-1"), Reason: "x"})
			h.update("no-reason", 3*time.Hour, order.ActionResolve, order.ResolveInput{Actor: h.admin(), RefundAmount: d("1")})
			h.update("resolve", 4*time.Hour, order.ActionResolve, order.ResolveInput{Actor: h.admin(), RefundAmount: d(c.refund), Reason: "análise das provas"})
			final := h.run(h.input("200.00"))
			h.requireOutcome("provider", ordem.EForbidden)
			h.requireOutcome("too-much", ordem.EValidation)
			h.requireOutcome("negative", ordem.EValidation)
			h.requireOutcome("no-reason", ordem.EValidation)
			h.requireOutcome("resolve", "")
			require.Equal(t, order.StatusResolved, final.Status)
			require.Equal(t, []string{c.client, c.provider}, h.f.Wallets(t, h.f.Client, h.f.Provider))
			require.Equal(t, c.revenue, h.f.Revenue(t))
			require.Equal(t, map[int64]int{h.f.Client: 1, h.f.Provider: 1}, h.f.Notifications(t, h.id, "dispute_resolved"))
		})
	}
}

func TestRaces(t *testing.T) {
	t.Run("Ensure confirm, contest and admin cancel at the same instant resolve to exactly one", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "110.00")
		h.toDelivered()
		at := 5 * time.Hour
		h.update("confirm", at, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
		h.update("contest", at, order.ActionContest, order.ContestInput{Actor: h.client(), Reason: "x"})
		h.update("cancel", at, order.ActionCancel, order.CancelInput{Actor: h.admin(), Reason: "x"})
		final := h.run(h.input("100.00"))
		winners := 0
		for _, l := range []string{"confirm", "contest", "cancel"} {
			o := h.outcomes[l]
			require.True(t, o.done, l)
			if o.err == nil {
				winners++
			} else {
				require.Equal(t, ordem.EInvalidTransition, o.code(), l)
			}
		}
		require.Equal(t, 1, winners)
		// The first one accepted (confirm) wins.
		h.requireOutcome("confirm", "")
		require.Equal(t, order.StatusCompleted, final.Status)
		require.Equal(t, []string{"10.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})

	t.Run("Ensure contest and deadline at the same instant: the accepted contest wins", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "110.00")
		h.toDelivered()
		h.update("contest", time.Hour+36*time.Hour-time.Nanosecond, order.ActionContest, order.ContestInput{Actor: h.client(), Reason: "x"})
		h.closeByAdmin(40 * time.Hour)
		final := h.run(h.input("100.00"))
		h.requireOutcome("contest", "")
		require.False(t, final.AutoConfirmed)
		require.Equal(t, order.StatusCancelled, final.Status)
		require.Equal(t, []string{"110.00/0.00", "0.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})
}

func TestSignals(t *testing.T) {
	h := newHarness(t)
	h.f.Deposit(t, h.f.Client, "100.00")
	h.signal(time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.provider()})
	h.signal(time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.provider()})
	h.signal(2*time.Hour, order.ActionDeliver, order.DeliverInput{Actor: h.provider()})
	h.signal(3*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
	final := h.run(h.input("100.00"))
	require.Equal(t, order.StatusCompleted, final.Status)
	require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress", "confirm:in_progress>in_progress!refused",
		"deliver:in_progress>delivered", "confirm:delivered>completed"}, h.f.Events(t, h.id))
	require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
}

func TestAllowedActions(t *testing.T) {
	h := newHarness(t)
	h.f.Deposit(t, h.f.Client, "100.00")
	h.toDelivered()
	var s order.State
	h.at(2*time.Hour, func() { s = h.query() })
	h.closeByAdmin(3 * time.Hour)
	h.run(h.input("100.00"))
	now := h.start.Add(2 * time.Hour)
	require.Equal(t, []order.Action{order.ActionConfirm, order.ActionContest, order.ActionRequestRevision}, s.AllowedActions(h.client(), now))
	require.Equal(t, []order.Action{}, s.AllowedActions(h.provider(), now))
	require.Equal(t, []order.Action{order.ActionCancel, order.ActionExtendDeadline}, s.AllowedActions(h.admin(), now))
	require.Equal(t, []order.Action{}, s.AllowedActions(order.Actor{UserID: h.f.OtherClient, Role: ordem.RoleClient}, now))
}

func TestDuplicateUpdateID(t *testing.T) {
	// Ensure a retried request (same update id) returns the first result
	// and moves money once.
	h := newHarness(t)
	h.f.Deposit(t, h.f.Client, "100.00")
	h.toDelivered()
	h.updateWithID("confirm", "req-42", 3*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
	h.updateWithID("retry", "req-42", 3*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
	h.run(h.input("100.00"))
	first := h.requireOutcome("confirm", "")
	require.Equal(t, order.StatusCompleted, first.state.Status)
	// The test environment answers a duplicate id only through the first
	// call's callbacks; the integration test checks the server's answer.
	if retry := h.outcomes["retry"]; retry.done {
		require.NoError(t, retry.err)
	}
	require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	var n int
	require.NoError(t, h.f.Pool.QueryRow(t.Context(), `SELECT count(*) FROM ledger_transactions WHERE order_id = $1 AND kind = 'release'`, h.id).Scan(&n))
	require.Equal(t, 1, n)
}

// Ensure a timer transition whose activity fails for good does not spin:
// it is retried after growing pauses, and succeeds once the cause is gone.
func TestFailingTimerTransitionBacksOff(t *testing.T) {
	h := newHarness(t)
	h.f.Deposit(t, h.f.Client, "100.00")
	h.toDelivered()
	calls := 0
	real := h.env.OnActivity(order.ActivityAutoConfirm, mock.Anything, mock.Anything)
	real.Return(func(ctx context.Context, in order.ReleaseInput) (order.AutoConfirmResult, error) {
		calls++
		if calls <= 3 {
			return order.AutoConfirmResult{}, order.Refusal(ordem.EInsufficientFunds, "simulated broken invariant")
		}
		acts := &activities.Activities{Pool: h.f.Pool, AutoConfirmEnabled: true}
		return acts.AutoConfirmOrder(ctx, in)
	})
	final := h.run(h.input("100.00"))
	require.Equal(t, 4, calls, "three failures (retried after 1, 2 and 4 minutes), then success")
	require.True(t, final.AutoConfirmed)
	deadline := h.start.Add(time.Hour + 36*time.Hour)
	require.Equal(t, deadline.Add(7*time.Minute), final.ClosedAt.Local())
	require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
}
