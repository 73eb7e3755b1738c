package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ordem/ordem/internal/seed"
)

func newSeedCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "seed",
		Short: "Write default system config, platform accounts, the admin (ADMIN_EMAIL/ADMIN_PASSWORD) and missing wallets; idempotent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, pool, err := openDatabase(cmd.Context())
			if err != nil {
				return err
			}
			defer pool.Close()
			res, err := seed.Run(cmd.Context(), pool, seed.Admin{Name: cfg.AdminName, Email: cfg.AdminEmail, Password: cfg.AdminPassword})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "system config: %d default key(s) written\n", res.ConfigKeys)
			fmt.Fprintf(out, "wallets: %d account(s) opened\n", res.Wallets)
			switch {
			case res.GeneratedPassword != "":
				fmt.Fprintf(out, "admin %s created (id %d) with generated password: %s\n", cfg.AdminEmail, res.AdminID, res.GeneratedPassword)
				fmt.Fprintln(out, "  this password is shown only now; store it or set ADMIN_PASSWORD before seeding")
				fmt.Fprint(out, changePasswordHint("http://"+cfg.HTTPAddr, "  "))
			case res.AdminCreated:
				fmt.Fprintf(out, "admin %s created (id %d)\n", cfg.AdminEmail, res.AdminID)
			default:
				fmt.Fprintf(out, "admin %s already exists (id %d)\n", cfg.AdminEmail, res.AdminID)
			}
			return nil
		},
	}
}

// changePasswordHint tells the admin how to replace a generated password:
// the console page and the API call, each line indented by indent.
func changePasswordHint(apiURL, indent string) string {
	return indent + "change it in the web console: log in, open " + apiURL + "/account (Change password), or through the API:\n" +
		indent + "  curl -X POST " + apiURL + "/v1/me/password -H 'Authorization: Bearer <token from POST /v1/auth/login>' \\\n" +
		indent + "    -H 'Content-Type: application/json' -d '{\"current_password\":\"<this one>\",\"new_password\":\"<yours>\"}'\n"
}
