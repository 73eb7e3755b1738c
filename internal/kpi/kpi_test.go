package kpi_test

import (
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/kpi"
)

// Ensure a ratio or a mean over nothing has no value (never 0 or NaN), and
// a mean is rounded to the millisecond.
func TestRatioAndMean(t *testing.T) {
	_, ok := kpi.Ratio{Numerator: 0, Denominator: 0}.Value()
	require.False(t, ok)
	v, ok := kpi.Ratio{Numerator: 1, Denominator: 3}.Value()
	require.True(t, ok)
	require.InDelta(t, 0.3333333, v, 1e-6)

	_, ok = kpi.Mean{}.Seconds()
	require.False(t, ok)
	v, ok = kpi.Mean{Count: 3, TotalSeconds: decimal.RequireFromString("10")}.Seconds()
	require.True(t, ok)
	require.Equal(t, 3.333, v)
}
