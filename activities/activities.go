// Package activities does the order workflow's I/O. Each transition of the
// transition table is one activity that, in ONE Postgres transaction,
// claims the step's idempotency key, posts the ledger legs, updates the
// orders read model, appends the timeline event and writes the parties'
// notifications. A retry, a crash after commit or a re-run finds its own
// claim and writes nothing twice.
package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/locale"
	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/internal/mail"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/secretbox"
	"github.com/ordem/ordem/internal/webhook"
	"github.com/ordem/ordem/workflows/order"
)

// Activities holds the dependencies of the order activities.
type Activities struct {
	Pool *pgxpool.Pool
	// AutoConfirmEnabled is AUTO_CONFIRM_JOB_ENABLED: whether a passed
	// confirmation deadline releases the funds or only alerts the admins.
	AutoConfirmEnabled bool
	// Evidence moves uploaded evidence from staging to its final key.
	Evidence EvidenceStore
	// Mail sends the e-mail outbox (SendEmail); nil logs each e-mail's
	// recipient and subject instead.
	Mail mail.Sender
	// Currency is the deployment's currency (CURRENCY) the texts sent to
	// users write amounts in; empty is BRL.
	Currency string
	// WebhookSecrets opens the sealed endpoint secrets that sign webhook
	// deliveries; without it a delivery waits (retries) unsent.
	WebhookSecrets *secretbox.Keyring
	// WebhookTargets is where deliveries may connect: the zero value
	// refuses loopback, private and http targets (production).
	WebhookTargets webhook.TargetPolicy
}

func (a *Activities) currency() string {
	if a.Currency == "" {
		return "BRL"
	}
	return a.Currency
}

// EvidenceStore is the part of the object store the activities use.
type EvidenceStore interface {
	// Promote moves an object from its staging key to its final key. It
	// succeeds when a retry finds the move already done, and wraps
	// storage.ErrNotFound when neither object exists.
	Promote(ctx context.Context, stagingKey, finalKey string) error
}

// Registry is where activities are registered (a Temporal worker, or the
// SDK test environment).
type Registry interface {
	RegisterActivityWithOptions(a interface{}, options activity.RegisterOptions)
}

// Register registers every order activity under its contract name.
func (a *Activities) Register(r Registry) {
	for name, fn := range map[string]any{
		order.ActivityCreateOrder:    a.CreateOrder,
		order.ActivityRecordProposal: a.RecordProposal,
		order.ActivityAcceptOrder:    a.AcceptOrder,
		order.ActivityDeliverOrder:   a.DeliverOrder,
		order.ActivityCancelOrder:    a.CancelOrder,
		order.ActivityConfirmOrder:   a.ConfirmOrder,
		order.ActivityAutoConfirm:    a.AutoConfirmOrder,
		order.ActivityContestOrder:   a.ContestOrder,
		order.ActivityAddEvidence:    a.AddEvidence,
		order.ActivityResolveDispute: a.ResolveDispute,
		order.ActivityExtendDeadline: a.ExtendDeadline,
		order.ActivityExpireOrder:    a.ExpireOrder,
		order.ActivitySendReminder:   a.SendReminder,
		order.ActivityRecordRefusal:  a.RecordRefusal,

		order.ActivityRecordSettlementOffer: a.RecordSettlementOffer,
		order.ActivityAcceptSettlement:      a.AcceptSettlement,
		order.ActivityQueueDispute:          a.QueueDispute,
		order.ActivityRequestRevision:       a.RequestRevision,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	a.registerOutbox(r)
}

// notice is an in-app notification to write with a step.
type notice struct {
	to     []int64 // user ids
	admins bool    // every live admin
	kind   string
	title  string
	body   string
}

// step is everything one transition writes.
type step struct {
	t          order.Transition
	ledgerKind string
	legs       []ledger.Leg
	data       map[string]any
	notices    []notice
	// writeOrder is false for steps that leave the read model alone.
	skipOrder bool
	// extra writes step-specific rows (proposal, evidence) in the same
	// transaction.
	extra func(ctx context.Context, tx pgx.Tx) error
}

// apply commits one step. A step already committed is not written again:
// its result is returned with Replayed set.
func (a *Activities) apply(ctx context.Context, s step) (order.TransitionResult, error) {
	var res order.TransitionResult
	err := postgres.InTx(ctx, a.Pool, func(tx pgx.Tx) error {
		claimed, err := claimStep(ctx, tx, s.t.OrderID, s.t.IdempotencyKey(), s.t.Action, s.t.Actor,
			s.t.From, s.t.Next.Status, false, s.data, s.t.At)
		if err != nil {
			return err
		}
		if claimed {
			if legs := nonZero(s.legs); len(legs) > 0 {
				_, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: s.t.IdempotencyKey(), Kind: s.ledgerKind,
					OrderID: s.t.OrderID, Legs: legs, Memo: s.t.Action})
				if err != nil {
					return err
				}
			}
			if !s.skipOrder {
				if err := writeOrder(ctx, tx, s.t); err != nil {
					return err
				}
			}
			if s.extra != nil {
				if err := s.extra(ctx, tx); err != nil {
					return err
				}
			}
			if err := a.writeNotices(ctx, tx, s.t.OrderID, s.notices, s.data, s.t.At); err != nil {
				return err
			}
			// The webhook outbox, in the same transaction: written once,
			// with the step.
			if err := writeStepEvent(ctx, tx, s); err != nil {
				return err
			}
		}
		res.Replayed = !claimed
		res.Balances, err = readBalances(ctx, tx, s.t.Next.ClientID, s.t.Next.ProviderID)
		return err
	})
	if err != nil {
		return order.TransitionResult{}, refusalOrError(ctx, err)
	}
	if res.Replayed {
		activity.GetLogger(ctx).Info("Step already committed; nothing written", "step", s.t.IdempotencyKey())
		return res, nil
	}
	logOperation(ctx, s)
	return res, nil
}

// logOperation writes the committed step's line to the order-operations
// file (LOG_DIR), and to the auto-confirmation file for what the
// deadline did: the lines the replaced system's operators grep.
func logOperation(ctx context.Context, s step) {
	legs := make([]string, 0, len(s.legs))
	for _, l := range nonZero(s.legs) {
		legs = append(legs, l.Account+" "+fixed(l.Amount))
	}
	logTransition(ctx, s.t, strings.Join(legs, ", "))
}

// logTransition writes one committed transition's line (see logOperation).
func logTransition(ctx context.Context, t order.Transition, legs string) {
	concerns := []logging.Concern{logging.OrderOperations}
	if strings.HasPrefix(t.Action, order.StepAutoConfirm) { // released, or held (auto_confirm_held)
		concerns = append(concerns, logging.AutoConfirmation)
	}
	activity.GetLogger(ctx).Info("order "+strconv.FormatInt(t.OrderID, 10)+": "+string(t.From)+" → "+string(t.Next.Status),
		logging.ConcernKey, logging.Concerns(concerns...), "order_id", t.OrderID, "action", t.Action,
		"from", string(t.From), "to", string(t.Next.Status), "actor", string(t.Actor.Role)+":"+strconv.FormatInt(t.Actor.UserID, 10),
		"amount", fixed(t.Next.Amount), "legs", legs, "step", t.IdempotencyKey())
}

// refusalOrError turns a domain refusal (insufficient funds, invalid
// input) into a non-retryable application error with a stable type; any
// other error is returned as is, so Temporal retries it.
func refusalOrError(ctx context.Context, err error) error {
	var e *ordem.Error
	if errors.As(err, &e) {
		return order.RefusalFrom(err)
	}
	if errors.Is(err, ledger.ErrInvalidPosting) {
		activity.GetLogger(ctx).Error("Posting refused by the ledger: the step cannot commit",
			logging.ConcernKey, logging.Concerns(logging.Critical), "error", err)
		// A bug, not an outage: retrying cannot help, and a retrying
		// transition would hold the order's lock for ever. The type is
		// not a refusal code, so the API answers 500 without details.
		return temporal.NewNonRetryableApplicationError(err.Error(), ordem.EInternal, err)
	}
	return err
}

func nonZero(legs []ledger.Leg) []ledger.Leg {
	out := make([]ledger.Leg, 0, len(legs))
	for _, l := range legs {
		if !l.Amount.IsZero() {
			out = append(out, l)
		}
	}
	return out
}

// claimStep appends the timeline event whose step key is the step's
// idempotency claim; it reports false when the step was committed before.
func claimStep(ctx context.Context, tx pgx.Tx, orderID int64, key, action string, actor order.Actor,
	from, to order.Status, refused bool, data map[string]any, at time.Time) (bool, error) {
	payload, err := json.Marshal(data)
	if err != nil {
		return false, fmt.Errorf("encode event data: %w", err)
	}
	var actorID *int64
	if actor.UserID != 0 {
		actorID = &actor.UserID
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO order_events (order_id, step_key, action, actor_id, actor_role, from_status, to_status, refused, data, created_at)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), $8, $9, $10)
		ON CONFLICT (step_key) DO NOTHING`,
		orderID, key, action, actorID, string(actor.Role), string(from), string(to), refused, payload, at)
	if err != nil {
		return false, fmt.Errorf("append order event %s: %w", key, err)
	}
	return tag.RowsAffected() == 1, nil
}

// writeOrder writes the order's state after the step to the read model.
func writeOrder(ctx context.Context, tx pgx.Tx, t order.Transition) error {
	s := t.Next
	var (
		contestReason, cancelReason, resolutionReason, cancelledByRole *string
		cancelledBy                                                    *int64
	)
	reason := t.Reason
	switch order.Action(t.Action) {
	case order.ActionContest:
		contestReason = &reason
	case order.ActionCancel:
		cancelReason = &reason
		role := string(t.Actor.Role)
		cancelledByRole = &role
		cancelledBy = &t.Actor.UserID
	case order.ActionResolve, order.ActionAcceptSettlement:
		resolutionReason = &reason
	}
	var (
		settlementVersion int
		settlementRefund  *decimal.Decimal
		settlementBy      *int64
		settlementRole    *string
	)
	if o := s.Settlement; o != nil {
		settlementVersion, settlementRefund, settlementBy = o.Version, &o.RefundAmount, &o.OfferedBy
		role := string(o.Role)
		settlementRole = &role
	}
	var refund, penalty *decimal.Decimal
	refund, penalty = s.Outcome.Refund, s.Outcome.Penalty
	tag, err := tx.Exec(ctx, `
		UPDATE orders SET
		    status = $2, amount = $3, due_date = $4, proposal_version = $5, last_proposed_by = $6,
		    proposal_expires_at = $7, platform_revenue = $8, provider_net = $9, refund_amount = $10,
		    penalty_amount = $11, contest_fee_held = $12, accepted_at = $13, delivered_at = $14,
		    confirm_deadline = $15, auto_confirm_held = $16, auto_confirmed = $17, contested_at = $18,
		    evidence_count = $19, extensions = $20, closed_at = $21, updated_at = $22,
		    contest_reason = coalesce($23, contest_reason), cancel_reason = coalesce($24, cancel_reason),
		    resolution_reason = coalesce($25, resolution_reason), cancelled_by = coalesce($26, cancelled_by),
		    cancelled_by_role = coalesce($27, cancelled_by_role),
		    -- 0: a step scheduled by a workflow from before versions existed.
		    version = CASE WHEN $28 = 0 THEN version + 1 ELSE $28 END,
		    negotiation_ends_at = $29, dispute_queued_at = $30, settlement_version = $31,
		    resolved_by = NULLIF($32, ''), settlement_refund = $33, settlement_offered_by = $34,
		    settlement_offered_role = $35, client_offers = $36, provider_offers = $37, revision_count = $38
		WHERE id = $1`,
		s.OrderID, string(s.Status), s.Amount, s.DueDate, s.ProposalVersion, s.LastProposedBy,
		s.ProposalExpiresAt, s.Outcome.PlatformRevenue, s.Outcome.ProviderNet, refund,
		penalty, s.ContestFeeHeld, s.AcceptedAt, s.DeliveredAt,
		s.ConfirmDeadline, s.AutoConfirmHeld, s.AutoConfirmed, s.ContestedAt,
		s.EvidenceCount, s.Extensions, s.ClosedAt, s.UpdatedAt,
		contestReason, cancelReason, resolutionReason, nullID(cancelledBy), cancelledByRole, s.Version,
		s.NegotiationEndsAt, s.QueuedAt(), settlementVersion, s.ResolvedBy, settlementRefund, settlementBy,
		settlementRole, s.ClientOffers, s.ProviderOffers, s.Revisions)
	if err != nil {
		return fmt.Errorf("update order %d: %w", s.OrderID, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("update order %d: no such order", s.OrderID)
	}
	return nil
}

func nullID(id *int64) *int64 {
	if id == nil || *id == 0 {
		return nil
	}
	return id
}

// writeNotices writes each notice to its recipients' inboxes, and to
// their e-mail when its kind goes out by e-mail, in each recipient's
// language, with amounts in the deployment's currency and times in the
// recipient's zone (the templates of internal/locale, filled from the
// step's data). A kind without templates keeps the notice's own words.
func (a *Activities) writeNotices(ctx context.Context, tx pgx.Tx, orderID int64, notices []notice, data map[string]any, at time.Time) error {
	payload, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode notification data: %w", err)
	}
	var vars map[string]any
	for _, n := range notices {
		if vars == nil && locale.Has(n.kind) {
			if vars, err = noticeVars(ctx, tx, orderID, data); err != nil {
				return err
			}
		}
		// The recipients: the users named (deleted or not, as before) and,
		// for admins, every live admin; each once.
		rows, err := tx.Query(ctx, `
			SELECT id, locale, time_zone FROM users
			WHERE id = ANY($1::bigint[]) OR ($2 AND role = 'admin' AND deleted_at IS NULL) ORDER BY id`, n.to, n.admins)
		if err != nil {
			return fmt.Errorf("read recipients of %s: %w", n.kind, err)
		}
		type text struct{ title, body string }
		var (
			uid        int64
			lang, zone string
			texts      []text
			to         = map[text][]int64{}
		)
		_, err = pgx.ForEachRow(rows, []any{&uid, &lang, &zone}, func() error {
			x := text{n.title, n.body}
			title, body, ok, err := locale.Texts{Locale: lang, TimeZone: zone, Currency: a.currency()}.Render(n.kind, vars)
			if err != nil {
				return err
			}
			if ok {
				x = text{title, body}
			}
			if _, seen := to[x]; !seen {
				texts = append(texts, x)
			}
			to[x] = append(to[x], uid)
			return nil
		})
		if err != nil {
			return fmt.Errorf("render notification %s: %w", n.kind, err)
		}
		// One row per recipient, written per distinct text.
		for _, x := range texts {
			_, err := tx.Exec(ctx, `
				INSERT INTO notifications (user_id, order_id, kind, title, body, data, created_at)
				SELECT u, $2, $3, $4, $5, $6, $7 FROM unnest($1::bigint[]) AS u`,
				to[x], orderID, n.kind, x.title, x.body, payload, at)
			if err != nil {
				return fmt.Errorf("write notification %s: %w", n.kind, err)
			}
			if err := writeEmails(ctx, tx, orderID, notice{to: to[x], kind: n.kind, title: x.title, body: x.body}, at); err != nil {
				return err
			}
		}
	}
	return nil
}

// noticeVars are what the texts may quote: the step's data, the order's
// id and title.
func noticeVars(ctx context.Context, tx pgx.Tx, orderID int64, data map[string]any) (map[string]any, error) {
	vars := make(map[string]any, len(data)+2)
	for k, v := range data {
		vars[k] = v
	}
	var title string
	err := tx.QueryRow(ctx, `SELECT title FROM orders WHERE id = $1`, orderID).Scan(&title)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("read order %d title: %w", orderID, err)
	}
	vars["order_id"], vars["order_title"] = strconv.FormatInt(orderID, 10), title
	return vars, nil
}

// readBalances reads the parties' balances inside the step's transaction.
func readBalances(ctx context.Context, tx pgx.Tx, clientID, providerID int64) (order.Balances, error) {
	codes := []string{
		ledger.UserAccount(clientID, ledger.Available), ledger.UserAccount(clientID, ledger.Blocked),
		ledger.UserAccount(providerID, ledger.Available), ledger.UserAccount(providerID, ledger.Blocked),
		ledger.RevenueAccount,
	}
	// ledger.Balances reads the view that adds a platform account's
	// shards; ledger_accounts.balance alone is revenue's first shard.
	got, err := ledger.Balances(ctx, tx, codes...)
	if err != nil {
		return order.Balances{}, err
	}
	return order.Balances{
		ClientAvailable:   got[codes[0]],
		ClientBlocked:     got[codes[1]],
		ProviderAvailable: got[codes[2]],
		ProviderBlocked:   got[codes[3]],
		PlatformRevenue:   got[codes[4]],
	}, nil
}

func fixed(d decimal.Decimal) string { return d.StringFixed(2) }
