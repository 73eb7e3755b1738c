package sysconfig_test

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/sysconfig"
)

// bounds is what the admin console documents for each key, restated here
// so the fuzz target is an independent oracle of Key.Validate.
type bounds struct {
	min, max  decimal.Decimal
	minOpen   bool // min itself is refused
	zeroOK    bool // 0 is allowed even though min is open
	decimals  int32
	storeWith func(decimal.Decimal) string // how the API stores an accepted value
}

var (
	percent = bounds{min: decimal.Zero, max: decimal.NewFromInt(100), decimals: 4, storeWith: decimal.Decimal.String}
	hours   = bounds{min: decimal.Zero, minOpen: true, max: decimal.NewFromInt(8760), decimals: 6, storeWith: decimal.Decimal.String}
)

var keyBounds = map[string]bounds{
	sysconfig.PlatformFeePercentage:     percent,
	sysconfig.CancellationFeePercentage: percent,
	sysconfig.ContestationFee: {min: decimal.Zero, max: decimal.RequireFromString("499999999999.99"), decimals: 2,
		storeWith: func(d decimal.Decimal) string { return d.StringFixed(2) }},
	sysconfig.ConfirmationDeadlineHours: hours,
	sysconfig.ProposalExpiryHours:       hours,
	sysconfig.DisputeSLAHours:           hours,
	sysconfig.DisputeNegotiationHours: {min: decimal.Zero, minOpen: true, zeroOK: true, max: decimal.NewFromInt(8760), decimals: 6,
		storeWith: decimal.Decimal.String},
	sysconfig.MaxRevisions: {min: decimal.Zero, max: decimal.NewFromInt(sysconfig.MaxRevisionsCeiling), decimals: 0,
		storeWith: decimal.Decimal.String},
	sysconfig.ConfirmationReminderHours: {min: decimal.Zero, minOpen: true, zeroOK: true, max: decimal.NewFromInt(8760), decimals: 6,
		storeWith: decimal.Decimal.String},
}

// FuzzValidate checks every key against the same value: an accepted value
// lies within the key's documented bounds and precision, and the text the
// API stores for it (and Load validates again at every read) is accepted
// as the same value, so a value the API took can never make the system
// configuration unreadable.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		"5.0", "2.5555", "2.55555", "100", "100.0000", "100.00001", "-0", "-1", "0", "0.00", "10.00", "10.001",
		"0.001", "0.000001", "0.0000001", "1.0000000", "8760", "8760.000001", "8761", "36", "abc", "", " 5", "5.", ".5",
		"+5", "1e3", "1E-4", "1e-7", "1e4", "0e-10000", "1e10000", "1e-10000", "499999999999.99", "500000000000",
		strings.Repeat("9", 60), "0." + strings.Repeat("0", 40) + "1", "NaN",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		require.Len(t, keyBounds, len(sysconfig.Keys), "every key has its bounds here")
		for _, k := range sysconfig.Keys {
			b := keyBounds[k.Name]
			d, err := k.Validate(value)
			if err != nil {
				require.True(t, strings.HasPrefix(err.Error(), k.Name), "%s: the error names the key: %v", k.Name, err)
				continue
			}
			require.False(t, d.LessThan(b.min), "%s=%q accepted below %s", k.Name, value, b.min)
			require.False(t, d.GreaterThan(b.max), "%s=%q accepted above %s", k.Name, value, b.max)
			if b.minOpen && d.Equal(b.min) {
				require.True(t, b.zeroOK, "%s=%q accepted at the excluded minimum", k.Name, value)
			}
			require.True(t, d.Shift(b.decimals).IsInteger(), "%s=%q accepted with more than %d decimals", k.Name, value, b.decimals)

			stored := b.storeWith(d)
			again, err := k.Validate(stored)
			require.NoError(t, err, "%s=%q is stored as %q, which Load refuses", k.Name, value, stored)
			require.True(t, again.Equal(d), "%s=%q is stored as %q, read back as %s", k.Name, value, stored, again)
			require.Equal(t, stored, b.storeWith(again), "%s: the stored spelling is stable", k.Name)
		}
	})
}
