package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/activity"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/accounts"
	auditlog "github.com/ordem/ordem/internal/audit"
	"github.com/ordem/ordem/internal/evidence"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/internal/orders"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/internal/sysconfig"
	"github.com/ordem/ordem/workflows/order"
)

func clientAvailable(s order.State) string { return ledger.UserAccount(s.ClientID, ledger.Available) }
func clientBlocked(s order.State) string   { return ledger.UserAccount(s.ClientID, ledger.Blocked) }
func providerAvailable(s order.State) string {
	return ledger.UserAccount(s.ProviderID, ledger.Available)
}

// CreateOrder checks the parties, snapshots the fees from system config and
// writes the order, its first proposal (the client's) and its first event.
// Replayed, it returns the snapshot taken the first time.
func (a *Activities) CreateOrder(ctx context.Context, in order.CreateOrderInput) (order.CreateOrderResult, error) {
	o := in.Order
	if err := money.ValidateOrderAmount(o.Amount); err != nil {
		return order.CreateOrderResult{}, order.Refusal(ordem.EValidation, "amount: %s", err)
	}
	var res order.CreateOrderResult
	err := postgres.InTx(ctx, a.Pool, func(tx pgx.Tx) error {
		terms, found, err := orders.StoredTerms(ctx, tx, o.OrderID)
		if err != nil {
			return err
		}
		if found {
			res.Terms, res.Replayed = terms, true
			return nil
		}
		if err := checkActiveUser(ctx, tx, o.ClientID, ordem.RoleClient, "client"); err != nil {
			return err
		}
		if err := checkActiveUser(ctx, tx, o.ProviderID, ordem.RoleProvider, "provider"); err != nil {
			return err
		}
		values, err := sysconfig.Load(ctx, tx)
		if err != nil {
			return err
		}
		// The terms returned are the terms as the row stores them, not as
		// read from config (see orders.Create): a replay returns the row's
		// values, so the fees the workflow applies must not depend on
		// whether this activity was retried.
		state := order.NewState(o, in.At).WithTerms(order.Terms{
			PlatformFeePercentage:     values[sysconfig.PlatformFeePercentage],
			ContestationFee:           values[sysconfig.ContestationFee],
			CancellationFeePercentage: values[sysconfig.CancellationFeePercentage],
			ConfirmationDeadlineHours: values[sysconfig.ConfirmationDeadlineHours],
			ProposalExpiryHours:       values[sysconfig.ProposalExpiryHours],
			ConfirmationReminderHours: values[sysconfig.ConfirmationReminderHours],
			DisputeSLAHours:           values[sysconfig.DisputeSLAHours],
			DisputeNegotiationHours:   values[sysconfig.DisputeNegotiationHours],
			MaxRevisions:              int(values[sysconfig.MaxRevisions].IntPart()),
		})
		if res.Terms, err = orders.Create(ctx, tx, state); err != nil {
			return err
		}
		data := map[string]any{"amount": fixed(o.Amount), "title": o.Title, "terms": res.Terms}
		client := order.Actor{UserID: o.ClientID, Role: ordem.RoleClient}
		key := order.StepKey(o.OrderID, order.StepCreate)
		if _, err := claimStep(ctx, tx, o.OrderID, key, order.StepCreate, client,
			"", order.StatusNegotiating, false, data, in.At); err != nil {
			return err
		}
		postgres.AfterCommit(tx, func() {
			logTransition(ctx, order.Transition{OrderID: o.OrderID, Step: order.StepCreate, Action: order.StepCreate, Actor: client,
				At: in.At, Next: order.State{OrderID: o.OrderID, Status: order.StatusNegotiating, Amount: o.Amount}}, "")
		})
		kinds := order.KindsOf(order.StepCreate)
		if err := a.writeNotices(ctx, tx, o.OrderID, kinds, []notice{{to: []int64{o.ProviderID},
			title: "Novo pedido", body: fmt.Sprintf("Você recebeu um pedido: %s (R$ %s)", o.Title, fixed(o.Amount))}}, data, in.At); err != nil {
			return err
		}
		return writeStepEvents(ctx, tx, key, o.OrderID, kinds, map[string]any{
			"order_id": strconv.FormatInt(o.OrderID, 10), "status": string(order.StatusNegotiating), "amount": fixed(o.Amount),
			"title": o.Title, "client_id": strconv.FormatInt(o.ClientID, 10), "provider_id": strconv.FormatInt(o.ProviderID, 10),
			"due_date": o.DueDate, "actor_role": string(ordem.RoleClient)}, in.At)
	})
	if err != nil {
		return order.CreateOrderResult{}, refusalOrError(ctx, err)
	}
	return res, nil
}

func checkActiveUser(ctx context.Context, tx pgx.Tx, id int64, role ordem.Role, what string) error {
	// Locked: a deletion of the user either waits for this order and sees
	// it, or commits first and this check no longer finds the user.
	ok, err := accounts.ActiveAs(ctx, tx, id, role, true)
	if err != nil {
		return err
	}
	if !ok {
		return ordem.Errorf(ordem.EValidation, "%s %d does not exist or is not active", what, id)
	}
	return nil
}

// other returns the party that did not act.
func other(t order.Transition) int64 {
	if t.Actor.UserID == t.Next.ClientID {
		return t.Next.ProviderID
	}
	return t.Next.ClientID
}

// RecordProposal records a counter-proposal, versioned and audited.
func (a *Activities) RecordProposal(ctx context.Context, in order.ProposalInput) (order.TransitionResult, error) {
	t := in.Transition
	return a.apply(ctx, step{
		t: t,
		data: map[string]any{"version": in.Version, "amount": fixed(in.Amount), "previous_amount": fixed(in.PreviousAmount),
			"due_date": in.DueDate, "previous_due_date": in.PreviousDueDate, "note": t.Reason},
		notices: []notice{{to: []int64{other(t)}, title: "Nova proposta",
			body: fmt.Sprintf("Nova proposta para %s: R$ %s", t.Next.Title, fixed(in.Amount))}},
		extra: func(ctx context.Context, tx pgx.Tx) error {
			previous := in.PreviousAmount
			return orders.RecordProposal(ctx, tx, t.OrderID, orders.Proposal{Version: in.Version, ProposedBy: t.Actor.UserID,
				ProposerRole: t.Actor.Role, Amount: in.Amount, PreviousAmount: &previous, DueDate: in.DueDate,
				PreviousDueDate: in.PreviousDueDate, Note: t.Reason, CreatedAt: t.At})
		},
	})
}

// AcceptOrder holds the agreed amount: client available → client blocked.
// Without the funds it refuses with insufficient_funds and writes nothing.
func (a *Activities) AcceptOrder(ctx context.Context, in order.AcceptActivityInput) (order.TransitionResult, error) {
	t := in.Transition
	return a.apply(ctx, step{
		t:    t,
		legs: clientHold(t.Next, in.Hold),
		data: map[string]any{"amount": fixed(in.Hold), "hold": fixed(in.Hold)},
		notices: []notice{{to: []int64{t.Next.ClientID, t.Next.ProviderID}, title: "Pedido aceito",
			body: fmt.Sprintf("%s foi aceito por R$ %s; o valor está retido em garantia.", t.Next.Title, fixed(in.Hold))}},
	})
}

// clientHold moves amount from the client's available balance to their
// blocked one: the escrow of an accepted order, the contestation fee.
func clientHold(s order.State, amount decimal.Decimal) []ledger.Leg {
	return []ledger.Leg{
		{Account: clientAvailable(s), Amount: amount.Neg()},
		{Account: clientBlocked(s), Amount: amount},
	}
}

// DeliverOrder marks the work delivered and starts the confirmation window.
func (a *Activities) DeliverOrder(ctx context.Context, t order.Transition) (order.TransitionResult, error) {
	return a.apply(ctx, step{
		t:    t,
		data: map[string]any{"confirm_deadline": t.Next.ConfirmDeadline},
		notices: []notice{{to: []int64{t.Next.ClientID}, title: "Serviço entregue",
			body: fmt.Sprintf("%s foi entregue. Confirme ou conteste até %s; sem resposta, confirma automaticamente.",
				t.Next.Title, t.Next.ConfirmDeadline.UTC().Format("02/01/2006 15:04 UTC"))}},
	})
}

// CancelOrder returns the escrow and moves the penalty, if any.
func (a *Activities) CancelOrder(ctx context.Context, in order.CancelActivityInput) (order.TransitionResult, error) {
	t := in.Transition
	s := t.Next
	legs := []ledger.Leg{{Account: clientBlocked(s), Amount: in.Release.Neg()}}
	if in.PenaltyFromProvider {
		// Full refund, plus the penalty from the provider's own balance.
		legs = append(legs,
			ledger.Leg{Account: clientAvailable(s), Amount: in.Release.Add(in.Penalty)},
			ledger.Leg{Account: providerAvailable(s), Amount: in.Penalty.Neg()})
	} else {
		legs = append(legs,
			ledger.Leg{Account: clientAvailable(s), Amount: in.Release.Sub(in.Penalty)},
			ledger.Leg{Account: providerAvailable(s), Amount: in.Penalty})
	}
	to := []int64{other(t)}
	if t.Actor.Role == ordem.RoleAdmin {
		to = []int64{s.ClientID, s.ProviderID}
	}
	return a.apply(ctx, step{
		t:    t,
		legs: legs,
		data: map[string]any{"released": fixed(in.Release), "penalty": fixed(in.Penalty),
			"penalty_from_provider": in.PenaltyFromProvider, "reason": t.Reason},
		notices: []notice{{to: to, title: "Pedido cancelado",
			body: fmt.Sprintf("%s foi cancelado (%s).", s.Title, t.Actor.Role)}},
		extra: func(ctx context.Context, tx pgx.Tx) error {
			// A party cancelling its own order is no admin action.
			if t.Actor.Role != ordem.RoleAdmin {
				return nil
			}
			return writeAudit(ctx, tx, t, t.Reason)
		},
	})
}

// releaseStep releases the escrow to provider and platform: on the
// client's confirmation, or by the deadline (auto_confirm).
func releaseStep(t order.Transition, in order.ReleaseInput) step {
	s := t.Next
	return step{
		t: t,
		legs: []ledger.Leg{
			{Account: clientBlocked(s), Amount: in.Amount.Neg()},
			{Account: providerAvailable(s), Amount: in.Split.ProviderShare},
			{Account: ledger.RevenueAccount, Amount: in.Split.Fee},
		},
		data: map[string]any{"amount": fixed(in.Amount), "platform_fee": fixed(in.Split.Fee),
			"provider_share": fixed(in.Split.ProviderShare), "auto": t.Action == order.StepAutoConfirm},
	}
}

// ConfirmOrder releases the escrow on the client's confirmation.
func (a *Activities) ConfirmOrder(ctx context.Context, in order.ReleaseInput) (order.TransitionResult, error) {
	s := releaseStep(in.Transition, in)
	s.notices = []notice{{to: []int64{in.Next.ClientID, in.Next.ProviderID}, title: "Pedido concluído",
		body: fmt.Sprintf("%s foi confirmado; R$ %s liberados ao prestador.", in.Next.Title, fixed(in.Split.ProviderShare))}}
	return a.apply(ctx, s)
}

// AutoConfirmOrder runs when the confirmation deadline passed in silence:
// it releases the escrow, or, with AUTO_CONFIRM_JOB_ENABLED=false, only
// alerts the admins and marks the order as held.
func (a *Activities) AutoConfirmOrder(ctx context.Context, in order.ReleaseInput) (order.AutoConfirmResult, error) {
	if a.AutoConfirmEnabled {
		s := releaseStep(in.Transition, in)
		s.notices = []notice{{to: []int64{in.Next.ClientID, in.Next.ProviderID},
			title: "Pedido confirmado automaticamente",
			body:  fmt.Sprintf("O prazo de %s terminou sem resposta; R$ %s liberados ao prestador.", in.Next.Title, fixed(in.Split.ProviderShare))}}
		res, err := a.apply(ctx, s)
		return order.AutoConfirmResult{TransitionResult: res}, err
	}
	t := in.Transition
	// The order stays delivered; only the held flag changes.
	held := t
	held.Action = order.StepAutoConfirmHeld
	held.Step = order.StepAutoConfirmHeld + ":" + in.Next.ConfirmDeadline.UTC().Format("20060102T150405.000Z")
	held.Next = heldState(t)
	res, err := a.apply(ctx, step{
		t:    held,
		data: map[string]any{"confirm_deadline": in.Next.ConfirmDeadline, "amount": fixed(in.Amount)},
		notices: []notice{{admins: true, title: "Confirmação automática desativada",
			body: fmt.Sprintf("O prazo do pedido %d passou, mas AUTO_CONFIRM_JOB_ENABLED=false: confirme com o cliente, estenda o prazo ou cancele.", t.OrderID)}},
	})
	return order.AutoConfirmResult{TransitionResult: res, Held: true}, err
}

// heldState is the order as it stands when auto-confirm is held: still
// delivered, nothing released.
func heldState(t order.Transition) order.State {
	s := t.Next
	s.Status = t.From
	s.ClosedAt = nil
	s.AutoConfirmed = false
	s.AutoConfirmHeld = true
	s.Outcome = order.Outcome{PlatformRevenue: decimal.Zero, ProviderNet: decimal.Zero}
	return s
}

// ContestOrder holds the contestation fee as a guarantee.
func (a *Activities) ContestOrder(ctx context.Context, in order.ContestActivityInput) (order.TransitionResult, error) {
	t := in.Transition
	return a.apply(ctx, step{
		t:    t,
		legs: clientHold(t.Next, in.Fee),
		data: map[string]any{"contestation_fee": fixed(in.Fee), "reason": t.Reason},
		notices: []notice{{to: []int64{t.Next.ProviderID}, admins: true, title: "Entrega contestada",
			body: fmt.Sprintf("O cliente contestou %s: %s", t.Next.Title, t.Reason)}},
	})
}

// AddEvidence records a piece of dispute evidence and tells the other
// party and the admins.
func (a *Activities) AddEvidence(ctx context.Context, in order.EvidenceActivityInput) (order.TransitionResult, error) {
	t := in.Transition
	e := in.Evidence
	if a.Evidence == nil {
		return order.TransitionResult{}, errors.New("add evidence: no evidence store configured")
	}
	// Input only an operator's signal could get wrong is refused here: as
	// an infrastructure error it would be retried for ever, holding the
	// order's transition lock.
	if _, err := uuid.Parse(e.EvidenceID); err != nil {
		return order.TransitionResult{}, order.Refusal(ordem.EValidation, "evidence id %q is not a UUID", e.EvidenceID)
	}
	if !strings.HasPrefix(e.StagingKey, storage.StagingPrefix) || len(e.StagingKey) == len(storage.StagingPrefix) ||
		strings.Contains(e.StagingKey, "..") {
		return order.TransitionResult{}, order.Refusal(ordem.EValidation, "%q is not an upload staging key", e.StagingKey)
	}
	if !validExtension(e.Extension) || in.ObjectKey != order.EvidenceObjectKey(t.OrderID, e.EvidenceID, e.Extension) {
		return order.TransitionResult{}, order.Refusal(ordem.EValidation, "invalid evidence extension %q", e.Extension)
	}
	// A piece of evidence already recorded is not moved again: a retry
	// after the commit goes straight to the (replayed) step, and an id
	// sent twice with another upload never overwrites the recorded bytes.
	recorded, found, err := evidence.Find(ctx, a.Pool, e.EvidenceID)
	switch {
	case err != nil:
		return order.TransitionResult{}, err
	case !found:
		// The move comes first and is idempotent: a retry after a crash
		// finds the object already in place and goes on to record it, once.
		if err := a.Evidence.Promote(ctx, e.StagingKey, in.ObjectKey); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return order.TransitionResult{}, order.Refusal(ordem.EValidation, "the uploaded file is no longer available; upload it again")
			}
			return order.TransitionResult{}, fmt.Errorf("promote evidence %s: %w", e.EvidenceID, err)
		}
	case recorded.OrderID != t.OrderID || recorded.ObjectKey != in.ObjectKey:
		return order.TransitionResult{}, order.Refusal(ordem.EValidation, "evidence id %s is already used", e.EvidenceID)
	}
	to := []int64{t.Next.ClientID, t.Next.ProviderID}
	if t.Actor.Role != ordem.RoleAdmin {
		to = []int64{other(t)}
	}
	return a.apply(ctx, step{
		t: t,
		data: map[string]any{"evidence_id": e.EvidenceID, "file_name": e.FileName, "size": e.Size,
			"sha256": e.SHA256, "content_type": e.ContentType},
		notices: []notice{{to: to, admins: t.Actor.Role != ordem.RoleAdmin, title: "Nova prova na disputa",
			body: fmt.Sprintf("Uma prova foi anexada à disputa de %s: %s", t.Next.Title, e.FileName)}},
		extra: func(ctx context.Context, tx pgx.Tx) error {
			return evidence.Record(ctx, tx, evidence.Row{ID: e.EvidenceID, OrderID: t.OrderID, UploaderID: t.Actor.UserID,
				UploaderRole: t.Actor.Role, ObjectKey: in.ObjectKey, FileName: e.FileName, ContentType: e.ContentType,
				Size: e.Size, SHA256: e.SHA256, Description: e.Description, CreatedAt: t.At})
		},
	})
}

// validExtension reports whether ext (from the API's name check) is a
// plain lower-case extension, safe inside an object key.
func validExtension(ext string) bool {
	if ext == "" || len(ext) > 16 {
		return false
	}
	for _, r := range ext {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// ResolveDispute moves the money of an admin ruling: R back to the client,
// the rest to the provider minus the platform fee, the contestation fee
// back to the client (R > 0) or to the platform (R = 0).
func (a *Activities) ResolveDispute(ctx context.Context, in order.ResolveActivityInput) (order.TransitionResult, error) {
	st := resolveStep(in)
	r := in.Resolution
	st.data["resolved_by"] = order.ResolvedByAdmin
	st.notices = []notice{{to: []int64{in.Next.ClientID, in.Next.ProviderID}, title: "Disputa resolvida",
		body: fmt.Sprintf("A disputa de %s foi resolvida: R$ %s ao cliente, R$ %s ao prestador.", in.Next.Title,
			fixed(r.Refund.Add(r.ContestFeeToClient)), fixed(r.Release.ProviderShare))}}
	st.extra = func(ctx context.Context, tx pgx.Tx) error {
		return writeAudit(ctx, tx, in.Transition, in.Reason)
	}
	return a.apply(ctx, st)
}

// resolveStep is the money of a dispute's end with refund R, an admin's
// ruling or the parties' settlement alike (spec §3).
func resolveStep(in order.ResolveActivityInput) step {
	t := in.Transition
	s := t.Next
	r := in.Resolution
	held := in.Amount.Add(r.ContestFeeToClient).Add(r.ContestFeeToPlatform)
	return step{
		t: t,
		legs: []ledger.Leg{
			{Account: clientBlocked(s), Amount: held.Neg()},
			{Account: clientAvailable(s), Amount: r.Refund.Add(r.ContestFeeToClient)},
			{Account: providerAvailable(s), Amount: r.Release.ProviderShare},
			{Account: ledger.RevenueAccount, Amount: r.Release.Fee.Add(r.ContestFeeToPlatform)},
		},
		data: map[string]any{"refund": fixed(r.Refund), "provider_share": fixed(r.Release.ProviderShare),
			"platform_fee": fixed(r.Release.Fee), "contest_fee_returned": fixed(r.ContestFeeToClient),
			"contest_fee_forfeited": fixed(r.ContestFeeToPlatform), "reason": t.Reason},
	}
}

// RecordSettlementOffer records a party's settlement offer, versioned and
// audited, and tells the other party.
func (a *Activities) RecordSettlementOffer(ctx context.Context, in order.SettlementOfferActivityInput) (order.TransitionResult, error) {
	t := in.Transition
	o := in.Offer
	var prev any
	if in.PreviousRefund != nil {
		prev = fixed(*in.PreviousRefund)
	}
	return a.apply(ctx, step{
		t: t,
		data: map[string]any{"offer_version": o.Version, "refund_amount": fixed(o.RefundAmount), "previous_refund": prev,
			"note": o.Note},
		notices: []notice{{to: []int64{other(t)}, title: "Proposta de acordo",
			body: fmt.Sprintf("Proposta de acordo na disputa de %s: R$ %s de reembolso ao cliente. Aceite-a ou faça outra.",
				t.Next.Title, fixed(o.RefundAmount))}},
		extra: func(ctx context.Context, tx pgx.Tx) error {
			err := orders.RecordSettlementOffer(ctx, tx, t.OrderID, orders.SettlementOffer{Version: o.Version,
				OfferedBy: t.Actor.UserID, OfferedRole: t.Actor.Role, RefundAmount: o.RefundAmount,
				PreviousRefund: in.PreviousRefund, Note: o.Note, CreatedAt: t.At})
			if err != nil {
				return err
			}
			return writeAudit(ctx, tx, t, fmt.Sprintf("v%d: refund %s (was %v): %s", o.Version, fixed(o.RefundAmount), prev, o.Note))
		},
	})
}

// AcceptSettlement resolves a dispute on the terms of the latest offer,
// moving exactly the money of an admin ruling with the same refund. It
// shares the ruling's step key: only one of them can ever post.
func (a *Activities) AcceptSettlement(ctx context.Context, in order.ResolveActivityInput) (order.TransitionResult, error) {
	st := resolveStep(in)
	r := in.Resolution
	st.data["settlement_version"] = in.SettlementVersion
	st.data["resolved_by"] = order.ResolvedBySettlement
	st.notices = []notice{{to: []int64{in.Next.ClientID, in.Next.ProviderID}, title: "Acordo aceito",
		body: fmt.Sprintf("As partes fizeram um acordo na disputa de %s: R$ %s ao cliente, R$ %s ao prestador.",
			in.Next.Title, fixed(r.Refund.Add(r.ContestFeeToClient)), fixed(r.Release.ProviderShare))}}
	st.extra = func(ctx context.Context, tx pgx.Tx) error {
		return writeAudit(ctx, tx, in.Transition, fmt.Sprintf("offer v%d: refund %s", in.SettlementVersion, fixed(r.Refund)))
	}
	return a.apply(ctx, st)
}

// RequestRevision records the client's revision request and tells the
// provider: the order is in progress again until the next delivery.
func (a *Activities) RequestRevision(ctx context.Context, in order.RevisionActivityInput) (order.TransitionResult, error) {
	t := in.Transition
	return a.apply(ctx, step{
		t:    t,
		data: map[string]any{"revision": in.Number, "max_revisions": t.Next.Terms.MaxRevisions, "reason": t.Reason},
		notices: []notice{{to: []int64{t.Next.ProviderID}, title: "Revisão solicitada",
			body: fmt.Sprintf("O cliente pediu a revisão %d de %d de %s: %s", in.Number, t.Next.Terms.MaxRevisions,
				t.Next.Title, t.Reason)}},
		extra: func(ctx context.Context, tx pgx.Tx) error {
			return orders.RecordRevision(ctx, tx, t.OrderID, orders.Revision{Number: in.Number, RequestedBy: t.Actor.UserID,
				Reason: t.Reason, DeliveredAt: in.DeliveredAt, CreatedAt: t.At})
		},
	})
}

// QueueDispute puts a dispute in the admins' queue, when its negotiation
// window ended or a party asked for a ruling: the admins are told, and
// the dispute SLA runs from now.
func (a *Activities) QueueDispute(ctx context.Context, t order.Transition) (order.TransitionResult, error) {
	why := "o prazo de negociação terminou sem acordo"
	if t.Actor.Role != ordem.RoleSystem {
		why = "uma das partes pediu a decisão de um administrador"
	}
	to := []int64{t.Next.ClientID, t.Next.ProviderID}
	return a.apply(ctx, step{
		t:    t,
		data: map[string]any{"queued_at": t.At, "reason": t.Reason, "negotiation_ends_at": t.Next.NegotiationEndsAt},
		notices: []notice{{to: to, admins: true, title: "Disputa aguardando decisão",
			body: fmt.Sprintf("A disputa de %s foi para a fila dos administradores: %s.", t.Next.Title, why)}},
	})
}

// ExtendDeadline records an admin's new confirmation deadline.
func (a *Activities) ExtendDeadline(ctx context.Context, in order.ExtendActivityInput) (order.TransitionResult, error) {
	t := in.Transition
	return a.apply(ctx, step{
		t: t,
		data: map[string]any{"hours": in.Hours.String(), "old_deadline": in.OldDeadline,
			"new_deadline": t.Next.ConfirmDeadline, "reason": t.Reason},
		notices: []notice{{to: []int64{t.Next.ClientID, t.Next.ProviderID}, title: "Prazo estendido",
			body: fmt.Sprintf("O prazo de confirmação de %s foi estendido até %s.", t.Next.Title,
				t.Next.ConfirmDeadline.UTC().Format("02/01/2006 15:04 UTC"))}},
		extra: func(ctx context.Context, tx pgx.Tx) error { return writeAudit(ctx, tx, t, t.Reason) },
	})
}

// ExpireOrder closes a negotiation nobody accepted in time.
func (a *Activities) ExpireOrder(ctx context.Context, t order.Transition) (order.TransitionResult, error) {
	return a.apply(ctx, step{
		t: t,
		notices: []notice{{to: []int64{t.Next.ClientID, t.Next.ProviderID}, title: "Negociação expirada",
			body: fmt.Sprintf("A negociação de %s expirou sem aceite.", t.Next.Title)}},
	})
}

// SendReminder writes a reminder: to the client before auto-confirmation,
// or to the admins when a dispute outlives its SLA. Each is sent once.
func (a *Activities) SendReminder(ctx context.Context, in order.ReminderInput) error {
	return postgres.InTx(ctx, a.Pool, func(tx pgx.Tx) error {
		o, err := orders.Summarize(ctx, tx, in.OrderID)
		if err != nil {
			return err
		}
		clientID, title := o.ClientID, o.Title
		data := map[string]any{"deadline": in.Deadline, "kind": in.Kind}
		claimed, err := claimStep(ctx, tx, in.OrderID, order.StepKey(in.OrderID, in.Step), in.Kind, order.SystemActor, "", "", false, data, in.At)
		if err != nil || !claimed {
			return err
		}
		n := notice{to: []int64{clientID}, title: "Confirme seu pedido",
			body: fmt.Sprintf("%s será confirmado automaticamente em %s. Confirme ou conteste antes disso.",
				title, in.Deadline.UTC().Format("02/01/2006 15:04 UTC"))}
		if in.Kind == order.ReminderDisputeSLA {
			n = notice{admins: true, title: "Disputa aguardando decisão",
				body: fmt.Sprintf("A disputa do pedido %d (%s) está aberta desde antes de %s.", in.OrderID, title,
					in.Deadline.UTC().Format("02/01/2006 15:04 UTC"))}
		}
		kinds := order.KindsOf(in.Kind)
		if err := a.writeNotices(ctx, tx, in.OrderID, kinds, []notice{n}, data, in.At); err != nil {
			return err
		}
		if in.Kind == order.ReminderConfirmation {
			postgres.AfterCommit(tx, func() {
				activity.GetLogger(ctx).Info("order "+strconv.FormatInt(in.OrderID, 10)+": client reminded of the confirmation deadline",
					logging.ConcernKey, logging.Concerns(logging.AutoConfirmation), "order_id", in.OrderID, "client_id", clientID,
					"deadline", in.Deadline.UTC().Format(time.RFC3339))
			})
		}
		return writeStepEvents(ctx, tx, order.StepKey(in.OrderID, in.Step), in.OrderID, kinds, map[string]any{
			"order_id": strconv.FormatInt(in.OrderID, 10), "title": title, "client_id": strconv.FormatInt(clientID, 10),
			"kind": in.Kind, "deadline": in.Deadline}, in.At)
	})
}

// RecordRefusal writes a refused operator signal into the timeline.
func (a *Activities) RecordRefusal(ctx context.Context, in order.RefusalInput) error {
	return postgres.InTx(ctx, a.Pool, func(tx pgx.Tx) error {
		_, err := claimStep(ctx, tx, in.OrderID, order.StepKey(in.OrderID, in.Step), string(in.Action), in.Actor,
			in.Status, in.Status, true, map[string]any{"code": in.Code, "message": in.Message}, in.At)
		return err
	})
}

// writeAudit records the step in the audit log under the transition
// table's action, with reason.
func writeAudit(ctx context.Context, tx pgx.Tx, t order.Transition, reason string) error {
	return auditlog.Record(ctx, tx, auditlog.Entry{ActorID: t.Actor.UserID, ActorRole: string(t.Actor.Role),
		Action: order.KindsOf(t.Action).Audit, TargetType: "order", TargetID: fmt.Sprint(t.OrderID), Reason: reason, At: t.At,
		RequestID: t.Actor.RequestID})
}
