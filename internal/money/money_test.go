package money_test

import (
	"math/rand/v2"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/money"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func TestPercent(t *testing.T) {
	cases := []struct{ amount, pct, want string }{
		{"150.00", "5.0", "7.50"},
		{"0.01", "5", "0.00"},   // 0.0005 rounds down
		{"0.10", "5", "0.01"},   // 0.005 rounds half-up
		{"0.30", "5", "0.02"},   // 0.015 rounds half-up
		{"33.33", "10", "3.33"}, // 3.333
		{"33.35", "10", "3.34"}, // 3.335 half-up
		{"100.00", "0", "0.00"}, // no fee
		{"100.00", "100", "100.00"},
		{"999999999999.99", "5", "50000000000.00"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, money.Percent(d(c.amount), d(c.pct)).StringFixed(2), "%s%% of %s", c.pct, c.amount)
	}
}

// Ensure a release split never loses or invents a cent, over many random
// amounts and fee percentages.
func TestReleaseSplitProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		amount := decimal.New(rng.Int64N(100_000_000_00)+1, -2) // 0.01 … 100,000,000.00
		pct := decimal.New(rng.Int64N(100_0000+1), -4)          // 0.0000 … 100.0000
		s := money.ReleaseSplit(amount, pct)
		require.True(t, s.Fee.Add(s.ProviderShare).Equal(amount), "fee+share != amount for %s at %s%%", amount, pct)
		require.False(t, s.Fee.IsNegative(), "negative fee for %s at %s%%", amount, pct)
		require.False(t, s.ProviderShare.IsNegative(), "negative share for %s at %s%%", amount, pct)
		require.True(t, money.HasCents(s.Fee) && money.HasCents(s.ProviderShare), "more than two decimals for %s at %s%%", amount, pct)
	}
}

// Ensure every dispute ruling distributes exactly the amount plus the
// contestation fee.
func TestResolveProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fee := d("10.00")
	for i := 0; i < 50000; i++ {
		amount := decimal.New(rng.Int64N(10_000_000)+1, -2)
		refund := decimal.New(rng.Int64N(amount.Shift(2).IntPart()+1), -2)
		if i%10 == 0 {
			refund = decimal.Zero
		} else if i%10 == 1 {
			refund = amount
		}
		pct := decimal.New(rng.Int64N(10001), -2)
		r, err := money.Resolve(amount, refund, pct, fee)
		require.NoError(t, err)
		total := r.Refund.Add(r.Release.Fee).Add(r.Release.ProviderShare).Add(r.ContestFeeToClient).Add(r.ContestFeeToPlatform)
		require.True(t, total.Equal(amount.Add(fee)), "ruling of %s on %s distributes %s", refund, amount, total)
		if refund.IsZero() {
			require.True(t, r.ContestFeeToPlatform.Equal(fee))
		} else {
			require.True(t, r.ContestFeeToClient.Equal(fee))
		}
	}
}

func TestResolveRefusesOutOfRange(t *testing.T) {
	for _, refund := range []string{"-0.01", "100.01", "10.001"} {
		_, err := money.Resolve(d("100.00"), d(refund), d("5"), d("10"))
		require.Error(t, err, refund)
	}
}

func TestParseAmount(t *testing.T) {
	for _, ok := range []string{"0.01", "1", "150.00", "150.5", "999999999999.99"} {
		_, err := money.ParseAmount(ok)
		require.NoError(t, err, ok)
	}
	for _, bad := range []string{"0", "0.00", "-1", "1.001", "1e3x", "", "abc", "1000000000000.00", "NaN"} {
		_, err := money.ParseAmount(bad)
		require.Error(t, err, bad)
	}
}
