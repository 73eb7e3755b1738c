package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/stacktest"
	"github.com/ordem/ordem/workflows/order"
)

// The model-based random test: a seeded generator of orders and random
// actions by random actors (illegal ones, stale preconditions, races,
// duplicates, config changes mid-flight) drives a real stack through its
// API and compares every answer with a small model of the rules and
// balances written here; after every step the invariants are checked
// (zero-sum ledger, no negative balance, blocked = open holds, every
// balance and order as the model says, read model = workflow state). A
// failure prints the seed and the shortest action list that still fails.
var (
	modelSteps = flag.Int("model.steps", 250, "steps of the model-based random test")
	modelSeed  = flag.Uint64("model.seed", 0, "seed of the model-based random test (0: from the clock)")
	// soak runs the model test for as long as this (make soak).
	soak = flag.Duration("model.soak", 0, "run the model test with new seeds for this long")
)

// Actors of a model run: c0..c2 clients, p0..p2 providers, admin.
const modelClients, modelProviders = 3, 3

// mAction is one step, replayable on a fresh stack: orders are named by
// their creation index, users by role and index.
type mAction struct {
	Kind    string `json:"kind"`
	Actor   string `json:"actor"`
	Order   int    `json:"order,omitempty"`
	Other   string `json:"other,omitempty"` // create: the provider
	Amount  string `json:"amount,omitempty"`
	Stale   bool   `json:"stale,omitempty"` // a precondition from before the last change
	Key     string `json:"key,omitempty"`   // Idempotency-Key
	Repeat  bool   `json:"repeat,omitempty"`
	Setting string `json:"setting,omitempty"`
}

func (a mAction) String() string {
	b, _ := json.Marshal(a)
	return string(b)
}

// mOrder is the model of one order.
type mOrder struct {
	id                  string
	client, provider    string // actor names
	status              string
	amount              decimal.Decimal
	proposalVersion     int
	lastBy              string
	version             int
	feePct, cancelPct   decimal.Decimal
	contestFee, feeHeld decimal.Decimal
	extensions          int
}

// mUser is the model of one user.
type mUser struct {
	id, token          string
	available, blocked decimal.Decimal
}

// model holds the expected state of the stack.
type model struct {
	t                             testing.TB
	s                             *stacktest.Stack
	http                          *http.Client
	users                         map[string]*mUser
	admin                         string
	orders                        []*mOrder
	revenue0                      decimal.Decimal
	revenue                       decimal.Decimal
	feePct, cancelPct, contestFee decimal.Decimal
	lastReq                       *mReq
	log                           []mAction
	// touched names the orders the last step may have moved; sweep makes
	// the next check read every order.
	touched map[int]bool
	sweep   bool
	// tally counts the answers by action and status, to show what a run
	// covered.
	tally map[string]int
}

// mReq is a request as sent, so a duplicate can be sent again.
type mReq struct {
	method, path, token, body string
	headers                   []string
	status                    int
	resp                      string
}

var hundred = decimal.NewFromInt(100)

func pct(a, p decimal.Decimal) decimal.Decimal { return a.Mul(p).Div(hundred).Round(2) }

// TestModelRandomActions runs the model test (seed from -model.seed or the
// clock), and for -model.soak keeps running new seeds until time is up.
func TestModelRandomActions(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs Postgres, a Temporal server and an S3 server")
	}
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	until := time.Now().Add(*soak)
	for {
		t.Logf("model run: -model.seed=%d -model.steps=%d", seed, *modelSteps)
		actions, failure := runModel(t, seed, *modelSteps, nil)
		if failure != "" {
			t.Logf("model run failed (seed %d): %s; shrinking…", seed, failure)
			shortest := shrink(t, seed, actions)
			t.Fatalf("model test failed (seed %d): %s\nshortest failing action list (%d of %d):\n%s",
				seed, failure, len(shortest), len(actions), joinActions(shortest))
		}
		if *soak == 0 || time.Now().After(until) {
			return
		}
		seed++
	}
}

func joinActions(as []mAction) string {
	var b strings.Builder
	for i, a := range as {
		fmt.Fprintf(&b, "%3d %s\n", i, a)
	}
	return b.String()
}

// runModel runs steps generated from seed, or replays script when given,
// on a fresh stack; it returns the actions run and the first failure.
func runModel(t *testing.T, seed uint64, steps int, script []mAction) ([]mAction, string) {
	var actions []mAction
	var failure string
	// A failing step stops the run without failing t: shrinking replays.
	t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
		m := newModel(t)
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		n := steps
		if script != nil {
			n = len(script)
		}
		for i := range n {
			var a mAction
			if script != nil {
				a = script[i]
			} else {
				a = m.generate(rng)
			}
			actions = append(actions, a)
			if f := m.apply(rng, a); f != "" {
				failure = fmt.Sprintf("step %d %s: %s", i, a, f)
				return
			}
			if f := m.check(); f != "" {
				failure = fmt.Sprintf("after step %d %s: %s", i, a, f)
				return
			}
		}
		m.sweep = true
		if f := m.check(); f != "" {
			failure = "at the end: " + f
			return
		}
		t.Logf("%d orders; answers by action and status: %v", len(m.orders), m.tally)
	})
	return actions, failure
}

// shrink finds a shorter action list that still fails: the shortest
// failing prefix first, then each action removed in turn while it still
// fails (bounded: each try starts a fresh stack).
func shrink(t *testing.T, seed uint64, actions []mAction) []mAction {
	fails := func(as []mAction) bool {
		_, f := runModel(t, seed, 0, as)
		return f != ""
	}
	best := actions
	tries := 0
	for i := len(best) - 1; i >= 0 && tries < 40; i-- {
		cand := append(append([]mAction{}, best[:i]...), best[i+1:]...)
		tries++
		if len(cand) > 0 && fails(cand) {
			best = cand
		}
	}
	return best
}

func newModel(t testing.TB) *model {
	tt := t.(*testing.T)
	s := stacktest.Start(tt)
	m := &model{t: t, s: s, http: &http.Client{Timeout: time.Minute}, users: map[string]*mUser{}, tally: map[string]int{},
		feePct: decimal.RequireFromString("5"), cancelPct: decimal.RequireFromString("10"), contestFee: decimal.RequireFromString("10")}
	m.admin = m.login(stacktest.AdminEmail, stacktest.AdminPassword).token
	for i := range modelClients {
		m.users["c"+strconv.Itoa(i)] = m.register("client")
		m.deposit(m.users["c"+strconv.Itoa(i)], "3000.00")
	}
	for i := range modelProviders {
		m.users["p"+strconv.Itoa(i)] = m.register("provider")
		m.deposit(m.users["p"+strconv.Itoa(i)], "100.00")
	}
	rev, err := ledger.AccountBalance(context.Background(), s.Pool, ledger.RevenueAccount)
	require.NoError(t, err)
	m.revenue0, m.revenue = rev, rev
	return m
}

// deposit funds u before the run (not a step).
func (m *model) deposit(u *mUser, amount string) {
	st, body := m.send(&mReq{method: "POST", path: "/v1/admin/deposits", token: m.admin,
		body: fmt.Sprintf(`{"user_id":%q,"amount":%q,"reference":"model-%d","reason":"modelo"}`, u.id, amount, rand.Int64())})
	require.Equal(m.t, 201, st, body)
	u.available = u.available.Add(decimal.RequireFromString(amount))
}

func (m *model) register(role string) *mUser {
	email := fmt.Sprintf("model-%s-%d@faults.test", role, rand.Int64())
	st, body := m.send(&mReq{method: "POST", path: "/v1/auth/register", body: fmt.Sprintf(
		`{"name":"Model %s","email":%q,"phone":"11999999999","password":"model-password-1","role":%q}`, role, email, role)})
	require.Equal(m.t, 201, st, body)
	return m.login(email, "model-password-1")
}

func (m *model) login(email, password string) *mUser {
	st, body := m.send(&mReq{method: "POST", path: "/v1/auth/login", body: fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)})
	require.Equal(m.t, 200, st, body)
	var out struct {
		Token string `json:"token"`
		User  struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	require.NoError(m.t, json.Unmarshal([]byte(body), &out))
	return &mUser{id: out.User.ID, token: out.Token, available: decimal.Zero, blocked: decimal.Zero}
}

// send sends a request and returns its status and body.
func (m *model) send(r *mReq) (int, string) {
	req, err := http.NewRequest(r.method, m.s.URL+r.path, strings.NewReader(r.body))
	require.NoError(m.t, err)
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for i := 0; i+1 < len(r.headers); i += 2 {
		req.Header.Set(r.headers[i], r.headers[i+1])
	}
	res, err := m.http.Do(req)
	require.NoError(m.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(m.t, err)
	return res.StatusCode, string(raw)
}

func (m *model) token(actor string) string {
	if actor == "admin" {
		return m.admin
	}
	return m.users[actor].token
}

var kinds = []struct {
	kind   string
	weight int
}{
	{"deposit", 5}, {"create", 12}, {"propose", 6}, {"accept", 14}, {"deliver", 14}, {"confirm", 9}, {"contest", 7},
	{"cancel", 5}, {"resolve", 7}, {"extend", 3}, {"config", 2}, {"duplicate", 7}, {"race", 3},
}

// generate draws the next action from the model's state: mostly actions
// that make sense for some order, often by the wrong actor or with a
// stale precondition.
func (m *model) generate(rng *rand.Rand) mAction {
	total := 0
	for _, k := range kinds {
		total += k.weight
	}
	n := rng.IntN(total)
	kind := kinds[0].kind
	for _, k := range kinds {
		if n < k.weight {
			kind = k.kind
			break
		}
		n -= k.weight
	}
	actors := []string{"c0", "c1", "c2", "p0", "p1", "p2", "admin"}
	a := mAction{Kind: kind, Actor: actors[rng.IntN(len(actors))], Key: fmt.Sprintf("k%d", rng.Int64())}
	if len(m.orders) > 0 {
		a.Order = m.pickOrder(rng, kind)
		o := m.orders[a.Order]
		// Usually the party the action belongs to.
		if rng.IntN(4) > 0 {
			switch kind {
			case "propose", "accept":
				a.Actor = []string{o.client, o.provider}[rng.IntN(2)]
			case "deliver":
				a.Actor = o.provider
			case "confirm", "contest":
				a.Actor = o.client
			case "cancel":
				a.Actor = []string{o.client, o.provider, "admin"}[rng.IntN(3)]
			case "resolve", "extend":
				a.Actor = "admin"
			}
		}
	}
	a.Stale = rng.IntN(6) == 0
	switch kind {
	case "deposit":
		a.Actor = actors[rng.IntN(6)]
		a.Amount = amountOf(rng, 5000)
	case "create":
		a.Actor = fmt.Sprintf("c%d", rng.IntN(modelClients))
		a.Other = fmt.Sprintf("p%d", rng.IntN(modelProviders))
		a.Amount = amountOf(rng, 600)
		if rng.IntN(10) == 0 {
			a.Amount = []string{"0.00", "5.", "500000000000.00", "-3.00"}[rng.IntN(4)]
		}
	case "propose":
		a.Amount = amountOf(rng, 600)
	case "resolve":
		if len(m.orders) > 0 {
			max := m.orders[a.Order].amount.Mul(hundred).IntPart()
			a.Amount = decimal.New(rng.Int64N(max+2), -2).StringFixed(2) // may exceed the amount by a cent
		}
	case "config":
		a.Actor = "admin"
		a.Setting = []string{"platform_fee_percentage", "cancellation_fee_percentage", "contestation_fee"}[rng.IntN(3)]
		a.Amount = decimal.New(rng.Int64N(3000), -2).StringFixed(2)
	}
	return a
}

// wantStatus is the state an action usually needs.
var wantStatus = map[string]string{"propose": "negotiating", "accept": "negotiating", "deliver": "in_progress",
	"confirm": "delivered", "contest": "delivered", "extend": "delivered", "resolve": "disputed",
	"cancel": "in_progress"}

// pickOrder picks an order for an action: mostly one in the state the
// action needs, so runs go deep; sometimes any order at all.
func (m *model) pickOrder(rng *rand.Rand, kind string) int {
	if want, ok := wantStatus[kind]; ok && rng.IntN(5) > 0 {
		var fit []int
		for i, o := range m.orders {
			if o.id != "" && o.status == want {
				fit = append(fit, i)
			}
		}
		if len(fit) > 0 {
			return fit[rng.IntN(len(fit))]
		}
	}
	return rng.IntN(len(m.orders))
}

func amountOf(rng *rand.Rand, max int64) string {
	return decimal.New(rng.Int64N(max*100)+1, -2).StringFixed(2)
}

// expect is the model's answer to an action: the status and, on success,
// what changes.
type expect struct {
	status int
	code   string
	apply  func()
}

func ok(apply func()) expect { return expect{status: 200, apply: apply} }
func no(status int, code string) expect {
	return expect{status: status, code: code}
}

// apply runs action a and compares the answer with the model's.
func (m *model) apply(rng *rand.Rand, a mAction) string {
	m.log = append(m.log, a)
	m.touched = map[int]bool{a.Order: true}
	if a.Kind == "race" && a.Order >= len(m.orders) {
		return ""
	}
	m.sweep = len(m.log)%25 == 0
	if a.Kind == "create" || a.Kind == "race" {
		m.sweep = true
	}
	switch a.Kind {
	case "duplicate":
		if m.lastReq == nil || m.lastReq.method != "POST" || len(m.lastReq.headers) < 2 {
			return ""
		}
		prev := *m.lastReq
		st, body := m.send(&prev)
		if prev.status >= 200 && prev.status < 300 {
			if st != prev.status || !jsonEqual(body, prev.resp) {
				return fmt.Sprintf("a duplicate of a %d answered %d %s (first: %s)", prev.status, st, body, prev.resp)
			}
		} else if st >= 200 && st < 300 {
			return fmt.Sprintf("a duplicate of a refused request (%d) succeeded: %s", prev.status, body)
		}
		return ""
	case "race":
		return m.race(a)
	}
	req, exp := m.plan(a)
	if req == nil {
		return ""
	}
	st, body := m.send(req)
	req.status, req.resp = st, body
	m.lastReq = req
	m.tally[fmt.Sprintf("%s %d", a.Kind, st)]++
	if st != exp.status || (exp.code != "" && !strings.Contains(body, `"`+exp.code+`"`)) {
		return fmt.Sprintf("answered %d %s; the model expected %d %s", st, body, exp.status, exp.code)
	}
	if st == 201 && a.Kind == "create" {
		var o struct{ ID string }
		_ = json.Unmarshal([]byte(body), &o)
		m.orders[len(m.orders)-1].id = o.ID
	}
	if exp.apply != nil && st < 300 {
		exp.apply()
	}
	return ""
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// plan turns an action into its request and the model's expectation.
func (m *model) plan(a mAction) (*mReq, expect) {
	key := []string{"Idempotency-Key", a.Key}
	switch a.Kind {
	case "deposit":
		u := m.users[a.Actor]
		amt := decimal.RequireFromString(a.Amount)
		return &mReq{method: "POST", path: "/v1/admin/deposits", token: m.admin, headers: key,
				body: fmt.Sprintf(`{"user_id":%q,"amount":%q,"reference":%q,"reason":"modelo"}`, u.id, a.Amount, a.Key)},
			expect{status: 201, apply: func() { u.available = u.available.Add(amt) }}
	case "create":
		c := m.users[a.Actor]
		req := &mReq{method: "POST", path: "/v1/orders", token: c.token, headers: key,
			body: fmt.Sprintf(`{"provider_id":%q,"title":"Pedido modelo","amount":%q}`, m.users[a.Other].id, a.Amount)}
		amt, err := decimal.NewFromString(a.Amount)
		switch {
		case a.Amount == "5.":
			return req, no(400, "invalid_request")
		case err != nil || !amt.IsPositive() || amt.GreaterThan(decimal.RequireFromString("499999999999.99")):
			return req, no(422, "validation_failed")
		}
		o := &mOrder{client: a.Actor, provider: a.Other, status: "negotiating", amount: amt, proposalVersion: 1, lastBy: a.Actor,
			version: 1, feePct: m.feePct, cancelPct: m.cancelPct, contestFee: m.contestFee, feeHeld: decimal.Zero}
		m.orders = append(m.orders, o)
		return req, expect{status: 201, apply: func() {}}
	case "config":
		return &mReq{method: "PUT", path: "/v1/admin/config/" + a.Setting, token: m.admin,
				body: fmt.Sprintf(`{"value":%q,"reason":"modelo"}`, a.Amount)},
			ok(func() {
				v := decimal.RequireFromString(a.Amount)
				switch a.Setting {
				case "platform_fee_percentage":
					m.feePct = v
				case "cancellation_fee_percentage":
					m.cancelPct = v
				default:
					m.contestFee = v
				}
			})
	}
	// A replayed (shrunk) script may name an order it no longer creates.
	if a.Order >= len(m.orders) || m.orders[a.Order].id == "" {
		return nil, expect{}
	}
	o := m.orders[a.Order]
	return m.planOrderAction(a, o, key)
}

// planOrderAction is the transition table, as the model knows it.
func (m *model) planOrderAction(a mAction, o *mOrder, key []string) (*mReq, expect) {
	tok := m.token(a.Actor)
	path := "/v1/orders/" + o.id + "/" + a.Kind
	ifMatch := o.version
	if a.Stale {
		ifMatch--
	}
	headers := append(append([]string{}, key...), "If-Match", strconv.Quote(strconv.Itoa(max(ifMatch, 1))))
	req := &mReq{method: "POST", path: path, token: tok, headers: headers}
	isClient, isProvider, isAdmin := a.Actor == o.client, a.Actor == o.provider, a.Actor == "admin"
	party := isClient || isProvider
	terminal := o.status == "completed" || o.status == "resolved" || o.status == "cancelled" || o.status == "expired"
	seen := !isAdmin && !party // another user's order
	stale := a.Stale && o.version > 1
	client, provider := m.users[o.client], m.users[o.provider]
	notFound := no(404, "not_found")
	wrongState := no(409, "invalid_transition")
	precondition := no(412, "precondition_failed")
	bump := func() { o.version++ }

	switch a.Kind {
	case "propose":
		req.path = "/v1/orders/" + o.id + "/proposals"
		req.body = fmt.Sprintf(`{"amount":%q}`, a.Amount)
		amt := decimal.RequireFromString(a.Amount)
		switch {
		case seen:
			return req, notFound
		case terminal:
			return req, wrongState
		case isAdmin:
			return req, no(403, "forbidden")
		case o.status != "negotiating", o.proposalVersion >= order.MaxProposals:
			return req, wrongState
		case stale:
			return req, precondition
		}
		return req, ok(func() { o.amount, o.lastBy = amt, a.Actor; o.proposalVersion++; bump() })
	case "accept":
		pv := o.proposalVersion
		if a.Stale && pv > 1 {
			pv--
		}
		req.body = fmt.Sprintf(`{"proposal_version":%d}`, pv)
		req.headers = key // the proposal version is this test's precondition
		switch {
		case seen:
			return req, notFound
		case terminal:
			return req, wrongState
		case isAdmin:
			return req, no(403, "forbidden")
		case o.status != "negotiating", a.Actor == o.lastBy:
			return req, wrongState
		case client.available.LessThan(o.amount):
			return req, no(402, "insufficient_funds")
		case pv != o.proposalVersion:
			return req, no(409, "proposal_changed")
		}
		return req, ok(func() {
			client.available, client.blocked = client.available.Sub(o.amount), client.blocked.Add(o.amount)
			o.status = "in_progress"
			bump()
		})
	case "deliver":
		switch {
		case seen:
			return req, notFound
		case terminal:
			return req, wrongState
		case !isProvider:
			return req, no(403, "forbidden")
		case o.status != "in_progress":
			return req, wrongState
		case stale:
			return req, precondition
		}
		return req, ok(func() { o.status = "delivered"; bump() })
	case "confirm", "contest":
		if a.Kind == "contest" {
			req.body = `{"reason":"não gostei"}`
		}
		switch {
		case seen:
			return req, notFound
		case terminal:
			return req, wrongState
		case !isClient:
			return req, no(403, "forbidden")
		case o.status != "delivered":
			return req, wrongState
		case a.Kind == "contest" && client.available.LessThan(o.contestFee):
			return req, no(402, "insufficient_funds")
		case stale:
			return req, precondition
		}
		if a.Kind == "confirm" {
			return req, ok(func() { m.release(o, o.amount); o.status = "completed"; bump() })
		}
		return req, ok(func() {
			client.available, client.blocked = client.available.Sub(o.contestFee), client.blocked.Add(o.contestFee)
			o.feeHeld = o.contestFee
			o.status = "disputed"
			bump()
		})
	case "cancel":
		penalty := decimal.Zero
		if o.status == "in_progress" && !isAdmin {
			penalty = pct(o.amount, o.cancelPct)
		}
		expected := penalty
		if a.Stale {
			expected = penalty.Add(decimal.RequireFromString("1.00"))
		}
		req.headers = key
		req.body = fmt.Sprintf(`{"reason":"desisti","expected_penalty":%q}`, expected.StringFixed(2))
		switch {
		case seen:
			return req, notFound
		case terminal:
			return req, wrongState
		case isAdmin && o.status != "completed":
			// anything open
		case party && (o.status == "negotiating" || o.status == "in_progress"):
		default:
			return req, wrongState
		}
		if isProvider && penalty.IsPositive() && provider.available.LessThan(penalty) {
			return req, no(402, "insufficient_funds")
		}
		if a.Stale {
			return req, no(409, "penalty_changed")
		}
		return req, ok(func() {
			if o.status != "negotiating" {
				held := o.amount.Add(o.feeHeld)
				client.blocked = client.blocked.Sub(held)
				client.available = client.available.Add(held)
			}
			if penalty.IsPositive() {
				if isProvider {
					provider.available = provider.available.Sub(penalty)
					client.available = client.available.Add(penalty)
				} else {
					client.available = client.available.Sub(penalty)
					provider.available = provider.available.Add(penalty)
				}
			}
			o.status = "cancelled"
			bump()
		})
	case "resolve":
		req.path = "/v1/admin/orders/" + o.id + "/resolve"
		req.body = fmt.Sprintf(`{"refund_amount":%q,"reason":"decisão"}`, a.Amount)
		req.headers = key
		r := decimal.RequireFromString(a.Amount)
		switch {
		case !isAdmin:
			return req, no(403, "forbidden")
		case terminal, o.status != "disputed":
			return req, wrongState
		case r.GreaterThan(o.amount):
			return req, no(422, "validation_failed")
		}
		return req, ok(func() {
			client.blocked = client.blocked.Sub(o.amount.Add(o.feeHeld))
			back := r
			if r.IsPositive() {
				back = back.Add(o.feeHeld)
			} else {
				m.revenue = m.revenue.Add(o.feeHeld)
			}
			client.available = client.available.Add(back)
			rest := o.amount.Sub(r)
			fee := pct(rest, o.feePct)
			provider.available = provider.available.Add(rest.Sub(fee))
			m.revenue = m.revenue.Add(fee)
			o.status = "resolved"
			bump()
		})
	case "extend":
		req.path = "/v1/admin/orders/" + o.id + "/extend-deadline"
		req.body = `{"hours":"12","reason":"prazo"}`
		req.headers = key
		switch {
		case !isAdmin:
			return req, no(403, "forbidden")
		case o.status != "delivered", o.extensions >= order.MaxExtensions:
			return req, wrongState
		}
		return req, ok(func() { o.extensions++; bump() })
	}
	return nil, expect{}
}

// release moves a confirmed order's money: the client's hold to the
// provider, minus the platform fee.
func (m *model) release(o *mOrder, amount decimal.Decimal) {
	fee := pct(amount, o.feePct)
	m.users[o.client].blocked = m.users[o.client].blocked.Sub(amount)
	m.users[o.provider].available = m.users[o.provider].available.Add(amount.Sub(fee))
	m.revenue = m.revenue.Add(fee)
}

// race sends confirm, contest and an admin cancel of a delivered order at
// once. The order runs one transition at a time, so the answers must be
// those of some serial order of the three (confirm wins alone; or cancel
// does; or contest, then the admin's cancel of the dispute): the model
// adopts the first serial order that explains them.
func (m *model) race(a mAction) string {
	var o *mOrder
	for _, x := range m.orders {
		if x.id != "" && x.status == "delivered" {
			o = x
			break
		}
	}
	if o == nil {
		return ""
	}
	acts := []mAction{{Kind: "confirm", Actor: o.client, Key: a.Key + "a"}, {Kind: "contest", Actor: o.client, Key: a.Key + "b"},
		{Kind: "cancel", Actor: "admin", Key: a.Key + "c"}}
	reqs := make([]*mReq, len(acts))
	snapshot := m.snapshot()
	for i, k := range acts {
		reqs[i], _ = m.planOrderAction(k, o, []string{"Idempotency-Key", k.Key})
		m.restore(snapshot)
	}
	// The requests go out with the state they were planned on (If-Match
	// of the delivered order): a later one in any serial order is then
	// refused for its stale precondition or for the state.
	var wg sync.WaitGroup
	status := make([]int, len(acts))
	bodies := make([]string, len(acts))
	for i := range acts {
		wg.Add(1)
		go func() { defer wg.Done(); status[i], bodies[i] = m.send(reqs[i]) }()
	}
	wg.Wait()
	for _, perm := range [][]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}} {
		m.restore(snapshot)
		explained := true
		for _, i := range perm {
			_, exp := m.planOrderAction(acts[i], o, nil)
			won := exp.status == 200 && !(acts[i].Kind != "cancel" && o.version != snapshot.orders[o.id].version)
			if won != (status[i] == 200) {
				explained = false
				break
			}
			if won {
				exp.apply()
			}
		}
		if explained {
			for i, st := range status {
				if st != 200 && st != 409 && st != 412 && st != 402 && st != 429 {
					return fmt.Sprintf("race: %s answered %d %s", acts[i].Kind, st, bodies[i])
				}
			}
			return ""
		}
	}
	m.restore(snapshot)
	return fmt.Sprintf("race: no serial order explains the answers %v %v", status, bodies)
}

// modelSnapshot is a copy of the model's balances and orders.
type modelSnapshot struct {
	users   map[string]mUser
	orders  map[string]mOrder
	revenue decimal.Decimal
}

func (m *model) snapshot() modelSnapshot {
	s := modelSnapshot{users: map[string]mUser{}, orders: map[string]mOrder{}, revenue: m.revenue}
	for k, u := range m.users {
		s.users[k] = *u
	}
	for _, o := range m.orders {
		s.orders[o.id] = *o
	}
	return s
}

func (m *model) restore(s modelSnapshot) {
	for k, u := range s.users {
		*m.users[k] = u
	}
	for _, o := range m.orders {
		if saved, ok := s.orders[o.id]; ok {
			*o = saved
		}
	}
	m.revenue = s.revenue
}

// check compares the stack with the model: every balance, every order as
// the API shows it and as its workflow holds it, and the ledger's
// invariants.
func (m *model) check() string {
	ctx := context.Background()
	for name, u := range m.users {
		id, _ := strconv.ParseInt(u.id, 10, 64)
		w, err := ledger.UserWallet(ctx, m.s.Pool, id)
		if err != nil {
			return err.Error()
		}
		if !w.Available.Equal(u.available) || !w.Blocked.Equal(u.blocked) {
			return fmt.Sprintf("%s holds %s/%s, the model %s/%s", name, w.Available, w.Blocked, u.available, u.blocked)
		}
	}
	rev, err := ledger.AccountBalance(ctx, m.s.Pool, ledger.RevenueAccount)
	if err != nil {
		return err.Error()
	}
	if !rev.Equal(m.revenue) {
		return fmt.Sprintf("platform revenue is %s, the model %s", rev, m.revenue)
	}
	for i, o := range m.orders {
		if o.id == "" || (!m.sweep && !m.touched[i]) {
			continue
		}
		st, body := m.send(&mReq{method: "GET", path: "/v1/orders/" + o.id, token: m.users[o.client].token})
		var got struct {
			Status          string
			Amount          decimal.Decimal
			Version         int
			ProposalVersion int `json:"proposal_version"`
		}
		if st != 200 || json.Unmarshal([]byte(body), &got) != nil {
			return fmt.Sprintf("order %d: GET answered %d %s", i, st, body)
		}
		if got.Status != o.status || !got.Amount.Equal(o.amount) || got.Version != o.version || got.ProposalVersion != o.proposalVersion {
			return fmt.Sprintf("order %d reads %s %s v%d p%d, the model %s %s v%d p%d", i, got.Status, got.Amount, got.Version,
				got.ProposalVersion, o.status, o.amount, o.version, o.proposalVersion)
		}
		if o.status == "completed" || o.status == "resolved" || o.status == "cancelled" {
			continue // the workflow has ended
		}
		id, _ := strconv.ParseInt(o.id, 10, 64)
		v, err := m.s.Temporal.QueryWorkflow(ctx, order.WorkflowID(id), "", order.QueryState)
		if err != nil {
			return fmt.Sprintf("order %d: query: %v", i, err)
		}
		var ws order.State
		if err := v.Get(&ws); err != nil {
			return err.Error()
		}
		if string(ws.Status) != o.status || ws.Version != o.version || !ws.Amount.Equal(o.amount) {
			return fmt.Sprintf("order %d's workflow holds %s v%d %s, the model %s v%d %s", i, ws.Status, ws.Version, ws.Amount,
				o.status, o.version, o.amount)
		}
	}
	rep, err := ledger.VerifySnapshot(ctx, m.s.Pool)
	if err != nil {
		return err.Error()
	}
	if len(rep.Violations) > 0 {
		return fmt.Sprintf("ledger verify: %v", rep.Violations)
	}
	return ""
}
