package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ordem/ordem/internal/readbench"
)

func init() { benchCommands = append(benchCommands, newBenchReadsCmd) }

func newBenchReadsCmd() *cobra.Command {
	o := readbench.Options{}
	cmd := &cobra.Command{
		Use:   "reads",
		Short: "Generate a marketplace of --orders orders in SQL, then measure every list and dashboard route over HTTP (p50/p95/p99)",
		Long: `Adds --orders orders (default 1,000,000) directly in SQL to the database the API
serves, over generated clients and providers, with their ledger postings,
wallets, deposits, payouts, notifications, timelines and the order counters,
then calls every list and dashboard route over HTTP as the users who see them
(the heaviest, a median and a churned client, the heaviest and a median
provider, the admin) and prints p50/p95/p99 per route as a Markdown table.
Exits 1 when a route fails or its p99 reaches --target.

Loopback only (API and database). The API must run with RATELIMIT_ENABLED=false.
--orders 0 measures the data already there (from an earlier run). Run it on an
idle stack: the generator reserves ids in blocks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Command = "ordem " + strings.Join(os.Args[1:], " ")
			o.Log = cmd.ErrOrStderr()
			rep, err := readbench.Run(cmd.Context(), o)
			if err != nil {
				return err
			}
			rep.WriteMarkdown(cmd.OutOrStdout())
			if missed := rep.Missed(); len(missed) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "\n%d route(s) missed p99 < %s\n", len(missed), o.Target)
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.APIURL, "api-url", envOr("ORDEM_API_URL", "http://127.0.0.1:8080"), "the API's base URL, on loopback (ORDEM_API_URL)")
	f.StringVar(&o.AdminEmail, "admin-email", envOr("ADMIN_EMAIL", "admin@example.com"), "an admin's e-mail (ADMIN_EMAIL)")
	f.StringVar(&o.AdminPassword, "admin-password", os.Getenv("ADMIN_PASSWORD"), "the admin's password (ADMIN_PASSWORD)")
	f.StringVar(&o.DatabaseURL, "database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ordem?sslmode=disable"),
		"the API's database, on loopback (DATABASE_URL)")
	f.IntVar(&o.Gen.Orders, "orders", 1_000_000, "orders to generate before measuring (0: measure what is there)")
	f.IntVar(&o.Gen.Clients, "clients", 20_000, "generated clients (created once, reused by later runs)")
	f.IntVar(&o.Gen.Providers, "providers", 5_000, "generated providers (created once, reused by later runs)")
	f.IntVar(&o.Gen.BatchSize, "batch", 100_000, "orders generated per transaction")
	f.Int64Var(&o.Gen.Seed, "seed", 42, "seed of the generated data")
	f.IntVar(&o.Requests, "requests", 300, "measured requests per route")
	f.IntVar(&o.Warmup, "warmup", 10, "unmeasured requests per route first")
	f.IntVar(&o.Concurrency, "concurrency", 4, "requests in flight at once")
	f.IntVar(&o.Round, "round", 20, "requests per route before the next route's turn (routes are measured interleaved)")
	f.DurationVar(&o.MaxRouteTime, "max-route-time", time.Minute, "stop measuring a route after this long (0: never)")
	f.DurationVar(&o.Target, "target", 50*time.Millisecond, "the p99 every route must stay under")
	return cmd
}
