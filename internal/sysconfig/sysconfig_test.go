package sysconfig_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/sysconfig"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		key, value string
		ok         bool
	}{
		{sysconfig.PlatformFeePercentage, "5.0", true},
		{sysconfig.PlatformFeePercentage, "2.5555", true},
		{sysconfig.PlatformFeePercentage, "2.55555", false}, // the order snapshot keeps four places
		{sysconfig.PlatformFeePercentage, "100", true},
		{sysconfig.PlatformFeePercentage, "100.01", false},
		{sysconfig.PlatformFeePercentage, "-1", false},
		{sysconfig.ContestationFee, "10.00", true},
		{sysconfig.ContestationFee, "0", true},
		{sysconfig.ContestationFee, "10.001", false},
		{sysconfig.ConfirmationDeadlineHours, "0.001", true},
		{sysconfig.ConfirmationDeadlineHours, "0", false},
		{sysconfig.ConfirmationDeadlineHours, "8761", false},
		{sysconfig.ConfirmationReminderHours, "0", true},
		{sysconfig.ProposalExpiryHours, "abc", false},
	}
	for _, c := range cases {
		k, ok := sysconfig.Lookup(c.key)
		require.True(t, ok)
		_, err := k.Validate(c.value)
		require.Equal(t, c.ok, err == nil, "%s=%s: %v", c.key, c.value, err)
	}
	_, ok := sysconfig.Lookup("nope")
	require.False(t, ok)
}
