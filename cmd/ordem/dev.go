package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/devstack"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/seed"
	"github.com/ordem/ordem/migrations"
	"github.com/ordem/ordem/worker"
	"github.com/ordem/ordem/workflows/order"
)

// devOptions are `ordem dev`'s flags; each has an ORDEM_DEV_* variable.
type devOptions struct {
	dataDir      string
	host         string
	httpPort     int
	temporalPort int
	uiPort       int
	s3Port       int
	pgPort       int
	workerPort   int
	// temporalOnly starts only Temporal (+ UI), for a worker and an API
	// run from the editor.
	temporalOnly bool
	// temporalStore is where Temporal keeps its state: sqlite or postgres.
	temporalStore string
}

// Where `ordem dev` keeps Temporal's state (--temporal-store).
const (
	storeSQLite   = "sqlite"
	storePostgres = "postgres"
)

// adminPasswordFile keeps the admin password `ordem dev` generated, so the
// banner can show it on every start: a convenience of the dev stack only
// (`ordem seed` shows a generated password once and stores it nowhere).
const adminPasswordFile = "admin-password"

func newDevCmd() *cobra.Command {
	o := devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system locally: Temporal dev server + Web UI, S3 store, Postgres, migrations, seed, worker and API",
		Long: `Runs everything Ordem needs in one process, keeping state in the data directory
(workflows and their timers, evidence files, and a private Postgres cluster when
DATABASE_URL does not answer), so a restart resumes where the last run stopped.
Ctrl-C stops everything. Not for production: see docs/operations.md.

--temporal-only starts only the Temporal dev server and its Web UI (namespace and
Ordem's search attributes registered), for a worker and an API run from your
editor; the banner says what to export. --temporal-store postgres keeps
Temporal's state in Postgres databases of its own on DATABASE_URL's server
(<database>_temporal and <database>_temporal_visibility), schema managed by
Temporal's SQL tool, instead of temporal.db (SQLite) in the data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", envOr("ORDEM_DEV_DATA_DIR", ".ordem-dev"), "directory for all local state (ORDEM_DEV_DATA_DIR)")
	f.StringVar(&o.host, "host", envOr("ORDEM_DEV_HOST", "127.0.0.1"), "address every service binds to (ORDEM_DEV_HOST)")
	f.IntVar(&o.httpPort, "http-port", envInt("ORDEM_DEV_HTTP_PORT", 8080), "API port (ORDEM_DEV_HTTP_PORT)")
	f.IntVar(&o.temporalPort, "temporal-port", envInt("ORDEM_DEV_TEMPORAL_PORT", 7233), "Temporal gRPC port (ORDEM_DEV_TEMPORAL_PORT)")
	f.IntVar(&o.uiPort, "ui-port", envInt("ORDEM_DEV_UI_PORT", 8233), "Temporal Web UI port (ORDEM_DEV_UI_PORT)")
	f.IntVar(&o.s3Port, "s3-port", envInt("ORDEM_DEV_S3_PORT", 7070), "S3 store port, unless S3_ENDPOINT is set (ORDEM_DEV_S3_PORT)")
	f.IntVar(&o.pgPort, "pg-port", envInt("ORDEM_DEV_PG_PORT", 5433), "port of the private Postgres cluster, used when DATABASE_URL does not answer (ORDEM_DEV_PG_PORT)")
	f.IntVar(&o.workerPort, "worker-port", envInt("ORDEM_DEV_WORKER_PORT", 9090), "port of the worker's /metrics, /healthz and /readyz (ORDEM_DEV_WORKER_PORT)")
	f.BoolVar(&o.temporalOnly, "temporal-only", envBool("ORDEM_DEV_TEMPORAL_ONLY", false), "start only the Temporal dev server and its Web UI (ORDEM_DEV_TEMPORAL_ONLY)")
	f.StringVar(&o.temporalStore, "temporal-store", envOr("ORDEM_DEV_TEMPORAL_STORE", storeSQLite), "where Temporal keeps its state: sqlite (temporal.db in the data directory) or postgres (databases on DATABASE_URL's server) (ORDEM_DEV_TEMPORAL_STORE)")
	return cmd
}

func envBool(key string, def bool) bool {
	if b, err := strconv.ParseBool(os.Getenv(key)); err == nil {
		return b
	}
	return def
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return n
	}
	return def
}

// runDev starts the stack, prints the banner and runs until ctx ends or a
// part fails; everything started is stopped, in reverse order, on return.
func runDev(ctx context.Context, o devOptions, out io.Writer) (err error) {
	if o.temporalStore != storeSQLite && o.temporalStore != storePostgres {
		return fmt.Errorf("--temporal-store %q: want %s or %s", o.temporalStore, storeSQLite, storePostgres)
	}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return fmt.Errorf("resolve data directory: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, "ordem dev: "+format+"\n", args...) }
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	// The environment is the configuration's one source: ordem dev sets
	// what it starts, and leaves what the developer set.
	setDefault := func(k, v string) {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	setDefault("ORDEM_ENV", config.EnvDev)
	if os.Getenv("ORDEM_ENV") == config.EnvProduction {
		return errors.New("ordem dev refuses ORDEM_ENV=production: it runs an embedded Temporal and a dev S3 store")
	}
	// A developer's webhook receiver runs on their machine or network
	// (link-local and metadata addresses stay refused).
	setDefault("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")

	// Postgres: for Ordem, and for Temporal on --temporal-store postgres.
	var pg devPG
	if !o.temporalOnly || o.temporalStore == storePostgres {
		if pg, err = devPostgres(ctx, dataDir, o.pgPort, say); err != nil {
			return err
		}
		if pg.stop != nil {
			stops = append(stops, pg.stop)
		}
		os.Setenv("DATABASE_URL", pg.url)
	}

	// S3.
	s3Note := "S3_ENDPOINT"
	if !o.temporalOnly && os.Getenv("S3_ENDPOINT") == "" {
		logFile, err := os.OpenFile(filepath.Join(dataDir, "s3.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("open the S3 store's log: %w", err)
		}
		stops = append(stops, func() { logFile.Close() })
		s3, err := devstack.StartS3(net.JoinHostPort(o.host, strconv.Itoa(o.s3Port)), filepath.Join(dataDir, "s3"), logFile)
		if err != nil {
			return err
		}
		stops = append(stops, s3.Stop)
		os.Setenv("S3_ENDPOINT", s3.Endpoint)
		os.Setenv("S3_ACCESS_KEY_ID", devstack.S3AccessKey)
		os.Setenv("S3_SECRET_ACCESS_KEY", devstack.S3SecretKey)
		os.Setenv("S3_REGION", devstack.S3Region)
		os.Setenv("S3_USE_PATH_STYLE", "true")
		s3Note = "versitygw over " + filepath.Join(dataDir, "s3")
	}

	// Temporal.
	attrs := map[string]enums.IndexedValueType{}
	for _, key := range order.SearchAttributes {
		attrs[key.GetName()] = key.GetValueType()
	}
	namespace := envOr("TEMPORAL_NAMESPACE", "default")
	topts := devstack.TemporalOptions{
		IP: o.host, Port: o.temporalPort, UIPort: o.uiPort,
		LogFile:   filepath.Join(dataDir, "temporal.log"),
		Namespace: namespace, SearchAttributes: attrs,
	}
	if o.temporalStore == storePostgres {
		if topts.Postgres, err = devstack.PostgresStoreFor(pg.url); err != nil {
			return err
		}
	} else {
		topts.DatabaseFile = filepath.Join(dataDir, "temporal.db")
	}
	tmp, err := devstack.StartTemporal(topts)
	if err != nil {
		return err
	}
	stops = append(stops, tmp.Stop)
	if o.temporalOnly {
		return runTemporalOnly(ctx, tmp, namespace, dataDir, pg, out, say)
	}
	os.Setenv("TEMPORAL_ADDRESS", tmp.Address)
	os.Setenv("TEMPORAL_NAMESPACE", namespace)
	setDefault("TEMPORAL_UI_URL", tmp.UIURL)
	os.Setenv("HTTP_ADDR", net.JoinHostPort(o.host, strconv.Itoa(o.httpPort)))
	os.Setenv("WORKER_HTTP_ADDR", net.JoinHostPort(o.host, strconv.Itoa(o.workerPort)))

	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	logger := newLogger(cfg.LogLevel)
	slog.SetDefault(logger)

	// Schema and seed.
	admin, err := devMigrateAndSeed(ctx, cfg, dataDir)
	if err != nil {
		return err
	}

	// Worker and API, until ctx ends or one of them fails.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- prefix("worker", worker.Run(runCtx, cfg, logger)) }()
	go func() { errc <- prefix("api", runAPI(runCtx, cfg, logger)) }()
	apiURL := "http://" + cfg.HTTPAddr
	if err := waitReady(runCtx, apiURL+"/readyz", 60*time.Second, errc); err != nil {
		cancel()
		return err
	}

	fmt.Fprintf(out, `
  Ordem dev stack is up (Ctrl-C stops everything; state in %s)

    API             %s   (OpenAPI: %s/openapi.yaml, metrics: %s/metrics)
    Worker          http://%s/metrics
    Web console     %s/
    Temporal        %s   namespace %s, task queue %s (%s)
    Temporal Web UI %s
    S3 store        %s   bucket %s (%s)
    Postgres        %s   (%s)

    Admin login     %s
    Admin password  %s
%s
`, dataDir, apiURL, apiURL, apiURL, cfg.WorkerHTTPAddr, apiURL, tmp.Address, namespace, cfg.TemporalTaskQueue, tmp.Store, orNone(tmp.UIURL),
		cfg.S3Endpoint, cfg.S3Bucket, s3Note, redactURL(cfg.DatabaseURL), pg.note, cfg.AdminEmail, admin,
		changePasswordHint(apiURL, "                    "))

	var first error
	select {
	case <-ctx.Done():
		say("stopping")
	case first = <-errc:
		say("stopping: %v", first)
	}
	cancel()
	// Both the worker and the API stop on runCtx; wait for the other.
	for i := 0; i < 2; i++ {
		if first != nil && i == 0 {
			continue
		}
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// devPG is the Postgres `ordem dev` uses.
type devPG struct {
	url string
	// note says which server, for the banner.
	note string
	// stop stops the private cluster; nil for DATABASE_URL's server.
	stop func()
}

// devPostgres finds Ordem's Postgres: DATABASE_URL's server (its database
// created when missing), or else a private cluster in the data directory.
func devPostgres(ctx context.Context, dataDir string, port int, say func(string, ...any)) (devPG, error) {
	dbURL := envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ordem?sslmode=disable")
	answered, err := devstack.EnsureDatabase(ctx, dbURL)
	if err != nil {
		return devPG{}, err
	}
	if answered {
		return devPG{url: dbURL, note: "DATABASE_URL"}, nil
	}
	dir := filepath.Join(dataDir, "postgres")
	say("DATABASE_URL does not answer: starting a private PostgreSQL in %s on port %d", dir, port)
	cluster, err := devstack.StartCluster(ctx, dir, port)
	if err != nil {
		return devPG{}, err
	}
	stop := func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "ordem dev: stop PostgreSQL:", err)
		}
	}
	dbURL = cluster.URL("ordem")
	if _, err := devstack.EnsureDatabase(ctx, dbURL); err != nil {
		stop()
		return devPG{}, err
	}
	return devPG{url: dbURL, note: "private cluster in " + dir, stop: stop}, nil
}

// runTemporalOnly waits until the namespace answers with Ordem's search
// attributes (registering any it lacks), prints what a developer exports
// to run `ordem worker` and `ordem api` against it, and runs until ctx
// ends (SIGINT, SIGTERM).
func runTemporalOnly(ctx context.Context, tmp *devstack.Temporal, namespace, dataDir string, pg devPG, out io.Writer, say func(string, ...any)) error {
	if err := waitNamespace(ctx, tmp.Address, namespace, time.Minute); err != nil {
		return err
	}
	names := make([]string, 0, len(order.SearchAttributes))
	for _, key := range order.SearchAttributes {
		names = append(names, key.GetName())
	}
	// ORDEM_ENV too: the commands default to production, which wants a
	// SECRET_KEY and more.
	exports := "ORDEM_ENV=" + os.Getenv("ORDEM_ENV") + " TEMPORAL_ADDRESS=" + tmp.Address + " TEMPORAL_NAMESPACE=" + namespace
	if tmp.UIURL != "" {
		exports += " TEMPORAL_UI_URL=" + tmp.UIURL
	}
	postgres := ""
	if pg.url != "" {
		postgres = fmt.Sprintf("    Postgres        %s   (%s)\n", redactURL(pg.url), pg.note)
		if pg.stop != nil {
			// The worker and the API need Ordem's database too: this
			// one only answers while ordem dev runs.
			exports += " DATABASE_URL=" + pg.url
		}
	}
	fmt.Fprintf(out, `
  Temporal dev server is up (Ctrl-C stops it; state in %s)

    Temporal        %s   namespace %s (%s)
    Search attrs    %s
    Temporal Web UI %s
%s
  Run the worker and the API against it (DATABASE_URL, S3_* and the rest as usual):

    export %s
    ordem worker
    ordem api

`, dataDir, tmp.Address, namespace, tmp.Store, strings.Join(names, ", "), orNone(tmp.UIURL), postgres, exports)
	<-ctx.Done()
	say("stopping")
	return nil
}

// waitNamespace waits until the frontend serves namespace and makes sure
// it has Ordem's search attributes (a namespace registered before they
// existed gets them here, as `ordem worker` would).
func waitNamespace(ctx context.Context, address, namespace string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	quiet := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for {
		err := func() error {
			c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Logger: quiet})
			if err != nil {
				return fmt.Errorf("connect to Temporal at %s: %w", address, err)
			}
			defer c.Close()
			return worker.EnsureSearchAttributes(ctx, c, namespace)
		}()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal namespace %s not ready: %w", namespace, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// devMigrateAndSeed applies the migrations and seeds the database,
// returning what the banner says about the admin's password.
func devMigrateAndSeed(ctx context.Context, cfg *config.Config, dataDir string) (string, error) {
	pool, err := postgres.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return "", err
	}
	defer pool.Close()
	db := migrations.OpenDB(pool)
	defer db.Close()
	p, err := migrations.Provider(db)
	if err != nil {
		return "", err
	}
	if _, err := p.Up(ctx); err != nil {
		return "", fmt.Errorf("migrate up: %w", err)
	}
	res, err := seed.Run(ctx, pool, seed.Admin{Name: cfg.AdminName, Email: cfg.AdminEmail, Password: cfg.AdminPassword})
	if err != nil {
		return "", err
	}
	file := filepath.Join(dataDir, adminPasswordFile)
	switch {
	case res.GeneratedPassword != "":
		if err := os.WriteFile(file, []byte(res.GeneratedPassword+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("save the generated admin password: %w", err)
		}
		return res.GeneratedPassword + "   (generated; kept in " + file + ")", nil
	case cfg.AdminPassword != "":
		return "(from ADMIN_PASSWORD)", nil
	}
	if b, err := os.ReadFile(file); err == nil {
		return strings.TrimSpace(string(b)) + "   (generated on the first run; kept in " + file + ")", nil
	}
	return "(the admin existed before this data directory; set ADMIN_PASSWORD or reset it)", nil
}

// waitReady polls url until it answers 200, a part fails or time runs out.
func waitReady(ctx context.Context, url string, timeout time.Duration, errc <-chan error) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API at %s was not ready within %s", url, timeout)
		}
	}
}

func prefix(part string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", part, err)
}

func orNone(s string) string {
	if s == "" {
		return "(disabled)"
	}
	return s
}

// redactURL hides a connection URL's password in the banner.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
