package order

import (
	"errors"
	"fmt"
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

// Workflow is one order, from creation to a terminal state (spec §3).
func Workflow(ctx workflow.Context, in Input) (State, error) {
	w := newOrder(ctx, in)
	if err := w.registerHandlers(ctx); err != nil {
		return State{}, err
	}
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	if err := w.create(ctx); err != nil {
		return w.st, err
	}
	w.run(ctx)
	// Let every accepted update and signal finish (late ones are refused
	// and recorded) before the workflow completes.
	if err := workflow.Await(ctx, func() bool {
		return workflow.AllHandlersFinished(ctx) && w.signalsInFlight == 0 && w.queuedSignals() == 0
	}); err != nil {
		return w.st, err
	}
	return w.st, nil
}

type orderWorkflow struct {
	st State
	// mu lets one transition run at a time: handlers and timers that move
	// money never interleave.
	mu workflow.Mutex
	// pending counts user actions accepted but not finished. Timers wait
	// for it to reach zero, so an action accepted before a deadline wins
	// over the deadline.
	pending int
	// createErr is set when creation was refused; the workflow then ends.
	createErr error
	// remindedFor is the deadline whose reminder was already handled.
	remindedFor time.Time
	slaReminded bool
	refusals    int
	// systemFailures counts consecutive failed timer transitions.
	systemFailures int

	signalChannels  []workflow.ReceiveChannel
	signalsInFlight int
}

func newOrder(ctx workflow.Context, in Input) *orderWorkflow {
	now := workflow.Now(ctx)
	return &orderWorkflow{
		mu: workflow.NewMutex(ctx),
		st: State{
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
		},
	}
}

// handler is one action: its rules (checked by the update validator, and
// again once the transition lock is held) and its transition.
type handler[I any] struct {
	action Action
	actor  func(I) Actor
	check  func(w *orderWorkflow, in I, now time.Time) error
	apply  func(w *orderWorkflow, ctx workflow.Context, in I) error
}

func register[I any](ctx workflow.Context, w *orderWorkflow, h handler[I]) error {
	err := workflow.SetUpdateHandlerWithOptions(ctx, string(h.action),
		func(ctx workflow.Context, in I) (State, error) {
			return w.perform(ctx, func(now time.Time) error { return h.check(w, in, now) },
				func(ctx workflow.Context) error { return h.apply(w, ctx, in) })
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, in I) error {
			if !w.st.Created {
				return Refusal(ordem.EInvalidTransition, "the order is still being created")
			}
			return h.check(w, in, workflow.Now(ctx))
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
				_, err := w.perform(ctx, func(now time.Time) error { return h.check(w, in, now) },
					func(ctx workflow.Context) error { return h.apply(w, ctx, in) })
				if err != nil {
					w.recordRefusal(ctx, h.action, h.actor(in), err)
				}
			})
		}
	})
	return nil
}

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
		register(ctx, w, handler[ProposeInput]{ActionPropose, func(in ProposeInput) Actor { return in.Actor },
			func(w *orderWorkflow, in ProposeInput, now time.Time) error {
				if err := w.st.Permit(ActionPropose, in.Actor, now); err != nil {
					return err
				}
				return in.Validate(now)
			}, (*orderWorkflow).propose}),
		register(ctx, w, handler[AcceptInput]{ActionAccept, func(in AcceptInput) Actor { return in.Actor },
			func(w *orderWorkflow, in AcceptInput, now time.Time) error {
				return w.st.Permit(ActionAccept, in.Actor, now)
			},
			(*orderWorkflow).accept}),
		register(ctx, w, handler[DeliverInput]{ActionDeliver, func(in DeliverInput) Actor { return in.Actor },
			func(w *orderWorkflow, in DeliverInput, now time.Time) error {
				return w.st.Permit(ActionDeliver, in.Actor, now)
			},
			(*orderWorkflow).deliver}),
		register(ctx, w, handler[CancelInput]{ActionCancel, func(in CancelInput) Actor { return in.Actor },
			func(w *orderWorkflow, in CancelInput, now time.Time) error {
				if err := w.st.Permit(ActionCancel, in.Actor, now); err != nil {
					return err
				}
				return in.Validate()
			}, (*orderWorkflow).cancel}),
		register(ctx, w, handler[ConfirmInput]{ActionConfirm, func(in ConfirmInput) Actor { return in.Actor },
			func(w *orderWorkflow, in ConfirmInput, now time.Time) error {
				return w.st.Permit(ActionConfirm, in.Actor, now)
			},
			(*orderWorkflow).confirm}),
		register(ctx, w, handler[ContestInput]{ActionContest, func(in ContestInput) Actor { return in.Actor },
			func(w *orderWorkflow, in ContestInput, now time.Time) error {
				if err := w.st.Permit(ActionContest, in.Actor, now); err != nil {
					return err
				}
				return in.Validate()
			}, (*orderWorkflow).contest}),
		register(ctx, w, handler[AddEvidenceInput]{ActionAddEvidence, func(in AddEvidenceInput) Actor { return in.Actor },
			func(w *orderWorkflow, in AddEvidenceInput, now time.Time) error {
				if err := w.st.Permit(ActionAddEvidence, in.Actor, now); err != nil {
					return err
				}
				return in.Validate()
			}, (*orderWorkflow).addEvidence}),
		register(ctx, w, handler[ResolveInput]{ActionResolve, func(in ResolveInput) Actor { return in.Actor },
			func(w *orderWorkflow, in ResolveInput, now time.Time) error {
				if err := w.st.Permit(ActionResolve, in.Actor, now); err != nil {
					return err
				}
				return in.Validate(w.st.Amount)
			}, (*orderWorkflow).resolve}),
		register(ctx, w, handler[ExtendDeadlineInput]{ActionExtendDeadline, func(in ExtendDeadlineInput) Actor { return in.Actor },
			func(w *orderWorkflow, in ExtendDeadlineInput, now time.Time) error {
				if err := w.st.Permit(ActionExtendDeadline, in.Actor, now); err != nil {
					return err
				}
				return in.Validate()
			}, (*orderWorkflow).extendDeadline}),
	)
}

// perform runs one accepted action under the transition lock. The rules are
// checked again once the lock is held, against the time the action was
// accepted: another transition may have moved the order meanwhile, but a
// deadline that passed while the action waited does not refuse it.
func (w *orderWorkflow) perform(ctx workflow.Context, check func(time.Time) error, apply func(workflow.Context) error) (State, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOptions)
	acceptedAt := workflow.Now(ctx)
	w.pending++
	defer func() { w.pending-- }()
	if err := workflow.Await(ctx, func() bool { return w.st.Created || w.createErr != nil }); err != nil {
		return State{}, err
	}
	if w.createErr != nil {
		return State{}, w.createErr
	}
	if err := w.mu.Lock(ctx); err != nil {
		return State{}, err
	}
	defer w.mu.Unlock()
	if err := check(acceptedAt); err != nil {
		return State{}, err
	}
	if err := apply(ctx); err != nil {
		return State{}, err
	}
	return w.st, nil
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
	if err := w.mu.Lock(ctx); err != nil {
		return
	}
	if !stillDue() {
		w.mu.Unlock()
		return
	}
	err := apply(ctx)
	w.mu.Unlock()
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
func (w *orderWorkflow) commit(ctx workflow.Context, next State) {
	prev := w.st.Status
	w.st = next
	sa := []temporal.SearchAttributeUpdate{SearchOrderStatus.ValueSet(string(next.Status))}
	if next.ConfirmDeadline != nil {
		sa = append(sa, SearchConfirmDeadline.ValueSet(*next.ConfirmDeadline))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, sa...); err != nil {
		workflow.GetLogger(ctx).Warn("Search attribute upsert failed", "error", err)
	}
	if prev != next.Status {
		workflow.GetLogger(ctx).Info("Order transition", "order_id", next.OrderID, "from", prev, "to", next.Status)
	}
}

// transition builds the activity input for a step and the state after it.
func (w *orderWorkflow) transition(ctx workflow.Context, action Action, step string, actor Actor, reason string, next State) Transition {
	now := workflow.Now(ctx)
	next.UpdatedAt = now
	return Transition{OrderID: w.st.OrderID, Step: step, Action: string(action), Actor: actor, At: now,
		From: w.st.Status, Next: next, Reason: reason}
}

func (w *orderWorkflow) exec(ctx workflow.Context, activity string, in any) error {
	var res TransitionResult
	return workflow.ExecuteActivity(ctx, activity, in).Get(ctx, &res)
}

func (w *orderWorkflow) create(ctx workflow.Context) error {
	err := workflow.UpsertTypedSearchAttributes(ctx,
		SearchOrderID.ValueSet(w.st.OrderID), SearchOrderStatus.ValueSet(string(w.st.Status)),
		SearchClientID.ValueSet(w.st.ClientID), SearchProviderID.ValueSet(w.st.ProviderID))
	if err != nil {
		workflow.GetLogger(ctx).Warn("Search attribute upsert failed", "error", err)
	}
	var res CreateOrderResult
	in := CreateOrderInput{Order: Input{OrderID: w.st.OrderID, ClientID: w.st.ClientID, ProviderID: w.st.ProviderID,
		Title: w.st.Title, Description: w.st.Description, Amount: w.st.Amount, DueDate: w.st.DueDate}, At: w.st.CreatedAt}
	if err := workflow.ExecuteActivity(ctx, ActivityCreateOrder, in).Get(ctx, &res); err != nil {
		w.createErr = err
		return err
	}
	w.st.Terms = res.Terms
	w.st.ProposalExpiresAt = w.st.CreatedAt.Add(Hours(res.Terms.ProposalExpiryHours))
	w.st.Created = true
	return nil
}

// run drives the timers until the order reaches a terminal state.
func (w *orderWorkflow) run(ctx workflow.Context) {
	for !w.st.Status.Terminal() {
		status := w.st.Status
		statusChanged := func() bool { return w.st.Status != status }
		switch status {
		case StatusNegotiating:
			version := w.st.ProposalVersion
			expiresAt := w.st.ProposalExpiresAt
			if w.sleepUntil(ctx, expiresAt, func() bool { return statusChanged() || w.st.ProposalVersion != version }) {
				w.system(ctx, func() bool { return w.st.Status == StatusNegotiating && w.st.ProposalVersion == version }, w.expire)
			}
		case StatusDelivered:
			deadline := *w.st.ConfirmDeadline
			moved := func() bool { return statusChanged() || !w.st.ConfirmDeadline.Equal(deadline) || w.st.AutoConfirmHeld }
			if w.st.AutoConfirmHeld {
				_ = workflow.Await(ctx, func() bool { return statusChanged() || !w.st.AutoConfirmHeld })
				continue
			}
			if remindAt := deadline.Add(-Hours(w.st.Terms.ConfirmationReminderHours)); w.remindedFor != deadline {
				w.remindedFor = deadline
				if w.st.Terms.ConfirmationReminderHours.IsPositive() && workflow.Now(ctx).Before(remindAt) {
					if w.sleepUntil(ctx, remindAt, moved) {
						w.system(ctx, func() bool { return !moved() }, func(ctx workflow.Context) error {
							return w.remind(ctx, ReminderConfirmation, "remind:"+deadline.UTC().Format("20060102T150405.000Z"), deadline)
						})
					}
					continue
				}
			}
			if w.sleepUntil(ctx, deadline, moved) {
				w.system(ctx, func() bool { return !moved() }, w.autoConfirm)
			}
		case StatusDisputed:
			if !w.slaReminded && w.st.ContestedAt != nil {
				due := w.st.ContestedAt.Add(Hours(w.st.Terms.DisputeSLAHours))
				w.slaReminded = true
				if w.sleepUntil(ctx, due, statusChanged) {
					w.system(ctx, func() bool { return !statusChanged() }, func(ctx workflow.Context) error {
						return w.remind(ctx, ReminderDisputeSLA, "dispute_sla", due)
					})
				}
				continue
			}
			_ = workflow.Await(ctx, statusChanged)
		default:
			_ = workflow.Await(ctx, statusChanged)
		}
	}
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
	act := CancelActivityInput{Release: decimal.Zero, Penalty: decimal.Zero}
	if w.st.Status != StatusNegotiating {
		// Funds are held: the escrow (and any contestation fee) is released.
		act.Release = w.st.Amount.Add(w.st.ContestFeeHeld)
	}
	if w.st.Status == StatusInProgress && in.Actor.Role != ordem.RoleAdmin {
		act.Penalty = money.Percent(w.st.Amount, w.st.Terms.CancellationFeePercentage)
		act.PenaltyFromProvider = in.Actor.Role == ordem.RoleProvider
		// A client owes nothing when the provider missed the agreed date.
		if !act.PenaltyFromProvider && w.st.DueDate != nil && now.After(*w.st.DueDate) {
			act.Penalty = decimal.Zero
		}
	}
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
	if err := workflow.ExecuteActivity(ctx, ActivityAutoConfirm, ReleaseInput{Transition: t, Amount: w.st.Amount, Split: split}).Get(ctx, &res); err != nil {
		return err
	}
	if res.Held {
		held := w.st
		held.AutoConfirmHeld = true
		held.UpdatedAt = t.At
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
	return workflow.ExecuteActivity(ctx, ActivitySendReminder, in).Get(ctx, nil)
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
	if err := workflow.ExecuteActivity(actx, ActivityRecordRefusal, in).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("Recording a refused signal failed", "order_id", w.st.OrderID, "error", err)
	}
}
