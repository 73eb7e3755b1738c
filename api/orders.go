package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/accounts"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/internal/orders"
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

// orderRow is an order as read: how the API shows it, and the state the
// rules (Permit, AllowedActions, CancelTerms) are checked against, both
// from the one row mapping of internal/orders.
type orderRow struct {
	Order
	state order.State
}

// newOrderRow presents a row (what depends on the caller is filled by
// present).
func newOrderRow(r orders.Row) orderRow {
	s := r.State
	o := Order{ID: id(s.OrderID), WorkflowID: order.WorkflowID(s.OrderID), ClientID: id(s.ClientID),
		ProviderID: id(s.ProviderID), Title: s.Title, Description: s.Description, Status: string(s.Status),
		Amount: M(s.Amount), DueDate: s.DueDate, ProposalVersion: s.ProposalVersion, LastProposedBy: id(s.LastProposedBy),
		ProposalExpiresAt: s.ProposalExpiresAt, Terms: termsOf(s.Terms),
		Outcome:        Outcome{PlatformRevenue: M(s.Outcome.PlatformRevenue), ProviderNet: M(s.Outcome.ProviderNet)},
		ContestFeeHeld: M(s.ContestFeeHeld), AcceptedAt: s.AcceptedAt, DeliveredAt: s.DeliveredAt,
		ConfirmDeadline: s.ConfirmDeadline, AutoConfirmHeld: s.AutoConfirmHeld, AutoConfirmed: s.AutoConfirmed,
		ContestedAt: s.ContestedAt, ContestReason: r.ContestReason, EvidenceCount: s.EvidenceCount, Extensions: s.Extensions,
		CancelledByRole: r.CancelledByRole, CancelReason: r.CancelReason, ResolutionReason: r.ResolutionReason,
		NegotiationEndsAt: s.NegotiationEndsAt, DisputeQueuedAt: s.DisputeQueuedAt,
		ClientOffers: s.ClientOffers, ProviderOffers: s.ProviderOffers, RevisionCount: s.Revisions,
		ClosedAt: s.ClosedAt, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, Version: s.Version}
	o.Outcome.Refund, o.Outcome.Penalty = optionalM(s.Outcome.Refund), optionalM(s.Outcome.Penalty)
	if s.ResolvedBy != "" {
		by := s.ResolvedBy
		o.ResolvedBy = &by
	}
	if off := s.Settlement; off != nil {
		o.Settlement = &SettlementOffer{Version: off.Version, OfferedBy: id(off.OfferedBy), OfferedRole: off.Role,
			RefundAmount: M(off.RefundAmount)}
	}
	return orderRow{Order: o, state: s}
}

func termsOf(t order.Terms) Terms {
	return Terms{PlatformFeePercentage: t.PlatformFeePercentage.String(), ContestationFee: M(t.ContestationFee),
		CancellationFeePercentage: t.CancellationFeePercentage.String(),
		ConfirmationDeadlineHours: t.ConfirmationDeadlineHours.String(), ProposalExpiryHours: t.ProposalExpiryHours.String(),
		ConfirmationReminderHours: t.ConfirmationReminderHours.String(), DisputeSLAHours: t.DisputeSLAHours.String(),
		DisputeNegotiationHours: t.DisputeNegotiationHours.String(), MaxRevisions: t.MaxRevisions}
}

// optionalM is an optional amount as the API shows it.
func optionalM(d *decimal.Decimal) *Money {
	if d == nil {
		return nil
	}
	m := M(*d)
	return &m
}

func actorOf(p *principal) order.Actor { return order.Actor{UserID: p.ID, Role: p.Role} }

// requestActor is the actor of an action asked for by request c: the
// caller, with the request's id for the action's audit row.
func requestActor(c *fiber.Ctx) order.Actor {
	a := actorOf(caller(c))
	a.RequestID = requestID(c)
	return a
}

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
	r, err := orders.Get(ctx, s.Pool, orderID, orders.Viewer{Role: p.Role, UserID: p.ID})
	if err != nil {
		return orderRow{}, err
	}
	return newOrderRow(r), nil
}

// pathOrder reads the order the path's :id names, if the caller may see it.
func (s *Server) pathOrder(c *fiber.Ctx) (int64, orderRow, error) {
	orderID, err := pathID(c, "id")
	if err != nil {
		return 0, orderRow{}, err
	}
	o, err := s.loadOrder(c.UserContext(), orderID, caller(c))
	return orderID, o, err
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
	list, err := orders.Proposals(ctx, s.Pool, orderID)
	if err != nil {
		return nil, err
	}
	out := make([]Proposal, len(list))
	for i, p := range list {
		out[i] = Proposal{Version: p.Version, ProposedBy: id(p.ProposedBy), ProposerRole: p.ProposerRole,
			Amount: M(p.Amount), PreviousAmount: optionalM(p.PreviousAmount), DueDate: p.DueDate, Note: p.Note,
			CreatedAt: p.CreatedAt}
	}
	return out, nil
}

func (s *Server) revisions(ctx context.Context, orderID int64) ([]Revision, error) {
	list, err := orders.Revisions(ctx, s.Pool, orderID)
	if err != nil {
		return nil, err
	}
	out := make([]Revision, len(list))
	for i, r := range list {
		out[i] = Revision{Number: r.Number, Reason: r.Reason, DeliveredAt: r.DeliveredAt, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

func (s *Server) settlementOffers(ctx context.Context, orderID int64) ([]SettlementOffer, error) {
	list, err := orders.SettlementOffers(ctx, s.Pool, orderID)
	if err != nil {
		return nil, err
	}
	out := make([]SettlementOffer, len(list))
	for i, o := range list {
		out[i] = SettlementOffer{Version: o.Version, OfferedBy: id(o.OfferedBy), OfferedRole: o.OfferedRole,
			RefundAmount: M(o.RefundAmount), PreviousRefund: optionalM(o.PreviousRefund), Note: o.Note, CreatedAt: o.CreatedAt}
	}
	return out, nil
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
		active, err := accounts.ActiveAs(c.UserContext(), s.Pool, providerID, ordem.RoleProvider, false)
		if err != nil {
			return err
		}
		if !active {
			f.add("provider_id", "is not an active provider")
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
		var err error
		if orderID, err = orders.NextID(ctx, s.Pool); err != nil {
			return err
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
		orderID, o, err := s.pathOrder(c)
		if err != nil {
			return err
		}
		ctx := c.UserContext()
		ifVersion, err := parseIfMatch(c)
		if err != nil {
			return err
		}
		arg, err := input(c, actionContext{actor: requestActor(c), ifVersion: ifVersion})
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
		return fmt.Errorf("send %s to %s: %w", opts.UpdateName, opts.WorkflowID, err)
	}
	var st order.State
	if err := handle.Get(ctx, &st); err != nil {
		return fmt.Errorf("%s of %s: %w", opts.UpdateName, opts.WorkflowID, err)
	}
	return nil
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
