package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"go.temporal.io/sdk/client"
	"golang.org/x/sync/errgroup"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/accounts"
	"github.com/ordem/ordem/internal/orders"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/workflows/order"
)

type deleteUserRequest struct {
	Reason string `json:"reason"`
	// CancelOpenOrders asks, in the same request, to admin-cancel every
	// open order of the user (full refunds, the reason in each order's
	// timeline) before the deletion.
	CancelOpenOrders bool `json:"cancel_open_orders"`
}

// OpenOrder names an order that keeps a user from being deleted.
type OpenOrder struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// maxOpenOrdersListed bounds the orders a has_open_orders refusal lists.
const maxOpenOrdersListed = 100

// openOrdersOf lists the open orders in which uid is the client or the
// provider, oldest first, in the API's shape.
func openOrdersOf(ctx context.Context, db postgres.DBTX, uid int64) ([]OpenOrder, error) {
	open, err := orders.OpenOf(ctx, db, uid)
	if err != nil {
		return nil, err
	}
	list := make([]OpenOrder, len(open))
	for i, o := range open {
		list[i] = OpenOrder{ID: id(o.ID), Status: string(o.Status)}
	}
	return list, nil
}

// hasOpenOrders is the refusal naming the open orders (ids and
// statuses) in its details.
func hasOpenOrders(open []OpenOrder) error {
	listed := open[:min(len(open), maxOpenOrdersListed)]
	return &ordem.Error{Code: ordem.EHasOpenOrders,
		Message: fmt.Sprintf(`the user has %d open order(s): cancel them first, or send "cancel_open_orders": true to cancel them with full refunds in this request`,
			len(open)),
		Details: map[string]any{"orders": listed, "total": len(open)}}
}

// deleteUserInput reads the request: a JSON body {"reason",
// "cancel_open_orders"}, or (no body) ?reason= as before.
func deleteUserInput(c *fiber.Ctx) (deleteUserRequest, error) {
	var req deleteUserRequest
	if err := decodeOptionalJSON(c, &req); err != nil {
		return req, err
	}
	if q := c.Query("reason"); q != "" {
		if req.Reason != "" {
			return req, ordem.Errorf(ordem.EInvalid, "give the reason in the body or in the query, not both")
		}
		req.Reason = q
	}
	f := fieldErrors{}
	checkReason(f, req.Reason)
	req.Reason = strings.TrimSpace(req.Reason)
	return req, f.err()
}

// deleteUser soft-deletes a user: they can no longer log in, their
// sessions end, their history stays. A user with open orders is refused
// (409 has_open_orders, the orders in details) unless the request asks to
// cancel them: each is then admin-cancelled through its workflow (full
// refund, the reason in its timeline) before the user is deleted.
func (s *Server) deleteUser(c *fiber.Ctx) error {
	uid, err := pathID(c, "id")
	if err != nil {
		return err
	}
	p := caller(c)
	if uid == p.ID {
		return ordem.Errorf(ordem.EInvalidTransition, "an admin cannot delete their own account")
	}
	req, err := deleteUserInput(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if live, err := accounts.IsLive(ctx, s.Pool, uid); err != nil {
		return err
	} else if !live {
		return ordem.Errorf(ordem.ENotFound, "no such user")
	}
	open, err := openOrdersOf(ctx, s.Pool, uid)
	if err != nil {
		return err
	}
	var cancelled []string
	if len(open) > 0 {
		if !req.CancelOpenOrders {
			return hasOpenOrders(open)
		}
		if cancelled, err = s.cancelOpenOrders(ctx, requestActor(c), uid, open, req.Reason); err != nil {
			return err
		}
	}
	now := s.now()
	err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		// FOR UPDATE conflicts with the key-share lock order creation
		// takes on its parties (checkActiveUser): an order created
		// meanwhile is either seen below or refused for a deleted party.
		if live, err := accounts.LockLive(ctx, tx, uid); err != nil {
			return err
		} else if !live {
			return ordem.Errorf(ordem.ENotFound, "no such user")
		}
		if late, err := openOrdersOf(ctx, tx, uid); err != nil {
			return err
		} else if len(late) > 0 {
			// Opened while this request ran (or a cancellation raced a
			// transition): the admin decides again.
			return hasOpenOrders(late)
		}
		if err := accounts.SoftDelete(ctx, tx, uid, now); err != nil {
			return err
		}
		// Their sessions end now: a deleted user can no longer act.
		if _, err := accounts.EndSessions(ctx, tx, uid, 0, now); err != nil {
			return err
		}
		var data any
		if len(cancelled) > 0 {
			data = map[string]any{"cancelled_orders": cancelled}
		}
		return auditChange(c, tx, p, "delete_user", "user", uid, req.Reason, data,
			map[string]any{"deleted_at": nil}, map[string]any{"deleted_at": now.UTC()})
	})
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// cancelOpenOrders admin-cancels each open order through its workflow
// (the existing admin cancel: full refund, contestation fee back; money
// moves only in the workflow's activities), a few at a time. An order that
// reached a terminal state meanwhile is left as it is. It returns the ids
// of the orders this request cancelled. A repeated request converges:
// what an earlier attempt cancelled is no longer open.
func (s *Server) cancelOpenOrders(ctx context.Context, actor order.Actor, uid int64, open []OpenOrder, reason string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, requestDeadline)
	defer cancel()
	done := make([]bool, len(open))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, o := range open {
		g.Go(func() error {
			oid, _ := parseID(o.ID)
			zero := decimal.Zero
			in := order.CancelInput{Actor: actor, Reason: reason, ExpectedPenalty: &zero}
			err := s.updateRetrying(gctx, client.UpdateWorkflowOptions{
				WorkflowID: order.WorkflowID(oid),
				// One update per (order, deleted user): a repeated request
				// gets the first outcome instead of a second cancel.
				UpdateID:     fmt.Sprintf("admin-delete-user:%d:cancel", uid),
				UpdateName:   string(order.ActionCancel),
				Args:         []any{in},
				WaitForStage: client.WorkflowUpdateStageCompleted,
			})
			if err == nil {
				done[i] = true
				return nil
			}
			// Refused or gone: fine if the order ended anyway (confirmed,
			// expired or cancelled by someone else meanwhile).
			if status, qerr := orders.StatusOf(gctx, s.Pool, oid); qerr == nil && status.Terminal() {
				return nil
			}
			if e := order.AsError(err); e != nil {
				return &ordem.Error{Code: e.Code, Message: fmt.Sprintf("order %d could not be cancelled: %s", oid, e.Message)}
			}
			return fmt.Errorf("cancel order %d: %w", oid, err)
		})
	}
	err := g.Wait()
	var cancelled []string
	for i, ok := range done {
		if ok {
			cancelled = append(cancelled, open[i].ID)
		}
	}
	return cancelled, err
}
