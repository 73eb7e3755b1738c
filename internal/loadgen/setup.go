package loadgen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
	"golang.org/x/sync/errgroup"
)

// setUp logs the admin in, reads the fees, sets the run's confirmation
// deadline, and registers and funds every virtual user, all before the
// clock starts. restore puts the deadline back.
func (r *runner) setUp(ctx context.Context, clients []*apiClient) ([]*userRecord, func(), error) {
	noop := func() {}
	var login struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := r.c.call(ctx, "POST", "/v1/auth/login", "", map[string]string{"email": r.cfg.AdminEmail, "password": r.cfg.AdminPassword}, &login); err != nil {
		return nil, noop, fmt.Errorf("loadgen: admin login: %w", err)
	}
	r.admin = session{ID: login.User.ID, Token: login.Token}

	var cfg struct {
		Items []struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		} `json:"items"`
	}
	if err := r.c.call(ctx, "GET", "/v1/admin/config", r.admin.Token, nil, &cfg); err != nil {
		return nil, noop, fmt.Errorf("loadgen: read system config: %w", err)
	}
	values := map[string]string{}
	for _, it := range cfg.Items {
		values[it.Key] = it.Value
	}
	for key, dst := range map[string]*decimal.Decimal{"platform_fee_percentage": &r.terms.platformFee,
		"cancellation_fee_percentage": &r.terms.cancellationFee, "contestation_fee": &r.terms.contestationFee} {
		d, err := decimal.NewFromString(values[key])
		if err != nil {
			return nil, noop, fmt.Errorf("loadgen: system config %s = %q: %w", key, values[key], err)
		}
		*dst = d
	}

	restore := noop
	if r.cfg.ConfirmDeadline > 0 {
		old := values["confirmation_deadline_hours"]
		hours := decimal.NewFromFloat(r.cfg.ConfirmDeadline.Hours()).Round(6)
		if err := r.setConfig(ctx, "confirmation_deadline_hours", hours.String()); err != nil {
			return nil, noop, err
		}
		restore = func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := r.setConfig(ctx, "confirmation_deadline_hours", old); err != nil {
				r.logf("could not restore confirmation_deadline_hours=%s: %v", old, err)
			}
		}
	}

	r.logf("registering and funding %d clients and %d providers", r.cfg.Users, r.cfg.Users)
	users := make([]*userRecord, r.cfg.Users)
	run := strconv.FormatUint(rand.Uint64(), 36)
	var g errgroup.Group
	g.SetLimit(8)
	for i := range users {
		c := clients[i%len(clients)]
		g.Go(func() error {
			u := &userRecord{pair: pair{c: c}, exact: true,
				clientDelta: decimal.Zero, providerDelta: decimal.Zero, revenue: decimal.Zero}
			var err error
			if u.client, err = r.register(ctx, c, fmt.Sprintf("bench-%s-%d-client@bench.local", run, i), "client"); err != nil {
				return err
			}
			if u.provider, err = r.register(ctx, c, fmt.Sprintf("bench-%s-%d-provider@bench.local", run, i), "provider"); err != nil {
				return err
			}
			err = r.c.call(ctx, "POST", "/v1/admin/deposits", r.admin.Token, map[string]string{"user_id": u.client.ID,
				"amount": deposit.StringFixed(2), "reference": "bench-" + run + "-" + strconv.Itoa(i), "reason": "load benchmark"}, nil)
			if err != nil {
				return fmt.Errorf("loadgen: fund client %s: %w", u.client.ID, err)
			}
			users[i] = u
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		restore()
		return nil, noop, err
	}
	return users, restore, nil
}

func (r *runner) setConfig(ctx context.Context, key, value string) error {
	err := r.c.call(ctx, "PUT", "/v1/admin/config/"+key, r.admin.Token, map[string]string{"value": value, "reason": "load benchmark"}, nil)
	if err != nil {
		return fmt.Errorf("loadgen: set %s=%s: %w", key, value, err)
	}
	return nil
}

// benchPassword is every benchmark user's password.
const benchPassword = "bench-password-0123"

func (r *runner) register(ctx context.Context, c *apiClient, email, role string) (session, error) {
	err := c.call(ctx, "POST", "/v1/auth/register", "", map[string]string{"name": "Bench " + role, "email": email,
		"phone": "11999999999", "password": benchPassword, "role": role}, nil)
	if err != nil {
		return session{}, fmt.Errorf("loadgen: register %s: %w", email, err)
	}
	var login struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if err := c.call(ctx, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": benchPassword}, &login); err != nil {
		return session{}, fmt.Errorf("loadgen: log %s in: %w", email, err)
	}
	return session{ID: login.User.ID, Token: login.Token}, nil
}
