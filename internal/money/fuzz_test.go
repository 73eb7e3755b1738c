package money_test

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/money"
)

// The bounds as the spec writes them, restated here rather than read
// from the package, so a change of money.MaxAmount shows up as a failure.
var (
	maxAmount      = decimal.RequireFromString("999999999999.99")
	maxOrderAmount = decimal.RequireFromString("499999999999.99")
)

// plainAmount reports whether s is an amount in its plain spelling:
// digits without a sign or leading zeros, and at most two decimals after
// a dot ("150", "150.5", "0.01"). Written out by hand so the oracle shares
// nothing with decimal.NewFromString.
func plainAmount(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (len(whole) > 1 && whole[0] == '0') || !allDigits(whole) {
		return false
	}
	if dot && (frac == "" || len(frac) > 2 || !allDigits(frac)) {
		return false
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FuzzParseAmount checks that every amount ParseAmount accepts is a
// positive number of cents no larger than MaxAmount that round-trips
// through its two-decimal spelling, and that every plain amount within
// the bounds is accepted.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{
		"0.01", "1", "150.00", "150.5", "999999999999.99", "1000000000000.00", "499999999999.99", "500000000000.00",
		"5.", ".5", "0150", "+5", "-0.00", "-1", "0", "0.00", "0.001", "1.001", "1e3", "1E-2", "1e-3", "1.5e1",
		"NaN", "Inf", "", " 1", "1 ", "1_000", "0x10", "१२", "1,00", "--1", "1..0",
		strings.Repeat("9", 100), "0." + strings.Repeat("0", 50) + "1", "1." + strings.Repeat("0", 60),
		// Exponents: decimal refuses beyond ±10000 (MaxDecodeExponent); at
		// the edge, comparing against the bounds builds 10^10000, which
		// must stay cheap.
		"1e10000", "1e-10000", "1e10001", "1e999999999", "1e-2147483648",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := money.ParseAmount(s)
		if err != nil {
			// Refused: it must not have been a plain amount in bounds.
			if plainAmount(s) {
				v := decimal.RequireFromString(s)
				require.False(t, v.IsPositive() && !v.GreaterThan(maxAmount), "%q refused: %v", s, err)
			}
			return
		}
		require.True(t, d.IsPositive(), "%q accepted as %s", s, d)
		require.False(t, d.GreaterThan(maxAmount), "%q accepted above the maximum", s)
		require.True(t, d.Shift(2).IsInteger(), "%q accepted with more than two decimals", s)
		require.True(t, money.HasCents(d), "%q accepted but HasCents disagrees", s)

		// The spelling every answer uses parses back to the same amount.
		fixed := d.StringFixed(2)
		require.True(t, plainAmount(fixed), "%q shown as %q", s, fixed)
		again, err := money.ParseAmount(fixed)
		require.NoError(t, err, "%q shown as %q", s, fixed)
		require.True(t, again.Equal(d), "%q: %q parses to %s", s, fixed, again)
		require.Equal(t, fixed, again.StringFixed(2))

		// An order amount is an amount with the tighter bound.
		orderErr := money.ValidateOrderAmount(d)
		require.Equal(t, d.GreaterThan(maxOrderAmount), orderErr != nil, "%q as an order amount: %v", s, orderErr)
	})
}
