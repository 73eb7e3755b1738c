package api

import (
	"encoding/json"
	"math"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
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
	// The page is a range of notifications_user_idx (user_id, id DESC);
	// the unread filter is spelled out so the planner may use
	// notifications_user_unread_idx, which also serves the count.
	query := `SELECT id, order_id, kind, title, body, data, read_at, created_at FROM notifications
		WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`
	if unread {
		query = `SELECT id, order_id, kind, title, body, data, read_at, created_at FROM notifications
		WHERE user_id = $1 AND read_at IS NULL AND id < $2 ORDER BY id DESC LIMIT $3`
	}
	rows, err := s.Pool.Query(ctx, query, p.ID, before, pg.limit+1)
	if err != nil {
		return err
	}
	type row struct {
		Notification
		nid int64
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var (
			n       row
			orderID *int64
			data    []byte
		)
		err := r.Scan(&n.nid, &orderID, &n.Kind, &n.Title, &n.Body, &data, &n.ReadAt, &n.CreatedAt)
		n.ID, n.Data, n.Read = id(n.nid), data, n.ReadAt != nil
		if orderID != nil {
			o := id(*orderID)
			n.OrderID = &o
		}
		return n, err
	})
	if err != nil {
		return err
	}
	out := NotificationPage{Items: make([]Notification, 0, len(list))}
	for i, n := range list {
		if i == pg.limit {
			out.NextCursor = encodeCursor(list[i-1].CreatedAt, list[i-1].nid)
			break
		}
		out.Items = append(out.Items, n.Notification)
	}
	err = s.Pool.QueryRow(ctx, `SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL`, p.ID).Scan(&out.UnreadCount)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// readNotification marks one of the caller's notifications read (again is
// fine: the first read time stays). Another user's id is not_found.
func (s *Server) readNotification(c *fiber.Ctx) error {
	p := caller(c)
	nid, err := pathID(c, "id")
	if err != nil {
		return err
	}
	tag, err := s.Pool.Exec(c.UserContext(), `
		UPDATE notifications SET read_at = coalesce(read_at, $3) WHERE id = $1 AND user_id = $2`, nid, p.ID, s.now())
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ordem.Errorf(ordem.ENotFound, "no such notification")
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// readAllNotifications marks every unread notification of the caller read.
func (s *Server) readAllNotifications(c *fiber.Ctx) error {
	p := caller(c)
	_, err := s.Pool.Exec(c.UserContext(), `
		UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL`, p.ID, s.now())
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
