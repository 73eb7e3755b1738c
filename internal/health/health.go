// Package health answers readiness: whether the dependencies of an Ordem
// process (Postgres, Temporal, the S3 store) answer. The API's and the
// worker's /readyz both use it, so they always agree.
package health

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem/internal/storage"
)

// Probes are the dependencies /readyz checks; a nil Storage is not
// checked (a process without an evidence store).
type Probes struct {
	Pool     *pgxpool.Pool
	Temporal client.Client
	Storage  *storage.Store
}

// Timeout bounds one readiness check: a probe that hangs is a dependency
// that does not answer.
const Timeout = 2 * time.Second

// Ready checks each dependency within Timeout and reports each one's
// state ("ok" or "unreachable") and whether all answered.
func (p Probes) Ready(ctx context.Context) (bool, map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	checks := map[string]string{}
	ready := true
	check := func(name string, err error) {
		if err != nil {
			checks[name], ready = "unreachable", false
			return
		}
		checks[name] = "ok"
	}
	check("postgres", p.Pool.Ping(ctx))
	_, err := p.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
	check("temporal", err)
	if p.Storage != nil {
		check("s3", p.Storage.Ping(ctx))
	}
	return ready, checks
}
