package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem/activities"
	"github.com/ordem/ordem/worker"
	"github.com/ordem/ordem/workflows/order"
)

// TestIntegrationEvidenceWorkerRestart: the worker goes away after the
// upload was staged and before it is attached; the add_evidence update
// waits, a new worker picks it up, and the evidence is attached exactly
// once: one row, one object at its final key, nothing left in staging.
func TestIntegrationEvidenceWorkerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: real Temporal server, Postgres and S3 server")
	}
	started := time.Now()
	e := newIT(t)
	const queue = "ordem-it-evidence-restart"
	acts := &activities.Activities{Pool: e.f.Pool, AutoConfirmEnabled: true, Evidence: e.store}
	first := worker.New(e.c, queue, acts)
	require.NoError(t, first.Start())
	firstStopped := false
	t.Cleanup(func() {
		if !firstStopped {
			first.Stop()
		}
	})

	p := e.newPair(t)
	e.f.Deposit(t, p.client.UserID, "200.00")
	id := e.create(t, queue, p, "100.00", nil)
	e.act(t, id, order.ActionAccept, order.AcceptInput{Actor: p.provider})
	e.act(t, id, order.ActionDeliver, order.DeliverInput{Actor: p.provider})
	e.act(t, id, order.ActionContest, order.ContestInput{Actor: p.client, Reason: "incompleto"})

	// The API staged the upload; then the worker stops.
	in := withActor(e.nextEvidence(t), p.client)
	final := order.EvidenceObjectKey(id, in.EvidenceID, in.Extension)
	first.Stop()
	firstStopped = true

	type result struct {
		st  order.State
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		h, err := e.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: order.WorkflowID(id),
			UpdateName: string(order.ActionAddEvidence), WaitForStage: client.WorkflowUpdateStageCompleted,
			Args: []any{in}})
		var st order.State
		if err == nil {
			err = h.Get(ctx, &st)
		}
		done <- result{st, err}
	}()

	// Without a worker the update waits and nothing moves.
	select {
	case r := <-done:
		t.Fatalf("the update finished without a worker: %+v", r)
	case <-time.After(2 * time.Second):
	}
	require.Empty(t, e.recordedEvidence(t, id))
	require.Equal(t, []string{in.StagingKey}, e.objectKeys(t, "staging/"))
	require.Empty(t, e.objectKeys(t, fmt.Sprintf("evidence/%d/", id)))

	restarted := time.Now()
	second := worker.New(e.c, queue, acts)
	require.NoError(t, second.Start())
	t.Cleanup(second.Stop)

	var r result
	select {
	case r = <-done:
	case <-time.After(95 * time.Second):
		t.Fatal("the update never finished after the restart")
	}
	require.NoError(t, r.err)
	t.Logf("attached %s after the new worker started", time.Since(restarted).Round(time.Millisecond))
	require.Equal(t, 1, r.st.EvidenceCount)
	require.Equal(t, order.StatusDisputed, r.st.Status)

	require.Equal(t, []string{final}, e.recordedEvidence(t, id), "one row")
	require.Equal(t, 1, e.f.Order(t, id).EvidenceCount)
	require.Equal(t, 1, e.events(id, string(order.ActionAddEvidence), false))
	require.Equal(t, []string{final}, e.objectKeys(t, fmt.Sprintf("evidence/%d/", id)), "one object at the final key")
	require.Empty(t, e.objectKeys(t, "staging/"), "nothing left in staging")
	var sha string
	var size int64
	require.NoError(t, e.f.Pool.QueryRow(context.Background(), `SELECT sha256, size_bytes FROM evidence WHERE order_id = $1`, id).Scan(&sha, &size))
	require.Equal(t, in.SHA256, sha)
	require.Equal(t, in.Size, size)
	require.Equal(t, 1, e.query(t, id).EvidenceCount)

	// The order goes on: an admin resolves it.
	st := e.act(t, id, order.ActionResolve, order.ResolveInput{Actor: e.admin(), RefundAmount: d("0"), Reason: "entregue"})
	require.Equal(t, order.StatusResolved, st.Status)
	e.f.RequireLedgerClean(t)
	t.Logf("evidence worker restart test: %s", time.Since(started).Round(time.Millisecond))
}
