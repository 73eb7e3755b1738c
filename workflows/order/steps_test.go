package order_test

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/workflows/order"
)

// The transitions are pure functions of the state: these tables check
// each one's activity, money and next state without a database or a
// Temporal server (they run in milliseconds, under -short too).

var (
	stepT0     = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	stepClient = order.Actor{UserID: 2, Role: ordem.RoleClient}
	stepProv   = order.Actor{UserID: 3, Role: ordem.RoleProvider}
	stepAdmin  = order.Actor{UserID: 1, Role: ordem.RoleAdmin}
)

// stepState is an order of amount with the default terms, created at
// stepT0, in status.
func stepState(amount string, status order.Status) order.State {
	s := order.NewState(order.Input{OrderID: 7, ClientID: 2, ProviderID: 3, Title: "Pintura", Amount: d(amount)}, stepT0).
		WithTerms(order.Terms{PlatformFeePercentage: d("5"), ContestationFee: d("10.00"), CancellationFeePercentage: d("10"),
			ConfirmationDeadlineHours: d("36"), ProposalExpiryHours: d("72"), ConfirmationReminderHours: d("12"),
			DisputeSLAHours: d("48")})
	s.Status = status
	return s
}

func TestStepsCreate(t *testing.T) {
	s := stepState("150.00", order.StatusNegotiating)
	require.Equal(t, 1, s.Version)
	require.True(t, s.Created)
	require.Equal(t, stepT0.Add(72*time.Hour), s.ProposalExpiresAt)
	in := s.CreateInput()
	require.Equal(t, int64(7), in.Order.OrderID)
	require.Equal(t, stepT0, in.At)
}

func TestStepsPropose(t *testing.T) {
	s := stepState("150.00", order.StatusNegotiating)
	now := stepT0.Add(time.Hour)
	due := now.Add(48 * time.Hour)
	step := s.Propose(order.ProposeInput{Actor: stepProv, Amount: d("200.00"), DueDate: &due, Note: "material"}, now)
	require.Equal(t, order.ActivityRecordProposal, step.Activity)
	in := step.Input.(order.ProposalInput)
	require.Equal(t, "order:7:propose:v2", in.IdempotencyKey())
	require.Equal(t, 2, in.Version)
	require.Equal(t, "150.00", in.PreviousAmount.StringFixed(2))
	require.Equal(t, "200.00", step.Next.Amount.StringFixed(2))
	require.Equal(t, int64(3), step.Next.LastProposedBy)
	require.Equal(t, now.Add(72*time.Hour), step.Next.ProposalExpiresAt, "the expiry restarts")
	require.Equal(t, 2, step.Next.Version)
	require.Equal(t, "material", in.Reason)
}

func TestStepsCancel(t *testing.T) {
	due := stepT0.Add(24 * time.Hour)
	for _, c := range []struct {
		name         string
		status       order.Status
		actor        order.Actor
		feeHeld      string
		now          time.Time
		release      string
		penalty      string
		fromProvider bool
		providerNet  string
	}{
		{"negotiating: nothing held, no penalty", order.StatusNegotiating, stepClient, "0", stepT0, "0.00", "0.00", false, "0.00"},
		{"client in progress: 10% to the provider", order.StatusInProgress, stepClient, "0", stepT0, "150.00", "15.00", false, "15.00"},
		{"provider in progress: 10% to the client", order.StatusInProgress, stepProv, "0", stepT0, "150.00", "15.00", true, "-15.00"},
		{"client after the missed due date: free", order.StatusInProgress, stepClient, "0", due.Add(time.Second), "150.00", "0.00", false, "0.00"},
		{"provider after the due date: still pays", order.StatusInProgress, stepProv, "0", due.Add(time.Second), "150.00", "15.00", true, "-15.00"},
		{"admin in a dispute: everything back", order.StatusDisputed, stepAdmin, "10.00", stepT0, "160.00", "0.00", false, "0.00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := stepState("150.00", c.status)
			s.DueDate = &due
			s.ContestFeeHeld = d(c.feeHeld)
			step := s.Cancel(order.CancelInput{Actor: c.actor, Reason: "motivo"}, c.now)
			require.Equal(t, order.ActivityCancelOrder, step.Activity)
			in := step.Input.(order.CancelActivityInput)
			require.Equal(t, c.release, in.Release.StringFixed(2))
			require.Equal(t, c.penalty, in.Penalty.StringFixed(2))
			require.Equal(t, c.fromProvider, in.PenaltyFromProvider)
			require.Equal(t, order.StatusCancelled, step.Next.Status)
			require.Equal(t, c.providerNet, step.Next.Outcome.ProviderNet.StringFixed(2))
			// The penalty the API shows is the one the step charges.
			require.Equal(t, c.penalty, s.CancelTerms(c.actor, c.now).Penalty.StringFixed(2))
		})
	}
}

func TestStepsReleaseAndHold(t *testing.T) {
	s := stepState("123.45", order.StatusDelivered)
	deadline := stepT0.Add(36 * time.Hour)
	s.ConfirmDeadline = &deadline
	for _, step := range []order.Step{s.Confirm(order.ConfirmInput{Actor: stepClient}, stepT0), s.AutoConfirm(deadline)} {
		in := step.Input.(order.ReleaseInput)
		require.Equal(t, "order:7:release", in.IdempotencyKey(), "confirm and auto-confirm share the step: only one can post")
		require.Equal(t, "6.17", in.Split.Fee.StringFixed(2), "5% rounded half-up")
		require.Equal(t, "117.28", in.Split.ProviderShare.StringFixed(2))
		require.True(t, in.Split.Fee.Add(in.Split.ProviderShare).Equal(d("123.45")))
		require.Equal(t, order.StatusCompleted, step.Next.Status)
	}
	auto := s.AutoConfirm(deadline)
	require.True(t, auto.Next.AutoConfirmed)
	held := s.Held(auto)
	require.Equal(t, order.StatusDelivered, held.Status)
	require.True(t, held.AutoConfirmHeld)
	require.Equal(t, s.Version+1, held.Version)
	require.True(t, held.Outcome.ProviderNet.IsZero(), "nothing released")
}

func TestStepsResolve(t *testing.T) {
	for _, c := range []struct {
		refund, toClient, provider, revenue string
	}{
		{"0.00", "0.00", "117.28", "16.17"},   // contestation fee forfeited
		{"123.45", "133.45", "0.00", "0.00"},  // full refund, fee back
		{"50.00", "60.00", "69.78", "3.67"},   // split
		{"111.11", "121.11", "11.72", "0.62"}, // 5% of 12.34 = 0.617, half-up to 0.62
	} {
		s := stepState("123.45", order.StatusDisputed)
		s.ContestFeeHeld = d("10.00")
		step, err := s.Resolve(order.ResolveInput{Actor: stepAdmin, RefundAmount: d(c.refund), Reason: "provas"}, stepT0)
		require.NoError(t, err)
		in := step.Input.(order.ResolveActivityInput)
		r := in.Resolution
		require.Equal(t, c.toClient, r.Refund.Add(r.ContestFeeToClient).StringFixed(2), c.refund)
		require.Equal(t, c.provider, r.Release.ProviderShare.StringFixed(2), c.refund)
		require.Equal(t, c.revenue, r.Release.Fee.Add(r.ContestFeeToPlatform).StringFixed(2), c.refund)
		// Every cent of amount + fee goes somewhere.
		total := r.Refund.Add(r.ContestFeeToClient).Add(r.Release.ProviderShare).Add(r.Release.Fee).Add(r.ContestFeeToPlatform)
		require.True(t, total.Equal(d("133.45")), "%s: %s", c.refund, total)
		require.Equal(t, order.StatusResolved, step.Next.Status)
	}
	s := stepState("123.45", order.StatusDisputed)
	_, err := s.Resolve(order.ResolveInput{Actor: stepAdmin, RefundAmount: d("123.46"), Reason: "x"}, stepT0)
	require.Equal(t, ordem.EValidation, order.RefusalCode(err))
}

func TestStepsExtendDeadline(t *testing.T) {
	s := stepState("100.00", order.StatusDelivered)
	deadline := stepT0.Add(36 * time.Hour)
	s.ConfirmDeadline = &deadline
	step := s.ExtendDeadline(order.ExtendDeadlineInput{Actor: stepAdmin, Hours: d("12"), Reason: "viagem"}, stepT0)
	require.Equal(t, deadline.Add(12*time.Hour), *step.Next.ConfirmDeadline, "from the deadline when it is ahead")
	require.Equal(t, "order:7:extend:1", step.Transition().IdempotencyKey())
	// A held order (deadline passed) gets its new window from now.
	s.AutoConfirmHeld = true
	late := deadline.Add(5 * time.Hour)
	step = s.ExtendDeadline(order.ExtendDeadlineInput{Actor: stepAdmin, Hours: d("0.5"), Reason: "x"}, late)
	require.Equal(t, late.Add(30*time.Minute), *step.Next.ConfirmDeadline)
	require.False(t, step.Next.AutoConfirmHeld)
	require.Equal(t, deadline, step.Input.(order.ExtendActivityInput).OldDeadline)
}

func TestStepsTimelessTransitions(t *testing.T) {
	s := stepState("100.00", order.StatusInProgress)
	now := stepT0.Add(2 * time.Hour)
	cases := map[string]struct {
		step     order.Step
		activity string
		status   order.Status
	}{
		"accept":   {stepState("100.00", order.StatusNegotiating).Accept(order.AcceptInput{Actor: stepProv}, now), order.ActivityAcceptOrder, order.StatusInProgress},
		"deliver":  {s.Deliver(order.DeliverInput{Actor: stepProv}, now), order.ActivityDeliverOrder, order.StatusDelivered},
		"contest":  {stepState("100.00", order.StatusDelivered).Contest(order.ContestInput{Actor: stepClient, Reason: "x"}, now), order.ActivityContestOrder, order.StatusDisputed},
		"evidence": {stepState("100.00", order.StatusDisputed).AddEvidence(order.AddEvidenceInput{Actor: stepClient, EvidenceID: "e1", Extension: "pdf"}, now), order.ActivityAddEvidence, order.StatusDisputed},
		"expire":   {stepState("100.00", order.StatusNegotiating).Expire(now), order.ActivityExpireOrder, order.StatusExpired},
	}
	for name, c := range cases {
		require.Equal(t, c.activity, c.step.Activity, name)
		require.Equal(t, c.status, c.step.Next.Status, name)
		require.Equal(t, 2, c.step.Next.Version, name)
		require.Equal(t, now, c.step.Transition().At, name)
	}
	require.Equal(t, "100.00", cases["accept"].step.Input.(order.AcceptActivityInput).Hold.StringFixed(2))
	require.Equal(t, now.Add(36*time.Hour), *cases["deliver"].step.Next.ConfirmDeadline)
	require.Equal(t, "10.00", cases["contest"].step.Input.(order.ContestActivityInput).Fee.StringFixed(2))
	require.Equal(t, "evidence/7/e1.pdf", cases["evidence"].step.Input.(order.EvidenceActivityInput).ObjectKey)
	require.Equal(t, 1, cases["evidence"].step.Next.EvidenceCount)
	require.True(t, decimal.Zero.Equal(cases["expire"].step.Next.Outcome.PlatformRevenue))
}
