// Package kpi computes the marketplace indicators the replaced system's
// operators watched ("Métricas para Monitorar") — auto-confirmation,
// contest, cancellation and settlement ratios, response and settle times,
// volume and revenue — in one place for both readers: the admin dashboard
// (api) and the Prometheus collector (Collector).
package kpi

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/orders"
	"github.com/ordem/ordem/internal/orderstats"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/workflows/order"
)

// Ratio is a count over a count; a zero denominator has no value.
type Ratio struct{ Numerator, Denominator int64 }

// Value is the ratio, unrounded; ok is false for a zero denominator.
func (r Ratio) Value() (v float64, ok bool) {
	if r.Denominator == 0 {
		return 0, false
	}
	return float64(r.Numerator) / float64(r.Denominator), true
}

// Mean is a mean duration: Count samples totalling TotalSeconds.
type Mean struct {
	Count        int64
	TotalSeconds decimal.Decimal
}

// Seconds is the mean rounded to the millisecond; ok is false with no
// sample.
func (m Mean) Seconds() (v float64, ok bool) {
	if m.Count == 0 {
		return 0, false
	}
	v, _ = m.TotalSeconds.DivRound(decimal.NewFromInt(m.Count), 3).Float64()
	return v, true
}

// Marketplace is the indicators over every order in the read model,
// whatever its age.
type Marketplace struct {
	// Orders counts orders by status; a status without orders is absent.
	Orders map[order.Status]int64
	// AutoConfirmation: completed orders released by the deadline /
	// completed orders. Contest: orders ever contested / ever delivered.
	// Cancellation: cancelled / closed (completed, resolved, cancelled,
	// expired). SettledByParties: disputes resolved by an accepted offer /
	// all resolved.
	AutoConfirmation, Contest, Cancellation, SettledByParties Ratio
	// ClientResponse: delivery to the client's confirm or contest
	// (auto-confirmed orders excluded). TimeToSettle: contest to accepted
	// settlement.
	ClientResponse, TimeToSettle Mean
	// Volume sums the amounts of completed and resolved orders;
	// PlatformRevenue is the revenue account's balance.
	Volume, PlatformRevenue decimal.Decimal
}

// Read computes the Marketplace from the order counters (orderstats: kept
// by a trigger in the transaction of every order write, so they read as of
// q's snapshot like the orders themselves), the revenue account and the
// resolved disputes: a few hundred small rows, whatever the number of
// orders.
func Read(ctx context.Context, q postgres.DBTX) (Marketplace, error) {
	stats, err := orderstats.Read(ctx, q)
	if err != nil {
		return Marketplace{}, fmt.Errorf("read order stats: %w", err)
	}
	m := Marketplace{Orders: map[order.Status]int64{}, Volume: decimal.Zero,
		ClientResponse: Mean{TotalSeconds: decimal.Zero}}
	var completed, autoConfirmed, delivered, contested, closed, cancelled int64
	for st, t := range stats {
		if t.Orders == 0 {
			continue
		}
		status := order.Status(st)
		m.Orders[status] = t.Orders
		delivered += t.Delivered
		contested += t.Contested
		m.ClientResponse.Count += t.Answered
		m.ClientResponse.TotalSeconds = m.ClientResponse.TotalSeconds.Add(t.AnswerSeconds)
		switch status {
		case order.StatusCompleted:
			completed, autoConfirmed = t.Orders, t.AutoConfirmed
			closed += t.Orders
			m.Volume = m.Volume.Add(t.Amount)
		case order.StatusResolved:
			closed += t.Orders
			m.Volume = m.Volume.Add(t.Amount)
		case order.StatusCancelled:
			cancelled = t.Orders
			closed += t.Orders
		case order.StatusExpired:
			closed += t.Orders
		}
	}
	m.AutoConfirmation = Ratio{autoConfirmed, completed}
	m.Contest = Ratio{contested, delivered}
	m.Cancellation = Ratio{cancelled, closed}
	m.PlatformRevenue, err = ledger.AccountBalance(ctx, q, ledger.RevenueAccount)
	if errors.Is(err, pgx.ErrNoRows) {
		m.PlatformRevenue, err = decimal.Zero, nil // no fee earned yet
	}
	if err != nil {
		return Marketplace{}, fmt.Errorf("read platform revenue: %w", err)
	}
	st, err := orders.Settlements(ctx, q)
	if err != nil {
		return Marketplace{}, err
	}
	m.SettledByParties = Ratio{st.Settled, st.Resolved}
	m.TimeToSettle = Mean{Count: st.Settled, TotalSeconds: st.SettleSeconds}
	return m, nil
}
