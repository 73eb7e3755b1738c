package activities_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/ordertest"
	"github.com/ordem/ordem/internal/sysconfig"
	"github.com/ordem/ordem/workflows/order"
)

// Amounts used throughout, with the default config (fee 5 %, contestation
// fee 10.00, cancellation 10 %): an order of 123.45 from a client who
// deposited 500.00.
//
//	hold                      client 376.55 / 123.45
//	release: fee 6.1725 → 6.17, provider 117.28
//	cancellation penalty: 12.345 → 12.35 (half-up), client gets 111.10 back
//	contest: client 366.55 / 133.45
const (
	deposit = "500.00"
	amount  = "123.45"
)

func TestCreateOrder(t *testing.T) {
	t.Parallel()

	t.Run("Ensure the row, first proposal, event, notification and terms snapshot follow system config", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		f.SetConfig(t, sysconfig.PlatformFeePercentage, "7.5")
		f.SetConfig(t, sysconfig.ContestationFee, "12.50")
		f.SetConfig(t, sysconfig.CancellationFeePercentage, "15")
		f.SetConfig(t, sysconfig.ConfirmationDeadlineHours, "24")
		f.SetConfig(t, sysconfig.ProposalExpiryHours, "48")
		f.SetConfig(t, sysconfig.ConfirmationReminderHours, "6")
		f.SetConfig(t, sysconfig.DisputeSLAHours, "72")
		r := newRun(t, f)
		due := t0.Add(10 * 24 * time.Hour)

		res, err := r.createWith(r.input(amount, &due))
		require.NoError(t, err)
		require.False(t, res.Replayed)
		tm := res.Terms
		require.Equal(t, []string{"7.5", "12.5", "15", "24", "48", "6", "72"}, []string{
			tm.PlatformFeePercentage.String(), tm.ContestationFee.String(), tm.CancellationFeePercentage.String(),
			tm.ConfirmationDeadlineHours.String(), tm.ProposalExpiryHours.String(), tm.ConfirmationReminderHours.String(),
			tm.DisputeSLAHours.String()})

		// The read model: the order as created, with its fee snapshot.
		require.Equal(t, ordertest.OrderRow{Status: "negotiating", Amount: amount, PlatformRevenue: "0.00",
			ProviderNet: "0.00", ContestFeeHeld: "0.00", ProposalVersion: 1}, f.Order(t, r.id))
		var (
			clientID, providerID, lastBy        int64
			title, desc                         string
			fee, cfee, cpct, cdh, peh, crh, sla decimal.Decimal
			createdAt, updatedAt, expiresAt     time.Time
		)
		require.NoError(t, f.Pool.QueryRow(context.Background(), `
			SELECT client_id, provider_id, last_proposed_by, title, description, platform_fee_percentage,
			       contestation_fee, cancellation_fee_percentage, confirmation_deadline_hours, proposal_expiry_hours,
			       confirmation_reminder_hours, dispute_sla_hours, created_at, updated_at, proposal_expires_at
			FROM orders WHERE id = $1`, r.id).Scan(&clientID, &providerID, &lastBy, &title, &desc, &fee, &cfee, &cpct,
			&cdh, &peh, &crh, &sla, &createdAt, &updatedAt, &expiresAt))
		require.Equal(t, []int64{f.Client, f.Provider, f.Client}, []int64{clientID, providerID, lastBy})
		require.Equal(t, []string{"Pintura da sala", "Duas demãos"}, []string{title, desc})
		for _, p := range [][2]decimal.Decimal{{fee, tm.PlatformFeePercentage}, {cfee, tm.ContestationFee},
			{cpct, tm.CancellationFeePercentage}, {cdh, tm.ConfirmationDeadlineHours}, {peh, tm.ProposalExpiryHours},
			{crh, tm.ConfirmationReminderHours}, {sla, tm.DisputeSLAHours}} {
			require.True(t, p[0].Equal(p[1]), "row snapshot %s, result %s", p[0], p[1])
		}
		require.True(t, createdAt.Equal(t0) && updatedAt.Equal(t0))
		requireTime(t, t0.Add(48*time.Hour), &expiresAt, "proposal expiry from the snapshot")
		requireTime(t, due, readExtra(t, f, r.id).DueDate)

		// The first proposal is the client's.
		var version int
		var by int64
		var role string
		var amt decimal.Decimal
		var prev *decimal.Decimal
		var propDue *time.Time
		require.NoError(t, f.Pool.QueryRow(context.Background(), `
			SELECT version, proposed_by, proposer_role, amount, previous_amount, due_date
			FROM order_proposals WHERE order_id = $1`, r.id).Scan(&version, &by, &role, &amt, &prev, &propDue))
		require.Equal(t, 1, version)
		require.Equal(t, f.Client, by)
		require.Equal(t, "client", role)
		require.Equal(t, amount, amt.StringFixed(2))
		require.Nil(t, prev)
		requireTime(t, due, propDue)

		require.Equal(t, []string{"create:>negotiating"}, f.Events(t, r.id))
		require.Equal(t, map[int64]int{f.Provider: 1}, f.Notifications(t, r.id, "order_created"))
		require.Empty(t, ledgerKinds(t, f, r.id), "creating moves no money")
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure a replay returns the same terms even after config changed", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f)
		in := r.createInput(r.input(amount, nil))
		var first order.CreateOrderResult
		require.NoError(t, r.exec(order.ActivityCreateOrder, in, &first))
		require.False(t, first.Replayed)
		require.Equal(t, "5", first.Terms.PlatformFeePercentage.String())

		f.SetConfig(t, sysconfig.PlatformFeePercentage, "50")
		f.SetConfig(t, sysconfig.ContestationFee, "99.00")
		f.SetConfig(t, sysconfig.ProposalExpiryHours, "1")

		var again order.CreateOrderResult
		require.NoError(t, r.exec(order.ActivityCreateOrder, in, &again))
		require.True(t, again.Replayed)
		require.Equal(t, first.Terms, again.Terms, "a replay returns the first snapshot, representation included")

		require.Equal(t, []string{"create:>negotiating"}, f.Events(t, r.id))
		require.Equal(t, map[int64]int{f.Provider: 1}, f.Notifications(t, r.id, "order_created"))
		require.Equal(t, 1, count(t, f, `SELECT count(*) FROM order_proposals WHERE order_id = $1`, r.id))
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure the terms returned are the terms stored, whatever the config's precision", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		// The snapshot column is NUMERIC(7, 4) and sysconfig admits four
		// decimals: the workflow must apply exactly what the order row
		// records, first run or replay.
		f.SetConfig(t, sysconfig.PlatformFeePercentage, "2.5556")
		r := newRun(t, f)
		in := r.createInput(r.input(amount, nil))
		var first, again order.CreateOrderResult
		require.NoError(t, r.exec(order.ActivityCreateOrder, in, &first))
		require.NoError(t, r.exec(order.ActivityCreateOrder, in, &again))
		require.True(t, again.Replayed)
		require.Equal(t, "2.5556", first.Terms.PlatformFeePercentage.String(), "the stored snapshot")
		require.Equal(t, first.Terms, again.Terms)
	})

	refusals := []struct {
		name   string
		mutate func(f *ordertest.Fixture, in *order.Input)
	}{
		{"Ensure an unknown provider is refused", func(f *ordertest.Fixture, in *order.Input) { in.ProviderID = 987654321 }},
		{"Ensure a soft-deleted provider is refused", func(f *ordertest.Fixture, in *order.Input) {
			_, err := f.Pool.Exec(context.Background(), `UPDATE users SET deleted_at = now() WHERE id = $1`, in.ProviderID)
			if err != nil {
				panic(err)
			}
		}},
		{"Ensure a client given as provider is refused", func(f *ordertest.Fixture, in *order.Input) { in.ProviderID = f.OtherClient }},
		{"Ensure an admin given as provider is refused", func(f *ordertest.Fixture, in *order.Input) { in.ProviderID = f.Admin }},
		{"Ensure a provider given as client is refused", func(f *ordertest.Fixture, in *order.Input) { in.ClientID = f.OtherProvider }},
		{"Ensure a soft-deleted client is refused", func(f *ordertest.Fixture, in *order.Input) {
			_, err := f.Pool.Exec(context.Background(), `UPDATE users SET deleted_at = now() WHERE id = $1`, in.ClientID)
			if err != nil {
				panic(err)
			}
		}},
		{"Ensure a zero amount is refused", func(f *ordertest.Fixture, in *order.Input) { in.Amount = d("0") }},
		{"Ensure a negative amount is refused", func(f *ordertest.Fixture, in *order.Input) { in.Amount = d("-10.00") }},
		{"Ensure an amount with three decimals is refused", func(f *ordertest.Fixture, in *order.Input) { in.Amount = d("10.001") }},
		{"Ensure an amount above the maximum is refused", func(f *ordertest.Fixture, in *order.Input) {
			in.Amount = d("1000000000000.00")
		}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := ordertest.New(t)
			r := newRun(t, f)
			in := r.input(amount, nil)
			tc.mutate(f, &in)
			_, err := r.createWith(in)
			requireRefusal(t, err, ordem.EValidation)
			require.Zero(t, count(t, f, `SELECT count(*) FROM orders`), "no order row")
			require.Zero(t, count(t, f, `SELECT count(*) FROM order_events`), "no event")
			require.Zero(t, count(t, f, `SELECT count(*) FROM order_proposals`), "no proposal")
			require.Zero(t, count(t, f, `SELECT count(*) FROM notifications`), "no notification")
			f.RequireLedgerClean(t)
		})
	}
}

func TestRecordProposal(t *testing.T) {
	t.Parallel()

	t.Run("Ensure each proposal is versioned and audited with the previous amount and due date", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		f.Deposit(t, f.Client, deposit)
		r := newRun(t, f)
		due1 := t0.Add(7 * 24 * time.Hour)
		due2 := t0.Add(9 * 24 * time.Hour)
		_, err := r.createWith(r.input("100.00", &due1))
		require.NoError(t, err)

		r.advance(time.Hour)
		v2 := r.propose(r.provider(), "120.00", &due2, "inclui material")
		r.must(v2)
		require.Equal(t, ordertest.OrderRow{Status: "negotiating", Amount: "120.00", PlatformRevenue: "0.00",
			ProviderNet: "0.00", ContestFeeHeld: "0.00", ProposalVersion: 2}, f.Order(t, r.id))
		x := readExtra(t, f, r.id)
		require.Equal(t, f.Provider, x.LastProposedBy)
		requireTime(t, due2, x.DueDate)
		requireTime(t, r.now.Add(72*time.Hour), &x.ProposalExpiresAt, "a proposal restarts the expiry")
		require.Equal(t, map[int64]int{f.Client: 1}, f.Notifications(t, r.id, "proposal"))

		r.advance(time.Hour)
		v3 := r.propose(r.client(), "110.00", nil, "")
		r.must(v3)
		require.Equal(t, map[int64]int{f.Client: 1, f.Provider: 1}, f.Notifications(t, r.id, "proposal"))

		type proposal struct {
			Version      int
			By           int64
			Role         string
			Amount, Prev string
			Due, PrevDue *time.Time
			Note         string
			CreatedAt    time.Time
		}
		rows, err := f.Pool.Query(context.Background(), `
			SELECT version, proposed_by, proposer_role, amount::text, coalesce(previous_amount::text, ''),
			       due_date, previous_due_date, note, created_at
			FROM order_proposals WHERE order_id = $1 ORDER BY version`, r.id)
		require.NoError(t, err)
		var got []proposal
		for rows.Next() {
			var p proposal
			require.NoError(t, rows.Scan(&p.Version, &p.By, &p.Role, &p.Amount, &p.Prev, &p.Due, &p.PrevDue, &p.Note, &p.CreatedAt))
			got = append(got, p)
		}
		require.NoError(t, rows.Err())
		require.Len(t, got, 3)
		require.Equal(t, []any{2, f.Provider, "provider", "120.00", "100.00", "inclui material"},
			[]any{got[1].Version, got[1].By, got[1].Role, got[1].Amount, got[1].Prev, got[1].Note})
		requireTime(t, due2, got[1].Due)
		requireTime(t, due1, got[1].PrevDue)
		requireTime(t, t0.Add(time.Hour), &got[1].CreatedAt)
		require.Equal(t, []any{3, f.Client, "client", "110.00", "120.00", ""},
			[]any{got[2].Version, got[2].By, got[2].Role, got[2].Amount, got[2].Prev, got[2].Note})
		requireTime(t, due2, got[2].Due, "a proposal without a date keeps the agreed one")
		requireTime(t, due2, got[2].PrevDue)

		// A replay writes no second proposal, event or notification.
		before := r.snapshot()
		r.replay(v3)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, 3, count(t, f, `SELECT count(*) FROM order_proposals WHERE order_id = $1`, r.id))

		// The provider accepts the client's latest amount.
		r.advance(time.Hour)
		res := r.must(r.accept(r.provider()))
		require.Equal(t, []string{"390.00/110.00", "0.00/0.00", "0.00"}, balances(res.Balances))
		require.Equal(t, []string{"create:>negotiating", "propose:negotiating>negotiating",
			"propose:negotiating>negotiating", "accept:negotiating>in_progress"}, f.Events(t, r.id))
		f.RequireLedgerClean(t)
	})
}

func TestAcceptOrder(t *testing.T) {
	t.Parallel()

	t.Run("Ensure accept holds the amount and writes row, event and notifications", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		f.Deposit(t, f.Client, deposit)
		r := newRun(t, f)
		r.create(amount)
		r.advance(time.Hour)
		res := r.must(r.accept(r.provider()))

		require.Equal(t, []string{"376.55/123.45", "0.00/0.00", "0.00"}, balances(res.Balances))
		require.Equal(t, []string{"376.55/123.45", "0.00/0.00"}, f.Wallets(t, f.Client, f.Provider))
		require.Equal(t, "0.00", f.Revenue(t))
		require.ElementsMatch(t, []string{
			ledgerAcct(f.Client, "available") + "=-123.45",
			ledgerAcct(f.Client, "blocked") + "=123.45",
		}, legs(t, f, order.StepKey(r.id, "accept")))
		require.Equal(t, ordertest.OrderRow{Status: "in_progress", Amount: amount, PlatformRevenue: "0.00",
			ProviderNet: "0.00", ContestFeeHeld: "0.00", ProposalVersion: 1}, f.Order(t, r.id))
		x := readExtra(t, f, r.id)
		requireTime(t, r.now, x.AcceptedAt)
		requireTime(t, r.now, &x.UpdatedAt)
		require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress"}, f.Events(t, r.id))
		require.Equal(t, map[int64]int{f.Client: 1, f.Provider: 1}, f.Notifications(t, r.id, "order_accepted"))
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure insufficient funds refuses with insufficient_funds and writes nothing", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		f.Deposit(t, f.Client, "123.44")
		r := newRun(t, f)
		r.create(amount)
		r.advance(time.Hour)
		c := r.accept(r.provider())
		before := r.snapshot()
		_, err := r.run(c)
		requireRefusal(t, err, ordem.EInsufficientFunds)
		require.Equal(t, before, r.snapshot(), "no event, no ledger transaction, no notification, row unchanged")
		require.Equal(t, "negotiating", f.Order(t, r.id).Status)
		require.Zero(t, ledgerTxCount(t, f, order.StepKey(r.id, "accept")))
		f.RequireLedgerClean(t)

		// Nothing was claimed: once funded, the same step goes through.
		f.Deposit(t, f.Client, "0.01")
		res := r.must(c)
		require.Equal(t, []string{"0.00/123.45", "0.00/0.00", "0.00"}, balances(res.Balances))
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure a replayed accept posts once", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		f.Deposit(t, f.Client, deposit)
		r := newRun(t, f)
		r.create(amount)
		r.advance(time.Hour)
		c := r.accept(r.provider())
		first := r.must(c)
		before := r.snapshot()
		again := r.replay(c)
		require.Equal(t, first.Balances, again.Balances)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, 1, ledgerTxCount(t, f, order.StepKey(r.id, "accept")))
		require.Equal(t, []string{"hold"}, ledgerKinds(t, f, r.id))
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure concurrent runs of the same accept post once", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		f.Deposit(t, f.Client, deposit)
		r := newRun(t, f)
		r.create(amount)
		r.advance(time.Hour)
		c := r.accept(r.provider())
		const n = 6
		type outcome struct {
			res order.TransitionResult
			err error
		}
		results := make(chan outcome, n)
		for range n {
			env := newEnv(r.acts) // one environment per worker
			go func() {
				var res order.TransitionResult
				v, err := env.ExecuteActivity(c.Activity, c.Input)
				if err == nil {
					err = v.Get(&res)
				}
				results <- outcome{res, err}
			}()
		}
		fresh := 0
		for range n {
			o := <-results
			require.NoError(t, o.err)
			if !o.res.Replayed {
				fresh++
			}
		}
		require.Equal(t, 1, fresh, "exactly one run commits the step")
		require.Equal(t, 1, ledgerTxCount(t, f, order.StepKey(r.id, "accept")))
		require.Equal(t, []string{"376.55/123.45"}, f.Wallets(t, f.Client))
		require.Equal(t, map[int64]int{f.Client: 1, f.Provider: 1}, f.Notifications(t, r.id, "order_accepted"))
		r.st = c.Next
		f.RequireLedgerClean(t)
	})
}

func TestDeliverOrder(t *testing.T) {
	t.Parallel()

	t.Run("Ensure deliver starts the confirmation window and moves no money", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		f.Deposit(t, f.Client, deposit)
		r := newRun(t, f)
		r.toInProgress("", amount)
		r.advance(5 * time.Hour)
		c := r.deliver()
		res := r.must(c)
		require.Equal(t, []string{"376.55/123.45", "0.00/0.00", "0.00"}, balances(res.Balances))
		require.Equal(t, "delivered", f.Order(t, r.id).Status)
		x := readExtra(t, f, r.id)
		requireTime(t, r.now, x.DeliveredAt)
		requireTime(t, r.now.Add(36*time.Hour), x.ConfirmDeadline, "deadline from the snapshot's 36 h")
		require.Nil(t, x.ClosedAt)
		require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress", "deliver:in_progress>delivered"},
			f.Events(t, r.id))
		require.Equal(t, map[int64]int{f.Client: 1}, f.Notifications(t, r.id, "order_delivered"))
		require.Equal(t, []string{"hold"}, ledgerKinds(t, f, r.id))

		before := r.snapshot()
		r.replay(c)
		require.Equal(t, before, r.snapshot())
		f.RequireLedgerClean(t)
	})
}

func ledgerAcct(user int64, kind ledger.AccountKind) string { return ledger.UserAccount(user, kind) }

func TestCancelOrder(t *testing.T) {
	t.Parallel()

	type want struct {
		wallets  []string // client, provider
		revenue  string
		legs     func(f *ordertest.Fixture) []string
		net      string
		penalty  string
		notified func(f *ordertest.Fixture) map[int64]int
		kinds    []string
	}
	cases := []struct {
		name  string
		setup func(r *orderRun)
		actor func(r *orderRun) order.Actor
		want  want
	}{
		{
			name:  "Ensure a client's cancel while negotiating moves no money",
			setup: func(r *orderRun) { r.f.Deposit(r.t, r.f.Client, deposit); r.create(amount) },
			actor: (*orderRun).client,
			want: want{wallets: []string{"500.00/0.00", "0.00/0.00"}, revenue: "0.00", net: "0.00", penalty: "<nil>",
				legs:     func(*ordertest.Fixture) []string { return nil },
				notified: func(f *ordertest.Fixture) map[int64]int { return map[int64]int{f.Provider: 1} }},
		},
		{
			name:  "Ensure a provider's cancel while negotiating moves no money",
			setup: func(r *orderRun) { r.create(amount) },
			actor: (*orderRun).provider,
			want: want{wallets: []string{"0.00/0.00", "0.00/0.00"}, revenue: "0.00", net: "0.00", penalty: "<nil>",
				legs:     func(*ordertest.Fixture) []string { return nil },
				notified: func(f *ordertest.Fixture) map[int64]int { return map[int64]int{f.Client: 1} }},
		},
		{
			name:  "Ensure an admin's cancel while negotiating moves no money and is audited",
			setup: func(r *orderRun) { r.create(amount) },
			actor: (*orderRun).admin,
			want: want{wallets: []string{"0.00/0.00", "0.00/0.00"}, revenue: "0.00", net: "0.00", penalty: "<nil>",
				legs:     func(*ordertest.Fixture) []string { return nil },
				notified: func(f *ordertest.Fixture) map[int64]int { return map[int64]int{f.Client: 1, f.Provider: 1} }},
		},
		{
			name:  "Ensure a client's cancel in progress pays the provider the penalty",
			setup: func(r *orderRun) { r.toInProgress(deposit, amount) },
			actor: (*orderRun).client,
			want: want{wallets: []string{"487.65/0.00", "12.35/0.00"}, revenue: "0.00", net: "12.35", penalty: "12.35",
				kinds: []string{"hold", "cancel"},
				legs: func(f *ordertest.Fixture) []string {
					return []string{ledgerAcct(f.Client, "available") + "=111.10", ledgerAcct(f.Client, "blocked") + "=-123.45",
						ledgerAcct(f.Provider, "available") + "=12.35"}
				},
				notified: func(f *ordertest.Fixture) map[int64]int { return map[int64]int{f.Provider: 1} }},
		},
		{
			name: "Ensure a client's cancel after the missed due date has no penalty",
			setup: func(r *orderRun) {
				r.f.Deposit(r.t, r.f.Client, deposit)
				due := t0.Add(2 * time.Hour)
				_, err := r.createWith(r.input(amount, &due))
				require.NoError(r.t, err)
				r.advance(time.Hour)
				r.must(r.accept(r.provider()))
				r.advance(2 * time.Hour) // past the due date, undelivered
			},
			actor: (*orderRun).client,
			want: want{wallets: []string{"500.00/0.00", "0.00/0.00"}, revenue: "0.00", net: "0.00", penalty: "<nil>",
				kinds: []string{"hold", "cancel"},
				legs: func(f *ordertest.Fixture) []string {
					return []string{ledgerAcct(f.Client, "available") + "=123.45", ledgerAcct(f.Client, "blocked") + "=-123.45"}
				},
				notified: func(f *ordertest.Fixture) map[int64]int { return map[int64]int{f.Provider: 1} }},
		},
		{
			name: "Ensure a client's cancel with a zero cancellation fee has no penalty",
			setup: func(r *orderRun) {
				r.f.SetConfig(r.t, sysconfig.CancellationFeePercentage, "0")
				r.toInProgress(deposit, amount)
			},
			actor: (*orderRun).client,
			want: want{wallets: []string{"500.00/0.00", "0.00/0.00"}, revenue: "0.00", net: "0.00", penalty: "<nil>",
				kinds: []string{"hold", "cancel"},
				legs: func(f *ordertest.Fixture) []string {
					return []string{ledgerAcct(f.Client, "available") + "=123.45", ledgerAcct(f.Client, "blocked") + "=-123.45"}
				},
				notified: func(f *ordertest.Fixture) map[int64]int { return map[int64]int{f.Provider: 1} }},
		},
		{
			name: "Ensure a provider's cancel in progress refunds in full and pays the client the penalty",
			setup: func(r *orderRun) {
				r.f.Deposit(r.t, r.f.Provider, "20.00")
				r.toInProgress(deposit, amount)
			},
			actor: (*orderRun).provider,
			want: want{wallets: []string{"512.35/0.00", "7.65/0.00"}, revenue: "0.00", net: "-12.35", penalty: "12.35",
				kinds: []string{"hold", "cancel"},
				legs: func(f *ordertest.Fixture) []string {
					return []string{ledgerAcct(f.Client, "available") + "=135.80", ledgerAcct(f.Client, "blocked") + "=-123.45",
						ledgerAcct(f.Provider, "available") + "=-12.35"}
				},
				notified: func(f *ordertest.Fixture) map[int64]int { return map[int64]int{f.Client: 1} }},
		},
		{
			name:  "Ensure an admin's cancel in progress refunds in full",
			setup: func(r *orderRun) { r.toInProgress(deposit, amount) },
			actor: (*orderRun).admin,
			want: want{wallets: []string{"500.00/0.00", "0.00/0.00"}, revenue: "0.00", net: "0.00", penalty: "<nil>",
				kinds: []string{"hold", "cancel"},
				legs: func(f *ordertest.Fixture) []string {
					return []string{ledgerAcct(f.Client, "available") + "=123.45", ledgerAcct(f.Client, "blocked") + "=-123.45"}
				},
				notified: func(f *ordertest.Fixture) map[int64]int { return map[int64]int{f.Client: 1, f.Provider: 1} }},
		},
		{
			name:  "Ensure an admin's cancel of a delivered order refunds in full",
			setup: func(r *orderRun) { r.toDelivered(deposit, amount) },
			actor: (*orderRun).admin,
			want: want{wallets: []string{"500.00/0.00", "0.00/0.00"}, revenue: "0.00", net: "0.00", penalty: "<nil>",
				kinds: []string{"hold", "cancel"},
				legs: func(f *ordertest.Fixture) []string {
					return []string{ledgerAcct(f.Client, "available") + "=123.45", ledgerAcct(f.Client, "blocked") + "=-123.45"}
				},
				notified: func(f *ordertest.Fixture) map[int64]int { return map[int64]int{f.Client: 1, f.Provider: 1} }},
		},
		{
			name:  "Ensure an admin's cancel of a dispute refunds the amount and the contestation fee",
			setup: func(r *orderRun) { r.toDisputed(deposit, amount) },
			actor: (*orderRun).admin,
			want: want{wallets: []string{"500.00/0.00", "0.00/0.00"}, revenue: "0.00", net: "0.00", penalty: "<nil>",
				kinds: []string{"hold", "contest_fee_hold", "cancel"},
				legs: func(f *ordertest.Fixture) []string {
					return []string{ledgerAcct(f.Client, "available") + "=133.45", ledgerAcct(f.Client, "blocked") + "=-133.45"}
				},
				notified: func(f *ordertest.Fixture) map[int64]int { return map[int64]int{f.Client: 1, f.Provider: 1} }},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := ordertest.New(t)
			r := newRun(t, f)
			tc.setup(r)
			from := r.st.Status
			r.advance(time.Hour)
			actor := tc.actor(r)
			reason := "não preciso mais"
			c := r.cancel(actor, reason)
			res := r.must(c)

			w := tc.want
			require.Equal(t, w.wallets, f.Wallets(t, f.Client, f.Provider))
			require.Equal(t, w.revenue, f.Revenue(t))
			require.Equal(t, append(append([]string{}, w.wallets...), w.revenue), balances(res.Balances))
			require.ElementsMatch(t, w.legs(f), legs(t, f, order.StepKey(r.id, "cancel")))
			require.Equal(t, w.kinds, ledgerKinds(t, f, r.id))

			// The read model.
			require.Equal(t, ordertest.OrderRow{Status: "cancelled", Amount: amount, PlatformRevenue: "0.00",
				ProviderNet: w.net, ContestFeeHeld: r.st.ContestFeeHeld.StringFixed(2), ProposalVersion: 1}, f.Order(t, r.id))
			x := readExtra(t, f, r.id)
			require.Equal(t, w.penalty, fixedPtr(x.PenaltyAmount))
			require.Nil(t, x.RefundAmount)
			requireTime(t, r.now, x.ClosedAt)
			require.NotNil(t, x.CancelledBy)
			require.Equal(t, actor.UserID, *x.CancelledBy)
			require.Equal(t, string(actor.Role), *x.CancelledByRole)
			require.Equal(t, reason, *x.CancelReason)

			// Timeline, notifications and, for admins, the audit log.
			events := f.Events(t, r.id)
			require.Equal(t, "cancel:"+string(from)+">cancelled", events[len(events)-1])
			require.Equal(t, w.notified(f), f.Notifications(t, r.id, "order_cancelled"))
			audits := count(t, f, `SELECT count(*) FROM audit_log WHERE action = 'cancel_order' AND target_type = 'order'
				AND target_id = $1 AND actor_id = $2 AND reason = $3`, fmt.Sprint(r.id), actor.UserID, reason)
			if actor.Role == ordem.RoleAdmin {
				require.Equal(t, 1, audits)
			} else {
				require.Zero(t, count(t, f, `SELECT count(*) FROM audit_log`))
			}
			f.RequireLedgerClean(t)

			// Replayed, it posts nothing more.
			before := r.snapshot()
			again := r.replay(c)
			require.Equal(t, res.Balances, again.Balances)
			require.Equal(t, before, r.snapshot())
			require.Equal(t, w.kinds, ledgerKinds(t, f, r.id))
			if len(w.legs(f)) > 0 {
				require.Equal(t, 1, ledgerTxCount(t, f, order.StepKey(r.id, "cancel")))
			} else {
				require.Zero(t, ledgerTxCount(t, f, order.StepKey(r.id, "cancel")))
			}
			if actor.Role == ordem.RoleAdmin {
				require.Equal(t, 1, count(t, f, `SELECT count(*) FROM audit_log`))
			}
			f.RequireLedgerClean(t)
		})
	}

	t.Run("Ensure a provider without the penalty cannot cancel and nothing is written", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		f.Deposit(t, f.Provider, "12.34") // one cent short of 12.35
		r := newRun(t, f)
		r.toInProgress(deposit, amount)
		r.advance(time.Hour)
		c := r.cancel(r.provider(), "")
		before := r.snapshot()
		_, err := r.run(c)
		requireRefusal(t, err, ordem.EInsufficientFunds)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, "in_progress", f.Order(t, r.id).Status)
		require.Equal(t, []string{"376.55/123.45", "12.34/0.00"}, f.Wallets(t, f.Client, f.Provider))
		require.Zero(t, ledgerTxCount(t, f, order.StepKey(r.id, "cancel")))
		require.Nil(t, readExtra(t, f, r.id).CancelReason)
		f.RequireLedgerClean(t)
	})
}
