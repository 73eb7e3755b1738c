package locale

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func TestFormatMoney(t *testing.T) {
	for _, c := range []struct{ amount, currency, locale, want string }{
		{"1234.56", "BRL", PtBR, "R$ 1.234,56"},
		{"1234.56", "BRL", En, "R$1,234.56"},
		{"999999999999.99", "BRL", PtBR, "R$ 999.999.999.999,99"},
		{"0.5", "BRL", PtBR, "R$ 0,50"},
		{"-0.01", "BRL", En, "-R$0.01"},
		{"100", "USD", PtBR, "US$ 100,00"},
		{"100", "USD", En, "$100.00"},
		{"1000", "EUR", PtBR, "€ 1.000,00"},
		{"1000", "CHF", En, "CHF 1,000.00"},
		{"1000", "CHF", PtBR, "CHF 1.000,00"},
	} {
		require.Equal(t, c.want, FormatMoney(decimal.RequireFromString(c.amount), c.currency, c.locale), "%+v", c)
	}
}

func TestFormatTime(t *testing.T) {
	at := time.Date(2026, 1, 2, 18, 4, 0, 0, time.UTC)
	require.Equal(t, "02/01/2026 15:04 (-03)", FormatTime(at, "America/Sao_Paulo", PtBR))
	require.Equal(t, "Jan 2, 2026 3:04 PM (-03)", FormatTime(at, "America/Sao_Paulo", En))
	require.Equal(t, "Jan 2, 2026 6:04 PM (UTC)", FormatTime(at, "UTC", En))
	require.Equal(t, "03/01/2026 03:04 (JST)", FormatTime(at, "Asia/Tokyo", PtBR))
	require.Equal(t, "02/01/2026 18:04 (UTC)", FormatTime(at, "Nowhere/Else", PtBR))
}

func TestValidTimeZone(t *testing.T) {
	for _, z := range []string{"America/Sao_Paulo", "UTC", "Europe/Lisbon", "America/Manaus"} {
		require.True(t, ValidTimeZone(z), z)
	}
	for _, z := range []string{"", "Local", "Mars/Olympus", "america/sao_paulo", "../etc/passwd", strings.Repeat("A", 65)} {
		require.False(t, ValidTimeZone(z), z)
	}
}

func TestFromAcceptLanguage(t *testing.T) {
	for header, want := range map[string]string{
		"":                          "",
		"pt-BR":                     PtBR,
		"pt":                        PtBR,
		"pt-PT,en;q=0.5":            PtBR,
		"en-US,en;q=0.9":            En,
		"EN":                        En,
		"fr-FR, en;q=0.8, pt;q=0.9": PtBR,
		"fr-FR, pt;q=0.2, en;q=0.3": En,
		"de":                        "",
		"pt;q=0, en;q=0.1":          En,
		"en;q=bogus, pt":            PtBR,
		"*":                         "",
	} {
		require.Equal(t, want, FromAcceptLanguage(header), header)
	}
}

// Ensure every kind has texts in every locale, rendered with the reader's
// currency and zone, and that user text in the variables is only text.
func TestRender(t *testing.T) {
	for _, l := range Supported {
		for _, tm := range templates[l].Templates() {
			name := tm.Name()
			if kind, ok := strings.CutSuffix(name, ".title"); ok {
				for _, other := range Supported {
					require.NotNil(t, templates[other].Lookup(kind+".title"), "%s lacks %s", other, name)
					require.NotNil(t, templates[other].Lookup(kind+".body"), "%s lacks %s.body", other, kind)
				}
			}
		}
	}
	deadline := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	vars := map[string]any{"order_title": "Pintura {{.x}}", "hold": "1234.50", "confirm_deadline": &deadline,
		"refund": "400.00", "contest_fee_returned": "10.00", "provider_share": "570.00"}
	pt := Texts{Locale: PtBR, TimeZone: "America/Sao_Paulo", Currency: "BRL"}
	en := Texts{Locale: En, TimeZone: "Europe/Lisbon", Currency: "USD"}

	title, body, ok, err := pt.Render("order_accepted", vars)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "Pedido aceito", title)
	require.Equal(t, "Pintura {{.x}} foi aceito por R$ 1.234,50; o valor está retido em garantia.", body)
	title, body, _, err = en.Render("order_accepted", vars)
	require.NoError(t, err)
	require.Equal(t, "Order accepted", title)
	require.Equal(t, "Pintura {{.x}} was accepted for $1,234.50; the amount is held in escrow.", body)

	_, body, _, err = pt.Render("order_delivered", vars)
	require.NoError(t, err)
	require.Contains(t, body, "até 10/03/2026 12:00 (-03);")
	_, body, _, err = en.Render("order_delivered", vars)
	require.NoError(t, err)
	require.Contains(t, body, "by Mar 10, 2026 3:00 PM (WET);")

	_, body, _, err = pt.Render("dispute_resolved", vars)
	require.NoError(t, err)
	require.Equal(t, "A disputa de Pintura {{.x}} foi resolvida: R$ 410,00 ao cliente, R$ 570,00 ao prestador.", body)

	// A locale without texts falls back to the default; a kind without
	// texts says so.
	title, _, ok, err = Texts{Locale: "fr", Currency: "BRL"}.Render("order_expired", vars)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "Negociação expirada", title)
	_, _, ok, err = pt.Render("no_such_kind", vars)
	require.NoError(t, err)
	require.False(t, ok)
	require.True(t, Has("order_created"))
	require.False(t, Has("no_such_kind"))
}
