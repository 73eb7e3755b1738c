package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/workflows/order"
)

// Revision requests (issue 17.2, spec §3): a delivered order sent back to
// its provider, at most max_revisions times.

func TestStepsRevision(t *testing.T) {
	s := stepState("100.00", order.StatusInProgress)
	s.Terms.MaxRevisions = 2
	first := s.Deliver(order.DeliverInput{Actor: stepProv}, stepT0.Add(time.Hour))
	require.Equal(t, "order:7:deliver", first.Transition().IdempotencyKey())
	at := stepT0.Add(2 * time.Hour)
	rev := first.Next.RequestRevision(order.RequestRevisionInput{Actor: stepClient, Reason: "faltou a porta"}, at)
	require.Equal(t, order.ActivityRequestRevision, rev.Activity)
	require.Equal(t, "order:7:revision:1", rev.Transition().IdempotencyKey())
	require.Equal(t, order.StatusInProgress, rev.Next.Status)
	require.Nil(t, rev.Next.ConfirmDeadline, "the confirmation window is gone until the next delivery")
	require.Equal(t, 1, rev.Next.Revisions)
	in := rev.Input.(order.RevisionActivityInput)
	require.Equal(t, 1, in.Number)
	require.Equal(t, stepT0.Add(time.Hour), in.DeliveredAt)
	require.Equal(t, "faltou a porta", in.Reason)

	again := stepT0.Add(10 * time.Hour)
	second := rev.Next.Deliver(order.DeliverInput{Actor: stepProv}, again)
	require.Equal(t, "order:7:deliver:r1", second.Transition().IdempotencyKey(), "a new delivery, a new step")
	require.Equal(t, again.Add(36*time.Hour), *second.Next.ConfirmDeadline, "a full new window")
}

func TestPermitRevision(t *testing.T) {
	delivered := func(revisions, max int) order.State {
		s := stepState("100.00", order.StatusInProgress)
		s.Terms.MaxRevisions = max
		s.Revisions = revisions
		return s.Deliver(order.DeliverInput{Actor: stepProv}, stepT0).Next
	}
	before := stepT0.Add(time.Hour)
	after := stepT0.Add(37 * time.Hour)
	cases := []struct {
		name  string
		s     order.State
		actor order.Actor
		now   time.Time
		code  string
	}{
		{"client, before the deadline", delivered(0, 2), stepClient, before, ""},
		{"second of two", delivered(1, 2), stepClient, before, ""},
		{"third of two: only confirm or contest", delivered(2, 2), stepClient, before, ordem.ERevisionLimit},
		{"orders without revisions (snapshot 0)", delivered(0, 0), stepClient, before, ordem.ERevisionLimit},
		{"after the deadline", delivered(0, 2), stepClient, after, ordem.EInvalidTransition},
		{"provider", delivered(0, 2), stepProv, before, ordem.EForbidden},
		{"admin", delivered(0, 2), stepAdmin, before, ordem.EForbidden},
		{"not delivered", stepState("100.00", order.StatusInProgress), stepClient, before, ordem.EInvalidTransition},
	}
	for _, c := range cases {
		require.Equal(t, c.code, order.RefusalCode(c.s.Permit(order.ActionRequestRevision, c.actor, c.now)), c.name)
	}
	s := delivered(2, 2)
	require.Equal(t, []order.Action{order.ActionConfirm, order.ActionContest}, s.AllowedActions(stepClient, before))
}

func TestRevision(t *testing.T) {
	t.Run("Ensure a revision sends the order back and the next delivery starts a full new window", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "100.00")
		h.toDelivered() // delivered at 1 h: deadline 37 h
		h.update("no-reason", 2*time.Hour, order.ActionRequestRevision, order.RequestRevisionInput{Actor: h.client()})
		h.update("provider", 2*time.Hour, order.ActionRequestRevision, order.RequestRevisionInput{Actor: h.provider(), Reason: "x"})
		h.update("r1", 3*time.Hour, order.ActionRequestRevision, order.RequestRevisionInput{Actor: h.client(), Reason: "faltou a porta"})
		h.update("confirm-in-progress", 4*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
		h.update("redeliver", 30*time.Hour, order.ActionDeliver, order.DeliverInput{Actor: h.provider()})
		var at40 order.State
		h.at(40*time.Hour, func() { at40 = h.query() })
		h.update("r2", 41*time.Hour, order.ActionRequestRevision, order.RequestRevisionInput{Actor: h.client(), Reason: "cor errada"})
		h.update("redeliver2", 42*time.Hour, order.ActionDeliver, order.DeliverInput{Actor: h.provider()})
		h.update("r3", 43*time.Hour, order.ActionRequestRevision, order.RequestRevisionInput{Actor: h.client(), Reason: "de novo"})
		final := h.run(h.input("100.00"))
		h.requireOutcome("no-reason", ordem.EValidation)
		h.requireOutcome("provider", ordem.EForbidden)
		r1 := h.requireOutcome("r1", "")
		require.Equal(t, order.StatusInProgress, r1.state.Status)
		h.requireOutcome("confirm-in-progress", ordem.EInvalidTransition)
		require.Equal(t, h.start.Add(66*time.Hour), h.requireOutcome("redeliver", "").state.ConfirmDeadline.Local(), "30 h + 36 h")
		require.Equal(t, order.StatusDelivered, at40.Status, "the first window (37 h) no longer applies")
		h.requireOutcome("r2", "")
		r3 := h.requireOutcome("r3", ordem.ERevisionLimit)
		require.True(t, r3.rejected, "refused by the validator: no history")
		// Auto-confirmed at 42 + 36 = 78 h.
		require.True(t, final.AutoConfirmed)
		require.Equal(t, h.start.Add(78*time.Hour), final.ClosedAt.Local())
		require.Equal(t, 2, final.Revisions)
		require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		require.Equal(t, map[int64]int{h.f.Provider: 2}, h.f.Notifications(t, h.id, "revision_requested"))
		require.Equal(t, map[int64]int{h.f.Client: 3}, h.f.Notifications(t, h.id, "order_delivered"))
		require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress", "deliver:in_progress>delivered",
			"request_revision:delivered>in_progress", "deliver:in_progress>delivered",
			"request_revision:delivered>in_progress", "deliver:in_progress>delivered", order.ReminderConfirmation + ":>",
			"auto_confirm:delivered>completed"}, h.f.Events(t, h.id), "reminders only in the last window (66 h); the earlier ones were cut short")
		var reasons []string
		rows, err := h.f.Pool.Query(t.Context(), `SELECT number || ':' || reason FROM order_revisions WHERE order_id = $1 ORDER BY number`, h.id)
		require.NoError(t, err)
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			reasons = append(reasons, s)
		}
		require.Equal(t, []string{"1:faltou a porta", "2:cor errada"}, reasons)
		var count int
		require.NoError(t, h.f.Pool.QueryRow(t.Context(), `SELECT revision_count FROM orders WHERE id = $1`, h.id).Scan(&count))
		require.Equal(t, 2, count)
	})

	t.Run("Ensure max_revisions is snapshotted at creation", func(t *testing.T) {
		h := newHarness(t)
		h.f.SetConfig(t, "max_revisions", "0")
		h.f.Deposit(t, h.f.Client, "100.00")
		h.at(30*time.Second, func() { h.f.SetConfig(t, "max_revisions", "5") })
		h.toDelivered()
		h.update("r1", 2*time.Hour, order.ActionRequestRevision, order.RequestRevisionInput{Actor: h.client(), Reason: "x"})
		h.update("confirm", 3*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
		final := h.run(h.input("100.00"))
		h.requireOutcome("r1", ordem.ERevisionLimit)
		h.requireOutcome("confirm", "")
		require.Equal(t, order.StatusCompleted, final.Status)
		require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})
}
