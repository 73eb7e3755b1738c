package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/workflows/order"
)

func (s *Server) mountOrders(r, admin fiber.Router) {
	o := r.Group("/orders", s.authenticate)
	o.Post("/", requireRole(ordem.RoleClient), s.idempotent, s.createOrder)
	o.Get("/", s.listOrders)
	o.Get("/:id", s.getOrder)
	o.Get("/:id/events", s.orderEvents)
	o.Post("/:id/proposals", s.idempotent, s.orderAction(order.ActionPropose, s.proposeInput))
	o.Post("/:id/accept", s.idempotent, s.orderAction(order.ActionAccept, s.acceptInput))
	o.Post("/:id/deliver", s.idempotent, s.orderAction(order.ActionDeliver,
		noBody(func(a actionContext) any { return order.DeliverInput{Actor: a.actor, IfVersion: a.ifVersion} })))
	o.Post("/:id/confirm", s.idempotent, s.orderAction(order.ActionConfirm,
		noBody(func(a actionContext) any { return order.ConfirmInput{Actor: a.actor, IfVersion: a.ifVersion} })))
	o.Post("/:id/contest", s.idempotent, s.orderAction(order.ActionContest, s.contestInput))
	o.Post("/:id/cancel", s.idempotent, s.orderAction(order.ActionCancel, s.cancelInput))
	// Issue 17: settlements between a dispute's parties, revisions.
	o.Post("/:id/settlement-offers", s.idempotent, s.orderAction(order.ActionOfferSettlement, s.offerSettlementInput))
	o.Post("/:id/settlement/accept", s.idempotent, s.orderAction(order.ActionAcceptSettlement, s.acceptSettlementInput))
	o.Post("/:id/request-ruling", s.idempotent, s.orderAction(order.ActionRequestRuling, s.requestRulingInput))
	o.Post("/:id/revisions", s.idempotent, s.orderAction(order.ActionRequestRevision, s.revisionInput))
	admin.Post("/orders/:id/resolve", s.idempotent, s.orderAction(order.ActionResolve, s.resolveInput))
	admin.Post("/orders/:id/extend-deadline", s.idempotent, s.orderAction(order.ActionExtendDeadline, s.extendInput))
}

// Terms is an order's fee and deadline snapshot.
type Terms struct {
	PlatformFeePercentage     string `json:"platform_fee_percentage"`
	ContestationFee           Money  `json:"contestation_fee"`
	CancellationFeePercentage string `json:"cancellation_fee_percentage"`
	ConfirmationDeadlineHours string `json:"confirmation_deadline_hours"`
	ProposalExpiryHours       string `json:"proposal_expiry_hours"`
	ConfirmationReminderHours string `json:"confirmation_reminder_hours"`
	DisputeSLAHours           string `json:"dispute_sla_hours"`
	// DisputeNegotiationHours and MaxRevisions are "0" and 0 for orders
	// created before they existed (no negotiation window, no revisions).
	DisputeNegotiationHours string `json:"dispute_negotiation_hours"`
	MaxRevisions            int    `json:"max_revisions"`
}

// SettlementOffer is one version of a dispute's settlement offers: refund
// RefundAmount to the client, the rest to the provider as a ruling would.
type SettlementOffer struct {
	Version        int        `json:"version"`
	OfferedBy      string     `json:"offered_by"`
	OfferedRole    ordem.Role `json:"offered_role"`
	RefundAmount   Money      `json:"refund_amount"`
	PreviousRefund *Money     `json:"previous_refund,omitempty"`
	Note           string     `json:"note"`
	CreatedAt      time.Time  `json:"created_at,omitzero"`
}

// Outcome is where an order's money went.
type Outcome struct {
	PlatformRevenue Money  `json:"platform_revenue"`
	ProviderNet     Money  `json:"provider_net"`
	Refund          *Money `json:"refund,omitempty"`
	Penalty         *Money `json:"penalty,omitempty"`
}

// Proposal is one version of the negotiated terms.
type Proposal struct {
	Version        int        `json:"version"`
	ProposedBy     string     `json:"proposed_by"`
	ProposerRole   ordem.Role `json:"proposer_role"`
	Amount         Money      `json:"amount"`
	PreviousAmount *Money     `json:"previous_amount,omitempty"`
	DueDate        *time.Time `json:"due_date,omitempty"`
	Note           string     `json:"note"`
	CreatedAt      time.Time  `json:"created_at"`
}

// Revision is one of the client's revision requests.
type Revision struct {
	Number int    `json:"number"`
	Reason string `json:"reason"`
	// DeliveredAt is the delivery sent back.
	DeliveredAt time.Time `json:"delivered_at"`
	CreatedAt   time.Time `json:"created_at"`
}

// Order is an order as the API shows it.
type Order struct {
	ID         string `json:"id"`
	WorkflowID string `json:"workflow_id"`
	ClientID   string `json:"client_id"`
	ProviderID string `json:"provider_id"`
	// ClientName and ProviderName name the parties (the provider
	// directory's names; never their contact details).
	ClientName        string     `json:"client_name"`
	ProviderName      string     `json:"provider_name"`
	Title             string     `json:"title"`
	Description       string     `json:"description"`
	Status            string     `json:"status"`
	Amount            Money      `json:"amount"`
	Currency          string     `json:"currency"`
	DueDate           *time.Time `json:"due_date,omitempty"`
	ProposalVersion   int        `json:"proposal_version"`
	LastProposedBy    string     `json:"last_proposed_by"`
	ProposalExpiresAt time.Time  `json:"proposal_expires_at"`
	Terms             Terms      `json:"terms"`
	Outcome           Outcome    `json:"outcome"`
	ContestFeeHeld    Money      `json:"contest_fee_held"`
	AcceptedAt        *time.Time `json:"accepted_at,omitempty"`
	DeliveredAt       *time.Time `json:"delivered_at,omitempty"`
	ConfirmDeadline   *time.Time `json:"confirm_deadline,omitempty"`
	AutoConfirmHeld   bool       `json:"auto_confirm_held"`
	AutoConfirmed     bool       `json:"auto_confirmed"`
	ContestedAt       *time.Time `json:"contested_at,omitempty"`
	ContestReason     *string    `json:"contest_reason,omitempty"`
	EvidenceCount     int        `json:"evidence_count"`
	Extensions        int        `json:"extensions"`
	CancelledByRole   *string    `json:"cancelled_by_role,omitempty"`
	CancelReason      *string    `json:"cancel_reason,omitempty"`
	ResolutionReason  *string    `json:"resolution_reason,omitempty"`
	// ResolvedBy is "admin" (a ruling) or "settlement" (the parties agreed).
	ResolvedBy *string `json:"resolved_by,omitempty"`
	// NegotiationEndsAt is when a dispute's negotiation window ends;
	// DisputeQueuedAt when it entered the admins' queue (its SLA runs
	// from then).
	NegotiationEndsAt *time.Time `json:"negotiation_ends_at,omitempty"`
	DisputeQueuedAt   *time.Time `json:"dispute_queued_at,omitempty"`
	// Settlement is the latest settlement offer (the one accept_settlement
	// names by its version); SettlementOffers every offer, on the order's
	// own page.
	Settlement       *SettlementOffer  `json:"settlement,omitempty"`
	SettlementOffers []SettlementOffer `json:"settlement_offers,omitempty"`
	ClientOffers     int               `json:"client_offers"`
	ProviderOffers   int               `json:"provider_offers"`
	// RevisionCount is how many revisions the client requested (at most
	// terms.max_revisions); RevisionList their reasons, on the order's
	// own page.
	RevisionCount int        `json:"revision_count"`
	RevisionList  []Revision `json:"revisions,omitempty"`
	ClosedAt      *time.Time `json:"closed_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// AllowedActions lists what the caller may do now: frontends offer
	// only these.
	AllowedActions []order.Action `json:"allowed_actions"`
	// CancelPenalty is what cancelling now would cost the caller, shown
	// before they confirm; absent when cancel is not allowed.
	CancelPenalty *Money     `json:"cancel_penalty,omitempty"`
	Proposals     []Proposal `json:"proposals,omitempty"`
	// Version counts the order's committed transitions; it is also the
	// response's ETag, which an action may send back as If-Match.
	Version int `json:"version"`
}

const orderColumns = `
	o.id, o.client_id, o.provider_id, o.title, o.description, o.status, o.amount, o.due_date,
	o.proposal_version, o.last_proposed_by, o.proposal_expires_at,
	o.platform_fee_percentage, o.contestation_fee, o.cancellation_fee_percentage,
	o.confirmation_deadline_hours, o.proposal_expiry_hours, o.confirmation_reminder_hours, o.dispute_sla_hours,
	o.platform_revenue, o.provider_net, o.refund_amount, o.penalty_amount, o.contest_fee_held,
	o.accepted_at, o.delivered_at, o.confirm_deadline, o.auto_confirm_held, o.auto_confirmed,
	o.contested_at, o.contest_reason, o.evidence_count, o.extensions, o.cancelled_by_role, o.cancel_reason,
	o.resolution_reason, o.closed_at, o.created_at, o.updated_at, o.version,
	coalesce(o.dispute_negotiation_hours, 0), coalesce(o.max_revisions, 0), o.negotiation_ends_at, o.dispute_queued_at,
	o.settlement_version, o.settlement_refund, o.settlement_offered_by, o.settlement_offered_role,
	o.client_offers, o.provider_offers, o.resolved_by, o.revision_count`

// orderRow is an orders row with the rule-relevant state rebuilt.
type orderRow struct {
	Order
	state order.State
}

func scanOrder(r pgx.Row) (orderRow, error) {
	var (
		o                                   orderRow
		oid, cid, pid, lastBy               int64
		amount, fee, contestFee, cancelFee  decimal.Decimal
		deadlineH, expiryH, reminderH, slaH decimal.Decimal
		revenue, net, contestHeld           decimal.Decimal
		refund, penalty                     *decimal.Decimal
		negotiationH                        decimal.Decimal
		offerVersion                        int
		offerRefund                         *decimal.Decimal
		offerBy                             *int64
		offerRole                           *string
	)
	err := r.Scan(&oid, &cid, &pid, &o.Title, &o.Description, &o.Status, &amount, &o.DueDate,
		&o.ProposalVersion, &lastBy, &o.ProposalExpiresAt,
		&fee, &contestFee, &cancelFee, &deadlineH, &expiryH, &reminderH, &slaH,
		&revenue, &net, &refund, &penalty, &contestHeld,
		&o.AcceptedAt, &o.DeliveredAt, &o.ConfirmDeadline, &o.AutoConfirmHeld, &o.AutoConfirmed,
		&o.ContestedAt, &o.ContestReason, &o.EvidenceCount, &o.Extensions, &o.CancelledByRole, &o.CancelReason,
		&o.ResolutionReason, &o.ClosedAt, &o.CreatedAt, &o.UpdatedAt, &o.Version,
		&negotiationH, &o.Terms.MaxRevisions, &o.NegotiationEndsAt, &o.DisputeQueuedAt,
		&offerVersion, &offerRefund, &offerBy, &offerRole,
		&o.ClientOffers, &o.ProviderOffers, &o.ResolvedBy, &o.RevisionCount)
	if err != nil {
		return o, err
	}
	o.ID, o.ClientID, o.ProviderID, o.LastProposedBy = id(oid), id(cid), id(pid), id(lastBy)
	o.WorkflowID = order.WorkflowID(oid)
	o.Amount, o.ContestFeeHeld = M(amount), M(contestHeld)
	o.Terms = Terms{PlatformFeePercentage: fee.String(), ContestationFee: M(contestFee),
		CancellationFeePercentage: cancelFee.String(), ConfirmationDeadlineHours: deadlineH.String(),
		ProposalExpiryHours: expiryH.String(), ConfirmationReminderHours: reminderH.String(), DisputeSLAHours: slaH.String(),
		DisputeNegotiationHours: negotiationH.String(), MaxRevisions: o.Terms.MaxRevisions}
	var offer *order.SettlementOffer
	if offerVersion > 0 && offerRefund != nil && offerBy != nil && offerRole != nil {
		offer = &order.SettlementOffer{Version: offerVersion, OfferedBy: *offerBy, Role: ordem.Role(*offerRole), RefundAmount: *offerRefund}
		o.Settlement = &SettlementOffer{Version: offerVersion, OfferedBy: id(*offerBy), OfferedRole: offer.Role, RefundAmount: M(*offerRefund)}
	}
	o.Outcome = Outcome{PlatformRevenue: M(revenue), ProviderNet: M(net)}
	if refund != nil {
		m := M(*refund)
		o.Outcome.Refund = &m
	}
	if penalty != nil {
		m := M(*penalty)
		o.Outcome.Penalty = &m
	}
	// The rules need only this much of the workflow's state; the read
	// model is written in the same transaction as every transition.
	o.state = order.State{OrderID: oid, ClientID: cid, ProviderID: pid, Status: order.Status(o.Status),
		Amount: amount, DueDate: o.DueDate, ProposalVersion: o.ProposalVersion, LastProposedBy: lastBy,
		ProposalExpiresAt: o.ProposalExpiresAt, ConfirmDeadline: o.ConfirmDeadline, AutoConfirmHeld: o.AutoConfirmHeld,
		EvidenceCount: o.EvidenceCount, Extensions: o.Extensions, Created: true, ContestFeeHeld: contestHeld, Version: o.Version,
		Terms: order.Terms{CancellationFeePercentage: cancelFee, ContestationFee: contestFee, PlatformFeePercentage: fee,
			DisputeNegotiationHours: negotiationH, MaxRevisions: o.Terms.MaxRevisions},
		ContestedAt: o.ContestedAt, NegotiationEndsAt: o.NegotiationEndsAt, DisputeQueuedAt: o.DisputeQueuedAt,
		Settlement: offer, ClientOffers: o.ClientOffers, ProviderOffers: o.ProviderOffers, Revisions: o.RevisionCount}
	return o, nil
}

func actorOf(p *principal) order.Actor { return order.Actor{UserID: p.ID, Role: p.Role} }

// present fills what depends on the caller: allowed actions and the
// penalty a cancellation would cost them now.
func (s *Server) present(o *orderRow, p *principal) {
	now := s.now()
	o.Currency = s.Config.Currency
	o.AllowedActions = o.state.AllowedActions(actorOf(p), now)
	for _, a := range o.AllowedActions {
		if a == order.ActionCancel {
			m := M(o.state.CancelTerms(actorOf(p), now).Penalty)
			o.CancelPenalty = &m
		}
	}
}

// loadOrder reads an order the caller may see; any other order is
// not_found, so ids of other users' orders reveal nothing.
func (s *Server) loadOrder(ctx context.Context, orderID int64, p *principal) (orderRow, error) {
	row := s.Pool.QueryRow(ctx, `SELECT `+orderColumns+` FROM orders o
		WHERE o.id = $1 AND ($2 = 'admin' OR ($2 = 'client' AND o.client_id = $3) OR ($2 = 'provider' AND o.provider_id = $3))`,
		orderID, string(p.Role), p.ID)
	o, err := scanOrder(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ordem.Errorf(ordem.ENotFound, "no such order")
	}
	return o, err
}

func (s *Server) respondOrder(c *fiber.Ctx, status int, orderID int64, withProposals bool) error {
	p := caller(c)
	o, err := s.loadOrder(c.UserContext(), orderID, p)
	if err != nil {
		return err
	}
	s.present(&o, p)
	if err := s.nameParties(c.UserContext(), &o.Order); err != nil {
		return err
	}
	c.Set(fiber.HeaderETag, etag(o.Version))
	if withProposals {
		if o.Proposals, err = s.proposals(c.UserContext(), orderID); err != nil {
			return err
		}
		if o.SettlementOffers, err = s.settlementOffers(c.UserContext(), orderID); err != nil {
			return err
		}
		if o.RevisionList, err = s.revisions(c.UserContext(), orderID); err != nil {
			return err
		}
	}
	return c.Status(status).JSON(o.Order)
}

func (s *Server) proposals(ctx context.Context, orderID int64) ([]Proposal, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT version, proposed_by, proposer_role, amount, previous_amount, due_date, note, created_at
		FROM order_proposals WHERE order_id = $1 ORDER BY version`, orderID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Proposal, error) {
		var (
			p      Proposal
			by     int64
			amount decimal.Decimal
			prev   *decimal.Decimal
		)
		err := r.Scan(&p.Version, &by, &p.ProposerRole, &amount, &prev, &p.DueDate, &p.Note, &p.CreatedAt)
		p.ProposedBy, p.Amount = id(by), M(amount)
		if prev != nil {
			m := M(*prev)
			p.PreviousAmount = &m
		}
		return p, err
	})
}

func (s *Server) revisions(ctx context.Context, orderID int64) ([]Revision, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT number, reason, delivered_at, created_at FROM order_revisions WHERE order_id = $1 ORDER BY number`, orderID)
	if err != nil {
		return nil, fmt.Errorf("read revisions: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Revision])
}

func (s *Server) settlementOffers(ctx context.Context, orderID int64) ([]SettlementOffer, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT version, offered_by, offered_role, refund_amount, previous_refund, note, created_at
		FROM order_settlement_offers WHERE order_id = $1 ORDER BY version`, orderID)
	if err != nil {
		return nil, fmt.Errorf("read settlement offers: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (SettlementOffer, error) {
		var (
			o      SettlementOffer
			by     int64
			refund decimal.Decimal
			prev   *decimal.Decimal
		)
		err := r.Scan(&o.Version, &by, &o.OfferedRole, &refund, &prev, &o.Note, &o.CreatedAt)
		o.OfferedBy, o.RefundAmount = id(by), M(refund)
		if prev != nil {
			m := M(*prev)
			o.PreviousRefund = &m
		}
		return o, err
	})
}

type createOrderRequest struct {
	ProviderID  string     `json:"provider_id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Amount      *Money     `json:"amount"`
	DueDate     *time.Time `json:"due_date"`
}

func checkAmount(f fieldErrors, field string, m *Money) {
	if m == nil {
		f.add(field, "is required")
		return
	}
	if err := money.ValidateAmount(m.Decimal); err != nil {
		f.add(field, err.Error())
	}
}

// checkOrderAmount checks an order's amount (creation, proposals): it is
// bounded more tightly than other amounts (money.MaxOrderAmount), so that
// every posting the order can ever make fits.
func checkOrderAmount(f fieldErrors, field string, m *Money) {
	if m == nil {
		f.add(field, "is required")
		return
	}
	if err := money.ValidateOrderAmount(m.Decimal); err != nil {
		f.add(field, err.Error())
	}
}

func (s *Server) createOrder(c *fiber.Ctx) error {
	p := caller(c)
	var req createOrderRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	f := fieldErrors{}
	providerID, err := strconv.ParseInt(req.ProviderID, 10, 64)
	if err != nil || providerID <= 0 {
		f.add("provider_id", "must be the id of a provider")
	}
	checkLine(f, "title", req.Title, true, 200)
	checkMultiline(f, "description", req.Description, false, 5000)
	checkOrderAmount(f, "amount", req.Amount)
	if req.DueDate != nil && !req.DueDate.After(s.now()) {
		f.add("due_date", "must be in the future")
	}
	if len(f) == 0 {
		var active bool
		err := s.Pool.QueryRow(c.UserContext(), `SELECT true FROM users WHERE id = $1 AND role = 'provider' AND deleted_at IS NULL`, providerID).Scan(&active)
		if errors.Is(err, pgx.ErrNoRows) {
			f.add("provider_id", "is not an active provider")
		} else if err != nil {
			return err
		}
	}
	if err := f.err(); err != nil {
		return err
	}

	// The order's id is its recovery point: a retry that takes the
	// Idempotency-Key over (the first attempt's process died) finds it and
	// resumes the same order; starting its workflow again attaches to the
	// running one instead of creating another.
	ctx := c.UserContext()
	a := attemptOf(c)
	var orderID int64
	if a != nil && a.resourceID != 0 {
		orderID = a.resourceID
	} else {
		if err := s.Pool.QueryRow(ctx, `SELECT nextval('orders_id_seq')`).Scan(&orderID); err != nil {
			return fmt.Errorf("allocate order id: %w", err)
		}
		if a != nil {
			if err := s.recordRecoveryPoint(ctx, a, orderID); err != nil {
				return err
			}
		}
	}
	in := order.Input{OrderID: orderID, ClientID: p.ID, ProviderID: providerID, Title: strings.TrimSpace(req.Title),
		Description: req.Description, Amount: req.Amount.Decimal, DueDate: req.DueDate}
	start := s.Temporal.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID:        order.WorkflowID(orderID),
		TaskQueue: s.Config.TemporalTaskQueue,
		// A resumed create finds the workflow it started; a creation that
		// was refused (the workflow failed) may be tried again.
		WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		TypedSearchAttributes:    temporalSearch(orderID, p.ID, providerID),
		// What the Temporal Web UI shows in the list and on the workflow
		// page (terms at creation; later proposals are in the history).
		// Metadata of the start event only: no command of the workflow.
		StaticSummary: workflowSummary(in, s.Config.Currency),
		StaticDetails: workflowDetails(in, s.Config.Currency),
		Memo: map[string]any{"order_id": id(orderID), "client_id": id(p.ID), "provider_id": id(providerID),
			"amount": in.Amount.StringFixed(2), "currency": s.Config.Currency},
	}, order.WorkflowName, in)
	wctx, cancel := context.WithTimeout(ctx, requestDeadline)
	defer cancel()
	handle, err := s.Temporal.UpdateWithStartWorkflow(wctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions: client.UpdateWorkflowOptions{
			WorkflowID:   order.WorkflowID(orderID),
			UpdateName:   order.UpdateAwaitCreated,
			UpdateID:     order.UpdateAwaitCreated,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	if err != nil {
		return fmt.Errorf("start order %d: %w", orderID, err)
	}
	var st order.State
	if err := handle.Get(wctx, &st); err != nil {
		return fmt.Errorf("create order %d: %w", orderID, err)
	}
	return s.respondOrder(c, fiber.StatusCreated, orderID, true)
}

// actionContext is what every order action's input is built from.
type actionContext struct {
	actor order.Actor
	// ifVersion is the version the caller's If-Match names (0: none).
	ifVersion int
}

// actionInput builds an update's argument from the request.
type actionInput func(c *fiber.Ctx, a actionContext) (any, error)

// noBody is for actions that take no fields; an empty body or {} is fine.
func noBody(build func(actionContext) any) actionInput {
	return func(c *fiber.Ctx, a actionContext) (any, error) {
		var empty struct{}
		if err := decodeOptionalJSON(c, &empty); err != nil {
			return nil, err
		}
		return build(a), nil
	}
}

// etag is an order version as an HTTP entity tag.
func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// parseIfMatch reads If-Match: the ETag of the order the caller saw ("*"
// or none: no precondition, 0).
func parseIfMatch(c *fiber.Ctx) (int, error) {
	v := strings.TrimSpace(c.Get(fiber.HeaderIfMatch))
	if v == "" || v == "*" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(v, `"`), `"`))
	// Entity tags compare character by character (RFC 9110 13.1.1): "03"
	// and "+3" are not the tag "3", whatever number Atoi reads in them.
	if err != nil || n < 1 || v != etag(n) {
		return 0, ordem.Errorf(ordem.EInvalid, `If-Match must be the ETag of the order, such as "3"`)
	}
	return n, nil
}

// updateRetries bounds how often an action refused with "unavailable"
// (the order's run is handing over to a new one: a matter of a few
// hundred milliseconds) is sent again before the caller gets the 503.
const updateRetries = 10

// orderAction sends an order action to its workflow as an Update and
// answers with the order's new state. The workflow's validator refuses
// anything the transition table forbids, without touching history.
func (s *Server) orderAction(action order.Action, input actionInput) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := caller(c)
		orderID, err := pathID(c, "id")
		if err != nil {
			return err
		}
		ctx := c.UserContext()
		o, err := s.loadOrder(ctx, orderID, p)
		if err != nil {
			return err
		}
		ifVersion, err := parseIfMatch(c)
		if err != nil {
			return err
		}
		arg, err := input(c, actionContext{actor: actorOf(p), ifVersion: ifVersion})
		if err != nil {
			return err
		}
		a := attemptOf(c)
		// Without an Idempotency-Key, what the read model already shows
		// is answered here. With one, the request may be a retry of an
		// action that already ran: the workflow answers it (by update id).
		if a == nil {
			if o.state.Status.Terminal() {
				return o.state.Permit(action, actorOf(p), s.now())
			}
			// The read model is never behind the workflow, only (for the
			// instant between an activity's commit and the workflow's)
			// ahead of it: another version is stale for certain.
			if ifVersion != 0 && ifVersion != o.Version {
				return ordem.Errorf(ordem.EPreconditionFailed, "the order changed: it is at version %d, not %d; reload it and try again",
					o.Version, ifVersion)
			}
		}
		if err := s.checkFunds(ctx, o, action, actorOf(p)); err != nil {
			return err
		}
		opts := client.UpdateWorkflowOptions{
			WorkflowID:   order.WorkflowID(orderID),
			UpdateName:   string(action),
			Args:         []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		}
		// A retried request with the same Idempotency-Key is the same
		// update: Temporal returns the first outcome and runs nothing twice.
		if a != nil {
			opts.UpdateID = "idem:" + a.id
		}
		wctx, cancel := context.WithTimeout(ctx, requestDeadline)
		defer cancel()
		err = s.updateRetrying(wctx, opts)
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			// The workflow closed (the order is terminal) and never saw
			// this update: refuse it as the read model says.
			if o, lerr := s.loadOrder(ctx, orderID, p); lerr == nil {
				if perr := o.state.Permit(action, actorOf(p), s.now()); perr != nil {
					return perr
				}
			}
		}
		if err != nil {
			return err
		}
		return s.respondOrder(c, fiber.StatusOK, orderID, false)
	}
}

// updateRetrying sends an update, again while it is refused with
// "unavailable" (up to updateRetries times), and waits for its outcome.
func (s *Server) updateRetrying(ctx context.Context, opts client.UpdateWorkflowOptions) error {
	for try := 1; ; try++ {
		err := s.update(ctx, opts)
		if order.RefusalCode(err) != ordem.EUnavailable || try == updateRetries {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// update sends one update and waits for its outcome.
func (s *Server) update(ctx context.Context, opts client.UpdateWorkflowOptions) error {
	handle, err := s.Temporal.UpdateWorkflow(ctx, opts)
	if err != nil {
		return err
	}
	var st order.State
	return handle.Get(ctx, &st)
}

// checkFunds refuses, before the order is touched, an action whose money
// the payer's available balance cannot cover (order.State.FundsNeeded).
// The activity remains the authority: a balance that drops meanwhile is
// still refused there.
func (s *Server) checkFunds(ctx context.Context, o orderRow, action order.Action, a order.Actor) error {
	now := s.now()
	if o.state.Permit(action, a, now) != nil {
		return nil // the workflow refuses it with the precise reason
	}
	payer, need := o.state.FundsNeeded(action, a, now)
	if !need.IsPositive() {
		return nil
	}
	w, err := ledger.UserWallet(ctx, s.Pool, payer)
	if err != nil {
		return fmt.Errorf("read balance of user %d: %w", payer, err)
	}
	if !w.Available.LessThan(need) {
		return nil
	}
	who := "your"
	if payer != a.UserID {
		who = "the client's"
	}
	return ordem.Errorf(ordem.EInsufficientFunds, "%s available balance does not cover the %s of %s", who, fundsPurpose(action),
		need.StringFixed(money.Scale))
}

func fundsPurpose(action order.Action) string {
	switch action {
	case order.ActionAccept:
		return "hold"
	case order.ActionContest:
		return "contestation fee"
	}
	return "cancellation penalty"
}

type acceptRequest struct {
	// ProposalVersion names the proposal the caller accepts: it must
	// still be the latest.
	ProposalVersion *int `json:"proposal_version"`
}

func (s *Server) acceptInput(c *fiber.Ctx, a actionContext) (any, error) {
	var req acceptRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	if req.ProposalVersion == nil || *req.ProposalVersion < 1 {
		return nil, (fieldErrors{"proposal_version": "is required: the version of the proposal you accept"}).err()
	}
	return order.AcceptInput{Actor: a.actor, IfVersion: a.ifVersion, ProposalVersion: *req.ProposalVersion}, nil
}

type proposeRequest struct {
	Amount  *Money     `json:"amount"`
	DueDate *time.Time `json:"due_date"`
	Note    string     `json:"note"`
}

func (s *Server) proposeInput(c *fiber.Ctx, a actionContext) (any, error) {
	var req proposeRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	f := fieldErrors{}
	checkOrderAmount(f, "amount", req.Amount)
	checkMultiline(f, "note", req.Note, false, 2000)
	if req.DueDate != nil && !req.DueDate.After(s.now()) {
		f.add("due_date", "must be in the future")
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	return order.ProposeInput{Actor: a.actor, IfVersion: a.ifVersion, Amount: req.Amount.Decimal, DueDate: req.DueDate, Note: req.Note}, nil
}

type reasonRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) contestInput(c *fiber.Ctx, a actionContext) (any, error) {
	var req reasonRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	f := fieldErrors{}
	checkLine(f, "reason", req.Reason, true, 2000)
	if err := f.err(); err != nil {
		return nil, err
	}
	return order.ContestInput{Actor: a.actor, IfVersion: a.ifVersion, Reason: req.Reason}, nil
}

type cancelRequest struct {
	Reason string `json:"reason"`
	// ExpectedPenalty is the penalty the caller agreed to pay (the order's
	// cancel_penalty as they saw it).
	ExpectedPenalty *Money `json:"expected_penalty"`
}

// cancelInput: a cancellation never charges a penalty the caller did not
// agree to. Without expected_penalty the caller agreed to none (0.00),
// unless If-Match says they saw the order's current state, whose
// cancel_penalty it then is.
func (s *Server) cancelInput(c *fiber.Ctx, a actionContext) (any, error) {
	var req cancelRequest
	if err := decodeOptionalJSON(c, &req); err != nil {
		return nil, err
	}
	f := fieldErrors{}
	if a.actor.Role == ordem.RoleAdmin {
		checkReason(f, req.Reason)
	} else {
		checkLine(f, "reason", req.Reason, false, maxReason)
	}
	if req.ExpectedPenalty != nil && req.ExpectedPenalty.IsNegative() {
		f.add("expected_penalty", "must not be negative")
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	in := order.CancelInput{Actor: a.actor, IfVersion: a.ifVersion, Reason: req.Reason}
	switch {
	case req.ExpectedPenalty != nil:
		in.ExpectedPenalty = &req.ExpectedPenalty.Decimal
	case a.ifVersion == 0:
		zero := decimal.Zero
		in.ExpectedPenalty = &zero
	}
	return in, nil
}

type resolveRequest struct {
	RefundAmount *Money `json:"refund_amount"`
	Reason       string `json:"reason"`
}

func (s *Server) resolveInput(c *fiber.Ctx, a actionContext) (any, error) {
	var req resolveRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	f := fieldErrors{}
	checkRefund(f, req.RefundAmount)
	checkReason(f, req.Reason)
	if err := f.err(); err != nil {
		return nil, err
	}
	return order.ResolveInput{Actor: a.actor, IfVersion: a.ifVersion, RefundAmount: req.RefundAmount.Decimal, Reason: req.Reason}, nil
}

// checkRefund checks the refund of a ruling or a settlement offer; its
// upper bound, the order's amount, is the workflow's to check.
func checkRefund(f fieldErrors, refund *Money) {
	if refund == nil {
		f.add("refund_amount", "is required")
	} else if refund.IsNegative() {
		f.add("refund_amount", "must not be negative")
	}
}

type offerSettlementRequest struct {
	RefundAmount *Money `json:"refund_amount"`
	Note         string `json:"note"`
}

func (s *Server) offerSettlementInput(c *fiber.Ctx, a actionContext) (any, error) {
	var req offerSettlementRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	f := fieldErrors{}
	checkRefund(f, req.RefundAmount)
	checkMultiline(f, "note", req.Note, false, 2000)
	if err := f.err(); err != nil {
		return nil, err
	}
	return order.OfferSettlementInput{Actor: a.actor, IfVersion: a.ifVersion, RefundAmount: req.RefundAmount.Decimal, Note: req.Note}, nil
}

func (s *Server) acceptSettlementInput(c *fiber.Ctx, a actionContext) (any, error) {
	var req struct {
		OfferVersion *int `json:"offer_version"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	if req.OfferVersion == nil || *req.OfferVersion < 1 {
		return nil, (fieldErrors{"offer_version": "is required: the version of the settlement offer you accept"}).err()
	}
	return order.AcceptSettlementInput{Actor: a.actor, IfVersion: a.ifVersion, OfferVersion: *req.OfferVersion}, nil
}

func (s *Server) requestRulingInput(c *fiber.Ctx, a actionContext) (any, error) {
	var req reasonRequest
	if err := decodeOptionalJSON(c, &req); err != nil {
		return nil, err
	}
	f := fieldErrors{}
	checkLine(f, "reason", req.Reason, false, 2000)
	if err := f.err(); err != nil {
		return nil, err
	}
	return order.RequestRulingInput{Actor: a.actor, IfVersion: a.ifVersion, Reason: req.Reason}, nil
}

func (s *Server) revisionInput(c *fiber.Ctx, a actionContext) (any, error) {
	var req reasonRequest
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	f := fieldErrors{}
	checkMultiline(f, "reason", req.Reason, true, 2000)
	if err := f.err(); err != nil {
		return nil, err
	}
	return order.RequestRevisionInput{Actor: a.actor, IfVersion: a.ifVersion, Reason: req.Reason}, nil
}

func (s *Server) extendInput(c *fiber.Ctx, a actionContext) (any, error) {
	var req struct {
		Hours  *decimalString `json:"hours"`
		Reason string         `json:"reason"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return nil, err
	}
	f := fieldErrors{}
	if req.Hours == nil {
		f.add("hours", "is required")
	} else if !req.Hours.IsPositive() || req.Hours.GreaterThan(decimal.NewFromInt(720)) {
		f.add("hours", "must be greater than 0 and at most 720")
	}
	checkReason(f, req.Reason)
	if err := f.err(); err != nil {
		return nil, err
	}
	return order.ExtendDeadlineInput{Actor: a.actor, IfVersion: a.ifVersion, Hours: req.Hours.Decimal, Reason: req.Reason}, nil
}
