package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/sync/errgroup"

	"github.com/ordem/ordem/workflows/ceiling"
)

// NoopConfig is a run of the ceiling: the order-shaped no-op workflow
// (workflows/ceiling) on the same Temporal server as the stack, with its
// worker in this process.
type NoopConfig struct {
	Temporal client.Client
	// TaskQueue is the ceiling worker's own queue (never the orders').
	TaskQueue string
	Users     int
	Duration  time.Duration
	MaxOrders int
	// Processes names the processes whose CPU is measured, as in Config.
	Processes []string
	Log       io.Writer
}

// RunNoop drives the ceiling workflow the way Run drives orders: each
// virtual user starts one with an update (update-with-start, as the API
// creates an order), then sends accept, deliver and confirm, and starts
// the next. The result has no money checks.
func RunNoop(ctx context.Context, cfg NoopConfig) (*Result, error) {
	if cfg.Temporal == nil || cfg.TaskQueue == "" || cfg.Users < 1 || (cfg.Duration <= 0 && cfg.MaxOrders <= 0) {
		return nil, errors.New("loadgen: a Temporal client, a task queue, users and a duration or an order count are required")
	}
	w := sdkworker.New(cfg.Temporal, cfg.TaskQueue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(ceiling.Workflow, workflow.RegisterOptions{Name: ceiling.WorkflowName})
	w.RegisterActivityWithOptions(ceiling.Step, activityName(ceiling.ActivityName))
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("loadgen: start the ceiling worker: %w", err)
	}
	defer w.Stop()

	stats := newStats()
	run := strconv.FormatUint(rand.Uint64(), 36)
	res := &Result{Users: cfg.Users, Started: map[Scenario]int{}, Completed: map[Scenario]int{}}
	var (
		mu       sync.Mutex
		lat      []time.Duration
		seq      atomic.Int64
		lastDone time.Time
	)
	cpuBefore := sampleCPU(cfg.Processes)
	start := time.Now()
	runCtx := ctx
	cancel := context.CancelFunc(func() {})
	if cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
	}
	defer cancel()
	var g errgroup.Group
	for range cfg.Users {
		g.Go(func() error {
			for runCtx.Err() == nil {
				n := seq.Add(1)
				if cfg.MaxOrders > 0 && n > int64(cfg.MaxOrders) {
					return nil
				}
				t0 := time.Now()
				err := noopOrder(ctx, cfg, stats, ceiling.WorkflowID(run, n))
				mu.Lock()
				res.Started[Confirmed]++
				if err != nil {
					res.Failed++
					if cfg.Log != nil {
						fmt.Fprintf(cfg.Log, "ceiling workflow %d failed: %v\n", n, err)
					}
				} else {
					res.Completed[Confirmed]++
					lastDone = time.Now()
					lat = append(lat, lastDone.Sub(t0))
				}
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	res.Window = time.Since(start)
	res.Elapsed = lastDone.Sub(start)
	if lastDone.IsZero() {
		res.Elapsed = res.Window
	}
	res.WindowSeconds, res.ElapsedSeconds = res.Window.Seconds(), res.Elapsed.Seconds()
	if res.Elapsed > 0 {
		res.OrdersPerSecond = float64(res.Completed[Confirmed]) / res.Elapsed.Seconds()
	}
	res.Actions, res.Errors, res.OrderLatency = stats.Actions(), stats.Errors(), summarize(lat)
	res.CPUByProcess = sampleCPU(cfg.Processes).since(cpuBefore)
	for _, v := range res.CPUByProcess {
		res.CPUSeconds += v
	}
	if n := res.Completed[Confirmed]; n > 0 {
		res.CPUPerOrder = res.CPUSeconds / float64(n)
	}
	res.MoneyConserved = true // no money moves
	return res, nil
}

func noopOrder(ctx context.Context, cfg NoopConfig, stats *Stats, id string) error {
	timed := func(action string, fn func() error) error {
		t0 := time.Now()
		if err := fn(); err != nil {
			stats.fail(action, "error")
			return fmt.Errorf("%s: %w", action, err)
		}
		stats.observe(action, time.Since(t0))
		return nil
	}
	err := timed("create", func() error {
		start := cfg.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID: id, TaskQueue: cfg.TaskQueue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		}, ceiling.WorkflowName, ceiling.Input{})
		h, err := cfg.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: start,
			UpdateOptions: client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: ceiling.UpdateCreated,
				WaitForStage: client.WorkflowUpdateStageCompleted},
		})
		if err != nil {
			return err
		}
		return h.Get(ctx, nil)
	})
	if err != nil {
		return err
	}
	for _, u := range []string{ceiling.UpdateAccept, ceiling.UpdateDeliver, ceiling.UpdateConfirm} {
		err := timed(u, func() error {
			h, err := cfg.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: u,
				WaitForStage: client.WorkflowUpdateStageCompleted})
			if err != nil {
				return err
			}
			return h.Get(ctx, nil)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func activityName(name string) activity.RegisterOptions { return activity.RegisterOptions{Name: name} }
