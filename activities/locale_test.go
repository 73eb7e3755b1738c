package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/ordertest"
)

// Ensure each recipient's notifications (and e-mails) are written in their
// own language, with amounts in the deployment's currency and times in
// their own zone.
func TestNoticesFollowEachRecipient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := ordertest.New(t)
	_, err := f.Pool.Exec(ctx, `UPDATE users SET locale = 'en', time_zone = 'Asia/Tokyo' WHERE id = $1`, f.Provider)
	require.NoError(t, err)
	f.Deposit(t, f.Client, "2000.00")
	r := newRun(t, f)
	r.acts.Currency = "EUR"
	r.env = newEnv(r.acts)
	r.create("1234.50")
	r.advance(time.Hour)
	r.must(r.accept(r.provider()))
	r.advance(time.Hour)
	r.must(r.deliver())

	text := func(user int64, kind string) (title, body string) {
		t.Helper()
		require.NoError(t, f.Pool.QueryRow(ctx, `SELECT title, body FROM notifications WHERE user_id = $1 AND order_id = $2 AND kind = $3`,
			user, r.id, kind).Scan(&title, &body))
		return title, body
	}
	title, body := text(f.Provider, "order_created")
	require.Equal(t, "New order", title)
	require.Contains(t, body, "(€1,234.50)")
	title, body = text(f.Client, "order_accepted")
	require.Equal(t, "Pedido aceito", title)
	require.Contains(t, body, "foi aceito por € 1.234,50;")
	title, body = text(f.Provider, "order_accepted")
	require.Equal(t, "Order accepted", title)
	require.Contains(t, body, "was accepted for €1,234.50;")
	// The client's deadline in São Paulo time.
	var deadline time.Time
	require.NoError(t, f.Pool.QueryRow(ctx, `SELECT confirm_deadline FROM orders WHERE id = $1`, r.id).Scan(&deadline))
	_, body = text(f.Client, "order_delivered")
	sp, err := time.LoadLocation("America/Sao_Paulo")
	require.NoError(t, err)
	require.Contains(t, body, "até "+deadline.In(sp).Format("02/01/2006 15:04")+" (-03);")
	// The e-mail to the provider, in English.
	var subject string
	require.NoError(t, f.Pool.QueryRow(ctx, `SELECT subject FROM email_outbox WHERE user_id = $1 AND order_id = $2 AND kind = 'order_created'`,
		f.Provider, r.id).Scan(&subject))
	require.Equal(t, "[Ordem] New order", subject)
	f.RequireLedgerClean(t)
}
