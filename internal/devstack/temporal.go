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
	// its schema when missing.
	DatabaseFile string
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
}

// StartTemporal starts a single-process Temporal server on SQLite, the way
// the temporal CLI's start-dev does, and its Web UI. It returns once the
// frontend accepts connections.
func StartTemporal(o TemporalOptions) (*Temporal, error) {
	if o.IP == "" || o.Port == 0 || o.DatabaseFile == "" || o.Namespace == "" {
		return nil, fmt.Errorf("start temporal: IP, Port, DatabaseFile and Namespace are required")
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
	sqlConf := &config.SQL{
		PluginName:        sqliteplugin.PluginName,
		DatabaseName:      o.DatabaseFile,
		ConnectAttributes: map[string]string{"mode": "rwc", "_journal_mode": "wal", "_synchronous": "2"},
	}
	if !fileExists(o.DatabaseFile) {
		if err := sqlite.SetupSchema(sqlConf); err != nil {
			return nil, fmt.Errorf("start temporal: create SQLite schema in %s: %w", o.DatabaseFile, err)
		}
	}
	ns, err := sqlite.NewNamespaceConfig("active", o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("start temporal: namespace config: %w", err)
	}
	// Existing namespaces are left as they are: a restart keeps their data.
	if err := sqlite.CreateNamespaces(sqlConf, ns); err != nil {
		return nil, fmt.Errorf("start temporal: create namespace %s: %w", o.Namespace, err)
	}

	conf, err := serverConfig(o, sqlConf)
	if err != nil {
		return nil, err
	}
	logger := log.NewZapLogger(log.BuildZapLogger(log.Config{Level: "warn", OutputFile: o.LogFile, Format: "json"}))
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
	t := &Temporal{server: srv, Address: addr}
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

// Stop stops the Web UI and the server; workflows stay in the SQLite file.
func (t *Temporal) Stop() {
	if t.ui != nil {
		t.ui.Stop()
	}
	_ = t.server.Stop()
}

func serverConfig(o TemporalOptions, sqlConf *config.SQL) (*config.Config, error) {
	conf := &config.Config{}
	conf.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"}
	conf.Persistence = config.Persistence{
		DefaultStore:     "sqlite-default",
		VisibilityStore:  "sqlite-default",
		NumHistoryShards: 1,
		DataStores:       map[string]config.DataStore{"sqlite-default": {SQL: sqlConf}},
	}
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
