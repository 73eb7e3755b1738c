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
	auditlog "github.com/ordem/ordem/internal/audit"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/logging"
	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/storage"
	"github.com/ordem/ordem/internal/sysconfig"
	"github.com/ordem/ordem/internal/webhook"
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
		var existing bool
		err := tx.QueryRow(ctx, `SELECT true FROM orders WHERE id = $1`, o.OrderID).Scan(&existing)
		if err == nil {
			res.Replayed = true
			return tx.QueryRow(ctx, `
				SELECT platform_fee_percentage, contestation_fee, cancellation_fee_percentage,
				       confirmation_deadline_hours, proposal_expiry_hours, confirmation_reminder_hours, dispute_sla_hours,
				       coalesce(dispute_negotiation_hours, 0), coalesce(max_revisions, 0)
				FROM orders WHERE id = $1`, o.OrderID).Scan(
				&res.Terms.PlatformFeePercentage, &res.Terms.ContestationFee, &res.Terms.CancellationFeePercentage,
				&res.Terms.ConfirmationDeadlineHours, &res.Terms.ProposalExpiryHours, &res.Terms.ConfirmationReminderHours,
				&res.Terms.DisputeSLAHours, &res.Terms.DisputeNegotiationHours, &res.Terms.MaxRevisions)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("look up order %d: %w", o.OrderID, err)
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
		res.Terms = order.Terms{
			PlatformFeePercentage:     values[sysconfig.PlatformFeePercentage],
			ContestationFee:           values[sysconfig.ContestationFee],
			CancellationFeePercentage: values[sysconfig.CancellationFeePercentage],
			ConfirmationDeadlineHours: values[sysconfig.ConfirmationDeadlineHours],
			ProposalExpiryHours:       values[sysconfig.ProposalExpiryHours],
			ConfirmationReminderHours: values[sysconfig.ConfirmationReminderHours],
			DisputeSLAHours:           values[sysconfig.DisputeSLAHours],
			DisputeNegotiationHours:   values[sysconfig.DisputeNegotiationHours],
			MaxRevisions:              int(values[sysconfig.MaxRevisions].IntPart()),
		}
		t := res.Terms
		expires := in.At.Add(order.Hours(t.ProposalExpiryHours))
		// The terms returned are the terms as the row stores them, not as
		// read from config: the snapshot columns round (percentages are
		// NUMERIC(7, 4) while config accepts more decimals), and a replay
		// returns the row's values, so returning the config values would
		// make the fees the workflow applies depend on whether this
		// activity was retried, and differ from the order's snapshot.
		err = tx.QueryRow(ctx, `
			INSERT INTO orders (id, client_id, provider_id, title, description, status, amount, due_date,
			    proposal_version, last_proposed_by, proposal_expires_at,
			    platform_fee_percentage, contestation_fee, cancellation_fee_percentage,
			    confirmation_deadline_hours, proposal_expiry_hours, confirmation_reminder_hours, dispute_sla_hours,
			    created_at, updated_at, dispute_negotiation_hours, max_revisions)
			VALUES ($1, $2, $3, $4, $5, 'negotiating', $6, $7, 1, $2, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $18)
			RETURNING platform_fee_percentage, contestation_fee, cancellation_fee_percentage,
			    confirmation_deadline_hours, proposal_expiry_hours, confirmation_reminder_hours, dispute_sla_hours,
			    dispute_negotiation_hours, max_revisions`,
			o.OrderID, o.ClientID, o.ProviderID, o.Title, o.Description, o.Amount, o.DueDate, expires,
			t.PlatformFeePercentage, t.ContestationFee, t.CancellationFeePercentage,
			t.ConfirmationDeadlineHours, t.ProposalExpiryHours, t.ConfirmationReminderHours, t.DisputeSLAHours, in.At,
			t.DisputeNegotiationHours, t.MaxRevisions).Scan(
			&res.Terms.PlatformFeePercentage, &res.Terms.ContestationFee, &res.Terms.CancellationFeePercentage,
			&res.Terms.ConfirmationDeadlineHours, &res.Terms.ProposalExpiryHours, &res.Terms.ConfirmationReminderHours,
			&res.Terms.DisputeSLAHours, &res.Terms.DisputeNegotiationHours, &res.Terms.MaxRevisions)
		if err != nil {
			return fmt.Errorf("insert order %d: %w", o.OrderID, err)
		}
		t = res.Terms
		_, err = tx.Exec(ctx, `
			INSERT INTO order_proposals (order_id, version, proposed_by, proposer_role, amount, due_date, created_at)
			VALUES ($1, 1, $2, 'client', $3, $4, $5)`, o.OrderID, o.ClientID, o.Amount, o.DueDate, in.At)
		if err != nil {
			return fmt.Errorf("insert first proposal: %w", err)
		}
		data := map[string]any{"amount": fixed(o.Amount), "title": o.Title, "terms": t}
		client := order.Actor{UserID: o.ClientID, Role: ordem.RoleClient}
		if _, err := claimStep(ctx, tx, o.OrderID, order.StepKey(o.OrderID, "create"), "create", client,
			"", order.StatusNegotiating, false, data, in.At); err != nil {
			return err
		}
		postgres.AfterCommit(tx, func() {
			logTransition(ctx, order.Transition{OrderID: o.OrderID, Step: "create", Action: "create", Actor: client, At: in.At,
				Next: order.State{OrderID: o.OrderID, Status: order.StatusNegotiating, Amount: o.Amount}}, "")
		})
		if err := a.writeNotices(ctx, tx, o.OrderID, []notice{{to: []int64{o.ProviderID}, kind: "order_created",
			title: "Novo pedido", body: fmt.Sprintf("Você recebeu um pedido: %s (R$ %s)", o.Title, fixed(o.Amount))}}, data, in.At); err != nil {
			return err
		}
		_, err = webhook.Enqueue(ctx, tx, webhook.Event{Key: order.StepKey(o.OrderID, "create") + "#" + webhook.OrderCreated,
			Type: webhook.OrderCreated, OrderID: o.OrderID, At: in.At, Data: map[string]any{
				"order_id": strconv.FormatInt(o.OrderID, 10), "status": string(order.StatusNegotiating), "amount": fixed(o.Amount),
				"title": o.Title, "client_id": strconv.FormatInt(o.ClientID, 10), "provider_id": strconv.FormatInt(o.ProviderID, 10),
				"due_date": o.DueDate, "actor_role": string(ordem.RoleClient)}})
		return err
	})
	if err != nil {
		return order.CreateOrderResult{}, refusalOrError(ctx, err)
	}
	return res, nil
}

func checkActiveUser(ctx context.Context, tx pgx.Tx, id int64, role ordem.Role, what string) error {
	var ok bool
	// FOR KEY SHARE: a deletion of the user (which locks the row FOR
	// UPDATE, then looks for open orders) either waits for this order and
	// sees it, or commits first and this check no longer finds the user.
	err := tx.QueryRow(ctx, `SELECT true FROM users WHERE id = $1 AND role = $2 AND deleted_at IS NULL FOR KEY SHARE`,
		id, string(role)).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return ordem.Errorf(ordem.EValidation, "%s %d does not exist or is not active", what, id)
	}
	if err != nil {
		return fmt.Errorf("look up %s %d: %w", what, id, err)
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
		notices: []notice{{to: []int64{other(t)}, kind: "proposal", title: "Nova proposta",
			body: fmt.Sprintf("Nova proposta para %s: R$ %s", t.Next.Title, fixed(in.Amount))}},
		extra: func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `
				INSERT INTO order_proposals (order_id, version, proposed_by, proposer_role, amount, previous_amount,
				    due_date, previous_due_date, note, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				t.OrderID, in.Version, t.Actor.UserID, string(t.Actor.Role), in.Amount, in.PreviousAmount,
				in.DueDate, in.PreviousDueDate, t.Reason, t.At)
			if err != nil {
				return fmt.Errorf("insert proposal v%d: %w", in.Version, err)
			}
			return nil
		},
	})
}

// AcceptOrder holds the agreed amount: client available → client blocked.
// Without the funds it refuses with insufficient_funds and writes nothing.
func (a *Activities) AcceptOrder(ctx context.Context, in order.AcceptActivityInput) (order.TransitionResult, error) {
	t := in.Transition
	return a.apply(ctx, step{
		t:          t,
		ledgerKind: "hold",
		legs: []ledger.Leg{
			{Account: clientAvailable(t.Next), Amount: in.Hold.Neg()},
			{Account: clientBlocked(t.Next), Amount: in.Hold},
		},
		data: map[string]any{"amount": fixed(in.Hold), "hold": fixed(in.Hold)},
		notices: []notice{{to: []int64{t.Next.ClientID, t.Next.ProviderID}, kind: "order_accepted", title: "Pedido aceito",
			body: fmt.Sprintf("%s foi aceito por R$ %s; o valor está retido em garantia.", t.Next.Title, fixed(in.Hold))}},
	})
}

// DeliverOrder marks the work delivered and starts the confirmation window.
func (a *Activities) DeliverOrder(ctx context.Context, t order.Transition) (order.TransitionResult, error) {
	return a.apply(ctx, step{
		t:    t,
		data: map[string]any{"confirm_deadline": t.Next.ConfirmDeadline},
		notices: []notice{{to: []int64{t.Next.ClientID}, kind: "order_delivered", title: "Serviço entregue",
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
		t:          t,
		ledgerKind: "cancel",
		legs:       legs,
		data: map[string]any{"released": fixed(in.Release), "penalty": fixed(in.Penalty),
			"penalty_from_provider": in.PenaltyFromProvider, "reason": t.Reason},
		notices: []notice{{to: to, kind: "order_cancelled", title: "Pedido cancelado",
			body: fmt.Sprintf("%s foi cancelado (%s).", s.Title, t.Actor.Role)}},
		extra: func(ctx context.Context, tx pgx.Tx) error {
			if t.Actor.Role != ordem.RoleAdmin {
				return nil
			}
			return writeAudit(ctx, tx, t, "cancel_order")
		},
	})
}

func releaseStep(t order.Transition, in order.ReleaseInput, kind string) step {
	s := t.Next
	return step{
		t:          t,
		ledgerKind: kind,
		legs: []ledger.Leg{
			{Account: clientBlocked(s), Amount: in.Amount.Neg()},
			{Account: providerAvailable(s), Amount: in.Split.ProviderShare},
			{Account: ledger.RevenueAccount, Amount: in.Split.Fee},
		},
		data: map[string]any{"amount": fixed(in.Amount), "platform_fee": fixed(in.Split.Fee),
			"provider_share": fixed(in.Split.ProviderShare), "auto": kind == "auto_release"},
	}
}

// ConfirmOrder releases the escrow on the client's confirmation.
func (a *Activities) ConfirmOrder(ctx context.Context, in order.ReleaseInput) (order.TransitionResult, error) {
	s := releaseStep(in.Transition, in, "release")
	s.notices = []notice{{to: []int64{in.Next.ClientID, in.Next.ProviderID}, kind: "order_completed", title: "Pedido concluído",
		body: fmt.Sprintf("%s foi confirmado; R$ %s liberados ao prestador.", in.Next.Title, fixed(in.Split.ProviderShare))}}
	return a.apply(ctx, s)
}

// AutoConfirmOrder runs when the confirmation deadline passed in silence:
// it releases the escrow, or, with AUTO_CONFIRM_JOB_ENABLED=false, only
// alerts the admins and marks the order as held.
func (a *Activities) AutoConfirmOrder(ctx context.Context, in order.ReleaseInput) (order.AutoConfirmResult, error) {
	if a.AutoConfirmEnabled {
		s := releaseStep(in.Transition, in, "auto_release")
		s.notices = []notice{{to: []int64{in.Next.ClientID, in.Next.ProviderID}, kind: "order_auto_confirmed",
			title: "Pedido confirmado automaticamente",
			body:  fmt.Sprintf("O prazo de %s terminou sem resposta; R$ %s liberados ao prestador.", in.Next.Title, fixed(in.Split.ProviderShare))}}
		res, err := a.apply(ctx, s)
		return order.AutoConfirmResult{TransitionResult: res}, err
	}
	t := in.Transition
	// The order stays delivered; only the held flag changes.
	held := t
	held.Action = "auto_confirm_held"
	held.Step = "auto_confirm_held:" + in.Next.ConfirmDeadline.UTC().Format("20060102T150405.000Z")
	held.Next = heldState(t)
	res, err := a.apply(ctx, step{
		t:    held,
		data: map[string]any{"confirm_deadline": in.Next.ConfirmDeadline, "amount": fixed(in.Amount)},
		notices: []notice{{admins: true, kind: "auto_confirm_held", title: "Confirmação automática desativada",
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
		t:          t,
		ledgerKind: "contest_fee_hold",
		legs: []ledger.Leg{
			{Account: clientAvailable(t.Next), Amount: in.Fee.Neg()},
			{Account: clientBlocked(t.Next), Amount: in.Fee},
		},
		data: map[string]any{"contestation_fee": fixed(in.Fee), "reason": t.Reason},
		notices: []notice{{to: []int64{t.Next.ProviderID}, admins: true, kind: "order_contested", title: "Entrega contestada",
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
	var recordedOrder int64
	var recordedKey string
	err := a.Pool.QueryRow(ctx, `SELECT order_id, object_key FROM evidence WHERE id = $1`, e.EvidenceID).Scan(&recordedOrder, &recordedKey)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		// The move comes first and is idempotent: a retry after a crash
		// finds the object already in place and goes on to record it, once.
		if err := a.Evidence.Promote(ctx, e.StagingKey, in.ObjectKey); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return order.TransitionResult{}, order.Refusal(ordem.EValidation, "the uploaded file is no longer available; upload it again")
			}
			return order.TransitionResult{}, fmt.Errorf("promote evidence %s: %w", e.EvidenceID, err)
		}
	case err != nil:
		return order.TransitionResult{}, fmt.Errorf("look up evidence %s: %w", e.EvidenceID, err)
	case recordedOrder != t.OrderID || recordedKey != in.ObjectKey:
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
		notices: []notice{{to: to, admins: t.Actor.Role != ordem.RoleAdmin, kind: "evidence_added", title: "Nova prova na disputa",
			body: fmt.Sprintf("Uma prova foi anexada à disputa de %s: %s", t.Next.Title, e.FileName)}},
		extra: func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `
				INSERT INTO evidence (id, order_id, uploader_id, uploader_role, object_key, original_name,
				    content_type, size_bytes, sha256, description, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
				e.EvidenceID, t.OrderID, t.Actor.UserID, string(t.Actor.Role), in.ObjectKey, e.FileName,
				e.ContentType, e.Size, e.SHA256, e.Description, t.At)
			if err != nil {
				return fmt.Errorf("insert evidence %s: %w", e.EvidenceID, err)
			}
			return nil
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
	st.data["resolved_by"] = order.ResolvedByAdmin
	st.extra = func(ctx context.Context, tx pgx.Tx) error {
		return writeAudit(ctx, tx, in.Transition, "resolve_dispute")
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
		t:          t,
		ledgerKind: "resolve",
		legs: []ledger.Leg{
			{Account: clientBlocked(s), Amount: held.Neg()},
			{Account: clientAvailable(s), Amount: r.Refund.Add(r.ContestFeeToClient)},
			{Account: providerAvailable(s), Amount: r.Release.ProviderShare},
			{Account: ledger.RevenueAccount, Amount: r.Release.Fee.Add(r.ContestFeeToPlatform)},
		},
		data: map[string]any{"refund": fixed(r.Refund), "provider_share": fixed(r.Release.ProviderShare),
			"platform_fee": fixed(r.Release.Fee), "contest_fee_returned": fixed(r.ContestFeeToClient),
			"contest_fee_forfeited": fixed(r.ContestFeeToPlatform), "reason": t.Reason},
		notices: []notice{{to: []int64{s.ClientID, s.ProviderID}, kind: "dispute_resolved", title: "Disputa resolvida",
			body: fmt.Sprintf("A disputa de %s foi resolvida: R$ %s ao cliente, R$ %s ao prestador.", s.Title,
				fixed(r.Refund.Add(r.ContestFeeToClient)), fixed(r.Release.ProviderShare))}},
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
		notices: []notice{{to: []int64{other(t)}, kind: "settlement_offered", title: "Proposta de acordo",
			body: fmt.Sprintf("Proposta de acordo na disputa de %s: R$ %s de reembolso ao cliente. Aceite-a ou faça outra.",
				t.Next.Title, fixed(o.RefundAmount))}},
		extra: func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `
				INSERT INTO order_settlement_offers (order_id, version, offered_by, offered_role, refund_amount,
				    previous_refund, note, created_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				t.OrderID, o.Version, t.Actor.UserID, string(t.Actor.Role), o.RefundAmount, in.PreviousRefund, o.Note, t.At)
			if err != nil {
				return fmt.Errorf("insert settlement offer v%d: %w", o.Version, err)
			}
			return auditlog.Record(ctx, tx, auditlog.Entry{ActorID: t.Actor.UserID, ActorRole: string(t.Actor.Role),
				Action: "offer_settlement", TargetType: "order", TargetID: fmt.Sprint(t.OrderID),
				Reason: fmt.Sprintf("v%d: refund %s (was %v): %s", o.Version, fixed(o.RefundAmount), prev, o.Note), At: t.At})
		},
	})
}

// AcceptSettlement resolves a dispute on the terms of the latest offer,
// moving exactly the money of an admin ruling with the same refund. It
// shares the ruling's step key: only one of them can ever post.
func (a *Activities) AcceptSettlement(ctx context.Context, in order.ResolveActivityInput) (order.TransitionResult, error) {
	st := resolveStep(in)
	st.data["settlement_version"] = in.SettlementVersion
	st.data["resolved_by"] = order.ResolvedBySettlement
	st.notices[0].kind = "dispute_settled"
	st.notices[0].title = "Acordo aceito"
	st.notices[0].body = fmt.Sprintf("As partes fizeram um acordo na disputa de %s: R$ %s ao cliente, R$ %s ao prestador.",
		in.Next.Title, fixed(in.Resolution.Refund.Add(in.Resolution.ContestFeeToClient)), fixed(in.Resolution.Release.ProviderShare))
	st.extra = func(ctx context.Context, tx pgx.Tx) error {
		return auditlog.Record(ctx, tx, auditlog.Entry{ActorID: in.Actor.UserID, ActorRole: string(in.Actor.Role),
			Action: "accept_settlement", TargetType: "order", TargetID: fmt.Sprint(in.OrderID),
			Reason: fmt.Sprintf("offer v%d: refund %s", in.SettlementVersion, fixed(in.Resolution.Refund)), At: in.At})
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
		notices: []notice{{to: []int64{t.Next.ProviderID}, kind: "revision_requested", title: "Revisão solicitada",
			body: fmt.Sprintf("O cliente pediu a revisão %d de %d de %s: %s", in.Number, t.Next.Terms.MaxRevisions,
				t.Next.Title, t.Reason)}},
		extra: func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `
				INSERT INTO order_revisions (order_id, number, requested_by, reason, delivered_at, created_at)
				VALUES ($1, $2, $3, $4, $5, $6)`, t.OrderID, in.Number, t.Actor.UserID, t.Reason, in.DeliveredAt, t.At)
			if err != nil {
				return fmt.Errorf("insert revision %d: %w", in.Number, err)
			}
			return nil
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
		notices: []notice{{to: to, admins: true, kind: "dispute_queued", title: "Disputa aguardando decisão",
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
		notices: []notice{{to: []int64{t.Next.ClientID, t.Next.ProviderID}, kind: "deadline_extended", title: "Prazo estendido",
			body: fmt.Sprintf("O prazo de confirmação de %s foi estendido até %s.", t.Next.Title,
				t.Next.ConfirmDeadline.UTC().Format("02/01/2006 15:04 UTC"))}},
		extra: func(ctx context.Context, tx pgx.Tx) error { return writeAudit(ctx, tx, t, "extend_deadline") },
	})
}

// ExpireOrder closes a negotiation nobody accepted in time.
func (a *Activities) ExpireOrder(ctx context.Context, t order.Transition) (order.TransitionResult, error) {
	return a.apply(ctx, step{
		t: t,
		notices: []notice{{to: []int64{t.Next.ClientID, t.Next.ProviderID}, kind: "order_expired", title: "Negociação expirada",
			body: fmt.Sprintf("A negociação de %s expirou sem aceite.", t.Next.Title)}},
	})
}

// SendReminder writes a reminder: to the client before auto-confirmation,
// or to the admins when a dispute outlives its SLA. Each is sent once.
func (a *Activities) SendReminder(ctx context.Context, in order.ReminderInput) error {
	return postgres.InTx(ctx, a.Pool, func(tx pgx.Tx) error {
		var clientID int64
		var title string
		if err := tx.QueryRow(ctx, `SELECT client_id, title FROM orders WHERE id = $1`, in.OrderID).Scan(&clientID, &title); err != nil {
			return fmt.Errorf("look up order %d: %w", in.OrderID, err)
		}
		data := map[string]any{"deadline": in.Deadline, "kind": in.Kind}
		claimed, err := claimStep(ctx, tx, in.OrderID, order.StepKey(in.OrderID, in.Step), in.Kind, order.SystemActor, "", "", false, data, in.At)
		if err != nil || !claimed {
			return err
		}
		n := notice{to: []int64{clientID}, kind: in.Kind, title: "Confirme seu pedido",
			body: fmt.Sprintf("%s será confirmado automaticamente em %s. Confirme ou conteste antes disso.",
				title, in.Deadline.UTC().Format("02/01/2006 15:04 UTC"))}
		if in.Kind == order.ReminderDisputeSLA {
			n = notice{admins: true, kind: in.Kind, title: "Disputa aguardando decisão",
				body: fmt.Sprintf("A disputa do pedido %d (%s) está aberta desde antes de %s.", in.OrderID, title,
					in.Deadline.UTC().Format("02/01/2006 15:04 UTC"))}
		}
		if err := a.writeNotices(ctx, tx, in.OrderID, []notice{n}, data, in.At); err != nil {
			return err
		}
		if in.Kind == order.ReminderConfirmation {
			postgres.AfterCommit(tx, func() {
				activity.GetLogger(ctx).Info("order "+strconv.FormatInt(in.OrderID, 10)+": client reminded of the confirmation deadline",
					logging.ConcernKey, logging.Concerns(logging.AutoConfirmation), "order_id", in.OrderID, "client_id", clientID,
					"deadline", in.Deadline.UTC().Format(time.RFC3339))
			})
		}
		typ := webhook.OrderReminder
		if in.Kind == order.ReminderDisputeSLA {
			typ = webhook.DisputeSLAReminder
		}
		_, err = webhook.Enqueue(ctx, tx, webhook.Event{Key: order.StepKey(in.OrderID, in.Step) + "#" + typ, Type: typ,
			OrderID: in.OrderID, At: in.At, Data: map[string]any{"order_id": strconv.FormatInt(in.OrderID, 10),
				"title": title, "client_id": strconv.FormatInt(clientID, 10), "kind": in.Kind, "deadline": in.Deadline}})
		return err
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

// writeAudit writes an admin action to the audit log.
func writeAudit(ctx context.Context, tx pgx.Tx, t order.Transition, action string) error {
	return auditlog.Record(ctx, tx, auditlog.Entry{ActorID: t.Actor.UserID, ActorRole: string(t.Actor.Role), Action: action,
		TargetType: "order", TargetID: fmt.Sprint(t.OrderID), Reason: t.Reason, At: t.At})
}
