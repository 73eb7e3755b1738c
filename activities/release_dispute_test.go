package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/ordertest"
	"github.com/ordem/ordem/internal/s3test"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/internal/sysconfig"
	"github.com/ordem/ordem/workflows/order"
)

func TestConfirmOrder(t *testing.T) {
	t.Parallel()

	t.Run("Ensure confirm releases amount minus the snapshotted fee to the provider and the fee to revenue", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f)
		r.f.Deposit(t, f.Client, deposit)
		r.create(amount)
		// A later config change does not touch the order in flight.
		f.SetConfig(t, sysconfig.PlatformFeePercentage, "50")
		r.advance(time.Hour)
		r.must(r.accept(r.provider()))
		r.advance(time.Hour)
		r.must(r.deliver())
		r.advance(time.Hour)
		c := r.confirm()
		res := r.must(c)

		require.Equal(t, []string{"376.55/0.00", "117.28/0.00", "6.17"}, balances(res.Balances))
		require.Equal(t, []string{"376.55/0.00", "117.28/0.00"}, f.Wallets(t, f.Client, f.Provider))
		require.Equal(t, "6.17", f.Revenue(t))
		require.ElementsMatch(t, []string{
			ledgerAcct(f.Client, ledger.Blocked) + "=-123.45",
			ledgerAcct(f.Provider, ledger.Available) + "=117.28",
			ledger.RevenueAccount + "=6.17",
		}, legs(t, f, order.StepKey(r.id, "release")))
		require.Equal(t, ordertest.OrderRow{Status: "completed", Amount: amount, PlatformRevenue: "6.17",
			ProviderNet: "117.28", ContestFeeHeld: "0.00", ProposalVersion: 1}, f.Order(t, r.id))
		requireTime(t, r.now, readExtra(t, f, r.id).ClosedAt)
		require.Equal(t, []string{"create:>negotiating", "accept:negotiating>in_progress",
			"deliver:in_progress>delivered", "confirm:delivered>completed"}, f.Events(t, r.id))
		require.Equal(t, map[int64]int{f.Client: 1, f.Provider: 1}, f.Notifications(t, r.id, "order_completed"))
		f.RequireLedgerClean(t)

		before := r.snapshot()
		again := r.replay(c)
		require.Equal(t, res.Balances, again.Balances)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, []string{"hold", "release"}, ledgerKinds(t, f, r.id))
		f.RequireLedgerClean(t)
	})
}

func TestAutoConfirmOrder(t *testing.T) {
	t.Parallel()

	t.Run("Ensure auto-confirm releases like a confirm when enabled", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f)
		r.toDelivered(deposit, amount)
		r.now = *r.st.ConfirmDeadline
		in := r.autoConfirmInput()
		res, err := r.autoConfirm(in)
		require.NoError(t, err)
		require.False(t, res.Held)
		require.False(t, res.Replayed)
		require.Equal(t, []string{"376.55/0.00", "117.28/0.00", "6.17"}, balances(res.Balances))
		require.Equal(t, []string{"376.55/0.00", "117.28/0.00"}, f.Wallets(t, f.Client, f.Provider))
		require.Equal(t, "6.17", f.Revenue(t))
		require.Equal(t, ordertest.OrderRow{Status: "completed", Amount: amount, PlatformRevenue: "6.17",
			ProviderNet: "117.28", ContestFeeHeld: "0.00", AutoConfirmed: true, ProposalVersion: 1}, f.Order(t, r.id))
		require.Equal(t, "auto_confirm:delivered>completed", last(f.Events(t, r.id)))
		require.Equal(t, map[int64]int{f.Client: 1, f.Provider: 1}, f.Notifications(t, r.id, "order_auto_confirmed"))
		require.Equal(t, []string{"hold", "auto_release"}, ledgerKinds(t, f, r.id))
		var actorID *int64
		var role string
		require.NoError(t, f.Pool.QueryRow(context.Background(),
			`SELECT actor_id, actor_role FROM order_events WHERE step_key = $1`, order.StepKey(r.id, "release")).Scan(&actorID, &role))
		require.Nil(t, actorID, "the system has no user id")
		require.Equal(t, "system", role)
		f.RequireLedgerClean(t)

		before := r.snapshot()
		again, err := r.autoConfirm(in)
		require.NoError(t, err)
		require.True(t, again.Replayed)
		require.False(t, again.Held)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, 1, ledgerTxCount(t, f, order.StepKey(r.id, "release")))
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure a confirm that won the race makes the deadline's release a replay", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f)
		r.toDelivered(deposit, amount)
		in := r.autoConfirmInput() // prepared before the confirm committed
		r.must(r.confirm())
		before := r.snapshot()
		res, err := r.autoConfirm(in)
		require.NoError(t, err)
		require.True(t, res.Replayed, "the release step is shared: one release per order")
		require.Equal(t, before, r.snapshot())
		require.Equal(t, []string{"hold", "release"}, ledgerKinds(t, f, r.id))
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure auto-confirm disabled holds the funds and alerts the live admins only", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		admin2 := f.User(t, ordem.RoleAdmin)
		gone := f.User(t, ordem.RoleAdmin)
		_, err := f.Pool.Exec(context.Background(), `UPDATE users SET deleted_at = now() WHERE id = $1`, gone)
		require.NoError(t, err)
		r := newRun(t, f).autoConfirmDisabled()
		r.toDelivered(deposit, amount)
		deadline := *r.st.ConfirmDeadline
		r.now = deadline
		in := r.autoConfirmInput()
		res, err := r.autoConfirm(in)
		require.NoError(t, err)
		require.True(t, res.Held)
		require.False(t, res.Replayed)

		// No money moved.
		require.Equal(t, []string{"376.55/123.45", "0.00/0.00", "0.00"}, balances(res.Balances))
		require.Equal(t, []string{"376.55/123.45", "0.00/0.00"}, f.Wallets(t, f.Client, f.Provider))
		require.Equal(t, "0.00", f.Revenue(t))
		require.Equal(t, []string{"hold"}, ledgerKinds(t, f, r.id))
		require.Zero(t, ledgerTxCount(t, f, order.StepKey(r.id, "release")))
		// Still delivered, flagged held, nothing closed.
		require.Equal(t, ordertest.OrderRow{Status: "delivered", Amount: amount, PlatformRevenue: "0.00",
			ProviderNet: "0.00", ContestFeeHeld: "0.00", AutoConfirmHeld: true, ProposalVersion: 1}, f.Order(t, r.id))
		x := readExtra(t, f, r.id)
		require.Nil(t, x.ClosedAt)
		requireTime(t, deadline, x.ConfirmDeadline)
		require.Equal(t, "auto_confirm_held:delivered>delivered", last(f.Events(t, r.id)))
		require.Equal(t, map[int64]int{f.Admin: 1, admin2: 1}, f.Notifications(t, r.id, "auto_confirm_held"))
		require.Empty(t, f.Notifications(t, r.id, "order_auto_confirmed"))
		f.RequireLedgerClean(t)

		// The same deadline firing again alerts nobody twice.
		before := r.snapshot()
		again, err := r.autoConfirm(in)
		require.NoError(t, err)
		require.True(t, again.Held)
		require.True(t, again.Replayed)
		require.Equal(t, before, r.snapshot())

		// The client may still confirm: the money goes where silence would
		// have sent it.
		r.advance(time.Hour)
		c := r.confirm()
		rel := r.must(c)
		require.Equal(t, []string{"376.55/0.00", "117.28/0.00", "6.17"}, balances(rel.Balances))
		require.Equal(t, ordertest.OrderRow{Status: "completed", Amount: amount, PlatformRevenue: "6.17",
			ProviderNet: "117.28", ContestFeeHeld: "0.00", ProposalVersion: 1}, f.Order(t, r.id))
		require.Equal(t, []string{"hold", "release"}, ledgerKinds(t, f, r.id))
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure a held order extended and held again alerts once per deadline", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f).autoConfirmDisabled()
		r.toDelivered(deposit, amount)
		r.now = *r.st.ConfirmDeadline
		_, err := r.autoConfirm(r.autoConfirmInput())
		require.NoError(t, err)

		// An admin extends a held order: the new window starts now.
		r.advance(3 * time.Hour)
		r.must(r.extend("24", "cliente viajando"))
		require.False(t, f.Order(t, r.id).AutoConfirmHeld)
		requireTime(t, r.now.Add(24*time.Hour), readExtra(t, f, r.id).ConfirmDeadline)

		r.now = *r.st.ConfirmDeadline
		res, err := r.autoConfirm(r.autoConfirmInput())
		require.NoError(t, err)
		require.True(t, res.Held)
		require.False(t, res.Replayed, "a new deadline is a new step")
		require.Equal(t, map[int64]int{f.Admin: 2}, f.Notifications(t, r.id, "auto_confirm_held"))
		require.True(t, f.Order(t, r.id).AutoConfirmHeld)
		require.Equal(t, []string{"hold"}, ledgerKinds(t, f, r.id))
		f.RequireLedgerClean(t)
	})
}

func TestContestOrder(t *testing.T) {
	t.Parallel()

	t.Run("Ensure contest holds the snapshotted contestation fee", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f)
		r.f.Deposit(t, f.Client, deposit)
		r.create(amount)
		f.SetConfig(t, sysconfig.ContestationFee, "25.00") // after creation: ignored
		r.advance(time.Hour)
		r.must(r.accept(r.provider()))
		r.advance(time.Hour)
		r.must(r.deliver())
		r.advance(time.Hour)
		reason := "a parede ficou manchada"
		c := r.contest(reason)
		res := r.must(c)

		require.Equal(t, []string{"366.55/133.45", "0.00/0.00", "0.00"}, balances(res.Balances))
		require.Equal(t, []string{"366.55/133.45", "0.00/0.00"}, f.Wallets(t, f.Client, f.Provider))
		require.ElementsMatch(t, []string{
			ledgerAcct(f.Client, ledger.Available) + "=-10.00",
			ledgerAcct(f.Client, ledger.Blocked) + "=10.00",
		}, legs(t, f, order.StepKey(r.id, "contest")))
		require.Equal(t, ordertest.OrderRow{Status: "disputed", Amount: amount, PlatformRevenue: "0.00",
			ProviderNet: "0.00", ContestFeeHeld: "10.00", ProposalVersion: 1}, f.Order(t, r.id))
		x := readExtra(t, f, r.id)
		requireTime(t, r.now, x.ContestedAt)
		require.Equal(t, reason, *x.ContestReason)
		require.Equal(t, "contest:delivered>disputed", last(f.Events(t, r.id)))
		require.Equal(t, map[int64]int{f.Provider: 1, f.Admin: 1}, f.Notifications(t, r.id, "order_contested"))
		f.RequireLedgerClean(t)

		before := r.snapshot()
		r.replay(c)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, []string{"hold", "contest_fee_hold"}, ledgerKinds(t, f, r.id))
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure contest without the fee available refuses with insufficient_funds and writes nothing", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f)
		r.toDelivered("133.44", amount) // 9.99 left: one cent short
		r.advance(time.Hour)
		c := r.contest("não gostei")
		before := r.snapshot()
		_, err := r.run(c)
		requireRefusal(t, err, ordem.EInsufficientFunds)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, "delivered", f.Order(t, r.id).Status)
		require.Nil(t, readExtra(t, f, r.id).ContestReason)
		require.Equal(t, []string{"9.99/123.45"}, f.Wallets(t, f.Client))
		require.Zero(t, ledgerTxCount(t, f, order.StepKey(r.id, "contest")))
		f.RequireLedgerClean(t)
	})
}

func TestAddEvidence(t *testing.T) {
	t.Parallel()
	// One real S3-compatible server for the subtests, a bucket each.
	srv := s3test.Start(t)
	newStore := func(t *testing.T) *storage.Store {
		st, err := storage.New(storage.Options{Endpoint: srv.Endpoint, Region: srv.Region, Bucket: srv.NewBucket(t),
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, UsePathStyle: true})
		require.NoError(t, err)
		return st
	}

	t.Run("Ensure evidence rows, counts and notifications, written once", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f).withStore(newStore(t))
		r.toDisputed(deposit, amount)
		r.advance(time.Hour)
		ev := r.stage(evidence(r.client(), "3f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "parede.pdf"))
		c := r.addEvidence(ev)
		r.must(c)

		var (
			orderID, uploader                  int64
			role, key, name, ctype, sha, descr string
			size                               int64
		)
		require.NoError(t, f.Pool.QueryRow(context.Background(), `
			SELECT order_id, uploader_id, uploader_role, object_key, original_name, content_type, size_bytes, sha256, description
			FROM evidence WHERE id = $1`, ev.EvidenceID).Scan(&orderID, &uploader, &role, &key, &name, &ctype, &size, &sha, &descr))
		require.Equal(t, []any{r.id, f.Client, "client", fmt.Sprintf("evidence/%d/%s.pdf", r.id, ev.EvidenceID),
			"parede.pdf", "application/pdf", int64(2048), ev.SHA256, "foto da parede"},
			[]any{orderID, uploader, role, key, name, ctype, size, sha, descr})
		require.Equal(t, 1, f.Order(t, r.id).EvidenceCount)
		require.Equal(t, "add_evidence:disputed>disputed", last(f.Events(t, r.id)))
		// A party's evidence tells the other party and the admins.
		require.Equal(t, map[int64]int{f.Provider: 1, f.Admin: 1}, f.Notifications(t, r.id, "evidence_added"))
		// The bytes moved from staging to the final key.
		final := order.EvidenceObjectKey(r.id, ev.EvidenceID, "pdf")
		require.Equal(t, final, key)
		require.Equal(t, ev.SHA256, objectSHA256(t, r.store, final), "the object is at its final key")
		require.Empty(t, objectSHA256(t, r.store, ev.StagingKey), "the staged upload is gone")
		require.Empty(t, objectKeys(t, r.store, storage.StagingPrefix))

		// A retry (the activity run again) records nothing more.
		before := r.snapshot()
		r.replay(c)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, 1, count(t, f, `SELECT count(*) FROM evidence WHERE order_id = $1`, r.id))
		require.Equal(t, ev.SHA256, objectSHA256(t, r.store, final))
		require.Equal(t, []string{final}, objectKeys(t, r.store, "evidence/"))

		// An admin's evidence tells both parties.
		r.advance(time.Hour)
		r.must(r.addEvidence(r.stage(evidence(r.admin(), "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "laudo.pdf"))))
		require.Equal(t, 2, f.Order(t, r.id).EvidenceCount)
		require.Equal(t, map[int64]int{f.Client: 1, f.Provider: 2, f.Admin: 1}, f.Notifications(t, r.id, "evidence_added"))
		require.Equal(t, []string{"hold", "contest_fee_hold"}, ledgerKinds(t, f, r.id), "evidence moves no money")
		require.Equal(t, []string{"366.55/133.45"}, f.Wallets(t, f.Client))
		require.Len(t, objectKeys(t, r.store, "evidence/"), 2)
		require.Empty(t, objectKeys(t, r.store, storage.StagingPrefix))
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure a crash between promotion and commit still records the evidence exactly once", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f).withStore(newStore(t))
		r.toDisputed(deposit, amount)
		r.advance(time.Hour)
		ev := r.stage(evidence(r.provider(), "0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9", "nota.pdf"))
		c := r.addEvidence(ev)
		final := order.EvidenceObjectKey(r.id, ev.EvidenceID, "pdf")
		// The first attempt promoted the object and died before its
		// transaction committed.
		require.NoError(t, r.store.Promote(context.Background(), ev.StagingKey, final))
		require.Zero(t, count(t, f, `SELECT count(*) FROM evidence WHERE order_id = $1`, r.id))

		r.must(c) // the retry finds the object in place and records it
		require.Equal(t, 1, count(t, f, `SELECT count(*) FROM evidence WHERE order_id = $1`, r.id))
		require.Equal(t, 1, f.Order(t, r.id).EvidenceCount)
		require.Equal(t, map[int64]int{f.Client: 1, f.Admin: 1}, f.Notifications(t, r.id, "evidence_added"))
		require.Equal(t, ev.SHA256, objectSHA256(t, r.store, final))
		require.Empty(t, objectKeys(t, r.store, storage.StagingPrefix))

		// And one more retry writes nothing.
		before := r.snapshot()
		r.replay(c)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, 1, count(t, f, `SELECT count(*) FROM evidence WHERE order_id = $1`, r.id))
		require.Equal(t, []string{final}, objectKeys(t, r.store, "evidence/"))
		f.RequireLedgerClean(t)
	})

	t.Run("Ensure a staged upload that is gone is refused as validation_failed and nothing is recorded", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f).withStore(newStore(t))
		r.toDisputed(deposit, amount)
		r.advance(time.Hour)
		ev := r.stage(evidence(r.client(), "5d6e7f80-9102-4334-a556-778899aabbcc", "sumiu.pdf"))
		// The upload was deleted (cleanup, or the API gave up on it).
		require.NoError(t, r.store.Delete(context.Background(), ev.StagingKey))
		c := r.addEvidence(ev)
		before := r.snapshot()
		_, err := r.run(c)
		requireRefusal(t, err, ordem.EValidation)
		require.Contains(t, err.Error(), "upload it again")
		require.Equal(t, before, r.snapshot(), "nothing recorded")
		require.Equal(t, order.StatusDisputed, r.st.Status)
		require.Zero(t, r.st.EvidenceCount, "the workflow commits nothing")
		require.Zero(t, count(t, f, `SELECT count(*) FROM evidence WHERE order_id = $1`, r.id))
		require.Empty(t, objectKeys(t, r.store, ""), "nothing in the bucket")
	})

	t.Run("Ensure malformed evidence input (an operator's signal) is refused, not retried for ever", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f).withStore(newStore(t))
		r.toDisputed(deposit, amount)
		r.advance(time.Hour)
		good := r.stage(evidence(r.client(), "7f808192-a3b4-4c5d-8e6f-708192a3b4c5", "x.pdf"))
		before := r.snapshot()
		for name, mutate := range map[string]func(*order.EvidenceActivityInput){
			"staging key outside staging/": func(in *order.EvidenceActivityInput) { in.Evidence.StagingKey = "evidence/1/x.pdf" },
			"staging key with ..":          func(in *order.EvidenceActivityInput) { in.Evidence.StagingKey = "staging/../evidence/1/x.pdf" },
			"bare staging prefix":          func(in *order.EvidenceActivityInput) { in.Evidence.StagingKey = "staging/" },
			"evidence id not a UUID":       func(in *order.EvidenceActivityInput) { in.Evidence.EvidenceID = "not-a-uuid" },
			"extension with a path": func(in *order.EvidenceActivityInput) {
				in.Evidence.Extension = "pdf/../../x"
				in.ObjectKey = order.EvidenceObjectKey(r.id, in.Evidence.EvidenceID, in.Evidence.Extension)
			},
			"object key not the order's": func(in *order.EvidenceActivityInput) {
				in.ObjectKey = order.EvidenceObjectKey(r.id+1, in.Evidence.EvidenceID, "pdf")
			},
		} {
			c := r.addEvidence(good)
			in := c.Input.(order.EvidenceActivityInput)
			mutate(&in)
			c.Input = in
			_, err := r.run(c)
			requireRefusal(t, err, ordem.EValidation)
			require.Equal(t, before, r.snapshot(), name)
		}
		require.Equal(t, []string{good.StagingKey}, objectKeys(t, r.store, ""), "the upload was not touched")
		// The good input still works.
		r.must(r.addEvidence(good))
		require.Equal(t, 1, f.Order(t, r.id).EvidenceCount)
	})

	t.Run("Ensure an evidence id sent again with another upload never overwrites the recorded object", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f).withStore(newStore(t))
		r.toDisputed(deposit, amount)
		r.advance(time.Hour)
		first := r.stage(evidence(r.client(), "8091a2b3-c4d5-4e6f-8a7b-8c9d0e1f2a3b", "a.pdf"))
		c := r.addEvidence(first)
		r.must(c)
		final := order.EvidenceObjectKey(r.id, first.EvidenceID, "pdf")
		second := first
		second.Size = 100 // other bytes, same id
		second = r.stage(second)
		require.NotEqual(t, first.SHA256, second.SHA256)
		c2 := c
		in := c2.Input.(order.EvidenceActivityInput)
		in.Evidence = second
		c2.Input = in
		before := r.snapshot()
		r.replay(c2)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, first.SHA256, objectSHA256(t, r.store, final), "the recorded bytes stay")
		var sha string
		require.NoError(t, f.Pool.QueryRow(context.Background(), `SELECT sha256 FROM evidence WHERE id = $1`, first.EvidenceID).Scan(&sha))
		require.Equal(t, first.SHA256, sha)

		// The same id on another order is refused.
		other := newRun(t, f).withStore(r.store)
		other.toDisputed("", amount)
		other.advance(time.Hour)
		third := other.stage(evidence(other.client(), first.EvidenceID, "b.pdf"))
		_, err := other.run(other.addEvidence(third))
		requireRefusal(t, err, ordem.EValidation)
		require.Equal(t, first.SHA256, objectSHA256(t, r.store, final))
		require.Zero(t, count(t, f, `SELECT count(*) FROM evidence WHERE order_id = $1`, other.id))
	})

	t.Run("Ensure AddEvidence without an evidence store fails (retryable), recording nothing", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f)
		r.toDisputed(deposit, amount)
		r.advance(time.Hour)
		before := r.snapshot()
		_, err := r.run(r.addEvidence(evidence(r.client(), "6e7f8091-a2b3-4c4d-8e5f-60718293a4b5", "x.pdf")))
		require.Error(t, err)
		require.Empty(t, order.RefusalCode(err), "a configuration error is not a refusal")
		require.Equal(t, before, r.snapshot())
	})
}

func TestResolveDispute(t *testing.T) {
	t.Parallel()

	// Order 123.45, contestation fee 10.00 held, fee 5 %; client deposited
	// 500.00 and has 366.55 available while disputed.
	cases := []struct {
		name                  string
		refund                string
		client, provider, rev string
		net, revenue          string // read model
		legs                  func(f *ordertest.Fixture) []string
	}{
		{
			// R = 0: provider gets 123.45 − 6.17; the contestation fee is
			// forfeited: revenue 6.17 + 10.00.
			name:   "Ensure a ruling with no refund pays the provider and forfeits the contestation fee",
			refund: "0.00", client: "366.55/0.00", provider: "117.28/0.00", rev: "16.17", net: "117.28", revenue: "16.17",
			legs: func(f *ordertest.Fixture) []string {
				return []string{ledger.RevenueAccount + "=16.17", ledgerAcct(f.Client, ledger.Blocked) + "=-133.45",
					ledgerAcct(f.Provider, ledger.Available) + "=117.28"}
			},
		},
		{
			// R = 50.00: provider's side 73.45, fee 3.6725 → 3.67, share
			// 69.78; client gets 50.00 + 10.00 back.
			name:   "Ensure a partial refund splits the rest and returns the contestation fee",
			refund: "50.00", client: "426.55/0.00", provider: "69.78/0.00", rev: "3.67", net: "69.78", revenue: "3.67",
			legs: func(f *ordertest.Fixture) []string {
				return []string{ledger.RevenueAccount + "=3.67", ledgerAcct(f.Client, ledger.Available) + "=60.00",
					ledgerAcct(f.Client, ledger.Blocked) + "=-133.45", ledgerAcct(f.Provider, ledger.Available) + "=69.78"}
			},
		},
		{
			// R = 111.15: provider's side 12.30, fee 0.615 → 0.62 (half-up),
			// share 11.68; client gets 111.15 + 10.00.
			name:   "Ensure a partial refund rounds the fee half-up and still sums to zero",
			refund: "111.15", client: "487.70/0.00", provider: "11.68/0.00", rev: "0.62", net: "11.68", revenue: "0.62",
			legs: func(f *ordertest.Fixture) []string {
				return []string{ledger.RevenueAccount + "=0.62", ledgerAcct(f.Client, ledger.Available) + "=121.15",
					ledgerAcct(f.Client, ledger.Blocked) + "=-133.45", ledgerAcct(f.Provider, ledger.Available) + "=11.68"}
			},
		},
		{
			// R = amount: everything back, contestation fee included.
			name:   "Ensure a full refund returns everything to the client",
			refund: amount, client: "500.00/0.00", provider: "0.00/0.00", rev: "0.00", net: "0.00", revenue: "0.00",
			legs: func(f *ordertest.Fixture) []string {
				return []string{ledgerAcct(f.Client, ledger.Available) + "=133.45", ledgerAcct(f.Client, ledger.Blocked) + "=-133.45"}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := ordertest.New(t)
			r := newRun(t, f)
			r.toDisputed(deposit, amount)
			r.advance(24 * time.Hour)
			reason := "laudo do perito"
			c := r.resolve(tc.refund, reason)
			res := r.must(c)

			require.Equal(t, []string{tc.client, tc.provider, tc.rev}, balances(res.Balances))
			require.Equal(t, []string{tc.client, tc.provider}, f.Wallets(t, f.Client, f.Provider))
			require.Equal(t, tc.rev, f.Revenue(t))
			require.ElementsMatch(t, tc.legs(f), legs(t, f, order.StepKey(r.id, "resolve")))
			require.Equal(t, ordertest.OrderRow{Status: "resolved", Amount: amount, PlatformRevenue: tc.revenue,
				ProviderNet: tc.net, ContestFeeHeld: "10.00", ProposalVersion: 1}, f.Order(t, r.id))
			x := readExtra(t, f, r.id)
			require.Equal(t, d(tc.refund).StringFixed(2), fixedPtr(x.RefundAmount))
			require.Equal(t, reason, *x.ResolutionReason)
			requireTime(t, r.now, x.ClosedAt)
			require.Equal(t, "resolve:disputed>resolved", last(f.Events(t, r.id)))
			require.Equal(t, map[int64]int{f.Client: 1, f.Provider: 1}, f.Notifications(t, r.id, "dispute_resolved"))
			require.Equal(t, 1, count(t, f, `SELECT count(*) FROM audit_log WHERE action = 'resolve_dispute'
				AND target_id = $1 AND actor_id = $2 AND reason = $3`, fmt.Sprint(r.id), f.Admin, reason))
			f.RequireLedgerClean(t)

			before := r.snapshot()
			again := r.replay(c)
			require.Equal(t, res.Balances, again.Balances)
			require.Equal(t, before, r.snapshot())
			require.Equal(t, []string{"hold", "contest_fee_hold", "resolve"}, ledgerKinds(t, f, r.id))
			require.Equal(t, 1, count(t, f, `SELECT count(*) FROM audit_log`))
			f.RequireLedgerClean(t)
		})
	}
}

func TestExtendDeadline(t *testing.T) {
	t.Parallel()

	t.Run("Ensure an extension moves the deadline and is audited, once", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f)
		r.toDelivered(deposit, amount)
		old := *r.st.ConfirmDeadline
		r.advance(time.Hour)
		reason := "aguardando peça"
		c := r.extend("12.5", reason)
		r.must(c)

		x := readExtra(t, f, r.id)
		requireTime(t, old.Add(12*time.Hour+30*time.Minute), x.ConfirmDeadline, "extended from the old deadline")
		require.Equal(t, 1, x.Extensions)
		require.Equal(t, "delivered", f.Order(t, r.id).Status)
		require.Equal(t, "extend_deadline:delivered>delivered", last(f.Events(t, r.id)))
		require.Equal(t, map[int64]int{f.Client: 1, f.Provider: 1}, f.Notifications(t, r.id, "deadline_extended"))
		var actor int64
		var role, target, got string
		var at time.Time
		require.NoError(t, f.Pool.QueryRow(context.Background(), `
			SELECT actor_id, actor_role, target_type || ':' || target_id, reason, created_at
			FROM audit_log WHERE action = 'extend_deadline'`).Scan(&actor, &role, &target, &got, &at))
		require.Equal(t, []any{f.Admin, "admin", fmt.Sprintf("order:%d", r.id), reason}, []any{actor, role, target, got})
		requireTime(t, r.now, &at)
		var data map[string]any
		require.NoError(t, f.Pool.QueryRow(context.Background(), `SELECT data FROM order_events WHERE step_key = $1`,
			order.StepKey(r.id, "extend:1")).Scan(&data))
		require.Equal(t, "12.5", data["hours"])
		require.Equal(t, reason, data["reason"])

		before := r.snapshot()
		r.replay(c)
		require.Equal(t, before, r.snapshot())
		require.Equal(t, 1, count(t, f, `SELECT count(*) FROM audit_log`))
		require.Equal(t, []string{"hold"}, ledgerKinds(t, f, r.id))
		f.RequireLedgerClean(t)
	})
}

func TestExpireOrder(t *testing.T) {
	t.Parallel()

	t.Run("Ensure an unaccepted negotiation expires without money", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		f.Deposit(t, f.Client, deposit)
		r := newRun(t, f)
		r.create(amount)
		r.now = r.st.ProposalExpiresAt
		c := r.expire()
		res := r.must(c)
		require.Equal(t, []string{"500.00/0.00", "0.00/0.00", "0.00"}, balances(res.Balances))
		require.Equal(t, "expired", f.Order(t, r.id).Status)
		requireTime(t, r.now, readExtra(t, f, r.id).ClosedAt)
		require.Equal(t, []string{"create:>negotiating", "expire:negotiating>expired"}, f.Events(t, r.id))
		require.Equal(t, map[int64]int{f.Client: 1, f.Provider: 1}, f.Notifications(t, r.id, "order_expired"))
		require.Empty(t, ledgerKinds(t, f, r.id))

		before := r.snapshot()
		r.replay(c)
		require.Equal(t, before, r.snapshot())
		f.RequireLedgerClean(t)
	})
}

func TestSendReminder(t *testing.T) {
	t.Parallel()

	t.Run("Ensure the confirmation reminder reaches the client once", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f)
		r.toDelivered(deposit, amount)
		deadline := *r.st.ConfirmDeadline
		r.now = deadline.Add(-12 * time.Hour)
		in := r.reminder(order.ReminderConfirmation, "remind:"+deadline.UTC().Format("20060102T150405.000Z"), deadline)
		before := r.snapshot()
		require.NoError(t, r.exec(order.ActivitySendReminder, in, nil))
		require.NoError(t, r.exec(order.ActivitySendReminder, in, nil))
		require.Equal(t, map[int64]int{f.Client: 1}, f.Notifications(t, r.id, order.ReminderConfirmation))
		require.Equal(t, "confirmation_reminder:>", last(f.Events(t, r.id)))
		after := r.snapshot()
		require.Equal(t, len(before.events)+1, len(after.events))
		before.events, after.events = nil, nil
		before.notifications++
		require.Equal(t, before, after, "a reminder changes no state and moves no money")
	})

	t.Run("Ensure the dispute SLA reminder reaches the live admins once", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		admin2 := f.User(t, ordem.RoleAdmin)
		r := newRun(t, f)
		r.toDisputed(deposit, amount)
		due := r.st.ContestedAt.Add(48 * time.Hour)
		r.now = due
		in := r.reminder(order.ReminderDisputeSLA, "dispute_sla", due)
		require.NoError(t, r.exec(order.ActivitySendReminder, in, nil))
		require.NoError(t, r.exec(order.ActivitySendReminder, in, nil))
		require.Equal(t, map[int64]int{f.Admin: 1, admin2: 1}, f.Notifications(t, r.id, order.ReminderDisputeSLA))
		require.Equal(t, "dispute_sla:>", last(f.Events(t, r.id)))
		require.Equal(t, "disputed", f.Order(t, r.id).Status)
		f.RequireLedgerClean(t)
	})
}

func TestRecordRefusal(t *testing.T) {
	t.Parallel()

	t.Run("Ensure a refused signal is recorded once and changes nothing", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f)
		r.toDelivered(deposit, amount)
		r.advance(time.Hour)
		r.must(r.confirm())
		r.advance(time.Hour)
		cause := r.st.Permit(order.ActionCancel, r.client(), r.now)
		requireRefusal(t, cause, ordem.EInvalidTransition)
		in := r.refusal(order.ActionCancel, r.client(), cause)
		before := r.snapshot()
		require.NoError(t, r.exec(order.ActivityRecordRefusal, in, nil))
		require.NoError(t, r.exec(order.ActivityRecordRefusal, in, nil))

		require.Equal(t, "cancel:completed>completed!refused", last(f.Events(t, r.id)))
		var raw []byte
		var actor int64
		require.NoError(t, f.Pool.QueryRow(context.Background(), `SELECT data, actor_id FROM order_events WHERE step_key = $1`,
			order.StepKey(r.id, "refused:1")).Scan(&raw, &actor))
		var data map[string]string
		require.NoError(t, json.Unmarshal(raw, &data))
		require.Equal(t, ordem.EInvalidTransition, data["code"])
		require.Equal(t, "cannot cancel an order that is completed", data["message"])
		require.Equal(t, f.Client, actor)

		after := r.snapshot()
		require.Equal(t, len(before.events)+1, len(after.events), "recorded once")
		before.events, after.events = nil, nil
		require.Equal(t, before, after, "no money, no row change, no notification")
		f.RequireLedgerClean(t)
	})
}

// TestLongestPath walks one order through every kind of step, checking
// the ledger after each one.
func TestLongestPath(t *testing.T) {
	t.Parallel()

	t.Run("Ensure the ledger is clean after every step of a negotiated, extended, disputed order", func(t *testing.T) {
		t.Parallel()
		f := ordertest.New(t)
		r := newRun(t, f).withStore(newEvidenceStore(t))
		f.Deposit(t, f.Client, deposit)
		f.Deposit(t, f.Provider, "1.00")
		r.create("100.00")
		steps := []func() call{
			func() call { return r.propose(r.provider(), "150.00", nil, "mais uma demão") },
			func() call { return r.propose(r.client(), "140.00", nil, "") },
			func() call { return r.accept(r.provider()) },
			r.deliver,
			func() call { return r.extend("6", "cliente pediu mais tempo") },
			func() call { return r.contest("cor errada") },
			func() call {
				return r.addEvidence(r.stage(evidence(r.client(), "11111111-2222-4333-8444-555555555555", "foto.pdf")))
			},
			func() call {
				return r.addEvidence(r.stage(evidence(r.provider(), "66666666-7777-4888-9999-000000000000", "nota.pdf")))
			},
			func() call { return r.resolve("40.00", "metade da sala refeita") },
		}
		for i, s := range steps {
			r.advance(time.Hour)
			c := s()
			r.must(c)
			f.RequireLedgerClean(t)
			r.replay(c)
			f.RequireLedgerClean(t)
			require.Equal(t, string(r.st.Status), f.Order(t, r.id).Status, "step %d", i)
		}
		// 140.00 held, contest 10.00 (350.00 left); R = 40.00 → client 40 + 10 back;
		// provider's side 100.00, fee 5.00, share 95.00.
		require.Equal(t, []string{"400.00/0.00", "96.00/0.00"}, f.Wallets(t, f.Client, f.Provider))
		require.Equal(t, "5.00", f.Revenue(t))
		require.Equal(t, []string{"hold", "contest_fee_hold", "resolve"}, ledgerKinds(t, f, r.id))
		require.Equal(t, []string{"create:>negotiating", "propose:negotiating>negotiating", "propose:negotiating>negotiating",
			"accept:negotiating>in_progress", "deliver:in_progress>delivered", "extend_deadline:delivered>delivered",
			"contest:delivered>disputed", "add_evidence:disputed>disputed", "add_evidence:disputed>disputed",
			"resolve:disputed>resolved"}, f.Events(t, r.id))
		require.Equal(t, []string{
			order.EvidenceObjectKey(r.id, "11111111-2222-4333-8444-555555555555", "pdf"),
			order.EvidenceObjectKey(r.id, "66666666-7777-4888-9999-000000000000", "pdf"),
		}, objectKeys(t, r.store, "evidence/"))
		require.Empty(t, objectKeys(t, r.store, storage.StagingPrefix))
		require.Equal(t, ordertest.OrderRow{Status: "resolved", Amount: "140.00", PlatformRevenue: "5.00",
			ProviderNet: "95.00", ContestFeeHeld: "10.00", ProposalVersion: 3, EvidenceCount: 2}, f.Order(t, r.id))
	})
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}
