package main

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/metrics"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/worker"
)

func newAPICmd() *cobra.Command {
	return &cobra.Command{
		Use:   "api",
		Short: "Serve the HTTP API on HTTP_ADDR (graceful shutdown on SIGINT/SIGTERM)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			logger, closeLogs, err := openLogger(cfg, "api")
			if err != nil {
				return err
			}
			defer closeLogs()
			return runAPI(cmd.Context(), cfg, logger)
		},
	}
}

// runAPI serves the API until ctx ends (`ordem api` and `ordem dev`).
func runAPI(ctx context.Context, cfg *config.Config, logger *slog.Logger) error {
	m := metrics.New()
	pcfg, err := metrics.InstrumentPool(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	pool, err := postgres.ConnectConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	mh, stopMetrics := m.TemporalHandler()
	defer stopMetrics.Close()
	c, err := worker.Dial(cfg, logger, worker.WithMetrics(mh))
	if err != nil {
		return err
	}
	defer c.Close()
	store, err := storage.New(storage.OptionsFromConfig(cfg))
	if err != nil {
		return err
	}
	srv := &api.Server{Pool: pool, Temporal: c, Config: cfg, Logger: logger, Storage: store, Metrics: m}
	return srv.Run(ctx)
}
