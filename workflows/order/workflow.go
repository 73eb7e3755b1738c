package order

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ordem/ordem"
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
	// changeDisputeNegotiation (version 1): a dispute whose order has a
	// dispute_negotiation_hours snapshot waits for its parties' settlement
	// (a negotiation timer) before the dispute-SLA timer, which then runs
	// from the time the dispute entered the admins' queue.
	changeDisputeNegotiation = "dispute-negotiation"
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
	w.negotiation = workflow.GetVersion(ctx, changeDisputeNegotiation, workflow.DefaultVersion, 1) >= 1
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
	// negotiation is set from changeDisputeNegotiation.
	negotiation bool

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
	w.st = NewState(in, workflow.Now(ctx))
	return w
}

// request is what every action input carries: who asks and the version
// of the order they saw (0: none given), its own rules beyond Permit, and
// what its actor expects to find (rules.go).
type request interface {
	requester() (Actor, int)
	validate(s *State, now time.Time) error
	expected(s *State, now time.Time) error
}

func (in ProposeInput) requester() (Actor, int)          { return in.Actor, in.IfVersion }
func (in AcceptInput) requester() (Actor, int)           { return in.Actor, in.IfVersion }
func (in DeliverInput) requester() (Actor, int)          { return in.Actor, in.IfVersion }
func (in CancelInput) requester() (Actor, int)           { return in.Actor, in.IfVersion }
func (in ConfirmInput) requester() (Actor, int)          { return in.Actor, in.IfVersion }
func (in ContestInput) requester() (Actor, int)          { return in.Actor, in.IfVersion }
func (in AddEvidenceInput) requester() (Actor, int)      { return in.Actor, in.IfVersion }
func (in ResolveInput) requester() (Actor, int)          { return in.Actor, in.IfVersion }
func (in ExtendDeadlineInput) requester() (Actor, int)   { return in.Actor, in.IfVersion }
func (in OfferSettlementInput) requester() (Actor, int)  { return in.Actor, in.IfVersion }
func (in AcceptSettlementInput) requester() (Actor, int) { return in.Actor, in.IfVersion }
func (in RequestRulingInput) requester() (Actor, int)    { return in.Actor, in.IfVersion }
func (in RequestRevisionInput) requester() (Actor, int)  { return in.Actor, in.IfVersion }

// key names an actor in the workflow's per-actor bookkeeping.
func (a Actor) key() string { return string(a.Role) + ":" + strconv.FormatInt(a.UserID, 10) }

// handler is one action: its name and its transition (transitions.go).
// Its rules are Permit and the input's own (request.validate), checked by
// the update validator and again once the transition lock is held; what
// the actor saw (the If-Match version, request.expected) is checked under
// the lock, and by the validator only when no transition is running,
// since one that is may be about to produce exactly the state the actor
// saw (its row is already committed).
type handler[I request] struct {
	action Action
	build  func(State, I, time.Time) (Step, error)
}

func (h handler[I]) check(w *orderWorkflow, in I, now time.Time) error {
	actor, _ := in.requester()
	if err := w.st.Permit(h.action, actor, now); err != nil {
		return err
	}
	return in.validate(&w.st, now)
}

func (h handler[I]) expectations(w *orderWorkflow, in I, now time.Time) error {
	_, ifVersion := in.requester()
	if err := w.st.checkVersion(ifVersion); err != nil {
		return err
	}
	return in.expected(&w.st, now)
}

// apply takes the transition at the current time.
func (h handler[I]) apply(w *orderWorkflow, ctx workflow.Context, in I) error {
	step, err := h.build(w.st, in, workflow.Now(ctx))
	if err != nil {
		return err
	}
	return w.take(ctx, step)
}

// pure adapts a transition that cannot fail.
func pure[I any](f func(State, I, time.Time) Step) func(State, I, time.Time) (Step, error) {
	return func(s State, in I, now time.Time) (Step, error) { return f(s, in, now), nil }
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
	// Every action of the transition table: an Update (with its validator)
	// and a Signal of the same name.
	return errors.Join(
		register(ctx, w, handler[ProposeInput]{ActionPropose, pure(State.Propose)}),
		register(ctx, w, handler[AcceptInput]{ActionAccept, pure(State.Accept)}),
		register(ctx, w, handler[DeliverInput]{ActionDeliver, pure(State.Deliver)}),
		register(ctx, w, handler[CancelInput]{ActionCancel, pure(State.Cancel)}),
		register(ctx, w, handler[ConfirmInput]{ActionConfirm, pure(State.Confirm)}),
		register(ctx, w, handler[ContestInput]{ActionContest, pure(State.Contest)}),
		register(ctx, w, handler[AddEvidenceInput]{ActionAddEvidence, pure(State.AddEvidence)}),
		register(ctx, w, handler[ResolveInput]{ActionResolve, State.Resolve}),
		register(ctx, w, handler[ExtendDeadlineInput]{ActionExtendDeadline, pure(State.ExtendDeadline)}),
		register(ctx, w, handler[OfferSettlementInput]{ActionOfferSettlement, pure(State.OfferSettlement)}),
		register(ctx, w, handler[AcceptSettlementInput]{ActionAcceptSettlement, State.AcceptSettlement}),
		register(ctx, w, handler[RequestRulingInput]{ActionRequestRuling, pure(State.RequestRuling)}),
		register(ctx, w, handler[RequestRevisionInput]{ActionRequestRevision, pure(State.RequestRevision)}),
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
		} else if deadlineMoved {
			// A revision request: the order has no deadline until the
			// next delivery.
			sa = append(sa, SearchConfirmDeadline.ValueUnset())
		}
		if err := workflow.UpsertTypedSearchAttributes(ctx, sa...); err != nil {
			workflow.GetLogger(ctx).Warn("Search attribute upsert failed", "error", err)
		}
	}
	if prev != next.Status {
		workflow.GetLogger(ctx).Info("Order transition", "order_id", next.OrderID, "from", prev, "to", next.Status)
	}
}

// take runs a step's activity and commits its state.
func (w *orderWorkflow) take(ctx workflow.Context, step Step) error {
	var res TransitionResult
	if err := w.execute(ctx, step.Activity, step.Input, &res); err != nil {
		return err
	}
	w.commit(ctx, step.Next)
	return nil
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
	if err := w.execute(ctx, ActivityCreateOrder, w.st.CreateInput(), &res); err != nil {
		w.createErr = err
		return err
	}
	w.st = w.st.WithTerms(res.Terms)
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
			queued := w.st.QueuedAt() != nil
			queuedChanged := func() bool { return statusChanged() || (w.st.QueuedAt() != nil) != queued }
			if w.negotiation && w.st.QueuedAt() == nil && w.st.NegotiationEndsAt != nil {
				// The parties' negotiation window: a settlement, a request
				// for a ruling or an admin's ruling ends it early.
				ends := *w.st.NegotiationEndsAt
				if w.sleepUntil(ctx, ends, w.or(ctx, queuedChanged)) {
					w.system(ctx, func() bool { return !queuedChanged() }, w.endNegotiation)
				}
				continue
			}
			if !w.slaReminded && w.st.QueuedAt() != nil {
				due := w.st.QueuedAt().Add(Hours(w.st.Terms.DisputeSLAHours))
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
			_ = workflow.Await(ctx, w.or(ctx, queuedChanged))
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

// autoConfirm runs when the confirmation deadline passes in silence: it
// releases the escrow, or (auto-confirmation disabled) holds the order.
func (w *orderWorkflow) autoConfirm(ctx workflow.Context) error {
	step := w.st.AutoConfirm(workflow.Now(ctx))
	var res AutoConfirmResult
	if err := w.execute(ctx, step.Activity, step.Input, &res); err != nil {
		return err
	}
	if res.Held {
		w.commit(ctx, w.st.Held(step))
		return nil
	}
	w.commit(ctx, step.Next)
	return nil
}

// expire closes a negotiation nobody accepted in time.
func (w *orderWorkflow) expire(ctx workflow.Context) error {
	return w.take(ctx, w.st.Expire(workflow.Now(ctx)))
}

// endNegotiation sends a dispute whose negotiation window ended without a
// settlement to the admins' queue.
func (w *orderWorkflow) endNegotiation(ctx workflow.Context) error {
	return w.take(ctx, w.st.EndNegotiation(workflow.Now(ctx)))
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
