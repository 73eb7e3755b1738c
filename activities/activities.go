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
	"github.com/ordem/ordem/internal/accounts"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/locale"
	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/internal/mail"
	"github.com/ordem/ordem/internal/notifications"
	"github.com/ordem/ordem/internal/orders"
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

// notice is an in-app notification to write with a step; its kind is
// the step's (order.KindsOf).
type notice struct {
	to     []int64 // user ids
	admins bool    // every live admin
	title  string
	body   string
}

// step is everything one transition writes. What it is recorded as in
// the ledger, the notifications, the webhook events and the audit log
// comes from the transition table (order.KindsOf(t.Action)).
type step struct {
	t       order.Transition
	legs    []ledger.Leg
	data    map[string]any
	notices []notice
	// skipOrder is set for steps that leave the read model alone.
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
			kinds := order.KindsOf(s.t.Action)
			if legs := nonZero(s.legs); len(legs) > 0 {
				_, err := ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: s.t.IdempotencyKey(), Kind: kinds.Ledger,
					OrderID: s.t.OrderID, Legs: legs, Memo: s.t.Action})
				if err != nil {
					return err
				}
			}
			if !s.skipOrder {
				if err := orders.Update(ctx, tx, s.t.Next, reasonsOf(s.t)); err != nil {
					return err
				}
			}
			if s.extra != nil {
				if err := s.extra(ctx, tx); err != nil {
					return err
				}
			}
			if err := a.writeNotices(ctx, tx, s.t.OrderID, kinds, s.notices, s.data, s.t.At); err != nil {
				return err
			}
			// The webhook outbox, in the same transaction: written once,
			// with the step.
			if err := writeStepEvents(ctx, tx, s.t.IdempotencyKey(), s.t.OrderID, kinds, orderEventData(s.t, s.data), s.t.At); err != nil {
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
	return orders.AppendEvent(ctx, tx, orderID, orders.Event{StepKey: key, Action: action, Actor: actor,
		From: from, To: to, Refused: refused, Data: payload, CreatedAt: at})
}

// reasonsOf is what the step's reason is kept as on the order's row: the
// contest's, the cancellation's (with who cancelled) or the ruling's.
func reasonsOf(t order.Transition) orders.Reasons {
	reason := t.Reason
	switch order.Action(t.Action) {
	case order.ActionContest:
		return orders.Reasons{ContestReason: &reason}
	case order.ActionCancel:
		role := string(t.Actor.Role)
		return orders.Reasons{CancelReason: &reason, CancelledBy: &t.Actor.UserID, CancelledByRole: &role}
	case order.ActionResolve, order.ActionAcceptSettlement:
		return orders.Reasons{ResolutionReason: &reason}
	}
	return orders.Reasons{}
}

// writeNotices writes each notice to its recipients' inboxes, and to
// their e-mail when its kind goes out by e-mail, in each recipient's
// language, with amounts in the deployment's currency and times in the
// recipient's zone (the templates of internal/locale, filled from the
// step's data). A kind without templates keeps the notice's own words.
func (a *Activities) writeNotices(ctx context.Context, tx pgx.Tx, orderID int64, kinds order.Kinds, notices []notice,
	data map[string]any, at time.Time) error {
	payload, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode notification data: %w", err)
	}
	var vars map[string]any
	for _, n := range notices {
		if vars == nil && locale.Has(kinds.Notification) {
			if vars, err = noticeVars(ctx, tx, orderID, data); err != nil {
				return err
			}
		}
		// The recipients: the users named (deleted or not, as before) and,
		// for admins, every live admin; each once.
		recipients, err := accounts.Recipients(ctx, tx, n.to, n.admins)
		if err != nil {
			return fmt.Errorf("notification %s: %w", kinds.Notification, err)
		}
		type text struct{ title, body string }
		var (
			texts []text
			to    = map[text][]int64{}
		)
		for _, r := range recipients {
			x := text{n.title, n.body}
			title, body, ok, err := locale.Texts{Locale: r.Locale, TimeZone: r.TimeZone, Currency: a.currency()}.Render(kinds.Notification, vars)
			if err != nil {
				return fmt.Errorf("render notification %s: %w", kinds.Notification, err)
			}
			if ok {
				x = text{title, body}
			}
			if _, seen := to[x]; !seen {
				texts = append(texts, x)
			}
			to[x] = append(to[x], r.ID)
		}
		// One row per recipient, written per distinct text.
		for _, x := range texts {
			if err := notifications.Write(ctx, tx, notifications.Notice{UserIDs: to[x], OrderID: orderID,
				Kind: kinds.Notification, Title: x.title, Body: x.body, Data: payload, At: at}); err != nil {
				return err
			}
			if err := writeEmails(ctx, tx, orderID, kinds, notice{to: to[x], title: x.title, body: x.body}, at); err != nil {
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
	o, err := orders.Summarize(ctx, tx, orderID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	vars["order_id"], vars["order_title"] = strconv.FormatInt(orderID, 10), o.Title
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
