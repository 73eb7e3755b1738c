package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// TimersConfig is a run of the timer benchmark: many delivered orders
// whose confirmation deadlines fall within one window, all released by
// their durable timers.
type TimersConfig struct {
	BaseURL                   string
	AdminEmail, AdminPassword string
	// Orders is how many orders are delivered (2,000 in make bench).
	Orders int
	// Users runs the set-up (create, accept, deliver) concurrently.
	Users int
	// Deadline is the confirmation window set for the run: long enough
	// for every delivery to land before the first deadline, so the
	// deadlines bunch up after it.
	Deadline time.Duration
	// DrainTimeout bounds the wait for every release after the last
	// deadline.
	DrainTimeout time.Duration
	Log          io.Writer
}

// TimersResult is what the timer benchmark measured.
type TimersResult struct {
	Orders int `json:"orders"`
	// DeliverySeconds is how long delivering every order took; the
	// deadlines span the same time, shifted by the deadline.
	DeliverySeconds float64 `json:"delivery_seconds"`
	DeadlineSpan    float64 `json:"deadline_span_seconds"`
	Released        int     `json:"released"`
	Lost            int     `json:"lost"`
	// Lag is from each order's deadline to its release (closed_at).
	Lag Percentiles `json:"lag"`
	// DrainRate is releases per second from the first deadline to the
	// last release.
	DrainRate float64 `json:"drain_rate"`
}

// RunTimers delivers cfg.Orders orders as fast as the stack takes them,
// then waits for every confirmation deadline to release its order and
// measures how late each release was.
func RunTimers(ctx context.Context, cfg TimersConfig) (*TimersResult, error) {
	if cfg.Orders < 1 || cfg.Users < 1 || cfg.Deadline <= 0 {
		return nil, errors.New("loadgen: orders, users and a deadline are required")
	}
	if err := checkLoopback(cfg.BaseURL); err != nil {
		return nil, err
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 10 * time.Minute
	}
	c := &apiClient{http: newHTTPClient(2*cfg.Users + 8), base: strings.TrimSuffix(cfg.BaseURL, "/"), retryFor: time.Minute}
	r := &runner{cfg: Config{Users: cfg.Users, ConfirmDeadline: cfg.Deadline, AdminEmail: cfg.AdminEmail,
		AdminPassword: cfg.AdminPassword, Log: cfg.Log}, stats: newStats(), c: c}
	users, restore, err := r.setUp(ctx, []*apiClient{c})
	if err != nil {
		return nil, err
	}
	defer restore()

	// Create and accept every order first (not timed), then deliver them
	// all as fast as possible, so the deadlines bunch up.
	orders := make([]apiOrder, cfg.Orders)
	owner := make([]*userRecord, cfg.Orders)
	r.logf("creating and accepting %d orders", cfg.Orders)
	if err := r.each(ctx, users, cfg.Orders, func(i int, u *userRecord) error {
		var o apiOrder
		if err := c.call(ctx, http.MethodPost, "/v1/orders", u.client.Token, map[string]any{"provider_id": u.provider.ID,
			"title": "Bench timer", "amount": orderAmount.StringFixed(2)}, &o); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if err := c.call(ctx, http.MethodPost, "/v1/orders/"+o.ID+"/accept", u.provider.Token,
			map[string]int{"proposal_version": o.ProposalVersion}, &o); err != nil {
			return fmt.Errorf("accept %s: %w", o.ID, err)
		}
		orders[i], owner[i] = o, u
		return nil
	}); err != nil {
		return nil, err
	}
	r.logf("delivering %d orders", cfg.Orders)
	start := time.Now()
	if err := r.each(ctx, users, cfg.Orders, func(i int, u *userRecord) error {
		o := orders[i]
		if err := c.call(ctx, http.MethodPost, "/v1/orders/"+o.ID+"/deliver", u.provider.Token, nil, &orders[i]); err != nil {
			return fmt.Errorf("deliver %s: %w", o.ID, err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	res := &TimersResult{Orders: cfg.Orders, DeliverySeconds: time.Since(start).Seconds()}
	first, last := *orders[0].ConfirmDeadline, *orders[0].ConfirmDeadline
	for _, o := range orders {
		first, last = minTime(first, *o.ConfirmDeadline), maxTime(last, *o.ConfirmDeadline)
	}
	res.DeadlineSpan = last.Sub(first).Seconds()
	r.logf("deliveries took %.1f s; deadlines from %s to %s", res.DeliverySeconds, first.Format(time.TimeOnly), last.Format(time.TimeOnly))

	// Wait past the last deadline, then collect every release.
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(last)):
	}
	var (
		mu       sync.Mutex
		lags     []time.Duration
		released time.Time
	)
	pending := make([]int, len(orders))
	for i := range pending {
		pending[i] = i
	}
	deadline := time.Now().Add(cfg.DrainTimeout)
	for len(pending) > 0 && time.Now().Before(deadline) {
		var next []int
		err := r.eachIndex(ctx, pending, cfg.Users, func(i int) error {
			var o apiOrder
			if err := c.call(ctx, http.MethodGet, "/v1/orders/"+orders[i].ID, owner[i].client.Token, nil, &o); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if o.Status != "completed" || o.ClosedAt == nil {
				next = append(next, i)
				return nil
			}
			lags = append(lags, o.ClosedAt.Sub(*o.ConfirmDeadline))
			if o.ClosedAt.After(released) {
				released = *o.ClosedAt
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("loadgen: poll releases: %w", err)
		}
		slices.Sort(next)
		pending = next
		if len(pending) > 0 {
			time.Sleep(time.Second)
		}
	}
	res.Released, res.Lost = len(lags), len(pending)
	res.Lag = summarize(lags)
	if d := released.Sub(first).Seconds(); d > 0 {
		res.DrainRate = float64(res.Released) / d
	}
	return res, nil
}

// each runs fn for orders 0..n-1, spread over the users, users at a time.
func (r *runner) each(ctx context.Context, users []*userRecord, n int, fn func(i int, u *userRecord) error) error {
	var g errgroup.Group
	g.SetLimit(len(users))
	for i := range n {
		u := users[i%len(users)]
		g.Go(func() error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fn(i, u)
		})
	}
	return g.Wait()
}

func (r *runner) eachIndex(ctx context.Context, idx []int, limit int, fn func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(limit)
	for _, i := range idx {
		g.Go(func() error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fn(i)
		})
	}
	return g.Wait()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// WriteTimersReport prints a timer run for humans.
func WriteTimersReport(w io.Writer, r *TimersResult) {
	fmt.Fprintf(w, "%d orders delivered in %.1f s; deadlines spanned %.1f s\n", r.Orders, r.DeliverySeconds, r.DeadlineSpan)
	fmt.Fprintf(w, "released %d, lost %d; lag from deadline to release p50 %.0f ms, p99 %.0f ms, max %.0f ms; drain %.1f releases/s\n",
		r.Released, r.Lost, r.Lag.P50ms, r.Lag.P99ms, r.Lag.MaxMs, r.DrainRate)
}
