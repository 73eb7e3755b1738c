package order_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/workflows/order"
)

// Ensure the main path: create, counter-proposal, accept, deliver, confirm
// moves exactly the money the spec says.
func TestHappyPath(t *testing.T) {
	h := newHarness(t)
	h.f.Deposit(t, h.f.Client, "500.00")
	h.update("counter", time.Minute, order.ActionPropose, order.ProposeInput{Actor: h.provider(), Amount: d("200.00"), Note: "material incluso"})
	h.update("accept", 2*time.Minute, order.ActionAccept, order.AcceptInput{Actor: h.client()})
	h.update("deliver", time.Hour, order.ActionDeliver, order.DeliverInput{Actor: h.provider()})
	h.update("confirm", 2*time.Hour, order.ActionConfirm, order.ConfirmInput{Actor: h.client()})
	final := h.run(h.input("150.00"))

	h.requireOutcome("counter", "")
	accepted := h.requireOutcome("accept", "")
	require.Equal(t, order.StatusInProgress, accepted.state.Status)
	h.requireOutcome("deliver", "")
	h.requireOutcome("confirm", "")
	require.Equal(t, order.StatusCompleted, final.Status)
	require.False(t, final.AutoConfirmed)

	require.Equal(t, []string{"300.00/0.00", "190.00/0.00"}, h.f.Wallets(t, h.f.Client, h.f.Provider))
	require.Equal(t, "10.00", h.f.Revenue(t))
	row := h.f.Order(t, h.id)
	require.Equal(t, "completed", row.Status)
	require.Equal(t, "200.00", row.Amount)
	require.Equal(t, 2, row.ProposalVersion)
	require.Equal(t, []string{"create:>negotiating", "propose:negotiating>negotiating", "accept:negotiating>in_progress",
		"deliver:in_progress>delivered", "confirm:delivered>completed"}, h.f.Events(t, h.id))
}
