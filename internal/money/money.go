// Package money is the one place where Ordem computes amounts: parsing,
// rounding, fees and splits. Every posting is built from these results, so
// a split always sums back to exactly the amount it came from.
package money

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Scale is the number of decimal places of every amount.
const Scale = 2

var (
	hundred = decimal.NewFromInt(100)
	// MaxAmount bounds a single amount well inside NUMERIC(20,2), so sums
	// of many amounts can never overflow a column.
	MaxAmount = decimal.RequireFromString("999999999999.99")
	// MaxOrderAmount bounds an order's amount (and the contestation fee):
	// the largest leg any transition of an order posts is the amount plus
	// the contestation fee (a ruling, an admin cancel of a dispute) or the
	// amount plus a penalty of at most 100% (a provider's cancellation),
	// so with both at most half of MaxAmount every leg fits.
	MaxOrderAmount = decimal.RequireFromString("499999999999.99")
)

// Round rounds half-up to the cent. Amounts here are never negative, where
// half-up and half-away-from-zero agree.
func Round(d decimal.Decimal) decimal.Decimal { return d.Round(Scale) }

// HasCents reports whether d has at most two decimal places.
func HasCents(d decimal.Decimal) bool { return d.Equal(d.Truncate(Scale)) }

// ValidateAmount checks an order, deposit or payout amount: positive, at
// most two decimal places, at most MaxAmount.
func ValidateAmount(d decimal.Decimal) error {
	switch {
	case !d.IsPositive():
		return fmt.Errorf("amount must be greater than zero")
	case !HasCents(d):
		return fmt.Errorf("amount must have at most two decimal places")
	case d.GreaterThan(MaxAmount):
		return fmt.Errorf("amount must not exceed %s", MaxAmount.StringFixed(Scale))
	}
	return nil
}

// ValidateOrderAmount checks an order's amount: ValidateAmount, and at most
// MaxOrderAmount.
func ValidateOrderAmount(d decimal.Decimal) error {
	if err := ValidateAmount(d); err != nil {
		return err
	}
	if d.GreaterThan(MaxOrderAmount) {
		return fmt.Errorf("amount must not exceed %s", MaxOrderAmount.StringFixed(Scale))
	}
	return nil
}

// ParseAmount parses and validates an amount written as a decimal string.
func ParseAmount(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("amount %q is not a decimal number", s)
	}
	if err := ValidateAmount(d); err != nil {
		return decimal.Decimal{}, err
	}
	return d, nil
}

// ValidatePercentage checks a fee percentage: between 0 and 100 inclusive.
func ValidatePercentage(p decimal.Decimal) error {
	if p.IsNegative() || p.GreaterThan(hundred) {
		return fmt.Errorf("percentage must be between 0 and 100")
	}
	return nil
}

// Percent returns pct% of amount, rounded half-up to the cent.
func Percent(amount, pct decimal.Decimal) decimal.Decimal {
	return Round(amount.Mul(pct).Div(hundred))
}

// Split is how a released amount is shared.
type Split struct {
	// Fee is the platform's revenue.
	Fee decimal.Decimal
	// ProviderShare is amount − Fee, so the two always sum to amount.
	ProviderShare decimal.Decimal
}

// ReleaseSplit splits amount between platform and provider at feePct.
func ReleaseSplit(amount, feePct decimal.Decimal) Split {
	fee := Percent(amount, feePct)
	return Split{Fee: fee, ProviderShare: amount.Sub(fee)}
}

// Resolution is the outcome of an admin ruling on a dispute.
type Resolution struct {
	// Refund goes back to the client (R).
	Refund decimal.Decimal
	// Release is the provider's side of the ruling, amount − R, split
	// between platform fee and provider share.
	Release Split
	// ContestFeeToClient is the contestation fee returned (R > 0).
	ContestFeeToClient decimal.Decimal
	// ContestFeeToPlatform is the contestation fee forfeited (R = 0).
	ContestFeeToPlatform decimal.Decimal
}

// Resolve computes a dispute ruling: the client gets refund back, the
// provider gets the rest minus the platform fee on that rest, and the
// contestation fee goes back to the client when refund > 0 or to the
// platform when refund = 0. refund must be within [0, amount].
func Resolve(amount, refund, feePct, contestFee decimal.Decimal) (Resolution, error) {
	if refund.IsNegative() || refund.GreaterThan(amount) || !HasCents(refund) {
		return Resolution{}, fmt.Errorf("refund must be between 0.00 and %s with at most two decimal places", amount.StringFixed(Scale))
	}
	r := Resolution{
		Refund:               refund,
		Release:              ReleaseSplit(amount.Sub(refund), feePct),
		ContestFeeToClient:   decimal.Zero,
		ContestFeeToPlatform: decimal.Zero,
	}
	if refund.IsPositive() {
		r.ContestFeeToClient = contestFee
	} else {
		r.ContestFeeToPlatform = contestFee
	}
	return r, nil
}
