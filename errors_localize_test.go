package ordem

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Ensure every code has a pt-BR meaning, English keeps each message as it
// is, and pt-BR translates what the catalogue knows and falls back to the
// code's meaning otherwise, leaving the error itself unchanged.
func TestLocalize(t *testing.T) {
	for _, code := range Codes {
		require.NotEmpty(t, messagesPtBR[code], code)
	}
	e := &Error{Code: EValidation, Message: "invalid fields: email, locale, title",
		Fields: map[string]string{"email": "must be a valid e-mail address", "locale": "must be pt-BR or en",
			"title": "must be at most 200 characters", "x": "something new"}}
	msg, fields := Localize(e, "en")
	require.Equal(t, e.Message, msg)
	require.Equal(t, e.Fields, fields)
	msg, fields = Localize(e, "")
	require.Equal(t, e.Message, msg)
	require.Equal(t, e.Fields, fields)

	msg, fields = Localize(e, LocalePtBR)
	require.Equal(t, "Dados recusados.", msg)
	require.Equal(t, map[string]string{"email": "deve ser um e-mail válido", "locale": "deve ser pt-BR ou en",
		"title": "deve ter no máximo 200 caracteres", "x": "something new"}, fields)
	require.Equal(t, "must be a valid e-mail address", e.Fields["email"], "the error is not changed")

	msg, fields = Localize(Errorf(EUnauthenticated, "wrong e-mail or password"), LocalePtBR)
	require.Equal(t, "E-mail ou senha incorretos.", msg)
	require.Nil(t, fields)
	msg, _ = Localize(Errorf(EInsufficientFunds, "the available balance is less than %s", "12.00"), LocalePtBR)
	require.Equal(t, "Saldo disponível insuficiente.", msg)
	msg, _ = Localize(&Error{Code: "not_a_code", Message: "as is"}, LocalePtBR)
	require.Equal(t, "as is", msg)
}
