// Package mail sends Ordem's e-mails to users: the outbox insert written
// in the same transaction as the notification it copies (Enqueue), and
// the senders the EmailDelivery workflow's activity uses: SMTP with
// STARTTLS, or the log (ORDEM_ENV=dev, or no SMTP_HOST), which records
// recipient and subject only.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/postgres"
)

// Message is one e-mail.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Sender delivers messages.
type Sender interface {
	// Send delivers m; logged reports that it was only written to the
	// log. An error is worth retrying (server down, refused for now).
	Send(ctx context.Context, m Message) (logged bool, err error)
}

// New returns the sender cfg asks for: SMTP when SMTP_HOST is set outside
// ORDEM_ENV=dev, the log otherwise.
func New(cfg *config.Config, logger *slog.Logger) Sender {
	if cfg.SMTPHost == "" || cfg.Env == config.EnvDev {
		return LogSender{Logger: logger}
	}
	return &SMTPSender{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUsername,
		Password: cfg.SMTPPassword, From: cfg.SMTPFrom}
}

// LogSender writes each e-mail's recipient and subject to the log, never
// its body (which may quote user text) and nothing of the SMTP settings.
type LogSender struct {
	Logger *slog.Logger
}

// Send implements Sender.
func (l LogSender) Send(ctx context.Context, m Message) (bool, error) {
	logger := l.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.InfoContext(ctx, "E-mail not sent (no SMTP in this environment)", "to", m.To, "subject", m.Subject)
	return true, nil
}

// SMTPSender sends through an SMTP server: STARTTLS whenever the server
// offers it (required before authenticating anywhere but localhost, which
// net/smtp's PLAIN auth enforces), then AUTH PLAIN when a username is set.
type SMTPSender struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	// TLSConfig overrides the STARTTLS configuration (tests); nil checks
	// the server's certificate against Host.
	TLSConfig *tls.Config
}

// sendTimeout bounds one SMTP dialogue.
const sendTimeout = 20 * time.Second

// Send implements Sender.
func (s *SMTPSender) Send(ctx context.Context, m Message) (bool, error) {
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return false, fmt.Errorf("parse SMTP_FROM: %w", err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return false, fmt.Errorf("parse recipient: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, fmt.Errorf("connect to SMTP server: %w", err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		conn.Close()
		return false, fmt.Errorf("greet SMTP server: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return false, fmt.Errorf("start TLS: %w", err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return false, fmt.Errorf("authenticate to SMTP server: %w", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return false, fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return false, fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return false, fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(compose(from, to, m, time.Now())); err != nil {
		return false, fmt.Errorf("write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return false, fmt.Errorf("end message: %w", err)
	}
	if err := c.Quit(); err != nil {
		return false, fmt.Errorf("QUIT: %w", err)
	}
	return false, nil
}

// compose builds an RFC 5322 message: UTF-8 plain text, the subject
// encoded for non-ASCII, CRLF line ends.
func compose(from, to *mail.Address, m Message, at time.Time) []byte {
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from.String())
	h("To", to.String())
	h("Subject", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	h("Date", at.UTC().Format(time.RFC1123Z))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// oneLine keeps header injection out of a subject.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Notice is an e-mail to write to the outbox: to users by id, or to every
// live admin.
type Notice struct {
	UserIDs []int64
	Admins  bool
	Kind    string
	OrderID int64
	Subject string
	Body    string
	At      time.Time
}

// Enqueue writes one pending e-mail per live recipient, in the caller's
// transaction (the one that writes the in-app notification it copies).
func Enqueue(ctx context.Context, tx postgres.DBTX, n Notice) error {
	if n.Subject == "" {
		return errors.New("enqueue e-mail: empty subject")
	}
	var orderID *int64
	if n.OrderID != 0 {
		orderID = &n.OrderID
	}
	subject := "[Ordem] " + oneLine(n.Subject)
	if len(n.UserIDs) > 0 {
		if _, err := tx.Exec(ctx, `
			INSERT INTO email_outbox (user_id, to_address, kind, order_id, subject, body, created_at, updated_at)
			SELECT id, email, $2, $3, $4, $5, $6, $6 FROM users WHERE id = ANY($1) AND deleted_at IS NULL`,
			n.UserIDs, n.Kind, orderID, subject, n.Body, n.At); err != nil {
			return fmt.Errorf("enqueue e-mail %s: %w", n.Kind, err)
		}
	}
	if n.Admins {
		if _, err := tx.Exec(ctx, `
			INSERT INTO email_outbox (user_id, to_address, kind, order_id, subject, body, created_at, updated_at)
			SELECT id, email, $1, $2, $3, $4, $5, $5 FROM users WHERE role = 'admin' AND deleted_at IS NULL`,
			n.Kind, orderID, subject, n.Body, n.At); err != nil {
			return fmt.Errorf("enqueue admin e-mail %s: %w", n.Kind, err)
		}
	}
	return nil
}
