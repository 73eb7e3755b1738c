package auth_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/auth"
)

// Ensure each password rule refuses with its own code and a good password
// passes.
func TestCheckPasswordRules(t *testing.T) {
	const email = "maria.silva@example.com"
	for _, tc := range []struct {
		password, code string
	}{
		{"s3cr3t", ordem.EPasswordTooShort},
		{"çãõ-ábc", ordem.EPasswordTooShort}, // 7 runes, more bytes
		{strings.Repeat("x", auth.MaxPasswordLen+1), ordem.EPasswordTooLong},
		{"maria.silva@example.com", ordem.EPasswordContainsEmail},
		{"MARIA.SILVA@EXAMPLE.COM!", ordem.EPasswordContainsEmail},
		{"xx-maria.silva-2024", ordem.EPasswordContainsEmail},
		{"password", ordem.EPasswordTooCommon},
		{"PassWord1", ordem.EPasswordTooCommon},
		{"qwertyuiop", ordem.EPasswordTooCommon},
		{"senha123", ordem.EPasswordTooCommon},
		{"correct horse battery", ""},
		{"çãõ-ábc-d", ""},
	} {
		err := auth.CheckPasswordRules(tc.password, email)
		if tc.code == "" {
			require.Nil(t, err, tc.password)
			continue
		}
		require.NotNil(t, err, tc.password)
		require.Equal(t, tc.code, err.Code, tc.password)
		require.NotEmpty(t, err.Fields["password"])
	}
	// A short part before the @ is not a rule: "ana" is in "banana".
	require.Nil(t, auth.CheckPasswordRules("banana-split-42", "ana@x.io"))
	require.NotNil(t, auth.CheckPasswordRules("ana@x.io-2024", "ana@x.io"))
}

// Ensure the embedded list is there and of the size promised (~1,000).
func TestCommonPasswordList(t *testing.T) {
	require.True(t, auth.IsCommonPassword("123456"))
	require.True(t, auth.IsCommonPassword("Iloveyou"))
	require.False(t, auth.IsCommonPassword("# The most common passwords"))
	require.False(t, auth.IsCommonPassword(""))
	n := 0
	for _, pw := range []string{"s3cret-password", "admin-password-for-tests", "senha-forte-123", "bench-password-0123", "e2e-password-123"} {
		// Passwords the project's own tests and benchmarks use.
		if auth.IsCommonPassword(pw) {
			n++
		}
	}
	require.Zero(t, n)
}
