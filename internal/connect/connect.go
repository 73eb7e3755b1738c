// Package connect opens the connections `ordem api` and `ordem worker`
// both start from (Postgres, Temporal, the evidence store, metrics), so
// neither process reaches into the other's package to get them.
package connect

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/metrics"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/secretbox"
	"github.com/ordem/ordem/internal/secrets"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/internal/webhook"
)

// Deps are the connections `ordem api` and `ordem worker` both start
// from: a metrics registry, a Postgres pool whose errors it counts, a
// Temporal client reporting the SDK's metrics into it, and the evidence
// store.
type Deps struct {
	Metrics  *metrics.Metrics
	Pool     *pgxpool.Pool
	Temporal client.Client
	Storage  *storage.Store
	closers  []func()
}

// Open opens the Deps described by cfg; on an error, what it had
// opened is closed again.
func Open(ctx context.Context, cfg *config.Config, logger *slog.Logger) (_ *Deps, err error) {
	d := &Deps{Metrics: metrics.New()}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	pcfg, err := metrics.InstrumentPool(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if d.Pool, err = postgres.ConnectConfig(ctx, pcfg); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, d.Pool.Close)
	mh, stopMetrics := d.Metrics.TemporalHandler()
	d.closers = append(d.closers, func() { _ = stopMetrics.Close() })
	if d.Temporal, err = Temporal(cfg, logger, WithMetrics(mh)); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, d.Temporal.Close)
	if d.Storage, err = storage.New(storage.OptionsFromConfig(cfg)); err != nil {
		return nil, err
	}
	return d, nil
}

// Close closes the connections in the reverse order of their opening.
func (d *Deps) Close() {
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	d.closers = nil
}

// DialOption adjusts the Temporal client options Dial uses.
type DialOption func(*client.Options)

// WithMetrics sends the SDK's metrics to h (metrics.Metrics.TemporalHandler).
func WithMetrics(h client.MetricsHandler) DialOption {
	return func(o *client.Options) { o.MetricsHandler = h }
}

// Temporal connects to the Temporal frontend named by cfg, logging through
// logger (the SDK's own lines carry "component": "temporal").
func Temporal(cfg *config.Config, logger *slog.Logger, opts ...DialOption) (client.Client, error) {
	o := client.Options{
		HostPort:  cfg.TemporalAddress,
		Namespace: cfg.TemporalNamespace,
		Logger:    sdklog.NewStructuredLogger(logger.With("component", "temporal")),
	}
	for _, opt := range opts {
		opt(&o)
	}
	c, err := client.Dial(o)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	return c, nil
}

// SealSecrets seals the stored secrets still in clear (rows from before
// the release that seals them: `ordem migrate up` does it too, this
// covers a worker or API started first) and returns the keyring that
// opens webhook endpoint secrets. The worker and the API run it at start.
func SealSecrets(ctx context.Context, pool *pgxpool.Pool, cfg *config.Config, logger *slog.Logger) (*secretbox.Keyring, error) {
	n, err := secrets.SealClear(ctx, pool, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w (has `ordem migrate up` run?)", err)
	}
	if n > 0 {
		logger.Info("Sealed stored secrets that were in clear", "count", n)
	}
	return webhook.NewKeyring(cfg.SecretKey, cfg.SecretKeyPrevious)
}
