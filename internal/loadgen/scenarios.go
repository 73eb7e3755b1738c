package loadgen

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/shopspring/decimal"
)

// Scenario is one kind of order the load generator runs end to end.
type Scenario string

// The scenarios of a mix.
const (
	// Confirmed: create → accept → deliver → confirm.
	Confirmed Scenario = "confirmed"
	// AutoConfirmed: create → accept → deliver, then the confirmation
	// deadline (short for the run) releases the money.
	AutoConfirmed Scenario = "auto_confirmed"
	// Disputed: create → accept → deliver → contest → evidence upload →
	// admin ruling with a partial refund.
	Disputed Scenario = "disputed"
	// Cancelled: create → accept → the client cancels, paying the penalty
	// shown.
	Cancelled Scenario = "cancelled"
)

// Scenarios lists every scenario, in report order.
var Scenarios = []Scenario{Confirmed, AutoConfirmed, Disputed, Cancelled}

// The money of every scenario, with the default fees (5 % platform fee,
// 10.00 contestation fee, 10 % cancellation penalty): what each party's
// balance moves by when the scenario completes.
var (
	orderAmount = decimal.RequireFromString("100.00")
	refund      = decimal.RequireFromString("30.00")
)

// outcome is where one completed scenario's money went.
type outcome struct {
	client, provider, revenue decimal.Decimal
}

// expected returns the money moved by a completed scenario under terms.
func expected(s Scenario, t terms) outcome {
	switch s {
	case Confirmed, AutoConfirmed:
		fee := pct(orderAmount, t.platformFee)
		return outcome{client: orderAmount.Neg(), provider: orderAmount.Sub(fee), revenue: fee}
	case Disputed:
		// A refund above zero returns the contestation fee; the provider
		// gets the rest minus the platform fee on it.
		rest := orderAmount.Sub(refund)
		fee := pct(rest, t.platformFee)
		return outcome{client: rest.Neg(), provider: rest.Sub(fee), revenue: fee}
	case Cancelled:
		p := pct(orderAmount, t.cancellationFee)
		return outcome{client: p.Neg(), provider: p, revenue: decimal.Zero}
	}
	return outcome{client: decimal.Zero, provider: decimal.Zero, revenue: decimal.Zero}
}

func pct(amount, p decimal.Decimal) decimal.Decimal {
	return amount.Mul(p).Div(decimal.NewFromInt(100)).Round(2)
}

// terms are the fees in force for the run (read from system config).
type terms struct {
	platformFee, cancellationFee, contestationFee decimal.Decimal
}

// apiOrder is the part of an order the load generator reads.
type apiOrder struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"`
	Version         int        `json:"version"`
	ProposalVersion int        `json:"proposal_version"`
	CancelPenalty   string     `json:"cancel_penalty"`
	ConfirmDeadline *time.Time `json:"confirm_deadline"`
	ClosedAt        *time.Time `json:"closed_at"`
	AutoConfirmed   bool       `json:"auto_confirmed"`
}

// pair is one virtual user's client and provider.
type pair struct {
	client, provider session
	c                *apiClient
}

type session struct {
	ID    string
	Token string
}

// step runs one API action of a scenario, timing it under its name.
func (r *runner) step(ctx context.Context, action string, fn func() error) error {
	start := time.Now()
	err := fn()
	if err != nil {
		r.stats.fail(action, codeOf(err))
		return fmt.Errorf("%s: %w", action, err)
	}
	r.stats.observe(action, time.Since(start))
	return nil
}

// run plays one scenario for p; it returns the order (possibly partly
// done) and an error when an action failed.
func (r *runner) play(ctx context.Context, p pair, s Scenario) (apiOrder, error) {
	var o apiOrder
	c := p.c
	err := r.step(ctx, "create", func() error {
		return c.call(ctx, "POST", "/v1/orders", p.client.Token, map[string]any{
			"provider_id": p.provider.ID, "title": "Bench " + string(s), "description": "load generator",
			"amount": orderAmount.StringFixed(2)}, &o)
	})
	if err != nil {
		return o, err
	}
	act := func(name string, who session, body any) error {
		return r.step(ctx, name, func() error {
			return c.call(ctx, "POST", "/v1/orders/"+o.ID+"/"+name, who.Token, body, &o, "If-Match", etag(o.Version))
		})
	}
	if err := act("accept", p.provider, map[string]int{"proposal_version": o.ProposalVersion}); err != nil {
		return o, err
	}
	if s == Cancelled {
		return o, act("cancel", p.client, map[string]string{"reason": "mudança de planos", "expected_penalty": o.CancelPenalty})
	}
	if err := act("deliver", p.provider, nil); err != nil {
		return o, err
	}
	switch s {
	case Confirmed:
		return o, act("confirm", p.client, nil)
	case AutoConfirmed:
		return o, nil // the deadline completes it (see drain)
	case Disputed:
		if err := act("contest", p.client, map[string]string{"reason": "entrega incompleta"}); err != nil {
			return o, err
		}
		err := r.step(ctx, "evidence", func() error {
			return c.upload(ctx, "/v1/orders/"+o.ID+"/evidence", p.client.Token, "prova.png", "image/png", evidencePNG, nil)
		})
		if err != nil {
			return o, err
		}
		return o, r.step(ctx, "resolve", func() error {
			return c.call(ctx, "POST", "/v1/admin/orders/"+o.ID+"/resolve", r.admin.Token,
				map[string]string{"refund_amount": refund.StringFixed(2), "reason": "entrega parcial"}, &o)
		})
	}
	return o, nil
}

func etag(version int) string { return fmt.Sprintf("%q", fmt.Sprint(version)) }

// evidencePNG is a 1×1 PNG: content that passes the API's magic-byte check.
var evidencePNG, _ = base64.StdEncoding.DecodeString(
	"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
