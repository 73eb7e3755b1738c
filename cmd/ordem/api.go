package main

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/connect"
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
	d, err := connect.Open(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer d.Close()
	hooks, err := connect.SealSecrets(ctx, d.Pool, cfg, logger)
	if err != nil {
		return err
	}
	srv := &api.Server{Pool: d.Pool, Temporal: d.Temporal, Config: cfg, Logger: logger, Storage: d.Storage, Metrics: d.Metrics,
		WebhookSecrets: hooks}
	return srv.Run(ctx)
}
