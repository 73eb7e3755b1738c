package order

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/money"
)

// activityOptions: a transition is one short Postgres transaction. Business
// refusals are non-retryable; infrastructure errors retry for ever with a
// capped backoff, so a database outage pauses orders instead of failing
// them.
var activityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
		MaximumAttempts:    0, // unlimited
	},
}

// Changes to the commands an order produces, for workflow.GetVersion:
// orders started before a change replay its old branch.
const (
	// changeLocalTransitions (version 1): transitions run as local
	// activities (a regular activity takes over an outage), and search
	// attributes are upserted only when a value changes.
	changeLocalTransitions = "local-transitions"
)

// localActivityOptions: a transition first runs inside the workflow task
// that asked for it, saving the activity's round trip through the task
// queue and three history events per step. Its retries stay short: an
// outage then goes to the regular activity, which retries for ever
// without writing history meanwhile (see execute).
var localActivityOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout:    10 * time.Second,
	ScheduleToCloseTimeout: 20 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    5 * time.Second,
	},
}

// Workflow is one order, from creation to a terminal state (spec §3).
func Workflow(ctx workflow.Context, in Input) (State, error) {
	w := newOrder(ctx, in)
	w.local = workflow.GetVersion(ctx, changeLocalTransitions, workflow.DefaultVersion, 1) >= 1
	if err := w.registerHandlers(ctx); err != nil {
		return State{}, err
	}
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	if in.Continued == nil {
		if err := w.create(ctx); err != nil {
			return w.st, err
		}
	}
	if w.run(ctx) {
		return w.st, w.continueAsNew(ctx)
	}
	// Let every accepted update and signal finish (late ones are refused
	// and recorded) before the workflow completes.
	if err := workflow.Await(ctx, w.idle(ctx)); err != nil {
		return w.st, err
	}
	return w.st, nil
}

type orderWorkflow struct {
	st State
	// mu lets one transition run at a time: handlers and timers that move
	// money never interleave.
	mu workflow.Mutex
	// locked is set while a transition holds mu.
	locked bool
	// pending counts user actions accepted but not finished. Timers wait
	// for it to reach zero, so an action accepted before a deadline wins
	// over the deadline.
	pending int
	// createErr is set when creation was refused; the workflow then ends.
	createErr error
	// remindedFor is the deadline whose reminder was already handled.
	remindedFor time.Time
	slaReminded bool
	// refusals numbers the refused signals (their timeline step keys).
	refusals int
	// systemFailures counts consecutive failed timer transitions.
	systemFailures int
	// inFlight counts each actor's accepted updates still running, and
	// actors records their refused ones per action: the bounds of
	// MaxInFlightPerActor and FreeRefusals.
	inFlight map[string]int
	actors   map[string]ActorRecord
	// draining is set once the run decided to continue as new: new
	// updates are refused (the API retries them) while accepted ones
	// finish.
	draining bool
	// runs counts the runs before this one.
	runs int
	// local is set from changeLocalTransitions.
	local bool

	signalChannels  []workflow.ReceiveChannel
	signalsInFlight int
}

func newOrder(ctx workflow.Context, in Input) *orderWorkflow {
	w := &orderWorkflow{mu: workflow.NewMutex(ctx), inFlight: map[string]int{}, actors: map[string]ActorRecord{}}
	if c := in.Continued; c != nil {
		w.st = c.State
		w.remindedFor, w.slaReminded = c.RemindedFor, c.SLAReminded
		w.refusals, w.systemFailures, w.runs = c.SignalRefusals, c.SystemFailures, c.Runs+1
		for k, v := range c.Actors {
			w.actors[k] = v
		}
		return w
	}
	now := workflow.Now(ctx)
	w.st = State{
		OrderID:         in.OrderID,
		ClientID:        in.ClientID,
		ProviderID:      in.ProviderID,
		Title:           in.Title,
		Description:     in.Description,
		Status:          StatusNegotiating,
		Amount:          in.Amount,
		DueDate:         in.DueDate,
		ProposalVersion: 1,
		LastProposedBy:  in.ClientID,
		CreatedAt:       now,
		UpdatedAt:       now,
		ContestFeeHeld:  decimal.Zero,
		Outcome:         Outcome{PlatformRevenue: decimal.Zero, ProviderNet: decimal.Zero},
	}
	return w
}

// request is what every action input carries: who asks, and the version
// of the order they saw (0: none given).
type request interface {
	requester() (Actor, int)
}

func (in ProposeInput) requester() (Actor, int)        { return in.Actor, in.IfVersion }
func (in AcceptInput) requester() (Actor, int)         { return in.Actor, in.IfVersion }
func (in DeliverInput) requester() (Actor, int)        { return in.Actor, in.IfVersion }
func (in CancelInput) requester() (Actor, int)         { return in.Actor, in.IfVersion }
func (in ConfirmInput) requester() (Actor, int)        { return in.Actor, in.IfVersion }
func (in ContestInput) requester() (Actor, int)        { return in.Actor, in.IfVersion }
func (in AddEvidenceInput) requester() (Actor, int)    { return in.Actor, in.IfVersion }
func (in ResolveInput) requester() (Actor, int)        { return in.Actor, in.IfVersion }
func (in ExtendDeadlineInput) requester() (Actor, int) { return in.Actor, in.IfVersion }

// key names an actor in the workflow's per-actor bookkeeping.
func (a Actor) key() string { return string(a.Role) + ":" + strconv.FormatInt(a.UserID, 10) }

// handler is one action: its rules, what the actor expects to find, and
// its transition.
type handler[I request] struct {
	action Action
	// check is the transition table and the input: checked by the update
	// validator, and again once the transition lock is held.
	check func(w *orderWorkflow, in I, now time.Time) error
	// expect checks what the actor saw and agreed to (a proposal, a
	// penalty), beside the If-Match version every action may carry.
	// Checked under the lock; the validator checks it only when no
	// transition is running, since one that is may be about to produce
	// exactly the state the actor saw (its row is already committed).
	expect func(w *orderWorkflow, in I, now time.Time) error
	apply  func(w *orderWorkflow, ctx workflow.Context, in I) error
}

func (h handler[I]) expectations(w *orderWorkflow, in I, now time.Time) error {
	_, ifVersion := in.requester()
	if err := w.st.checkVersion(ifVersion); err != nil {
		return err
	}
	if h.expect != nil {
		return h.expect(w, in, now)
	}
	return nil
}

func register[I request](ctx workflow.Context, w *orderWorkflow, h handler[I]) error {
	recheck := func(in I) func(time.Time) error {
		return func(now time.Time) error {
			if err := h.check(w, in, now); err != nil {
				return err
			}
			return h.expectations(w, in, now)
		}
	}
	err := workflow.SetUpdateHandlerWithOptions(ctx, string(h.action),
		func(ctx workflow.Context, in I) (State, error) {
			actor, _ := in.requester()
			return w.perform(ctx, actor, h.action, true, recheck(in), func(ctx workflow.Context) error { return h.apply(w, ctx, in) })
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in I) error {
			if !w.st.Created {
				return Refusal(ordem.EInvalidTransition, "the order is still being created")
			}
			now := workflow.Now(ctx)
			actor, _ := in.requester()
			if err := w.admit(actor, h.action, now); err != nil {
				return err
			}
			if err := h.check(w, in, now); err != nil {
				return err
			}
			if w.locked {
				return nil
			}
			return h.expectations(w, in, now)
		}})
	if err != nil {
		return fmt.Errorf("register update %s: %w", h.action, err)
	}

	// The same action as a signal, for operators in the Web UI or CLI. A
	// refused signal changes nothing and is recorded in the timeline.
	ch := workflow.GetSignalChannel(ctx, string(h.action))
	w.signalChannels = append(w.signalChannels, ch)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var in I
			ch.Receive(ctx, &in)
			w.signalsInFlight++
			workflow.Go(ctx, func(ctx workflow.Context) {
				defer func() { w.signalsInFlight-- }()
				if err := workflow.Await(ctx, func() bool { return w.st.Created || w.createErr != nil }); err != nil {
					return
				}
				actor, _ := in.requester()
				_, err := w.perform(ctx, actor, h.action, false, recheck(in), func(ctx workflow.Context) error { return h.apply(w, ctx, in) })
				if err != nil {
					w.recordRefusal(ctx, h.action, actor, err)
				}
			})
		}
	})
	return nil
}

// admit is the validator's first question, before the action's own rules:
// may this actor have one more update accepted on this order now? An
// accepted update that is then refused writes history and counts towards
// Temporal's per-run update limit, so each actor gets a few of each
// action, then a cooldown that doubles with every further refusal (see
// FreeRefusals); their other actions are not held back.
func (w *orderWorkflow) admit(a Actor, action Action, now time.Time) error {
	if w.draining {
		return retryLater(ordem.EUnavailable, time.Second, "the order is being compacted; retry in a moment")
	}
	if w.inFlight[a.key()] >= MaxInFlightPerActor {
		return retryLater(ordem.ERateLimited, time.Second, "your previous actions on this order are still running; wait for them to finish")
	}
	rec := w.actors[refusalKey(a, action)]
	if rec.Refused < FreeRefusals {
		return nil
	}
	wait := min(RefusalCooldown<<min(rec.Refused-FreeRefusals, 20), MaxRefusalCooldown)
	if next := rec.LastRefusedAt.Add(wait); now.Before(next) {
		return retryLater(ordem.ERateLimited, next.Sub(now),
			"%d of your %s requests on this order were refused; try again after %s", rec.Refused,
			strings.ReplaceAll(string(action), "_", " "), next.UTC().Format(time.RFC3339))
	}
	return nil
}

// refusalKey names one actor's record of one action's refusals.
func refusalKey(a Actor, action Action) string { return a.key() + ":" + string(action) }

func (w *orderWorkflow) queuedSignals() int {
	n := 0
	for _, ch := range w.signalChannels {
		n += ch.Len()
	}
	return n
}

func (w *orderWorkflow) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (State, error) { return w.st, nil }); err != nil {
		return fmt.Errorf("register query: %w", err)
	}
	err := workflow.SetUpdateHandler(ctx, UpdateAwaitCreated, func(ctx workflow.Context) (State, error) {
		if err := workflow.Await(ctx, func() bool { return w.st.Created || w.createErr != nil }); err != nil {
			return State{}, err
		}
		return w.st, w.createErr
	})
	if err != nil {
		return fmt.Errorf("register update %s: %w", UpdateAwaitCreated, err)
	}
	return errors.Join(
		register(ctx, w, handler[ProposeInput]{action: ActionPropose,
			check: func(w *orderWorkflow, in ProposeInput, now time.Time) error {
				if err := w.st.Permit(ActionPropose, in.Actor, now); err != nil {
					return err
				}
				return in.Validate(now)
			}, apply: (*orderWorkflow).propose}),
		register(ctx, w, handler[AcceptInput]{action: ActionAccept,
			check: func(w *orderWorkflow, in AcceptInput, now time.Time) error {
				return w.st.Permit(ActionAccept, in.Actor, now)
			},
			expect: func(w *orderWorkflow, in AcceptInput, _ time.Time) error {
				return w.st.checkProposal(in.ProposalVersion)
			},
			apply: (*orderWorkflow).accept}),
		register(ctx, w, handler[DeliverInput]{action: ActionDeliver,
			check: func(w *orderWorkflow, in DeliverInput, now time.Time) error {
				return w.st.Permit(ActionDeliver, in.Actor, now)
			},
			apply: (*orderWorkflow).deliver}),
		register(ctx, w, handler[CancelInput]{action: ActionCancel,
			check: func(w *orderWorkflow, in CancelInput, now time.Time) error {
				if err := w.st.Permit(ActionCancel, in.Actor, now); err != nil {
					return err
				}
				return in.Validate()
			},
			expect: func(w *orderWorkflow, in CancelInput, now time.Time) error {
				return w.st.checkPenalty(in.Actor, in.ExpectedPenalty, now)
			},
			apply: (*orderWorkflow).cancel}),
		register(ctx, w, handler[ConfirmInput]{action: ActionConfirm,
			check: func(w *orderWorkflow, in ConfirmInput, now time.Time) error {
				return w.st.Permit(ActionConfirm, in.Actor, now)
			},
			apply: (*orderWorkflow).confirm}),
		register(ctx, w, handler[ContestInput]{action: ActionContest,
			check: func(w *orderWorkflow, in ContestInput, now time.Time) error {
				if err := w.st.Permit(ActionContest, in.Actor, now); err != nil {
					return err
				}
				return in.Validate()
			}, apply: (*orderWorkflow).contest}),
		register(ctx, w, handler[AddEvidenceInput]{action: ActionAddEvidence,
			check: func(w *orderWorkflow, in AddEvidenceInput, now time.Time) error {
				if err := w.st.Permit(ActionAddEvidence, in.Actor, now); err != nil {
					return err
				}
				return in.Validate()
			}, apply: (*orderWorkflow).addEvidence}),
		register(ctx, w, handler[ResolveInput]{action: ActionResolve,
			check: func(w *orderWorkflow, in ResolveInput, now time.Time) error {
				if err := w.st.Permit(ActionResolve, in.Actor, now); err != nil {
					return err
				}
				return in.Validate(w.st.Amount)
			}, apply: (*orderWorkflow).resolve}),
		register(ctx, w, handler[ExtendDeadlineInput]{action: ActionExtendDeadline,
			check: func(w *orderWorkflow, in ExtendDeadlineInput, now time.Time) error {
				if err := w.st.Permit(ActionExtendDeadline, in.Actor, now); err != nil {
					return err
				}
				return in.Validate()
			}, apply: (*orderWorkflow).extendDeadline}),
	)
}

// perform runs one accepted action under the transition lock. The rules are
// checked again once the lock is held, against the time the action was
// accepted: another transition may have moved the order meanwhile, but a
// deadline that passed while it waited for the lock does not refuse it.
// An update (not an operator's signal) that ends refused counts against
// its actor (see admit).
func (w *orderWorkflow) perform(ctx workflow.Context, actor Actor, action Action, update bool, check func(time.Time) error,
	apply func(workflow.Context) error) (State, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	acceptedAt := workflow.Now(ctx)
	w.pending++
	defer func() { w.pending-- }()
	key := actor.key()
	if update {
		// Counted before the first blocking call, so the validator of an
		// update delivered right after this one already sees it.
		w.inFlight[key]++
		defer func() { w.inFlight[key]-- }()
	}
	st, err := w.performLocked(ctx, acceptedAt, check, apply)
	if err != nil && update && RefusalCode(err) != "" {
		rk := refusalKey(actor, action)
		rec := w.actors[rk]
		rec.Refused++
		rec.LastRefusedAt = workflow.Now(ctx)
		w.actors[rk] = rec
	}
	return st, err
}

func (w *orderWorkflow) performLocked(ctx workflow.Context, acceptedAt time.Time, check func(time.Time) error, apply func(workflow.Context) error) (State, error) {
	if err := workflow.Await(ctx, func() bool { return w.st.Created || w.createErr != nil }); err != nil {
		return State{}, err
	}
	if w.createErr != nil {
		return State{}, w.createErr
	}
	if err := w.lock(ctx); err != nil {
		return State{}, err
	}
	defer w.unlock()
	if err := check(acceptedAt); err != nil {
		return State{}, err
	}
	if err := apply(ctx); err != nil {
		return State{}, err
	}
	return w.st, nil
}

func (w *orderWorkflow) lock(ctx workflow.Context) error {
	if err := w.mu.Lock(ctx); err != nil {
		return err
	}
	w.locked = true
	return nil
}

func (w *orderWorkflow) unlock() {
	w.locked = false
	w.mu.Unlock()
}

// system runs a timer-driven transition: after every accepted user action
// has finished, under the transition lock, and only if still due. A
// transition that fails for good (its activity refused it: a broken
// invariant, never a routine outcome) is retried after a growing pause,
// unless the order moves meanwhile, so it never spins.
func (w *orderWorkflow) system(ctx workflow.Context, stillDue func() bool, apply func(workflow.Context) error) {
	if err := workflow.Await(ctx, func() bool { return w.pending == 0 }); err != nil {
		return
	}
	if err := w.lock(ctx); err != nil {
		return
	}
	if !stillDue() {
		w.unlock()
		return
	}
	err := apply(ctx)
	w.unlock()
	if err == nil {
		w.systemFailures = 0
		return
	}
	w.systemFailures++
	pause := systemRetryBase << min(w.systemFailures-1, 9)
	pause = min(pause, systemRetryMax)
	workflow.GetLogger(ctx).Error("Timer transition failed; retrying later", "order_id", w.st.OrderID,
		"attempt", w.systemFailures, "retry_in", pause, "error", err)
	w.sleepUntil(ctx, workflow.Now(ctx).Add(pause), func() bool { return !stillDue() })
}

// Pauses between attempts of a timer transition that keeps failing.
const (
	systemRetryBase = time.Minute
	systemRetryMax  = 6 * time.Hour
)

// commit makes next the order's state once its activity has committed.
// The search attributes follow it: since changeLocalTransitions only when
// a value changed (each upsert is a visibility write).
func (w *orderWorkflow) commit(ctx workflow.Context, next State) {
	prev := w.st.Status
	deadlineMoved := !sameTime(w.st.ConfirmDeadline, next.ConfirmDeadline)
	w.st = next
	if !w.local || prev != next.Status || deadlineMoved {
		sa := []temporal.SearchAttributeUpdate{SearchOrderStatus.ValueSet(string(next.Status))}
		if next.ConfirmDeadline != nil {
			sa = append(sa, SearchConfirmDeadline.ValueSet(*next.ConfirmDeadline))
		}
		if err := workflow.UpsertTypedSearchAttributes(ctx, sa...); err != nil {
			workflow.GetLogger(ctx).Warn("Search attribute upsert failed", "error", err)
		}
	}
	if prev != next.Status {
		workflow.GetLogger(ctx).Info("Order transition", "order_id", next.OrderID, "from", prev, "to", next.Status)
	}
}

// transition builds the activity input for a step and the state after it
// (one version more).
func (w *orderWorkflow) transition(ctx workflow.Context, action Action, step string, actor Actor, reason string, next State) Transition {
	now := workflow.Now(ctx)
	next.UpdatedAt = now
	next.Version = w.st.Version + 1
	return Transition{OrderID: w.st.OrderID, Step: step, Action: string(action), Actor: actor, At: now,
		From: w.st.Status, Next: next, Reason: reason}
}

func (w *orderWorkflow) exec(ctx workflow.Context, activity string, in any) error {
	var res TransitionResult
	return w.execute(ctx, activity, in, &res)
}

// execute runs a step's activity. Since changeLocalTransitions it runs as
// a local activity first; when that fails for anything but a refusal (the
// database is down, the step timed out) the same step runs as a regular
// activity, whose retries wait out the outage without growing the
// history. Steps are idempotent by their key, so a local attempt that did
// commit makes the regular one a replay. Evidence moves files and always
// runs as a regular activity.
func (w *orderWorkflow) execute(ctx workflow.Context, activity string, in, out any) error {
	if !w.local || activity == ActivityAddEvidence {
		return workflow.ExecuteActivity(ctx, activity, in).Get(ctx, out)
	}
	err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, localActivityOptions), activity, in).Get(ctx, out)
	var appErr *temporal.ApplicationError
	if err == nil || (errors.As(err, &appErr) && appErr.NonRetryable()) {
		return err
	}
	workflow.GetLogger(ctx).Warn("Step failed as a local activity; retrying it as an activity", "order_id", w.st.OrderID,
		"activity", activity, "error", err)
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, activityOptions), activity, in).Get(ctx, out)
}

func (w *orderWorkflow) create(ctx workflow.Context) error {
	// The API starts orders with their search attributes; a workflow
	// started without them (by hand) sets them here.
	if _, ok := workflow.GetTypedSearchAttributes(ctx).GetInt64(SearchOrderID); !ok || !w.local {
		err := workflow.UpsertTypedSearchAttributes(ctx,
			SearchOrderID.ValueSet(w.st.OrderID), SearchOrderStatus.ValueSet(string(w.st.Status)),
			SearchClientID.ValueSet(w.st.ClientID), SearchProviderID.ValueSet(w.st.ProviderID))
		if err != nil {
			workflow.GetLogger(ctx).Warn("Search attribute upsert failed", "error", err)
		}
	}
	var res CreateOrderResult
	in := CreateOrderInput{Order: Input{OrderID: w.st.OrderID, ClientID: w.st.ClientID, ProviderID: w.st.ProviderID,
		Title: w.st.Title, Description: w.st.Description, Amount: w.st.Amount, DueDate: w.st.DueDate}, At: w.st.CreatedAt}
	if err := w.execute(ctx, ActivityCreateOrder, in, &res); err != nil {
		w.createErr = err
		return err
	}
	w.st.Terms = res.Terms
	w.st.ProposalExpiresAt = w.st.CreatedAt.Add(Hours(res.Terms.ProposalExpiryHours))
	w.st.Created = true
	w.st.Version = 1
	return nil
}

// run drives the timers until the order reaches a terminal state, or
// until the server suggests continuing as new: then it returns true, with
// every timer cancelled, for the next run to start them again from the
// state.
func (w *orderWorkflow) run(ctx workflow.Context) bool {
	for !w.st.Status.Terminal() {
		if w.continueSuggested(ctx) {
			return true
		}
		status := w.st.Status
		statusChanged := func() bool { return w.st.Status != status }
		switch status {
		case StatusNegotiating:
			version := w.st.ProposalVersion
			expiresAt := w.st.ProposalExpiresAt
			if w.sleepUntil(ctx, expiresAt, w.or(ctx, func() bool { return statusChanged() || w.st.ProposalVersion != version })) {
				w.system(ctx, func() bool { return w.st.Status == StatusNegotiating && w.st.ProposalVersion == version }, w.expire)
			}
		case StatusDelivered:
			deadline := *w.st.ConfirmDeadline
			moved := func() bool { return statusChanged() || !w.st.ConfirmDeadline.Equal(deadline) || w.st.AutoConfirmHeld }
			if w.st.AutoConfirmHeld {
				_ = workflow.Await(ctx, w.or(ctx, func() bool { return statusChanged() || !w.st.AutoConfirmHeld }))
				continue
			}
			if remindAt := deadline.Add(-Hours(w.st.Terms.ConfirmationReminderHours)); w.remindedFor != deadline {
				if w.st.Terms.ConfirmationReminderHours.IsPositive() && workflow.Now(ctx).Before(remindAt) {
					if w.sleepUntil(ctx, remindAt, w.or(ctx, moved)) {
						w.system(ctx, func() bool { return !moved() }, func(ctx workflow.Context) error {
							return w.remind(ctx, ReminderConfirmation, "remind:"+deadline.UTC().Format("20060102T150405.000Z"), deadline)
						})
						w.remindedFor = deadline
					} else if moved() {
						w.remindedFor = deadline
					}
					// Otherwise the run is continuing as new: the next
					// one still owes this reminder.
					continue
				}
				w.remindedFor = deadline
			}
			if w.sleepUntil(ctx, deadline, w.or(ctx, moved)) {
				w.system(ctx, func() bool { return !moved() }, w.autoConfirm)
			}
		case StatusDisputed:
			if !w.slaReminded && w.st.ContestedAt != nil {
				due := w.st.ContestedAt.Add(Hours(w.st.Terms.DisputeSLAHours))
				if w.sleepUntil(ctx, due, w.or(ctx, statusChanged)) {
					w.system(ctx, func() bool { return !statusChanged() }, func(ctx workflow.Context) error {
						return w.remind(ctx, ReminderDisputeSLA, "dispute_sla", due)
					})
					w.slaReminded = true
				} else if statusChanged() {
					w.slaReminded = true
				}
				continue
			}
			_ = workflow.Await(ctx, w.or(ctx, statusChanged))
		default:
			_ = workflow.Await(ctx, w.or(ctx, statusChanged))
		}
	}
	return false
}

// continueSuggested reports whether the server suggests continuing as new
// (the run's history or its update count is getting large). The flag comes
// with each workflow task and is recorded in history, so replay sees it too.
func (w *orderWorkflow) continueSuggested(ctx workflow.Context) bool {
	return workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// or wakes a wait of the run loop when changed holds or when the server
// suggests continuing as new.
func (w *orderWorkflow) or(ctx workflow.Context, changed func() bool) func() bool {
	return func() bool { return changed() || w.continueSuggested(ctx) }
}

// idle holds once no accepted update or signal is left to finish.
func (w *orderWorkflow) idle(ctx workflow.Context) func() bool {
	return func() bool {
		return workflow.AllHandlersFinished(ctx) && w.signalsInFlight == 0 && w.queuedSignals() == 0
	}
}

// continueAsNew ends this run and starts the next with the order's whole
// state. New updates are refused meanwhile (the API retries them; updates
// the server had not yet delivered go to the next run by themselves) and
// the accepted ones finish first: an accepted update cannot move runs.
func (w *orderWorkflow) continueAsNew(ctx workflow.Context) error {
	w.draining = true
	if err := workflow.Await(ctx, w.idle(ctx)); err != nil {
		return err
	}
	if w.st.Status.Terminal() {
		// An action that finished while draining closed the order.
		return nil
	}
	actors := make(map[string]ActorRecord, len(w.actors))
	for k, v := range w.actors {
		actors[k] = v
	}
	workflow.GetLogger(ctx).Info("Order continues as new", "order_id", w.st.OrderID, "run", w.runs+1,
		"history_events", workflow.GetInfo(ctx).GetCurrentHistoryLength())
	return workflow.NewContinueAsNewError(ctx, WorkflowName, Input{
		OrderID: w.st.OrderID, ClientID: w.st.ClientID, ProviderID: w.st.ProviderID, Title: w.st.Title,
		Description: w.st.Description, Amount: w.st.Amount, DueDate: w.st.DueDate,
		Continued: &Continuation{State: w.st, RemindedFor: w.remindedFor, SLAReminded: w.slaReminded,
			SignalRefusals: w.refusals, SystemFailures: w.systemFailures, Actors: actors, Runs: w.runs},
	})
}

// sleepUntil waits until t or until changed() holds; it reports whether
// the time came with nothing changed. A timer made moot by a change is
// cancelled, so it never fires into the history later.
func (w *orderWorkflow) sleepUntil(ctx workflow.Context, t time.Time, changed func() bool) bool {
	d := t.Sub(workflow.Now(ctx))
	if d <= 0 {
		return !changed()
	}
	tctx, cancel := workflow.WithCancel(ctx)
	timer := workflow.NewTimer(tctx, d)
	if err := workflow.Await(ctx, func() bool { return timer.IsReady() || changed() }); err != nil {
		cancel()
		return false
	}
	if !timer.IsReady() {
		cancel()
		return false
	}
	return timer.Get(ctx, nil) == nil && !changed()
}

func (w *orderWorkflow) propose(ctx workflow.Context, in ProposeInput) error {
	now := workflow.Now(ctx)
	next := w.st
	next.ProposalVersion++
	next.Amount = in.Amount
	if in.DueDate != nil {
		next.DueDate = in.DueDate
	}
	next.LastProposedBy = in.Actor.UserID
	next.ProposalExpiresAt = now.Add(Hours(w.st.Terms.ProposalExpiryHours))
	t := w.transition(ctx, ActionPropose, fmt.Sprintf("propose:v%d", next.ProposalVersion), in.Actor, in.Note, next)
	err := w.exec(ctx, ActivityRecordProposal, ProposalInput{Transition: t, Version: next.ProposalVersion,
		Amount: in.Amount, PreviousAmount: w.st.Amount, DueDate: next.DueDate, PreviousDueDate: w.st.DueDate})
	if err != nil {
		return err
	}
	w.commit(ctx, t.Next)
	return nil
}

func (w *orderWorkflow) accept(ctx workflow.Context, in AcceptInput) error {
	now := workflow.Now(ctx)
	next := w.st
	next.Status = StatusInProgress
	next.AcceptedAt = &now
	t := w.transition(ctx, ActionAccept, "accept", in.Actor, "", next)
	if err := w.exec(ctx, ActivityAcceptOrder, AcceptActivityInput{Transition: t, Hold: w.st.Amount}); err != nil {
		return err
	}
	w.commit(ctx, t.Next)
	return nil
}

func (w *orderWorkflow) deliver(ctx workflow.Context, in DeliverInput) error {
	now := workflow.Now(ctx)
	deadline := now.Add(Hours(w.st.Terms.ConfirmationDeadlineHours))
	next := w.st
	next.Status = StatusDelivered
	next.DeliveredAt = &now
	next.ConfirmDeadline = &deadline
	t := w.transition(ctx, ActionDeliver, "deliver", in.Actor, "", next)
	if err := w.exec(ctx, ActivityDeliverOrder, t); err != nil {
		return err
	}
	w.commit(ctx, t.Next)
	return nil
}

func (w *orderWorkflow) cancel(ctx workflow.Context, in CancelInput) error {
	now := workflow.Now(ctx)
	next := w.st
	next.Status = StatusCancelled
	next.ClosedAt = &now
	terms := w.st.CancelTerms(in.Actor, now)
	act := CancelActivityInput{Release: terms.Release, Penalty: terms.Penalty, PenaltyFromProvider: terms.PenaltyFromProvider}
	if act.Penalty.IsPositive() {
		p := act.Penalty
		next.Outcome.Penalty = &p
		if act.PenaltyFromProvider {
			next.Outcome.ProviderNet = p.Neg()
		} else {
			next.Outcome.ProviderNet = p
		}
	}
	act.Transition = w.transition(ctx, ActionCancel, "cancel", in.Actor, in.Reason, next)
	if err := w.exec(ctx, ActivityCancelOrder, act); err != nil {
		return err
	}
	w.commit(ctx, act.Next)
	return nil
}

func (w *orderWorkflow) completed(ctx workflow.Context, auto bool) (State, money.Split) {
	now := workflow.Now(ctx)
	split := money.ReleaseSplit(w.st.Amount, w.st.Terms.PlatformFeePercentage)
	next := w.st
	next.Status = StatusCompleted
	next.ClosedAt = &now
	next.AutoConfirmed = auto
	next.AutoConfirmHeld = false
	next.Outcome.PlatformRevenue = split.Fee
	next.Outcome.ProviderNet = split.ProviderShare
	return next, split
}

func (w *orderWorkflow) confirm(ctx workflow.Context, in ConfirmInput) error {
	next, split := w.completed(ctx, false)
	t := w.transition(ctx, ActionConfirm, "release", in.Actor, "", next)
	if err := w.exec(ctx, ActivityConfirmOrder, ReleaseInput{Transition: t, Amount: w.st.Amount, Split: split}); err != nil {
		return err
	}
	w.commit(ctx, t.Next)
	return nil
}

// autoConfirm runs when the confirmation deadline passes in silence.
func (w *orderWorkflow) autoConfirm(ctx workflow.Context) error {
	next, split := w.completed(ctx, true)
	t := w.transition(ctx, StepAutoConfirm, "release", SystemActor, "", next)
	var res AutoConfirmResult
	if err := w.execute(ctx, ActivityAutoConfirm, ReleaseInput{Transition: t, Amount: w.st.Amount, Split: split}, &res); err != nil {
		return err
	}
	if res.Held {
		held := w.st
		held.AutoConfirmHeld = true
		held.UpdatedAt = t.At
		held.Version = t.Next.Version
		w.commit(ctx, held)
		return nil
	}
	w.commit(ctx, t.Next)
	return nil
}

func (w *orderWorkflow) contest(ctx workflow.Context, in ContestInput) error {
	now := workflow.Now(ctx)
	next := w.st
	next.Status = StatusDisputed
	next.ContestedAt = &now
	next.ContestFeeHeld = w.st.Terms.ContestationFee
	t := w.transition(ctx, ActionContest, "contest", in.Actor, in.Reason, next)
	if err := w.exec(ctx, ActivityContestOrder, ContestActivityInput{Transition: t, Fee: next.ContestFeeHeld}); err != nil {
		return err
	}
	w.commit(ctx, t.Next)
	return nil
}

func (w *orderWorkflow) addEvidence(ctx workflow.Context, in AddEvidenceInput) error {
	next := w.st
	next.EvidenceCount++
	t := w.transition(ctx, ActionAddEvidence, "evidence:"+in.EvidenceID, in.Actor, in.Description, next)
	err := w.exec(ctx, ActivityAddEvidence, EvidenceActivityInput{Transition: t, Evidence: in,
		ObjectKey: EvidenceObjectKey(w.st.OrderID, in.EvidenceID, in.Extension)})
	if err != nil {
		return err
	}
	w.commit(ctx, t.Next)
	return nil
}

func (w *orderWorkflow) resolve(ctx workflow.Context, in ResolveInput) error {
	res, err := money.Resolve(w.st.Amount, in.RefundAmount, w.st.Terms.PlatformFeePercentage, w.st.ContestFeeHeld)
	if err != nil {
		return Refusal(ordem.EValidation, "%s", err)
	}
	now := workflow.Now(ctx)
	next := w.st
	next.Status = StatusResolved
	next.ClosedAt = &now
	refund := res.Refund
	next.Outcome = Outcome{
		PlatformRevenue: res.Release.Fee.Add(res.ContestFeeToPlatform),
		ProviderNet:     res.Release.ProviderShare,
		Refund:          &refund,
	}
	t := w.transition(ctx, ActionResolve, "resolve", in.Actor, in.Reason, next)
	if err := w.exec(ctx, ActivityResolveDispute, ResolveActivityInput{Transition: t, Amount: w.st.Amount, Resolution: res}); err != nil {
		return err
	}
	w.commit(ctx, t.Next)
	return nil
}

func (w *orderWorkflow) extendDeadline(ctx workflow.Context, in ExtendDeadlineInput) error {
	now := workflow.Now(ctx)
	old := *w.st.ConfirmDeadline
	base := old
	if now.After(base) {
		base = now // a held order gets its new window from now
	}
	deadline := base.Add(Hours(in.Hours))
	next := w.st
	next.ConfirmDeadline = &deadline
	next.AutoConfirmHeld = false
	next.Extensions++
	t := w.transition(ctx, ActionExtendDeadline, fmt.Sprintf("extend:%d", next.Extensions), in.Actor, in.Reason, next)
	if err := w.exec(ctx, ActivityExtendDeadline, ExtendActivityInput{Transition: t, Hours: in.Hours, OldDeadline: old}); err != nil {
		return err
	}
	w.commit(ctx, t.Next)
	return nil
}

func (w *orderWorkflow) expire(ctx workflow.Context) error {
	now := workflow.Now(ctx)
	next := w.st
	next.Status = StatusExpired
	next.ClosedAt = &now
	t := w.transition(ctx, StepExpire, "expire", SystemActor, "", next)
	if err := w.exec(ctx, ActivityExpireOrder, t); err != nil {
		return err
	}
	w.commit(ctx, t.Next)
	return nil
}

func (w *orderWorkflow) remind(ctx workflow.Context, kind, step string, deadline time.Time) error {
	in := ReminderInput{OrderID: w.st.OrderID, Step: step, Kind: kind, Deadline: deadline, At: workflow.Now(ctx)}
	return w.execute(ctx, ActivitySendReminder, in, nil)
}

// recordRefusal writes a refused signal into the timeline.
func (w *orderWorkflow) recordRefusal(ctx workflow.Context, action Action, actor Actor, cause error) {
	w.refusals++
	code := RefusalCode(cause)
	if code == "" {
		code = ordem.EInternal
	}
	msg := cause.Error()
	var appErr *temporal.ApplicationError
	if errors.As(cause, &appErr) {
		msg = appErr.Message()
	}
	in := RefusalInput{OrderID: w.st.OrderID, Step: fmt.Sprintf("refused:%d", w.refusals), Action: action,
		Actor: actor, Status: w.st.Status, Code: code, Message: msg, At: workflow.Now(ctx)}
	actx := workflow.WithActivityOptions(ctx, activityOptions)
	if err := w.execute(actx, ActivityRecordRefusal, in, nil); err != nil {
		workflow.GetLogger(ctx).Error("Recording a refused signal failed", "order_id", w.st.OrderID, "error", err)
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
