package devstack

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	v12 "go.temporal.io/server/schema/postgresql/v12"
	"go.temporal.io/server/tools/common/schema"
	toolsql "go.temporal.io/server/tools/sql"
)

// Embedded schema directories (go.temporal.io/server/schema) of Temporal's
// two Postgres databases.
const (
	postgresSchema           = "postgresql/v12/temporal"
	postgresVisibilitySchema = "postgresql/v12/visibility"
)

// PostgresStore places the Temporal server's state in two databases of a
// Postgres server, as a production cluster on Postgres does.
type PostgresStore struct {
	// URL of an existing database on the server: it gives the address,
	// user, password and sslmode, and is where the two databases are
	// created from.
	URL string
	// Database holds history, tasks and namespaces; VisibilityDatabase the
	// workflow lists and search attributes. Both are created when missing.
	Database, VisibilityDatabase string
}

// PostgresStoreFor places Temporal on the server of databaseURL, in
// databases named after its database: <name>_temporal and
// <name>_temporal_visibility (ordem_temporal and ordem_temporal_visibility
// for the default DATABASE_URL), so each Ordem database has its own
// Temporal state.
func PostgresStoreFor(databaseURL string) (*PostgresStore, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if cfg.Database == "" {
		return nil, fmt.Errorf("DATABASE_URL %s names no database", redact(databaseURL))
	}
	return &PostgresStore{
		URL:                databaseURL,
		Database:           cfg.Database + "_temporal",
		VisibilityDatabase: cfg.Database + "_temporal_visibility",
	}, nil
}

// preparePostgres creates the store's databases when missing and brings
// their schemas to the versions this server needs with the server's own
// schema tool (temporal-sql-tool's code): on a new database
// `setup-schema -v 0.0`, then on every start `update-schema` to the latest
// embedded version, which applies nothing when the schema is current. It
// returns the SQL configurations of the default and the visibility store.
func preparePostgres(s PostgresStore, logger log.Logger) (main, visibility *config.SQL, err error) {
	base, maintenance, err := postgresBase(s.URL)
	if err != nil {
		return nil, nil, err
	}
	for _, db := range []struct {
		cfg     **config.SQL
		name    string
		schema  string
		version string
	}{
		{&main, s.Database, postgresSchema, v12.Version},
		{&visibility, s.VisibilityDatabase, postgresVisibilitySchema, v12.VisibilityVersion},
	} {
		cfg := withDatabase(base, db.name)
		// DoCreateDatabase connects to the database it is given and
		// creates cfg.DatabaseName from there; an existing one is fine.
		if err := toolsql.DoCreateDatabase(withDatabase(base, db.name), maintenance, logger); err != nil {
			return nil, nil, fmt.Errorf("create database %s: %w", db.name, err)
		}
		if err := migratePostgres(cfg, db.schema, db.version, logger); err != nil {
			return nil, nil, err
		}
		*db.cfg = cfg
	}
	return main, visibility, nil
}

// migratePostgres sets up (first start) and updates the schema of one
// database, then checks it is at want.
func migratePostgres(cfg *config.SQL, schemaName, want string, logger log.Logger) error {
	conn, err := toolsql.NewConnection(cfg, logger)
	if err != nil {
		return fmt.Errorf("connect to database %s: %w", cfg.DatabaseName, err)
	}
	defer conn.Close()
	if _, err := conn.ReadSchemaVersion(); err != nil {
		// No schema_version row (nor table): a database this tool never
		// set up. Version 0.0 with the versioning tables only; the update
		// below applies every versioned step from v1.0 on.
		setup := &schema.SetupConfig{InitialVersion: "0.0"}
		if err := schema.NewSetupSchemaTask(conn, setup, logger).Run(); err != nil {
			return fmt.Errorf("set up the schema of database %s: %w", cfg.DatabaseName, err)
		}
	}
	update := &schema.UpdateConfig{SchemaName: schemaName}
	if err := schema.NewUpdateSchemaTask(conn, update, logger).Run(); err != nil {
		return fmt.Errorf("update the schema of database %s: %w", cfg.DatabaseName, err)
	}
	got, err := conn.ReadSchemaVersion()
	if err != nil {
		return fmt.Errorf("read the schema version of database %s: %w", cfg.DatabaseName, err)
	}
	if got != want {
		return fmt.Errorf("database %s is at schema version %s, this Temporal server needs %s", cfg.DatabaseName, got, want)
	}
	return nil
}

// postgresBase turns a connection URL into the Postgres plugin's
// configuration (without a database) and the URL's own database, which
// the new databases are created from.
func postgresBase(databaseURL string) (*config.SQL, string, error) {
	pc, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, "", fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if strings.HasPrefix(pc.Host, "/") {
		return nil, "", fmt.Errorf("temporal on Postgres needs a TCP address in DATABASE_URL, not the socket directory %s", pc.Host)
	}
	attrs := map[string]string{}
	// The plugin builds its own URL: carry over what decides TLS (a
	// keyword/value DATABASE_URL has no query and keeps the plugin's
	// default, sslmode=disable).
	if u, err := url.Parse(databaseURL); err == nil {
		for _, k := range []string{"sslmode", "sslrootcert", "sslcert", "sslkey"} {
			if v := u.Query().Get(k); v != "" {
				attrs[k] = v
			}
		}
	}
	return &config.SQL{
		PluginName:        postgresql.PluginNamePGX,
		ConnectProtocol:   "tcp",
		ConnectAddr:       net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port))),
		User:              pc.User,
		Password:          pc.Password,
		ConnectAttributes: attrs,
		// Room for the four services and the schema tool, well within a
		// default max_connections of 100 that Ordem shares.
		MaxConns:        10,
		MaxIdleConns:    10,
		MaxConnLifetime: time.Hour,
	}, pc.Database, nil
}

func withDatabase(base *config.SQL, name string) *config.SQL {
	c := *base
	c.DatabaseName = name
	c.ConnectAttributes = maps.Clone(base.ConnectAttributes)
	return &c
}
