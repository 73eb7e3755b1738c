package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/ordem/ordem/internal/loadgen"
	"github.com/ordem/ordem/internal/logging"
)

func init() {
	benchCommands = append(benchCommands, newBenchOrdersCmd, newBenchNoopCmd, newBenchTimersCmd)
}

// benchFlags are the flags the load and ceiling runs share.
type benchFlags struct {
	users     int
	duration  time.Duration
	orders    int
	procs     string
	jsonOut   string
	temporal  string
	namespace string
}

func (b *benchFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&b.users, "users", 8, "concurrent virtual users")
	f.DurationVar(&b.duration, "duration", 30*time.Second, "load window")
	f.IntVar(&b.orders, "orders", 0, "stop after starting this many orders (0: run for --duration)")
	f.StringVar(&b.procs, "procs", "ordem,postgres,versitygw", "comma-separated process names (/proc/<pid>/comm) whose CPU is measured")
	f.StringVar(&b.jsonOut, "json", "", "also write the result as JSON to this file")
	f.StringVar(&b.temporal, "temporal-address", envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend of the stack (for the ceiling)")
	f.StringVar(&b.namespace, "namespace", envOr("TEMPORAL_NAMESPACE", "default"), "Temporal namespace")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func newBenchOrdersCmd() *cobra.Command {
	var (
		b             benchFlags
		urls          []string
		adminEmail    string
		adminPassword string
		passwordFile  string
		mix           string
		deadline      time.Duration
		retryFor      time.Duration
		databaseURL   string
		seed          uint64
		ceilingToo    bool
	)
	cmd := &cobra.Command{
		Use:   "orders",
		Short: "Drive a running stack with concurrent orders over its HTTP API, then check the money",
		Long: `Registers and funds --users clients and providers, then each runs orders of the --mix
end to end through the public API for --duration: create, accept, deliver, confirm (and
auto-confirmation, disputes with evidence and rulings, cancellations with penalty). Prints
orders/s, every action's latency, errors by code and the CPU the stack's processes spent
per completed order; then checks that money was conserved to the cent per user and in total,
and verifies the ledger (with --database-url). With --ceiling it then runs the order-shaped
no-op workflow on the same Temporal server and prints the ratio. Exits 1 when an order
failed or a check did not pass. Loopback only.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := loadgen.ParseMix(mix)
			if err != nil {
				return err
			}
			if adminPassword == "" && passwordFile != "" {
				raw, err := os.ReadFile(passwordFile)
				if err != nil {
					return fmt.Errorf("read --admin-password-file: %w", err)
				}
				adminPassword = strings.TrimSpace(string(raw))
			}
			out := cmd.OutOrStdout()
			res, err := loadgen.Run(cmd.Context(), loadgen.Config{
				BaseURLs: urls, AdminEmail: adminEmail, AdminPassword: adminPassword, Users: b.users,
				Duration: b.duration, MaxOrders: b.orders, Mix: m, ConfirmDeadline: deadline, RetryFor: retryFor,
				DatabaseURL: databaseURL, Processes: splitList(b.procs), Seed: seed, Log: cmd.ErrOrStderr(),
			})
			if res != nil {
				fmt.Fprintln(out, "== Ordem")
				loadgen.WriteReport(out, res)
			}
			if err != nil {
				return err
			}
			report := map[string]any{"ordem": res}
			if ceilingToo {
				noop, err := runCeiling(cmd, b, out)
				if err != nil {
					return err
				}
				report["ceiling"] = noop
				if noop.OrdersPerSecond > 0 {
					ratio := res.OrdersPerSecond / noop.OrdersPerSecond
					report["ratio"] = ratio
					fmt.Fprintf(out, "== Ordem ÷ ceiling: %.2f orders/s ÷ %.2f workflows/s = %.2f×\n", res.OrdersPerSecond, noop.OrdersPerSecond, ratio)
				}
			}
			if err := writeJSON(b.jsonOut, report); err != nil {
				return err
			}
			if !res.OK() {
				return exitError{code: 1}
			}
			return nil
		},
	}
	b.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&urls, "url", []string{"http://127.0.0.1:8080"}, "API base URL (repeat for several API processes)")
	f.StringVar(&adminEmail, "admin-email", envOr("ADMIN_EMAIL", "admin@ordem.local"), "admin who funds users and rules on disputes")
	f.StringVar(&adminPassword, "admin-password", os.Getenv("ADMIN_PASSWORD"), "the admin's password")
	f.StringVar(&passwordFile, "admin-password-file", ".ordem-dev/admin-password", "file holding the admin's password (ordem dev's data directory keeps it), when --admin-password is empty")
	f.StringVar(&mix, "mix", "confirmed=1", "scenario weights: confirmed, auto_confirmed, disputed, cancelled (e.g. confirmed=6,auto_confirmed=2,disputed=1,cancelled=1)")
	f.DurationVar(&deadline, "confirm-deadline", 20*time.Second, "confirmation window set for the run (auto-confirmed orders wait for it); 0 leaves the config alone")
	f.DurationVar(&retryFor, "retry-for", 0, "retry a failed request (same Idempotency-Key) for this long, as a client through an outage")
	f.StringVar(&databaseURL, "database-url", os.Getenv("DATABASE_URL"), "the stack's database: platform revenue and ledger verify at the end")
	f.Uint64Var(&seed, "seed", 1, "seed of the scenario draws")
	f.BoolVar(&ceilingToo, "ceiling", false, "then run the order-shaped no-op workflow on the same Temporal server and print the ratio")
	return cmd
}

func newBenchNoopCmd() *cobra.Command {
	var b benchFlags
	cmd := &cobra.Command{
		Use:   "noop",
		Short: "Run the order-shaped no-op workflow (the ceiling) on a Temporal server",
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := runCeiling(cmd, b, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			if err := writeJSON(b.jsonOut, map[string]any{"ceiling": res}); err != nil {
				return err
			}
			if res.Failed > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	b.register(cmd)
	return cmd
}

// runCeiling runs the ceiling workflow with a worker in this process.
func runCeiling(cmd *cobra.Command, b benchFlags, out io.Writer) (*loadgen.Result, error) {
	logger, _, err := logging.New("bench", logging.Options{Level: "ERROR", Stderr: cmd.ErrOrStderr()})
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(client.Options{HostPort: b.temporal, Namespace: b.namespace, Logger: sdklog.NewStructuredLogger(logger)})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", b.temporal, err)
	}
	defer c.Close()
	res, err := loadgen.RunNoop(cmd.Context(), loadgen.NoopConfig{Temporal: c, TaskQueue: "ordem-bench-ceiling",
		Users: b.users, Duration: b.duration, MaxOrders: b.orders, Processes: splitList(b.procs), Log: cmd.ErrOrStderr()})
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(out, "== ceiling: order-shaped no-op workflow (workflows/ceiling)")
	loadgen.WriteReport(out, res)
	return res, nil
}

func newBenchTimersCmd() *cobra.Command {
	var (
		url, adminEmail, adminPassword, passwordFile, jsonOut string
		orders, users                                         int
		deadline                                              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "timers",
		Short: "Deliver many orders at once and measure how late their confirmation deadlines release them",
		Long: `Creates and accepts --orders orders, delivers them all as fast as the stack takes them
(so their deadlines, --deadline later, bunch up), then waits for every deadline's durable
timer to auto-confirm its order and prints the lag from deadline to release (p50/p99/max),
the drain rate and how many were lost (none, or it exits 1). Loopback only.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if adminPassword == "" && passwordFile != "" {
				raw, err := os.ReadFile(passwordFile)
				if err != nil {
					return fmt.Errorf("read --admin-password-file: %w", err)
				}
				adminPassword = strings.TrimSpace(string(raw))
			}
			res, err := loadgen.RunTimers(cmd.Context(), loadgen.TimersConfig{BaseURL: url, AdminEmail: adminEmail,
				AdminPassword: adminPassword, Orders: orders, Users: users, Deadline: deadline, Log: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			loadgen.WriteTimersReport(cmd.OutOrStdout(), res)
			if err := writeJSON(jsonOut, map[string]any{"timers": res}); err != nil {
				return err
			}
			if res.Lost > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "http://127.0.0.1:8080", "API base URL")
	f.StringVar(&adminEmail, "admin-email", envOr("ADMIN_EMAIL", "admin@ordem.local"), "admin")
	f.StringVar(&adminPassword, "admin-password", os.Getenv("ADMIN_PASSWORD"), "the admin's password")
	f.StringVar(&passwordFile, "admin-password-file", ".ordem-dev/admin-password", "file holding the admin's password, when --admin-password is empty")
	f.IntVar(&orders, "orders", 2000, "orders delivered")
	f.IntVar(&users, "users", 16, "concurrent clients doing the set-up")
	f.DurationVar(&deadline, "deadline", 3*time.Minute, "confirmation window set for the run: longer than the deliveries take")
	f.StringVar(&jsonOut, "json", "", "also write the result as JSON to this file")
	return cmd
}
