package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/worker"
)

func newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run the Temporal worker of the order workflows (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			logger, closeLogs, err := openLogger(cfg, "worker")
			if err != nil {
				return err
			}
			defer closeLogs()
			return worker.Run(cmd.Context(), cfg, logger)
		},
	}
}

// openLogger returns the logger of a long-running command (concern "api"
// or "worker"): JSON on stderr and, with LOG_DIR, in <concern>.log and
// <concern>-errors.log, rotated (internal/logging).
func openLogger(cfg *config.Config, concern string) (*slog.Logger, func(), error) {
	logger, files, err := logging.New(concern, logging.OptionsFromConfig(cfg))
	if err != nil {
		return nil, nil, err
	}
	// Packages without a logger of their own (internal/audit's file
	// lines) write through the default one.
	slog.SetDefault(logger)
	return logger, func() { _ = files.Close() }, nil
}

// newLogger returns a JSON logger on stderr at level, with secrets
// redacted (for commands that keep no log files).
func newLogger(level string) *slog.Logger {
	return slog.New(logging.NewHandler(os.Stderr, logging.ParseLevel(level)))
}
