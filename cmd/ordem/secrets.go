package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ordem/ordem/internal/secrets"
)

func newSecretsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secrets", Short: "Manage the secrets Ordem stores sealed under SECRET_KEY"}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Re-seal every stored secret under the current SECRET_KEY (after moving the old one to SECRET_KEY_PREVIOUS)",
		Long: `Re-seals every stored secret (webhook endpoint signing secrets) under the key
derived from SECRET_KEY: values sealed under SECRET_KEY_PREVIOUS, and any still
in clear, are re-sealed in batches, each in its own transaction; values already
under SECRET_KEY are left alone, so running it again changes nothing. It prints
what it did per kind of secret and fails (exit status 1) when some value opens
under neither key: SECRET_KEY_PREVIOUS must stay set until it succeeds.

Procedure: set SECRET_KEY_PREVIOUS to the current key and SECRET_KEY to a new
one, restart the worker and the API, run ordem secrets rotate, then remove
SECRET_KEY_PREVIOUS and restart again (docs/operations.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, pool, err := openDatabase(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			out := cmd.OutOrStdout()
			reps, err := secrets.Rotate(cmd.Context(), pool, cfg)
			failed := 0
			for _, r := range reps {
				fmt.Fprintf(out, "%s: %d re-sealed, %d sealed (were in clear), %d under the current key, %d unreadable\n",
					r.Name, r.Resealed, r.Sealed, r.Current, len(r.Failed))
				if len(r.Failed) > 0 {
					ids := make([]string, len(r.Failed))
					for i, id := range r.Failed {
						ids[i] = fmt.Sprint(id)
					}
					fmt.Fprintf(out, "  unreadable %s rows (sealed under a key that is neither SECRET_KEY nor SECRET_KEY_PREVIOUS): %s\n",
						r.Column.Table, strings.Join(ids, ", "))
				}
				failed += len(r.Failed)
			}
			if err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("secrets rotate: %d stored secrets open under neither SECRET_KEY nor SECRET_KEY_PREVIOUS; keep SECRET_KEY_PREVIOUS until this succeeds", failed)
			}
			return nil
		},
	}
	cmd.AddCommand(rotate)
	return cmd
}
