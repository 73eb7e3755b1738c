package api

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.temporal.io/sdk/temporal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/orders"
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
	list, err := orders.List(c.UserContext(), s.Pool, orders.Filter{ClientID: clientID, ProviderID: providerID,
		Status: status, AfterAt: pg.after, AfterID: pg.afterID, Limit: pg.limit + 1})
	if err != nil {
		return err
	}
	out := pageOf(list, pg.limit, func(r orders.Row) (time.Time, int64) { return r.CreatedAt, r.OrderID },
		func(r orders.Row) Order { o := newOrderRow(r); s.present(&o, p); return o.Order })
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
	orderID, _, err := s.pathOrder(c)
	if err != nil {
		return err
	}
	list, err := orders.Events(c.UserContext(), s.Pool, orderID)
	if err != nil {
		return err
	}
	events := make([]Event, len(list))
	for i, e := range list {
		events[i] = Event{ID: id(e.ID), Action: e.Action, ActorRole: string(e.Actor.Role), From: optionalText(string(e.From)),
			To: optionalText(string(e.To)), Refused: e.Refused, Data: e.Data, CreatedAt: e.CreatedAt}
		if e.Actor.UserID != 0 {
			events[i].ActorID = optionalText(id(e.Actor.UserID))
		}
	}
	return c.JSON(fiber.Map{"items": events})
}

// optionalText is nil for "" (a JSON field left out).
func optionalText(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}
