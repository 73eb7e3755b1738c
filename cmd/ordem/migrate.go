package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/pressly/goose/v3"
	"github.com/spf13/cobra"

	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/migrations"
)

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
			return run(cmd, p)
		}
	}
	printResults := func(cmd *cobra.Command, verb string, res []*goose.MigrationResult) {
		for _, r := range res {
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s (%s)\n", verb, r.Source.Path, r.Duration.Round(1e6))
		}
	}

	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration, each in its own transaction",
		Args:  cobra.NoArgs,
		RunE: withProvider(func(cmd *cobra.Command, p *goose.Provider) error {
			res, err := p.Up(cmd.Context())
			printResults(cmd, "applied", res)
			if err != nil {
				return fmt.Errorf("migrate up: %w", err)
			}
			v, err := p.GetDBVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema at version %d\n", v)
			return nil
		}),
	}

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
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: withProvider(func(cmd *cobra.Command, p *goose.Provider) error {
			st, err := p.Status(cmd.Context())
			if err != nil {
				return fmt.Errorf("migrate status: %w", err)
			}
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
