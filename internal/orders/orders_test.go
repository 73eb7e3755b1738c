package orders_test

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/orders"
	"github.com/ordem/ordem/internal/ordertest"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/workflows/order"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.DropShared()
	os.Exit(code)
}

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// The writer (Create, Update) and the reader (Get, List) share one
// mapping: every field of a state a transition writes reads back as it
// was written.
func TestStateRoundTrip(t *testing.T) {
	f := ordertest.New(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	due := at.Add(72 * time.Hour)
	id := f.NextOrderID(t)
	s := order.NewState(order.Input{OrderID: id, ClientID: f.Client, ProviderID: f.Provider, Title: "Pintura",
		Description: "Sala e cozinha", Amount: d("250.00"), DueDate: &due}, at).WithTerms(order.Terms{
		PlatformFeePercentage: d("10"), ContestationFee: d("15.00"), CancellationFeePercentage: d("5"),
		ConfirmationDeadlineHours: d("36"), ProposalExpiryHours: d("48"), ConfirmationReminderHours: d("12"),
		DisputeSLAHours: d("24"), DisputeNegotiationHours: d("8"), MaxRevisions: 2})
	terms, err := orders.Create(ctx, f.Pool, s)
	require.NoError(t, err)
	require.True(t, terms.PlatformFeePercentage.Equal(d("10")))

	got, found, err := orders.StoredTerms(ctx, f.Pool, id)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, terms, got)

	// A disputed order with a settlement offer, after a few transitions.
	next := s
	accepted, delivered, contested := at.Add(time.Hour), at.Add(2*time.Hour), at.Add(3*time.Hour)
	deadline, ends := delivered.Add(36*time.Hour), contested.Add(8*time.Hour)
	refund := d("40.00")
	next.Status, next.Version, next.UpdatedAt = order.StatusDisputed, 5, contested
	next.AcceptedAt, next.DeliveredAt, next.ConfirmDeadline, next.ContestedAt = &accepted, &delivered, &deadline, &contested
	next.ContestFeeHeld, next.EvidenceCount, next.Extensions, next.Revisions = d("15.00"), 1, 1, 1
	next.NegotiationEndsAt = &ends
	next.Settlement = &order.SettlementOffer{Version: 1, OfferedBy: f.Client, Role: ordem.RoleClient, RefundAmount: refund}
	next.ClientOffers = 1
	next.Outcome = order.Outcome{PlatformRevenue: decimal.Zero, ProviderNet: decimal.Zero, Refund: &refund}
	reason := "faltou o rodapé"
	require.NoError(t, orders.Update(ctx, f.Pool, next, orders.Reasons{ContestReason: &reason}))

	row, err := orders.Get(ctx, f.Pool, id, orders.Viewer{Role: ordem.RoleClient, UserID: f.Client})
	require.NoError(t, err)
	require.Equal(t, reason, *row.ContestReason)
	require.Nil(t, row.CancelReason)
	require.True(t, row.Created)
	require.Equal(t, asJSON(t, next), asJSON(t, row.State))

	// Reasons already given stay when a later step gives none.
	require.NoError(t, orders.Update(ctx, f.Pool, next, orders.Reasons{}))
	row, err = orders.Get(ctx, f.Pool, id, orders.Viewer{Role: ordem.RoleAdmin})
	require.NoError(t, err)
	require.Equal(t, reason, *row.ContestReason)

	// Nobody else sees it.
	_, err = orders.Get(ctx, f.Pool, id, orders.Viewer{Role: ordem.RoleClient, UserID: f.OtherClient})
	require.Equal(t, ordem.ENotFound, ordem.ErrorCode(err))

	list, err := orders.List(ctx, f.Pool, orders.Filter{ProviderID: f.Provider, Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, asJSON(t, row), asJSON(t, list[0]))

	proposals, err := orders.Proposals(ctx, f.Pool, id)
	require.NoError(t, err)
	require.Len(t, proposals, 1)
	require.Equal(t, f.Client, proposals[0].ProposedBy)
	require.Nil(t, proposals[0].PreviousAmount)
}

// asJSON compares states as the workflow exchanges them (JSON), where a
// time's location and a decimal's trailing zeros do not matter.
func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	normalize(m)
	return m
}

func normalize(m map[string]any) {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			normalize(x)
		case string:
			if dd, err := decimal.NewFromString(x); err == nil {
				m[k] = dd.String()
			} else if tt, err := time.Parse(time.RFC3339Nano, x); err == nil {
				m[k] = tt.UTC().Format(time.RFC3339Nano)
			}
		}
	}
}
