package api

import (
	"encoding/json"
	"math"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/notifications"
)

func (s *Server) mountNotifications(r fiber.Router) {
	r.Get("/notifications", s.authenticate, s.listNotifications)
	r.Post("/notifications/read-all", s.authenticate, s.readAllNotifications)
	r.Post("/notifications/:id/read", s.authenticate, s.readNotification)
}

// Notification is one entry of a user's in-app inbox.
type Notification struct {
	ID        string          `json:"id"`
	OrderID   *string         `json:"order_id,omitempty"`
	Kind      string          `json:"kind"`
	Title     string          `json:"title"`
	Body      string          `json:"body"`
	Data      json.RawMessage `json:"data"`
	Read      bool            `json:"read"`
	ReadAt    *time.Time      `json:"read_at,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

// NotificationPage is a page of the inbox, newest first, with the number
// of unread notifications (for a badge).
type NotificationPage struct {
	Items       []Notification `json:"items"`
	NextCursor  string         `json:"next_cursor,omitempty"`
	UnreadCount int64          `json:"unread_count"`
}

// listNotifications lists the caller's own notifications, newest first
// (by id: the order they were written in), keyset-paginated with cursor
// and limit; unread=true keeps only the unread ones.
func (s *Server) listNotifications(c *fiber.Ctx) error {
	p := caller(c)
	pg, err := parsePage(c)
	if err != nil {
		return err
	}
	unread := false
	switch c.Query("unread") {
	case "", "false":
	case "true":
		unread = true
	default:
		return (fieldErrors{"unread": "must be true or false"}).err()
	}
	ctx := c.UserContext()
	before := int64(math.MaxInt64) // ids below the cursor's
	if pg.after != nil {
		before = pg.afterID
	}
	list, err := notifications.List(ctx, s.Pool, p.ID, before, unread, pg.limit+1)
	if err != nil {
		return err
	}
	out := NotificationPage{Items: make([]Notification, 0, len(list))}
	for i, n := range list {
		if i == pg.limit {
			out.NextCursor = encodeCursor(list[i-1].CreatedAt, list[i-1].ID)
			break
		}
		out.Items = append(out.Items, notificationOf(n))
	}
	if out.UnreadCount, err = notifications.UnreadCount(ctx, s.Pool, p.ID); err != nil {
		return err
	}
	return c.JSON(out)
}

// notificationOf is a notification as the API shows it.
func notificationOf(r notifications.Row) Notification {
	n := Notification{ID: id(r.ID), Kind: r.Kind, Title: r.Title, Body: r.Body, Data: r.Data, Read: r.ReadAt != nil,
		ReadAt: r.ReadAt, CreatedAt: r.CreatedAt}
	if r.OrderID != nil {
		o := id(*r.OrderID)
		n.OrderID = &o
	}
	return n
}

// readNotification marks one of the caller's notifications read (again is
// fine: the first read time stays). Another user's id is not_found.
func (s *Server) readNotification(c *fiber.Ctx) error {
	p := caller(c)
	nid, err := pathID(c, "id")
	if err != nil {
		return err
	}
	found, err := notifications.MarkRead(c.UserContext(), s.Pool, nid, p.ID, s.now())
	if err != nil {
		return err
	}
	if !found {
		return ordem.Errorf(ordem.ENotFound, "no such notification")
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// readAllNotifications marks every unread notification of the caller read.
func (s *Server) readAllNotifications(c *fiber.Ctx) error {
	p := caller(c)
	if err := notifications.MarkAllRead(c.UserContext(), s.Pool, p.ID, s.now()); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
