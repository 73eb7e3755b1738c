// Command ordem is Ordem's one binary: migrations, seed, ledger checks, the
// worker, the API and the local dev stack are its subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/postgres"
)

// exitError ends the process with a status code after its message (if any)
// has already been printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	default:
		fmt.Fprintln(os.Stderr, "ordem:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "ordem",
		Short:         "Ordem: the order engine of a services marketplace",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newMigrateCmd(), newSeedCmd(), newLedgerCmd(), newWorkerCmd(), newAPICmd(), newDevCmd(), newBenchCmd(), newVersionCmd(),
		newSecretsCmd())
	return root
}

// loadConfig reads and validates the environment once per command.
// openDatabase loads the configuration and connects to DATABASE_URL: the
// start of every command that works on the database alone.
func openDatabase(ctx context.Context) (*config.Config, *pgxpool.Pool, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, nil, err
	}
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	return cfg, pool, nil
}

func loadConfig() (*config.Config, error) {
	cfg, err := config.Load()
	if err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}
