package api

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/wallet"
)

// PayoutGateway sends payouts to a payment provider.
type PayoutGateway interface {
	// Name identifies the gateway in the payouts table.
	Name() string
	// Submit hands a payout over; it returns the gateway's reference. It is
	// called after the payout and its ledger posting are committed; an
	// error leaves the payout pending for an admin to mark paid or failed.
	Submit(ctx context.Context, payoutID, userID int64, amount decimal.Decimal) (ref string, err error)
}

// ManualGateway leaves payouts pending until an admin marks them paid or
// failed (the operator pays by hand, e.g. by PIX).
type ManualGateway struct{}

// Name implements PayoutGateway.
func (ManualGateway) Name() string { return "manual" }

// Submit implements PayoutGateway: nothing to send.
func (ManualGateway) Submit(context.Context, int64, int64, decimal.Decimal) (string, error) {
	return "", nil
}

// ---------------------------------------------------------------------------
// Payouts

// Payout is a user's withdrawal to outside Ordem.
type Payout struct {
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	Amount   Money  `json:"amount"`
	Currency string `json:"currency"`
	// Status is pending, paid or failed.
	Status        string     `json:"status"`
	Gateway       string     `json:"gateway"`
	GatewayRef    string     `json:"gateway_ref,omitempty"`
	FailureReason string     `json:"failure_reason,omitempty"`
	DecidedBy     string     `json:"decided_by,omitempty"`
	DecidedAt     *time.Time `json:"decided_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// PayoutResult answers a payout request: the payout and the user's
// balances after it.
type PayoutResult struct {
	Payout Payout        `json:"payout"`
	Wallet WalletBalance `json:"wallet"`
}

func (s *Server) payout(p wallet.Payout) Payout {
	out := Payout{ID: id(p.ID), UserID: id(p.UserID), Amount: M(p.Amount), Currency: s.Config.Currency, Status: p.Status,
		Gateway: p.Gateway, GatewayRef: p.GatewayRef, FailureReason: p.FailureReason, DecidedAt: p.DecidedAt,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
	if p.DecidedBy != 0 {
		out.DecidedBy = id(p.DecidedBy)
	}
	return out
}

// forCaller hides what only admins see: which admin decided.
func (p Payout) forCaller(c *principal) Payout {
	if c.Role != ordem.RoleAdmin {
		p.DecidedBy = ""
	}
	return p
}

// requestPayout moves the caller's available balance to
// platform:payouts_pending together with the payouts row
// (wallet.RequestPayout), then hands the payout to the gateway.
func (s *Server) requestPayout(c *fiber.Ctx) error {
	p := caller(c)
	var req struct {
		Amount *Money `json:"amount"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	f := fieldErrors{}
	checkAmount(f, "amount", req.Amount)
	if err := f.err(); err != nil {
		return err
	}
	amount := req.Amount.Decimal
	ctx := c.UserContext()
	var key *string
	if a := attemptOf(c); a != nil {
		key = &a.key
	}
	var (
		out  PayoutResult
		row  wallet.Payout
		made bool
	)
	err := postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		row, made, err = wallet.RequestPayout(ctx, tx, wallet.PayoutRequest{UserID: p.ID, Amount: amount,
			Gateway: s.Payouts.Name(), IdempotencyKey: key})
		if err != nil {
			return err
		}
		out.Wallet, err = s.walletBalance(ctx, tx, p.ID)
		return err
	})
	if err != nil {
		return err
	}
	if made {
		// The payout is committed: a gateway that fails now leaves it
		// pending for an admin to mark paid or failed.
		ref, err := s.Payouts.Submit(ctx, row.ID, p.ID, amount)
		if err != nil {
			s.Logger.Error("Payout gateway refused a payout; it stays pending", "request_id", requestID(c),
				"payout_id", row.ID, "gateway", s.Payouts.Name(), "error", err)
		} else if ref != "" {
			if row, err = wallet.SetGatewayRef(ctx, s.Pool, row.ID, truncate(ref, 200)); err != nil {
				return err
			}
		}
	}
	out.Payout = s.payout(row).forCaller(p)
	return c.Status(fiber.StatusCreated).JSON(out)
}

type decidePayoutRequest struct {
	// GatewayRef records the payment's proof (e.g. a PIX end-to-end id).
	GatewayRef string `json:"gateway_ref"`
	Reason     string `json:"reason"`
}

// decidePayout marks a pending payout paid or failed
// (wallet.DecidePayout), with the admin's reason in the audit log.
func (s *Server) decidePayout(outcome string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := caller(c)
		payoutID, err := pathID(c, "id")
		if err != nil {
			return wallet.ErrNoSuchPayout
		}
		var req decidePayoutRequest
		// Either decision needs its reason (an admin action); a missing
		// body is a missing reason.
		if err := decodeOptionalJSON(c, &req); err != nil {
			return err
		}
		f := fieldErrors{}
		checkReason(f, req.Reason)
		checkReference(f, "gateway_ref", req.GatewayRef, false)
		if outcome == wallet.PayoutFailed && req.GatewayRef != "" {
			f.add("gateway_ref", "is only for paid payouts")
		}
		if err := f.err(); err != nil {
			return err
		}
		req.Reason = strings.TrimSpace(req.Reason)
		ctx := c.UserContext()
		a := attemptOf(c)
		var row Payout
		err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
			d, err := wallet.DecidePayout(ctx, tx, wallet.Decision{PayoutID: payoutID, Outcome: outcome,
				GatewayRef: req.GatewayRef, Reason: req.Reason, DecidedBy: p.ID, Retry: a != nil && a.takenOver,
				Currency: s.Config.Currency})
			if err != nil {
				return err
			}
			row = s.payout(d.After)
			if d.Replayed {
				return nil
			}
			cur := s.payout(d.Before)
			return auditChange(c, tx, p, "mark_payout_"+outcome, "payout", payoutID, req.Reason, map[string]any{
				"user_id": row.UserID, "amount": row.Amount, "gateway": row.Gateway, "gateway_ref": row.GatewayRef},
				map[string]any{"status": cur.Status, "gateway_ref": cur.GatewayRef},
				map[string]any{"status": row.Status, "gateway_ref": row.GatewayRef, "failure_reason": row.FailureReason})
		})
		if err != nil {
			return err
		}
		return c.JSON(row)
	}
}

func (s *Server) listOwnPayouts(c *fiber.Ctx) error {
	return s.listPayouts(c, caller(c).ID)
}

func (s *Server) adminListPayouts(c *fiber.Ctx) error {
	var userID int64
	if v := c.Query("user_id"); v != "" {
		f := fieldErrors{}
		if userID = parseUserID(f, "user_id", v); userID == 0 {
			return f.err()
		}
	}
	return s.listPayouts(c, userID)
}

// listPayouts lists payouts newest first, of one user (userID != 0) or of
// everyone, filterable by ?status=.
func (s *Server) listPayouts(c *fiber.Ctx, userID int64) error {
	p := caller(c)
	pg, err := parsePage(c)
	if err != nil {
		return err
	}
	status := c.Query("status")
	if status != "" && status != wallet.PayoutPending && status != wallet.PayoutPaid && status != wallet.PayoutFailed {
		return (fieldErrors{"status": "must be pending, paid or failed"}).err()
	}
	list, err := wallet.ListPayouts(c.UserContext(), s.Pool, userID, status, walletPage(pg))
	if err != nil {
		return err
	}
	return c.JSON(pageOf(list, pg.limit, func(x wallet.Payout) (time.Time, int64) { return x.CreatedAt, x.ID },
		func(x wallet.Payout) Payout { return s.payout(x).forCaller(p) }))
}

func (s *Server) getOwnPayout(c *fiber.Ctx) error {
	return s.getPayout(c, caller(c).ID)
}

func (s *Server) adminGetPayout(c *fiber.Ctx) error {
	return s.getPayout(c, 0)
}

// getPayout answers one payout, of userID only when userID != 0: another
// user's payout is not_found.
func (s *Server) getPayout(c *fiber.Ctx, userID int64) error {
	payoutID, err := pathID(c, "id")
	if err != nil {
		return wallet.ErrNoSuchPayout
	}
	row, err := wallet.GetPayout(c.UserContext(), s.Pool, payoutID, userID)
	if err != nil {
		return err
	}
	return c.JSON(s.payout(row).forCaller(caller(c)))
}
