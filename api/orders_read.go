package api

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/workflows/order"
)

func temporalSearch(orderID, clientID, providerID int64) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		order.SearchOrderID.ValueSet(orderID),
		order.SearchOrderStatus.ValueSet(string(order.StatusNegotiating)),
		order.SearchClientID.ValueSet(clientID),
		order.SearchProviderID.ValueSet(providerID),
	)
}

func (s *Server) getOrder(c *fiber.Ctx) error {
	orderID, err := pathID(c, "id")
	if err != nil {
		return err
	}
	return s.respondOrder(c, fiber.StatusOK, orderID, true)
}

// listOrders lists the caller's own orders (admins: all, filterable by
// client_id and provider_id), newest first, keyset-paginated.
func (s *Server) listOrders(c *fiber.Ctx) error {
	p := caller(c)
	pg, err := parsePage(c)
	if err != nil {
		return err
	}
	f := fieldErrors{}
	status := c.Query("status")
	if status != "" && !validStatus(status) {
		f.add("status", "is not an order status")
	}
	var clientID, providerID int64
	for name, dst := range map[string]*int64{"client_id": &clientID, "provider_id": &providerID} {
		if v := c.Query(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				f.add(name, "must be a user id")
			}
			*dst = n
		}
	}
	if err := f.err(); err != nil {
		return err
	}
	switch p.Role {
	case ordem.RoleClient:
		clientID = p.ID
	case ordem.RoleProvider:
		providerID = p.ID
	}
	rows, err := s.Pool.Query(c.UserContext(), `SELECT `+orderColumns+` FROM orders o
		WHERE ($1 = 0 OR o.client_id = $1) AND ($2 = 0 OR o.provider_id = $2) AND ($3 = '' OR o.status = $3)
		  AND ($4::timestamptz IS NULL OR (o.created_at, o.id) < ($4, $5))
		ORDER BY o.created_at DESC, o.id DESC LIMIT $6`,
		clientID, providerID, status, pg.after, pg.afterID, pg.limit+1)
	if err != nil {
		return err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (orderRow, error) { return scanOrder(r) })
	if err != nil {
		return err
	}
	out := pageOf(list, pg.limit, func(o orderRow) (time.Time, int64) { return o.CreatedAt, o.state.OrderID },
		func(o orderRow) Order { s.present(&o, p); return o.Order })
	named := make([]*Order, len(out.Items))
	for i := range out.Items {
		named[i] = &out.Items[i]
	}
	if err := s.nameParties(c.UserContext(), named...); err != nil {
		return err
	}
	return c.JSON(out)
}

func validStatus(s string) bool {
	for _, st := range order.Statuses {
		if string(st) == s {
			return true
		}
	}
	return false
}

// Event is one entry of an order's timeline.
type Event struct {
	ID        string          `json:"id"`
	Action    string          `json:"action"`
	ActorID   *string         `json:"actor_id,omitempty"`
	ActorRole string          `json:"actor_role"`
	From      *string         `json:"from,omitempty"`
	To        *string         `json:"to,omitempty"`
	Refused   bool            `json:"refused"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

// orderEvents returns the order's timeline: proposals, state changes,
// money movements (amounts in data), evidence and refused signals.
func (s *Server) orderEvents(c *fiber.Ctx) error {
	p := caller(c)
	orderID, err := pathID(c, "id")
	if err != nil {
		return err
	}
	if _, err := s.loadOrder(c.UserContext(), orderID, p); err != nil {
		return err
	}
	rows, err := s.Pool.Query(c.UserContext(), `
		SELECT id, action, actor_id, actor_role, from_status, to_status, refused, data, created_at
		FROM order_events WHERE order_id = $1 ORDER BY id`, orderID)
	if err != nil {
		return err
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var (
			e     Event
			eid   int64
			actor *int64
			data  []byte
		)
		err := r.Scan(&eid, &e.Action, &actor, &e.ActorRole, &e.From, &e.To, &e.Refused, &data, &e.CreatedAt)
		e.ID, e.Data = id(eid), data
		if actor != nil {
			a := id(*actor)
			e.ActorID = &a
		}
		return e, err
	})
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": events})
}
