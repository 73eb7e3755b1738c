package order_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ordem/ordem/workflows/order"
)

// recordedPaths are the histories the integration tests record (run
// `ORDEM_RECORD_HISTORIES=1 go test ./worker/ -run 'Integration|ContinueAsNew'`);
// each must stay replayable by the current workflow code.
var recordedPaths = []string{
	"confirmed", "auto_confirmed", "contested_resolved", "cancelled_in_progress", "expired",
	"signals", "worst_case",
	// Issue 17: a dispute the parties settled; an order sent back for a
	// revision and delivered again.
	"settled", "revised",
	// An order that continued as new (the server suggested it): its
	// first run, ending in ContinuedAsNew, and the run that completed it.
	"continued_as_new", "continued_completed",
}

// Histories recorded before a versioned change stay beside the new ones
// as <path>.v<N>.json (v0: before local-transitions, every step a regular
// activity; v1: before dispute-negotiation) until no running order can be
// on that branch.

// TestReplay replays every recorded history in testdata/ against the
// current workflow code. A change that alters the commands the workflow
// produces for an existing history (order of activities, timers, search
// attribute upserts, …) without a workflow.GetVersion guard fails here,
// before it can break orders in flight.
func TestReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	found := map[string]bool{}
	for _, f := range files {
		found[strings.TrimSuffix(filepath.Base(f), ".json")] = true
	}
	for _, p := range recordedPaths {
		require.True(t, found[p], "testdata/%s.json is missing", p)
	}
	logger := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(order.Workflow, workflow.RegisterOptions{Name: order.WorkflowName})
			require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(logger, f))
		})
	}
}
