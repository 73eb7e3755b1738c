package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/workflows/order"
)

// Negotiated dispute settlement (issue 17.1, spec §3): offers, the other
// party's accept, the negotiation window and the admins' queue.

// disputedState is a disputed order of 123.45 whose negotiation window
// (72 h from stepT0) is open.
func disputedState() order.State {
	s := stepState("123.45", order.StatusDelivered)
	s.Terms.DisputeNegotiationHours = d("72")
	return s.Contest(order.ContestInput{Actor: stepClient, Reason: "x"}, stepT0).Next
}

func TestStepsSettlementMovesTheMoneyOfARuling(t *testing.T) {
	for _, refund := range []string{"0.00", "50.00", "111.11", "123.45"} {
		s := disputedState()
		offer := s.OfferSettlement(order.OfferSettlementInput{Actor: stepProv, RefundAmount: d(refund), Note: "acordo"}, stepT0.Add(time.Hour))
		require.Equal(t, order.ActivityRecordSettlementOffer, offer.Activity)
		require.Equal(t, "order:7:settlement:v1", offer.Transition().IdempotencyKey())
		require.Equal(t, order.StatusDisputed, offer.Next.Status)
		require.Equal(t, 1, offer.Next.ProviderOffers)

		accepted, err := offer.Next.AcceptSettlement(order.AcceptSettlementInput{Actor: stepClient, OfferVersion: 1}, stepT0.Add(2*time.Hour))
		require.NoError(t, err)
		ruled, err := s.Resolve(order.ResolveInput{Actor: stepAdmin, RefundAmount: d(refund), Reason: "r"}, stepT0.Add(2*time.Hour))
		require.NoError(t, err)
		got, want := accepted.Input.(order.ResolveActivityInput), ruled.Input.(order.ResolveActivityInput)
		require.Equal(t, order.ActivityAcceptSettlement, accepted.Activity)
		require.Equal(t, want.Resolution, got.Resolution, "R = %s: the settlement moves exactly the ruling's money", refund)
		require.Equal(t, want.IdempotencyKey(), got.IdempotencyKey(), "one step key: only one of them can ever post")
		require.Equal(t, 1, got.SettlementVersion)
		require.Equal(t, order.StatusResolved, accepted.Next.Status)
		require.Equal(t, order.ResolvedBySettlement, accepted.Next.ResolvedBy)
		require.Equal(t, order.ResolvedByAdmin, ruled.Next.ResolvedBy)
		require.Equal(t, want.Next.Outcome, got.Next.Outcome)
	}
}

func TestStepsDisputeQueue(t *testing.T) {
	s := disputedState()
	require.Equal(t, stepT0.Add(72*time.Hour), *s.NegotiationEndsAt)
	require.Nil(t, s.QueuedAt(), "negotiating: not in the admins' queue yet")
	now := stepT0.Add(5 * time.Hour)
	asked := s.RequestRuling(order.RequestRulingInput{Actor: stepProv, Reason: "sem acordo"}, now)
	ended := s.EndNegotiation(stepT0.Add(72 * time.Hour))
	require.Equal(t, order.ActivityQueueDispute, asked.Activity)
	require.Equal(t, asked.Transition().IdempotencyKey(), ended.Transition().IdempotencyKey(), "queued once, either way")
	require.Equal(t, now, *asked.Next.QueuedAt())
	require.Equal(t, stepT0.Add(72*time.Hour), *ended.Next.QueuedAt())

	// Orders snapshotted without a window (created before it existed, or
	// dispute_negotiation_hours = 0) are queued when contested.
	old := stepState("100.00", order.StatusDelivered).Contest(order.ContestInput{Actor: stepClient, Reason: "x"}, now).Next
	require.Nil(t, old.NegotiationEndsAt)
	require.Equal(t, now, *old.QueuedAt())
	old.DisputeQueuedAt = nil // a state recorded before the field existed
	require.Equal(t, now, *old.QueuedAt(), "falls back on the contest time")
}

func TestPermitSettlement(t *testing.T) {
	stranger := order.Actor{UserID: 99, Role: ordem.RoleClient}
	offered := disputedState().OfferSettlement(order.OfferSettlementInput{Actor: stepClient, RefundAmount: d("10.00")}, stepT0).Next
	full := disputedState()
	full.ClientOffers = order.MaxSettlementOffers
	queued := disputedState().RequestRuling(order.RequestRulingInput{Actor: stepClient}, stepT0).Next
	now := stepT0.Add(time.Hour)
	cases := []struct {
		name   string
		s      order.State
		action order.Action
		actor  order.Actor
		code   string
	}{
		{"client offers", disputedState(), order.ActionOfferSettlement, stepClient, ""},
		{"provider offers", disputedState(), order.ActionOfferSettlement, stepProv, ""},
		{"admin cannot offer", disputedState(), order.ActionOfferSettlement, stepAdmin, ordem.EForbidden},
		{"stranger cannot offer", disputedState(), order.ActionOfferSettlement, stranger, ordem.EForbidden},
		{"no offer outside a dispute", stepState("100.00", order.StatusDelivered), order.ActionOfferSettlement, stepClient, ordem.EInvalidTransition},
		{"the 6th offer of a party is refused", full, order.ActionOfferSettlement, stepClient, ordem.EOfferLimit},
		{"the other party still may offer", full, order.ActionOfferSettlement, stepProv, ""},
		{"offers stay open in the queue", queued, order.ActionOfferSettlement, stepProv, ""},
		{"nothing to accept", disputedState(), order.ActionAcceptSettlement, stepProv, ordem.EInvalidTransition},
		{"own offer", offered, order.ActionAcceptSettlement, stepClient, ordem.EInvalidTransition},
		{"the other party accepts", offered, order.ActionAcceptSettlement, stepProv, ""},
		{"admin does not accept", offered, order.ActionAcceptSettlement, stepAdmin, ordem.EForbidden},
		{"ask for a ruling", disputedState(), order.ActionRequestRuling, stepProv, ""},
		{"ask twice", queued, order.ActionRequestRuling, stepClient, ordem.EInvalidTransition},
		{"admin may rule while the parties negotiate", disputedState(), order.ActionResolve, stepAdmin, ""},
	}
	for _, c := range cases {
		require.Equal(t, c.code, order.RefusalCode(c.s.Permit(c.action, c.actor, now)), c.name)
	}
}

func TestSettlement(t *testing.T) {
	cases := []struct {
		name, refund              string
		client, provider, revenue string
	}{
		// Same table as TestResolve: deposit 210.00; order 200.00;
		// contestation fee 10.00; fee 5%.
		{"R = 0: all to the provider, contestation fee forfeited", "0.00", "0.00/0.00", "190.00/0.00", "20.00"},
		{"0 < R < amount: split, contestation fee returned", "50.00", "60.00/0.00", "142.50/0.00", "7.50"},
		{"R = amount: full refund, contestation fee returned", "200.00", "210.00/0.00", "0.00/0.00", "0.00"},
	}
	for _, c := range cases {
		t.Run("Ensure an accepted settlement moves the money of a ruling: "+c.name, func(t *testing.T) {
			h := newHarness(t)
			h.f.Deposit(t, h.f.Client, "210.00")
			h.toDisputed()
			h.update("too-much", 3*time.Hour, order.ActionOfferSettlement, order.OfferSettlementInput{Actor: h.client(), RefundAmount: d("200.01")})
			h.update("client-offer", 3*time.Hour, order.ActionOfferSettlement, order.OfferSettlementInput{Actor: h.client(), RefundAmount: d("150.00"), Note: "metade do serviço"})
			h.update("own", 4*time.Hour, order.ActionAcceptSettlement, order.AcceptSettlementInput{Actor: h.client(), OfferVersion: 1})
			h.update("counter", 5*time.Hour, order.ActionOfferSettlement, order.OfferSettlementInput{Actor: h.provider(), RefundAmount: d(c.refund)})
			h.update("stale", 6*time.Hour, order.ActionAcceptSettlement, order.AcceptSettlementInput{Actor: h.provider(), OfferVersion: 1})
			h.update("accept", 7*time.Hour, order.ActionAcceptSettlement, order.AcceptSettlementInput{Actor: h.client(), OfferVersion: 2})
			final := h.run(h.input("200.00"))
			h.requireOutcome("too-much", ordem.EValidation)
			h.requireOutcome("client-offer", "")
			h.requireOutcome("own", ordem.EInvalidTransition)
			h.requireOutcome("counter", "")
			h.requireOutcome("stale", ordem.EInvalidTransition) // the provider's own offer is now the latest
			h.requireOutcome("accept", "")
			require.Equal(t, order.StatusResolved, final.Status)
			require.Equal(t, order.ResolvedBySettlement, final.ResolvedBy)
			require.Equal(t, []string{c.client, c.provider}, h.f.Wallets(t, h.f.Client, h.f.Provider))
			require.Equal(t, c.revenue, h.f.Revenue(t))
			require.Equal(t, map[int64]int{h.f.Client: 1, h.f.Provider: 1}, h.f.Notifications(t, h.id, "dispute_settled"))
			require.Equal(t, map[int64]int{h.f.Client: 1, h.f.Provider: 1}, h.f.Notifications(t, h.id, "settlement_offered"), "each offer to the other party")

			var offers []string
			rows, err := h.f.Pool.Query(t.Context(), `
				SELECT version || ':' || offered_role || ':' || refund_amount || ':' || coalesce(previous_refund::text, '-')
				FROM order_settlement_offers WHERE order_id = $1 ORDER BY version`, h.id)
			require.NoError(t, err)
			for rows.Next() {
				var s string
				require.NoError(t, rows.Scan(&s))
				offers = append(offers, s)
			}
			require.Equal(t, []string{"1:client:150.00:-", "2:provider:" + c.refund + ":150.00"}, offers)
			var resolvedBy string
			var audits int
			require.NoError(t, h.f.Pool.QueryRow(t.Context(), `SELECT resolved_by FROM orders WHERE id = $1`, h.id).Scan(&resolvedBy))
			require.NoError(t, h.f.Pool.QueryRow(t.Context(), `SELECT count(*) FROM audit_log WHERE target_id = $1 AND action IN ('offer_settlement', 'accept_settlement')`,
				itoa(h.id)).Scan(&audits))
			require.Equal(t, "settlement", resolvedBy)
			require.Equal(t, 3, audits)
		})
	}

	t.Run("Ensure a stale offer version is refused with settlement_changed and nothing moves", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "210.00")
		h.toDisputed()
		h.update("o1", 3*time.Hour, order.ActionOfferSettlement, order.OfferSettlementInput{Actor: h.client(), RefundAmount: d("150.00")})
		h.update("o2", 4*time.Hour, order.ActionOfferSettlement, order.OfferSettlementInput{Actor: h.client(), RefundAmount: d("190.00")})
		h.update("stale", 5*time.Hour, order.ActionAcceptSettlement, order.AcceptSettlementInput{Actor: h.provider(), OfferVersion: 1})
		h.closeByAdmin(6 * time.Hour)
		final := h.run(h.input("200.00"))
		h.requireOutcome("stale", ordem.ESettlementChanged)
		require.Equal(t, order.StatusCancelled, final.Status)
		require.Equal(t, []string{"210.00/0.00", "0.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	})

	t.Run("Ensure each party makes at most 5 offers", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "210.00")
		h.toDisputed()
		for i := 1; i <= order.MaxSettlementOffers+1; i++ {
			h.update(label("c", i), 3*time.Hour+time.Duration(i)*time.Minute, order.ActionOfferSettlement,
				order.OfferSettlementInput{Actor: h.client(), RefundAmount: d("100.00")})
		}
		h.update("provider", 4*time.Hour, order.ActionOfferSettlement, order.OfferSettlementInput{Actor: h.provider(), RefundAmount: d("20.00")})
		h.closeByAdmin(5 * time.Hour)
		h.run(h.input("200.00"))
		for i := 1; i <= order.MaxSettlementOffers; i++ {
			h.requireOutcome(label("c", i), "")
		}
		sixth := h.requireOutcome(label("c", order.MaxSettlementOffers+1), ordem.EOfferLimit)
		require.True(t, sixth.rejected, "refused by the validator: no history")
		require.Equal(t, 6, h.requireOutcome("provider", "").state.Settlement.Version)
	})
}

func TestNegotiationWindow(t *testing.T) {
	t.Run("Ensure the dispute enters the admins' queue when the window ends and the SLA runs from then", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "110.00")
		h.toDisputed() // contest at 2 h: window until 74 h, SLA reminder at 74 + 48 = 122 h
		var at60, at80 order.State
		var slaAt100, slaAt130 map[int64]int
		h.at(60*time.Hour, func() { at60 = h.query() })
		h.at(80*time.Hour, func() { at80 = h.query() })
		h.at(100*time.Hour, func() { slaAt100 = h.f.Notifications(t, h.id, order.ReminderDisputeSLA) })
		h.at(130*time.Hour, func() { slaAt130 = h.f.Notifications(t, h.id, order.ReminderDisputeSLA) })
		h.update("resolve", 140*time.Hour, order.ActionResolve, order.ResolveInput{Actor: h.admin(), RefundAmount: d("100.00"), Reason: "provas"})
		final := h.run(h.input("100.00"))
		require.Nil(t, at60.QueuedAt())
		require.Equal(t, h.start.Add(74*time.Hour), at80.QueuedAt().Local())
		require.Empty(t, slaAt100, "the SLA does not run during the negotiation")
		require.Equal(t, map[int64]int{h.f.Admin: 1}, slaAt130)
		require.Equal(t, map[int64]int{h.f.Admin: 1, h.f.Client: 1, h.f.Provider: 1}, h.f.Notifications(t, h.id, "dispute_queued"))
		require.Equal(t, order.ResolvedByAdmin, final.ResolvedBy)
		require.Equal(t, []string{"110.00/0.00", "0.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		var queuedAt time.Time
		require.NoError(t, h.f.Pool.QueryRow(t.Context(), `SELECT dispute_queued_at FROM orders WHERE id = $1`, h.id).Scan(&queuedAt))
		require.WithinDuration(t, h.start.Add(74*time.Hour), queuedAt, time.Millisecond)
	})

	t.Run("Ensure a party's request for a ruling queues the dispute at once, once", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "110.00")
		h.toDisputed()
		h.update("ask", 3*time.Hour, order.ActionRequestRuling, order.RequestRulingInput{Actor: h.provider(), Reason: "sem acordo"})
		h.update("again", 4*time.Hour, order.ActionRequestRuling, order.RequestRulingInput{Actor: h.client()})
		h.update("offer", 5*time.Hour, order.ActionOfferSettlement, order.OfferSettlementInput{Actor: h.client(), RefundAmount: d("40.00")})
		h.update("accept", 6*time.Hour, order.ActionAcceptSettlement, order.AcceptSettlementInput{Actor: h.provider(), OfferVersion: 1})
		final := h.run(h.input("100.00"))
		require.Equal(t, h.start.Add(3*time.Hour), h.requireOutcome("ask", "").state.QueuedAt().Local())
		h.requireOutcome("again", ordem.EInvalidTransition)
		h.requireOutcome("accept", "")
		require.Equal(t, order.ResolvedBySettlement, final.ResolvedBy)
		// R = 40: 40 + the fee back to the client; 60 − 5% = 57 to the provider.
		require.Equal(t, []string{"50.00/0.00", "57.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		require.Equal(t, "3.00", h.f.Revenue(t))
		require.Empty(t, h.f.Notifications(t, h.id, order.ReminderDisputeSLA))
	})

	t.Run("Ensure an admin may rule while the parties negotiate", func(t *testing.T) {
		h := newHarness(t)
		h.f.Deposit(t, h.f.Client, "110.00")
		h.toDisputed()
		h.update("offer", 3*time.Hour, order.ActionOfferSettlement, order.OfferSettlementInput{Actor: h.client(), RefundAmount: d("40.00")})
		h.update("resolve", 4*time.Hour, order.ActionResolve, order.ResolveInput{Actor: h.admin(), RefundAmount: d("0"), Reason: "provas"})
		final := h.run(h.input("100.00"))
		h.requireOutcome("resolve", "")
		require.Equal(t, order.ResolvedByAdmin, final.ResolvedBy)
		require.Equal(t, []string{"0.00/0.00", "95.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
		require.Empty(t, h.f.Notifications(t, h.id, "dispute_queued"))
	})
}
