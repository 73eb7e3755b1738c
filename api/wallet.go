package api

import (
	"context"

	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"
)

// PayoutGateway sends payouts to a payment provider.
type PayoutGateway interface {
	// Name identifies the gateway in the payouts table.
	Name() string
	// Submit hands a payout over; it returns the gateway's reference.
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

func (s *Server) mountWallet(r fiber.Router) {}
