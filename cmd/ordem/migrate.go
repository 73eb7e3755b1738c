package main

import (
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"
	"github.com/spf13/cobra"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/secrets"
	"github.com/ordem/ordem/migrations"
)

// sealedSince is the migration that seals stored secrets (00014): from it
// on, `migrate up` seals the clear values the schema still holds.
const sealedSince = 14

// sealAfterUp seals, once the schema has the sealed columns, every stored
// secret still in clear: migration 00014 keeps the clear values because
// SQL has no key, and they must not outlive the upgrade.
func sealAfterUp(cmd *cobra.Command, p *goose.Provider, pool *pgxpool.Pool, cfg *config.Config) error {
	v, err := p.GetDBVersion(cmd.Context())
	if err != nil || v < sealedSince {
		return err
	}
	n, err := secrets.SealClear(cmd.Context(), pool, cfg)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "sealed %d stored secrets that were in clear\n", n)
	}
	return nil
}

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Apply, roll back or list the embedded schema migrations"}

	withProvider := func(run func(cmd *cobra.Command, p *goose.Provider) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			pool, err := postgres.Connect(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			db := migrations.OpenDB(pool)
			defer db.Close()
			p, err := migrations.Provider(db)
			if err != nil {
				return err
			}
			if err := run(cmd, p); err != nil {
				return err
			}
			if cmd.Name() != "up" {
				return nil
			}
			return sealAfterUp(cmd, p, pool, cfg)
		}
	}
	printResults := func(cmd *cobra.Command, verb string, res []*goose.MigrationResult) {
		for _, r := range res {
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%s)\n", verb, r.Source.Path, r.Duration.Round(1e6))
		}
	}

	var (
		one  bool
		upTo int64
	)
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply pending migrations, each in its own transaction (all; --one; or --to VERSION)",
		Long: `Applies the pending migrations, each in its own transaction, and prints each one
applied and the schema version reached. --one applies only the next one, so an
operator can check each before the next ("uma por vez", as the old deployment
guide asks); --to VERSION applies those up to and including VERSION.`,
		Args: cobra.NoArgs,
		RunE: withProvider(func(cmd *cobra.Command, p *goose.Provider) error {
			if one && cmd.Flags().Changed("to") {
				return fmt.Errorf("migrate up: --one and --to exclude each other")
			}
			var (
				res []*goose.MigrationResult
				err error
			)
			switch {
			case one:
				var r *goose.MigrationResult
				r, err = p.UpByOne(cmd.Context())
				if errors.Is(err, goose.ErrNoNextVersion) {
					err = nil
					fmt.Fprintln(cmd.OutOrStdout(), "nothing to apply")
				}
				if r != nil {
					res = append(res, r)
				}
			case cmd.Flags().Changed("to"):
				res, err = p.UpTo(cmd.Context(), upTo)
			default:
				res, err = p.Up(cmd.Context())
			}
			printResults(cmd, "applied", res)
			if err != nil {
				return fmt.Errorf("migrate up: %w", err)
			}
			v, err := p.GetDBVersion(cmd.Context())
			if err != nil {
				return err
			}
			pending, err := p.HasPending(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema at version %d%s\n", v, map[bool]string{true: " (more pending: see migrate status)", false: ""}[pending])
			return nil
		}),
	}
	up.Flags().BoolVar(&one, "one", false, "apply only the next pending migration")
	up.Flags().Int64Var(&upTo, "to", 0, "apply pending migrations up to and including this version")

	var to int64
	var all bool
	down := &cobra.Command{
		Use:   "down",
		Short: "Roll back the latest migration (or down to --to VERSION, or --all)",
		Args:  cobra.NoArgs,
		RunE: withProvider(func(cmd *cobra.Command, p *goose.Provider) error {
			var (
				res []*goose.MigrationResult
				err error
			)
			switch {
			case all:
				res, err = p.DownTo(cmd.Context(), 0)
			case cmd.Flags().Changed("to"):
				res, err = p.DownTo(cmd.Context(), to)
			default:
				var r *goose.MigrationResult
				r, err = p.Down(cmd.Context())
				if r != nil {
					res = append(res, r)
				}
			}
			printResults(cmd, "rolled back", res)
			if err != nil {
				return fmt.Errorf("migrate down: %w", err)
			}
			return nil
		}),
	}
	down.Flags().Int64Var(&to, "to", 0, "roll back every migration above this version")
	down.Flags().BoolVar(&all, "all", false, "roll back every migration")

	status := &cobra.Command{
		Use:   "status",
		Short: "List migrations, the pending ones first, and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: withProvider(func(cmd *cobra.Command, p *goose.Provider) error {
			st, err := p.Status(cmd.Context())
			if err != nil {
				return fmt.Errorf("migrate status: %w", err)
			}
			// Pending first: what an operator is about to apply.
			pending := 0
			sort.SliceStable(st, func(i, j int) bool {
				return st[i].State == goose.StatePending && st[j].State != goose.StatePending
			})
			for _, s := range st {
				if s.State == goose.StatePending {
					pending++
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d pending, %d applied\n", pending, len(st)-pending)
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "VERSION\tSTATE\tAPPLIED AT\tFILE")
			for _, s := range st {
				at := "-"
				if !s.AppliedAt.IsZero() {
					at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, s.Source.Path)
			}
			return w.Flush()
		}),
	}
	cmd.AddCommand(up, down, status)
	return cmd
}
