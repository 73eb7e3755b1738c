package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/postgres"
)

func newLedgerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ledger", Short: "Inspect the double-entry ledger"}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify",
		Short: "Check every ledger invariant; exit 1 and name each violation when any is broken",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			pool, err := postgres.Connect(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			rep, err := ledger.VerifySnapshot(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if !rep.OK() {
				for _, v := range rep.Violations {
					fmt.Fprintln(cmd.OutOrStdout(), "VIOLATION", v)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "ledger verify: %d violation(s) in %d accounts, %d transactions, %d entries\n",
					len(rep.Violations), rep.Accounts, rep.Transactions, rep.Entries)
				return exitError{code: 1}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ledger verify: OK: %d accounts, %d transactions, %d entries, balances sum to %s\n",
				rep.Accounts, rep.Transactions, rep.Entries, rep.Total.StringFixed(2))
			return nil
		},
	})
	return cmd
}
