package worker

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/metrics"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/storage"
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

// Connect opens the Deps described by cfg; on an error, what it had
// opened is closed again.
func Connect(ctx context.Context, cfg *config.Config, logger *slog.Logger) (_ *Deps, err error) {
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
	if d.Temporal, err = Dial(cfg, logger, WithMetrics(mh)); err != nil {
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
