package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/ordem/ordem/internal/health"
	"github.com/ordem/ordem/internal/metrics"
	"github.com/ordem/ordem/workflows/ledgerverify"
)

// orderIDOf returns the order id of an order workflow id ("order-42"), or
// 0 for any other workflow.
func orderIDOf(workflowID string) int64 {
	s, ok := strings.CutPrefix(workflowID, "order-")
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// logInterceptor gives every activity's logger (activity.GetLogger) the
// workflow_id and, for order workflows, the order_id, and logs each
// activity's outcome and duration, so an order's whole life can be found
// in the logs by its id.
type logInterceptor struct {
	interceptor.WorkerInterceptorBase
}

func (*logInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &activityIn{}
	i.Next = next
	return i
}

type activityIn struct {
	interceptor.ActivityInboundInterceptorBase
	out interceptor.ActivityOutboundInterceptor
}

func (a *activityIn) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	o := &activityOut{}
	o.Next = outbound
	a.out = o
	return a.Next.Init(o)
}

func (a *activityIn) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	start := time.Now()
	res, err := a.Next.ExecuteActivity(ctx, in)
	log := a.out.GetLogger(ctx)
	took := time.Since(start).Milliseconds()
	if err != nil {
		log.Warn("Activity failed", "duration_ms", took, "error", err)
	} else {
		log.Info("Activity completed", "duration_ms", took)
	}
	return res, err
}

type activityOut struct {
	interceptor.ActivityOutboundInterceptorBase
}

func (o *activityOut) GetLogger(ctx context.Context) sdklog.Logger {
	info := o.Next.GetInfo(ctx)
	kv := []any{"workflow_id", info.WorkflowExecution.ID, "activity", info.ActivityType.Name}
	if id := orderIDOf(info.WorkflowExecution.ID); id != 0 {
		kv = append(kv, "order_id", id)
	}
	return sdklog.With(o.Next.GetLogger(ctx), kv...)
}

// EnsureLedgerVerifySchedule creates the schedule that verifies the
// ledger every interval (ledgerverify.ScheduleID) on taskQueue, running
// one at once. An existing schedule is kept, its interval brought to
// interval; overlapping runs are skipped.
func EnsureLedgerVerifySchedule(ctx context.Context, c client.Client, taskQueue string, interval time.Duration) error {
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: interval}}}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:                 ledgerverify.ScheduleID,
		Spec:               spec,
		Overlap:            enums.SCHEDULE_OVERLAP_POLICY_SKIP,
		TriggerImmediately: true,
		Action: &client.ScheduleWorkflowAction{
			ID: ledgerverify.ScheduleID, Workflow: ledgerverify.WorkflowName, TaskQueue: taskQueue,
			WorkflowExecutionTimeout: 15 * time.Minute,
			StaticSummary:            "Periodic ledger verification",
		},
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create ledger verify schedule: %w", err)
	}
	err = c.ScheduleClient().GetHandle(ctx, ledgerverify.ScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			if s.Spec != nil && len(s.Spec.Intervals) == 1 && s.Spec.Intervals[0].Every == interval {
				return nil, temporal.ErrSkipScheduleUpdate // unchanged
			}
			s.Spec = &spec
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update ledger verify schedule: %w", err)
	}
	return nil
}

// HTTPHandler serves the worker's /metrics, /healthz and /readyz (the
// same answers as the API's probes), and with pprof Go's profiler at
// /debug/pprof/ (PPROF_ENABLED).
func HTTPHandler(m *metrics.Metrics, probes health.Probes, pprof bool) http.Handler {
	mux := http.NewServeMux()
	if pprof {
		mux.HandleFunc("GET /debug/pprof/", httppprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", httppprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", httppprof.Trace)
	}
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ready, checks := probes.Ready(r.Context())
		status := http.StatusOK
		if !ready {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, map[string]any{"ready": ready, "checks": checks})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// serveHTTP listens on addr now (so a taken port stops the worker at
// start-up) and serves h until ctx ends.
func serveHTTP(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on WORKER_HTTP_ADDR %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("Worker HTTP server stopped", "error", err)
		}
	}()
	logger.Info("Worker HTTP listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
