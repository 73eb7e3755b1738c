package order

// The kinds of each transition: under which name a committed step is
// recorded in each place it leaves a trace besides the order's timeline
// (the ledger posting, the notification, the webhook events, the audit
// log). One table, so a transition's names are read in one place instead
// of being spelled by each activity; pure data, no I/O.

// Steps that are neither a user action nor a timer of the workflow, but
// are recorded under their own name.
const (
	// StepCreate is the order's creation (CreateOrder).
	StepCreate = "create"
	// StepAutoConfirmHeld is an auto-confirmation that was held because
	// AUTO_CONFIRM_JOB_ENABLED=false: the admins were alerted instead.
	StepAutoConfirmHeld = "auto_confirm_held"
)

// Kinds names one transition in the records it writes. A zero field
// means the transition writes no such record.
type Kinds struct {
	// Ledger is the kind of the transition's ledger posting.
	Ledger string
	// Notification is the kind of the in-app notification it sends (the
	// key of its texts in internal/locale).
	Notification string
	// Email is set when the notification also goes out by e-mail: it asks
	// the recipient to act, or tells them money moved.
	Email bool
	// Webhooks are the webhook event types it announces, in the order
	// they are enqueued (values of internal/webhook's event types).
	Webhooks []string
	// Audit is the audit-log action it is recorded under. Cancellations
	// are audited only when an admin cancels (a party cancelling its own
	// order is not an admin action); the others always.
	Audit string
}

// transitionKinds is the table, keyed by the transition's action as the
// timeline records it (Transition.Action, or a reminder's kind).
var transitionKinds = map[string]Kinds{
	StepCreate:            {Notification: "order_created", Email: true, Webhooks: []string{"order.created"}},
	string(ActionPropose): {Notification: "proposal"},
	string(ActionAccept): {Ledger: "hold", Notification: "order_accepted",
		Webhooks: []string{"order.accepted"}},
	string(ActionDeliver): {Notification: "order_delivered", Email: true, Webhooks: []string{"order.delivered"}},
	string(ActionCancel): {Ledger: "cancel", Notification: "order_cancelled", Email: true,
		Webhooks: []string{"order.cancelled"}, Audit: "cancel_order"},
	string(ActionConfirm): {Ledger: "release", Notification: "order_completed",
		Webhooks: []string{"order.completed"}},
	StepAutoConfirm: {Ledger: "auto_release", Notification: "order_auto_confirmed", Email: true,
		Webhooks: []string{"order.auto_confirmed"}},
	StepAutoConfirmHeld: {Notification: "auto_confirm_held", Email: true},
	string(ActionContest): {Ledger: "contest_fee_hold", Notification: "order_contested", Email: true,
		Webhooks: []string{"order.contested"}},
	string(ActionAddEvidence): {Notification: "evidence_added", Webhooks: []string{"order.evidence_added"}},
	string(ActionResolve): {Ledger: "resolve", Notification: "dispute_resolved", Email: true,
		Webhooks: []string{"order.resolved"}, Audit: "resolve_dispute"},
	string(ActionOfferSettlement): {Notification: "settlement_offered", Email: true,
		Webhooks: []string{"dispute.settlement_offered"}, Audit: "offer_settlement"},
	// A settlement moves the money of a ruling with the same refund, and
	// is announced as a settlement and as the order's resolution.
	string(ActionAcceptSettlement): {Ledger: "resolve", Notification: "dispute_settled", Email: true,
		Webhooks: []string{"dispute.settled", "order.resolved"}, Audit: "accept_settlement"},
	string(ActionRequestRuling): {Notification: "dispute_queued", Email: true, Webhooks: []string{"dispute.queued"}},
	StepNegotiationEnded:        {Notification: "dispute_queued", Email: true, Webhooks: []string{"dispute.queued"}},
	string(ActionRequestRevision): {Notification: "revision_requested", Email: true,
		Webhooks: []string{"order.revision_requested"}},
	string(ActionExtendDeadline): {Notification: "deadline_extended", Audit: "extend_deadline"},
	StepExpire:                   {Notification: "order_expired"},
	ReminderConfirmation:         {Notification: ReminderConfirmation, Email: true, Webhooks: []string{"order.reminder"}},
	ReminderDisputeSLA:           {Notification: ReminderDisputeSLA, Email: true, Webhooks: []string{"dispute.sla_reminder"}},
}

// KindsOf returns the kinds of the transition recorded under action
// (Transition.Action, or a reminder's kind); the zero Kinds for anything
// else.
func KindsOf(action string) Kinds { return transitionKinds[action] }

// TransitionKinds returns a copy of the whole table, for checks that every
// name in it is one its consumer knows.
func TransitionKinds() map[string]Kinds {
	out := make(map[string]Kinds, len(transitionKinds))
	for k, v := range transitionKinds {
		out[k] = v
	}
	return out
}
