package api

import (
	"context"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/kpi"
	"github.com/ordem/ordem/internal/orders"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/wallet"
	"github.com/ordem/ordem/workflows/order"
)

func (s *Server) mountDashboard(r fiber.Router) {
	r.Get("/dashboard", s.authenticate, s.dashboard)
}

// StatusCounts counts orders by status; every status is present.
type StatusCounts map[string]int64

func newStatusCounts() StatusCounts {
	c := StatusCounts{}
	for _, st := range order.Statuses {
		c[string(st)] = 0
	}
	return c
}

// AwaitingOrder is an order waiting on the caller, with what they are
// expected to do and until when (null: no deadline, e.g. an in-progress
// order without a due date).
type AwaitingOrder struct {
	ID       string         `json:"id"`
	Title    string         `json:"title"`
	Status   string         `json:"status"`
	Amount   Money          `json:"amount"`
	Actions  []order.Action `json:"actions"`
	Deadline *time.Time     `json:"deadline"`
	// Revisions is how many revisions the client requested; RevisionReason
	// the latest one's reason (a provider's order sent back to work on).
	Revisions      int     `json:"revisions"`
	RevisionReason *string `json:"revision_reason,omitempty"`
	// Counterparty is the other party, by name: the provider on a
	// client's list, the client on a provider's.
	Counterparty Party `json:"counterparty"`
}

// PayoutSummary sums payouts.
type PayoutSummary struct {
	Count int64 `json:"count"`
	Total Money `json:"total"`
}

// ClientDashboard is what a client sees first.
type ClientDashboard struct {
	Role           ordem.Role    `json:"role"`
	OrdersByStatus StatusCounts  `json:"orders_by_status"`
	Balances       WalletBalance `json:"balances"`
	// AwaitingAction: delivered orders to confirm or contest (deadline:
	// the confirmation deadline) and negotiating orders whose latest
	// proposal is the provider's (deadline: the proposal's expiry);
	// soonest deadline first, at most awaitingLimit.
	AwaitingAction []AwaitingOrder `json:"awaiting_action"`
	GeneratedAt    time.Time       `json:"generated_at"`
}

// ProviderDashboard is what a provider sees first.
type ProviderDashboard struct {
	Role         ordem.Role   `json:"role"`
	JobsByStatus StatusCounts `json:"jobs_by_status"`
	// EarningsReleased is the sum of provider_net (amount minus the
	// platform fee, or the provider's share of a resolved dispute) over
	// the provider's completed and resolved orders.
	EarningsReleased Money `json:"earnings_released"`
	// PendingPayouts are the provider's payouts with status pending.
	PendingPayouts PayoutSummary `json:"pending_payouts"`
	Balances       WalletBalance `json:"balances"`
	// AwaitingAction: negotiating orders whose latest proposal is the
	// client's (deadline: the proposal's expiry) and in-progress orders to
	// deliver (deadline: the agreed due date, if any); soonest first.
	AwaitingAction []AwaitingOrder `json:"awaiting_action"`
	GeneratedAt    time.Time       `json:"generated_at"`
}

// AdminDashboard is the operator's view: KPIs, counts and the dispute
// queue.
type AdminDashboard struct {
	Role           ordem.Role   `json:"role"`
	OrdersByStatus StatusCounts `json:"orders_by_status"`
	KPIs           KPIs         `json:"kpis"`
	// DisputeQueue lists the disputes in the admins' queue (their
	// negotiation window ended or a party asked for a ruling), oldest
	// first, at most disputeQueueLimit; DisputesNegotiating counts the
	// open disputes whose parties may still settle.
	DisputesNegotiating int64           `json:"disputes_negotiating"`
	DisputeQueue        []DisputedOrder `json:"dispute_queue"`
	PendingPayouts      PayoutSummary   `json:"pending_payouts"`
	GeneratedAt         time.Time       `json:"generated_at"`
}

// Party is a user named in a list.
type Party struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// DisputedOrder is an entry of the dispute queue.
type DisputedOrder struct {
	ID            string    `json:"id"`
	Title         string    `json:"title"`
	Client        Party     `json:"client"`
	Provider      Party     `json:"provider"`
	Amount        Money     `json:"amount"`
	ContestedAt   time.Time `json:"contested_at"`
	ContestReason string    `json:"contest_reason"`
	EvidenceCount int       `json:"evidence_count"`
	// QueuedAt is when the dispute entered the admins' queue.
	QueuedAt time.Time `json:"queued_at"`
	// SettlementOffers counts the parties' offers so far.
	SettlementOffers int `json:"settlement_offers"`
	// SLADeadline is when admins get the dispute-SLA reminder (queued_at
	// + the order's dispute_sla_hours).
	SLADeadline time.Time `json:"sla_deadline"`
}

// Rate is a KPI ratio with its parts; Value (rounded to 4 decimal places)
// is null when Denominator is 0.
type Rate struct {
	Value       *float64 `json:"value"`
	Numerator   int64    `json:"numerator"`
	Denominator int64    `json:"denominator"`
}

func newRate(r kpi.Ratio) Rate {
	out := Rate{Numerator: r.Numerator, Denominator: r.Denominator}
	if r.Denominator > 0 {
		v, _ := decimal.NewFromInt(r.Numerator).DivRound(decimal.NewFromInt(r.Denominator), 4).Float64()
		out.Value = &v
	}
	return out
}

// MeanDuration is a mean in seconds (rounded to the millisecond) over
// Count cases; Seconds is null when Count is 0.
type MeanDuration struct {
	Seconds *float64 `json:"seconds"`
	Count   int64    `json:"count"`
}

func newMeanDuration(m kpi.Mean) MeanDuration {
	out := MeanDuration{Count: m.Count}
	if v, ok := m.Seconds(); ok {
		out.Seconds = &v
	}
	return out
}

// KPIs are the marketplace indicators the original system's operators
// watched ("Métricas para Monitorar"), computed over every order in the
// read model, whatever its age. Each ratio carries its numerator and
// denominator; a zero denominator gives a null value, never 0 or NaN.
type KPIs struct {
	// AutoConfirmationRate: orders completed by the confirmation deadline
	// (status completed and auto_confirmed) / all completed orders.
	// Resolved disputes are not completions and count in neither.
	AutoConfirmationRate Rate `json:"auto_confirmation_rate"`
	// ContestRate: orders ever contested (contested_at set, whatever
	// happened next: disputed, resolved or cancelled by an admin) / orders
	// ever delivered (delivered_at set).
	ContestRate Rate `json:"contest_rate"`
	// CancellationRate: cancelled orders / closed orders (completed,
	// resolved, cancelled and expired). Open orders count in neither.
	CancellationRate Rate `json:"cancellation_rate"`
	// MeanClientResponse: mean seconds from delivery to the client's
	// answer, over the orders the client answered: confirmed by the client
	// (completed and not auto-confirmed: closed_at − delivered_at) or
	// contested (contested_at − delivered_at). Excluded: auto-confirmed
	// orders (no answer), orders still awaiting an answer and delivered
	// orders an admin cancelled before any answer.
	MeanClientResponse MeanDuration `json:"mean_client_response"`
	// Volume: sum of amount over completed and resolved orders (the gross
	// value that went through escrow to a conclusion, refunds of resolved
	// disputes included).
	Volume Money `json:"volume"`
	// PlatformRevenue: balance of the platform revenue account (platform
	// fees and forfeited contestation fees).
	PlatformRevenue Money  `json:"platform_revenue"`
	Currency        string `json:"currency"`
	// SettledByParties: resolved disputes the parties settled themselves
	// (an accepted settlement offer) / all resolved disputes.
	SettledByParties Rate `json:"settled_by_parties"`
	// MeanTimeToSettle: mean seconds from the contest to the accepted
	// settlement, over the disputes the parties settled.
	MeanTimeToSettle MeanDuration `json:"mean_time_to_settle"`
}

const (
	awaitingLimit     = 100
	disputeQueueLimit = 100
)

// dashboard answers with the caller's role's dashboard, read from one
// consistent snapshot of the read model and the ledger.
func (s *Server) dashboard(c *fiber.Ctx) error {
	p := caller(c)
	ctx := c.UserContext()
	tx, err := s.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin dashboard snapshot: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	var out any
	switch p.Role {
	case ordem.RoleClient:
		out, err = s.clientDashboard(ctx, tx, p)
	case ordem.RoleProvider:
		out, err = s.providerDashboard(ctx, tx, p)
	case ordem.RoleAdmin:
		out, err = s.adminDashboard(ctx, tx)
	default:
		return ordem.Errorf(ordem.EForbidden, "no dashboard for this role")
	}
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// pendingPayouts sums the pending payouts of userID (0: of everyone).
func pendingPayouts(ctx context.Context, tx pgx.Tx, userID int64) (PayoutSummary, error) {
	n, total, err := wallet.SumPending(ctx, tx, userID)
	return PayoutSummary{Count: n, Total: M(total)}, err
}

// statusCounts is a count by status with every status present.
func statusCounts(got map[order.Status]int64) StatusCounts {
	counts := newStatusCounts()
	for st, n := range got {
		counts[string(st)] = n
	}
	return counts
}

// partyView is what both parties' dashboards show: their orders by
// status, their balances and the orders waiting on them (soonest
// deadline first, at most awaitingLimit).
type partyView struct {
	counts   StatusCounts
	balances WalletBalance
	awaiting []AwaitingOrder
}

func (s *Server) partyView(ctx context.Context, tx pgx.Tx, party orders.Party, userID int64) (partyView, error) {
	var v partyView
	got, err := orders.CountByStatus(ctx, tx, party, userID)
	if err != nil {
		return v, err
	}
	v.counts = statusCounts(got)
	if v.balances, err = s.balances(ctx, tx, userID); err != nil {
		return v, err
	}
	list, err := orders.AwaitingParty(ctx, tx, party, userID, awaitingLimit)
	if err != nil {
		return v, err
	}
	v.awaiting = make([]AwaitingOrder, len(list))
	for i, o := range list {
		v.awaiting[i] = AwaitingOrder{ID: id(o.ID), Title: o.Title, Status: string(o.Status), Amount: M(o.Amount),
			Actions: awaitedActions(o.Status), Deadline: o.Deadline, Revisions: o.Revisions, RevisionReason: o.RevisionReason,
			Counterparty: Party{ID: id(o.CounterpartyID), Name: o.CounterpartyName}}
	}
	return v, nil
}

// awaitedActions are what a party waited on is expected to do with an
// order in status st.
func awaitedActions(st order.Status) []order.Action {
	switch st {
	case order.StatusDelivered:
		return []order.Action{order.ActionConfirm, order.ActionContest}
	case order.StatusNegotiating:
		return []order.Action{order.ActionAccept, order.ActionPropose, order.ActionCancel}
	case order.StatusInProgress:
		return []order.Action{order.ActionDeliver}
	}
	return nil
}

func (s *Server) clientDashboard(ctx context.Context, tx pgx.Tx, p *principal) (*ClientDashboard, error) {
	generated := s.now().UTC()
	v, err := s.partyView(ctx, tx, orders.Client, p.ID)
	if err != nil {
		return nil, err
	}
	return &ClientDashboard{Role: p.Role, OrdersByStatus: v.counts, Balances: v.balances, AwaitingAction: v.awaiting,
		GeneratedAt: generated}, nil
}

func (s *Server) providerDashboard(ctx context.Context, tx pgx.Tx, p *principal) (*ProviderDashboard, error) {
	generated := s.now().UTC()
	v, err := s.partyView(ctx, tx, orders.Provider, p.ID)
	if err != nil {
		return nil, err
	}
	d := &ProviderDashboard{Role: p.Role, JobsByStatus: v.counts, Balances: v.balances, AwaitingAction: v.awaiting,
		GeneratedAt: generated}
	earned, err := orders.ProviderEarnings(ctx, tx, p.ID)
	if err != nil {
		return nil, err
	}
	d.EarningsReleased = M(earned)
	if d.PendingPayouts, err = pendingPayouts(ctx, tx, p.ID); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) adminDashboard(ctx context.Context, tx pgx.Tx) (*AdminDashboard, error) {
	d := &AdminDashboard{Role: ordem.RoleAdmin, GeneratedAt: s.now().UTC()}
	var err error
	if d.OrdersByStatus, d.KPIs, err = marketplaceKPIs(ctx, tx); err != nil {
		return nil, err
	}
	d.KPIs.Currency = s.Config.Currency
	if d.DisputesNegotiating, err = orders.DisputesNegotiating(ctx, tx); err != nil {
		return nil, err
	}
	queue, err := orders.DisputeQueue(ctx, tx, disputeQueueLimit)
	if err != nil {
		return nil, err
	}
	d.DisputeQueue = make([]DisputedOrder, len(queue))
	for i, q := range queue {
		d.DisputeQueue[i] = DisputedOrder{ID: id(q.ID), Title: q.Title, Client: Party{ID: id(q.ClientID), Name: q.ClientName},
			Provider: Party{ID: id(q.ProviderID), Name: q.ProviderName}, Amount: M(q.Amount), ContestedAt: q.ContestedAt,
			ContestReason: q.ContestReason, EvidenceCount: q.EvidenceCount, QueuedAt: q.QueuedAt,
			SettlementOffers: q.SettlementOffers, SLADeadline: q.SLADeadline}
	}
	if d.PendingPayouts, err = pendingPayouts(ctx, tx, 0); err != nil {
		return nil, err
	}
	return d, nil
}

// marketplaceKPIs reads the order counts by status and the KPIs (see
// KPIs for the definitions; Currency is left to the caller): kpi.Read,
// in the API's shapes.
func marketplaceKPIs(ctx context.Context, q postgres.DBTX) (StatusCounts, KPIs, error) {
	m, err := kpi.Read(ctx, q)
	if err != nil {
		return nil, KPIs{}, err
	}
	counts := newStatusCounts()
	for st, n := range m.Orders {
		counts[string(st)] = n
	}
	return counts, KPIs{
		AutoConfirmationRate: newRate(m.AutoConfirmation),
		ContestRate:          newRate(m.Contest),
		CancellationRate:     newRate(m.Cancellation),
		MeanClientResponse:   newMeanDuration(m.ClientResponse),
		Volume:               M(m.Volume),
		PlatformRevenue:      M(m.PlatformRevenue),
		SettledByParties:     newRate(m.SettledByParties),
		MeanTimeToSettle:     newMeanDuration(m.TimeToSettle),
	}, nil
}
