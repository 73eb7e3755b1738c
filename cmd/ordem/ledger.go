package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/orderstats"
)

func newLedgerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "ledger", Short: "Inspect the double-entry ledger"}
	cmd.AddCommand(&cobra.Command{
		Use:   "verify",
		Short: "Check every ledger invariant and that the order counters equal a recount; exit 1 and name each violation when any is broken",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, pool, err := openDatabase(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			out := cmd.OutOrStdout()
			failed := false
			rep, err := ledger.VerifySnapshot(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if !rep.OK() {
				for _, v := range rep.Violations {
					fmt.Fprintln(out, "VIOLATION", v)
				}
				fmt.Fprintf(out, "ledger verify: %d violation(s) in %d accounts, %d transactions, %d entries\n",
					len(rep.Violations), rep.Accounts, rep.Transactions, rep.Entries)
				failed = true
			} else {
				fmt.Fprintf(out, "ledger verify: OK: %d accounts, %d transactions, %d entries, balances sum to %s\n",
					rep.Accounts, rep.Transactions, rep.Entries, rep.Total.StringFixed(2))
			}
			// The dashboard's counters are kept with the orders they count;
			// a recount proves it.
			stats, err := orderstats.Check(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if !stats.OK() {
				for _, m := range stats.Mismatches {
					fmt.Fprintln(out, "MISMATCH", m)
				}
				fmt.Fprintf(out, "order stats: %d counter(s) differ from a recount of %d orders\n", len(stats.Mismatches), stats.Orders)
				failed = true
			} else {
				fmt.Fprintf(out, "order stats: OK: counters equal a recount of %d orders\n", stats.Orders)
			}
			if failed {
				return exitError{code: 1}
			}
			return nil
		},
	})
	return cmd
}
