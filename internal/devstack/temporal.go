// Package devstack starts the parts of Ordem's local development stack that
// are not Ordem itself: a Temporal dev server with its Web UI, an
// S3-compatible store and, when none answers, a private Postgres cluster.
// Each keeps its state in a data directory, so a restart resumes where the
// last run stopped (workflows, their timers, evidence, the database).
// `ordem dev` wires them to the worker and the API.
package devstack

import (
	"fmt"
	"net"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// TemporalOptions configure the embedded Temporal dev server.
type TemporalOptions struct {
	// IP the frontend and the UI bind to (127.0.0.1 keeps them local).
	IP string
	// Port of the frontend's gRPC API (Temporal's default is 7233).
	Port int
	// UIPort of the Web UI (8233 by default); 0 disables the UI.
	UIPort int
	// DatabaseFile is the SQLite file holding every workflow; created with
	// its schema when missing. Exactly one of DatabaseFile and Postgres is
	// set.
	DatabaseFile string
	// Postgres keeps the server's state in Postgres databases instead.
	Postgres *PostgresStore
	// LogFile receives the server's own log (warnings and errors only: it
	// is chatty and says little a developer needs).
	LogFile string
	// Namespace is registered when missing, with SearchAttributes.
	Namespace        string
	SearchAttributes map[string]enums.IndexedValueType
}

// Temporal is a running embedded Temporal server (and Web UI).
type Temporal struct {
	server temporal.Server
	ui     *uiserver.Server
	uiErr  chan error
	// Address is the frontend's host:port for clients.
	Address string
	// UIURL is the Web UI's base URL, empty without a UI.
	UIURL string
	// Store says where the state is kept, for the banner.
	Store string
}

// StartTemporal starts a single-process Temporal server, the way the
// temporal CLI's start-dev does, on SQLite or Postgres, and its Web UI. It
// returns once the frontend accepts connections.
func StartTemporal(o TemporalOptions) (*Temporal, error) {
	if o.IP == "" || o.Port == 0 || o.Namespace == "" || (o.DatabaseFile == "") == (o.Postgres == nil) {
		return nil, fmt.Errorf("start temporal: IP, Port, Namespace and one of DatabaseFile and Postgres are required")
	}
	addr := net.JoinHostPort(o.IP, strconv.Itoa(o.Port))
	if err := portFree(addr); err != nil {
		return nil, fmt.Errorf("start temporal: gRPC port: %w", err)
	}
	if o.UIPort != 0 {
		if err := portFree(net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort))); err != nil {
			return nil, fmt.Errorf("start temporal: Web UI port: %w", err)
		}
	}
	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: "warn", OutputFile: o.LogFile, Format: "json"}))
	persistence := config.Persistence{NumHistoryShards: 1}
	var where string
	if o.Postgres != nil {
		main, visibility, err := preparePostgres(*o.Postgres, logger)
		if err != nil {
			return nil, fmt.Errorf("start temporal: %w", err)
		}
		persistence.DefaultStore, persistence.VisibilityStore = "postgres-default", "postgres-visibility"
		persistence.DataStores = map[string]config.DataStore{"postgres-default": {SQL: main}, "postgres-visibility": {SQL: visibility}}
		where = fmt.Sprintf("Postgres databases %s and %s on %s", main.DatabaseName, visibility.DatabaseName, main.ConnectAddr)
	} else {
		sqlConf := sqliteConfig(o.DatabaseFile)
		if !fileExists(o.DatabaseFile) {
			if err := sqlite.SetupSchema(sqlConf); err != nil {
				return nil, fmt.Errorf("start temporal: create SQLite schema in %s: %w", o.DatabaseFile, err)
			}
		}
		// One file holds both stores.
		persistence.DefaultStore, persistence.VisibilityStore = "sqlite-default", "sqlite-default"
		persistence.DataStores = map[string]config.DataStore{"sqlite-default": {SQL: sqlConf}}
		where = "SQLite " + o.DatabaseFile
	}
	ns, err := sqlite.NewNamespaceConfig("active", o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("start temporal: namespace config: %w", err)
	}
	// Registered in the database before the server starts, as start-dev
	// does (temporalio/temporal#1336): a namespace registered through the
	// API is not usable until the namespace cache refreshes. The function
	// lives in the sqlite package but only uses the generic SQL persistence
	// interface, so it serves Postgres too. Existing namespaces are left as
	// they are: a restart keeps their data.
	if err := sqlite.CreateNamespaces(persistence.DataStores[persistence.DefaultStore].SQL, ns); err != nil {
		return nil, fmt.Errorf("start temporal: create namespace %s: %w", o.Namespace, err)
	}

	conf, err := serverConfig(o, persistence)
	if err != nil {
		return nil, err
	}
	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("start temporal: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("start temporal: claim mapper: %w", err)
	}
	dyn := dynamicconfig.StaticClient{
		// The UI lists workflows often; the default visibility rate limit
		// is sized for production clusters with many frontends.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
	}
	// Static hosts instead of ringpop membership, as the temporal CLI does:
	// membership rows kept in SQLite from the last run (other random
	// ports) otherwise leave a restarted server without "enough hosts"
	// for a while.
	hosts := map[primitives.ServiceName]static.Hosts{}
	for name, svc := range map[primitives.ServiceName]string{
		primitives.FrontendService: "frontend", primitives.HistoryService: "history",
		primitives.MatchingService: "matching", primitives.WorkerService: "worker",
	} {
		hosts[name] = static.SingleLocalHost(net.JoinHostPort(o.IP, strconv.Itoa(conf.Services[svc].RPC.GRPCPort)))
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(hosts),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("start temporal: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal: %w", err)
	}
	t := &Temporal{server: srv, Address: addr, Store: where}
	if err := waitTCP(addr, 30*time.Second); err != nil {
		_ = srv.Stop()
		return nil, fmt.Errorf("start temporal: %w", err)
	}
	if o.UIPort != 0 {
		t.ui = uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
			Host:                o.IP,
			Port:                o.UIPort,
			TemporalGRPCAddress: addr,
			EnableUI:            true,
			DefaultNamespace:    o.Namespace,
			CORS:                uiconfig.CORS{CookieInsecure: true},
			HideLogs:            true,
			// The machine may have no internet; the UI must not wait on it.
			DisableNewsFetch: true,
		}))
		t.uiErr = make(chan error, 1)
		go func() { t.uiErr <- t.ui.Start() }()
		uiAddr := net.JoinHostPort(o.IP, strconv.Itoa(o.UIPort))
		if err := waitTCP(uiAddr, 15*time.Second); err != nil {
			t.Stop()
			return nil, fmt.Errorf("start temporal web UI: %w", err)
		}
		t.UIURL = "http://" + uiAddr
	}
	return t, nil
}

// Stop stops the Web UI and the server; workflows stay in the store.
func (t *Temporal) Stop() {
	if t.ui != nil {
		t.ui.Stop()
	}
	_ = t.server.Stop()
}

func serverConfig(o TemporalOptions, persistence config.Persistence) (*config.Config, error) {
	conf := &config.Config{}
	conf.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"}
	conf.Persistence = persistence
	httpPort, err := freePort(o.IP)
	if err != nil {
		return nil, err
	}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             net.JoinHostPort(o.IP, strconv.Itoa(o.Port)),
				HTTPAddress:            net.JoinHostPort(o.IP, strconv.Itoa(httpPort)),
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		var svc config.Service
		svc.RPC.BindOnIP = o.IP
		if name == "frontend" {
			svc.RPC.GRPCPort = o.Port
			svc.RPC.HTTPPort = httpPort
		} else {
			// The internal services only talk to each other: any free port.
			if svc.RPC.GRPCPort, err = freePort(o.IP); err != nil {
				return nil, err
			}
		}
		conf.Services[name] = svc
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = net.JoinHostPort(o.IP, strconv.Itoa(o.Port))
	return conf, nil
}

// sqliteConfig is how the server opens its SQLite file. The plugin passes
// the URI parameters it knows (mode, cache, …) to the driver and turns
// every other attribute into a PRAGMA of exactly that name, which SQLite
// silently ignores when it does not know it: the keys must be plain pragma
// names (journal_mode, not go-sqlite3's _journal_mode).
func sqliteConfig(file string) *config.SQL {
	return &config.SQL{
		PluginName:   sqliteplugin.PluginName,
		DatabaseName: file,
		ConnectAttributes: map[string]string{
			"mode": "rwc",
			// Persistent in the file: a commit appends to the WAL instead
			// of rewriting pages through a rollback journal, and readers
			// (the server's, a sqlite3 shell, the tests) never block the
			// writer nor it them.
			"journal_mode": "wal",
			// NORMAL, not FULL: in WAL mode a commit has reached the OS
			// when it returns, so it survives the process being killed
			// (kill -9, the fault tests); only a power loss or an OS crash
			// can lose the last commits, never corrupt the file. FULL
			// fsyncs every commit, a durability a dev server does not need
			// (and Ordem's activities are idempotent per step, so replaying
			// the lost tail posts nothing twice).
			"synchronous": "NORMAL",
			// Another process's writer (a sqlite3 shell) is waited for,
			// not reported as "database is locked".
			"busy_timeout": "5000",
		},
		// One connection, though WAL would allow readers beside the
		// writer: the server's transactions read before they write and
		// the plugin gives no way to BEGIN IMMEDIATE (_txlock becomes an
		// ignored pragma), so with a second connection a transaction
		// whose snapshot another one overtook fails at once with
		// SQLITE_BUSY, busy_timeout or not. Measured with 300 workflows
		// of three activities: 1 connection, no error; 2 and 4, 46 to 99
		// "database is locked" errors (retried by the history service)
		// and no steady gain in throughput.
		MaxConns:     1,
		MaxIdleConns: 1,
	}
}
