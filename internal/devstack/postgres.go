package devstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNoPostgres means no server answered and none could be started: the
// message says how to get one.
var ErrNoPostgres = errors.New(`no PostgreSQL: DATABASE_URL does not answer and no PostgreSQL server binaries (initdb, pg_ctl) were found.
Either point DATABASE_URL at a server you can create databases on, e.g.
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/ordem?sslmode=disable
or install PostgreSQL's server package (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql)`)

// EnsureDatabase connects to the database of databaseURL, creating it when
// the server answers but the database does not exist. It returns false
// (and no error) when no server answers at that address, so that the
// caller can fall back to a private cluster.
func EnsureDatabase(ctx context.Context, databaseURL string) (bool, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return false, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg.ConnectTimeout = 3 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return true, conn.Close(ctx)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		// Nothing answered (refused, unreachable, timed out).
		return false, nil
	}
	if pgErr.Code != "3D000" { // invalid_catalog_name: the database is missing
		return false, fmt.Errorf("connect to %s: %w", redact(databaseURL), err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	admin, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connect to the server's postgres database to create %q: %w", name, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		var again *pgconn.PgError
		if !errors.As(err, &again) || again.Code != "42P04" { // duplicate_database: created meanwhile
			return false, fmt.Errorf("create database %q: %w", name, err)
		}
	}
	return true, nil
}

// Cluster is a private PostgreSQL cluster in a data directory, run with the
// machine's own server binaries.
type Cluster struct {
	Dir  string
	Port int
	bin  string
	// runAs is the unprivileged user the server runs as when this process
	// is root (PostgreSQL refuses to run as root).
	runAs string
	log   string
}

// StartCluster starts (initialising it the first time) a private cluster
// in dir, listening on 127.0.0.1:port with trust authentication for the
// postgres user. A cluster left running by a killed run is reused.
func StartCluster(ctx context.Context, dir string, port int) (*Cluster, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, Port: port, bin: bin, log: dir + ".log"}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL must run as another user and there is no 'postgres' user: %w", err)
		}
		c.runAs = "postgres"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	if c.runAs != "" {
		if err := c.handOver(); err != nil {
			return nil, err
		}
	}
	if !fileExists(filepath.Join(dir, "PG_VERSION")) {
		out, err := c.run(ctx, "initdb", "-D", dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale")
		if err != nil {
			return nil, fmt.Errorf("initdb %s: %w\n%s", dir, err, out)
		}
	}
	if _, err := c.run(ctx, "pg_ctl", "-D", dir, "status"); err == nil {
		// Left running by a run that was killed: use it as it is.
		return c, nil
	}
	if err := portFree(net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
		return nil, fmt.Errorf("private PostgreSQL: %w", err)
	}
	// The socket goes in the cluster directory: /var/run/postgresql may
	// not exist or not be writable.
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s", port, dir)
	if out, err := c.run(ctx, "pg_ctl", "-D", dir, "-l", c.log, "-o", opts, "-w", "-t", "60", "start"); err != nil {
		return nil, fmt.Errorf("pg_ctl start: %w\n%s\n(see %s)", err, out, c.log)
	}
	return c, nil
}

// URL is the connection URL of database on the cluster.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, url.PathEscape(database))
}

// Stop shuts the cluster down (fast: open sessions are ended, committed
// data is kept).
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := c.run(ctx, "pg_ctl", "-D", c.Dir, "-m", "fast", "-w", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, tool string, args ...string) (string, error) {
	path := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if c.runAs != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// handOver gives the cluster directory (and its log file) to the server's
// user, and checks that user can reach it through the parent directories.
func (c *Cluster) handOver() error {
	u, err := user.Lookup(c.runAs)
	if err != nil {
		return fmt.Errorf("look up user %s: %w", c.runAs, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := filepath.Walk(c.Dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}); err != nil {
		return fmt.Errorf("give %s to %s: %w", c.Dir, c.runAs, err)
	}
	if f, err := os.OpenFile(c.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
		f.Close()
		_ = os.Chown(c.log, uid, gid)
	}
	for d := filepath.Dir(c.Dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("stat %s: %w", d, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("running as root, PostgreSQL runs as %s, which cannot enter %s (mode %v): use a data directory %s can reach, e.g. under /var/tmp, or set DATABASE_URL",
				c.runAs, d, fi.Mode().Perm(), c.runAs)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// postgresBinDir finds the directory of initdb and pg_ctl: PATH first,
// then Debian's versioned directories (newest first), then pg_config.
func postgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", ErrNoPostgres
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// redact hides the password of a connection URL in messages.
func redact(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "DATABASE_URL"
	}
	return u.Redacted()
}
