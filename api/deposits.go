package api

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/audit"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/signature"
	"github.com/ordem/ordem/internal/wallet"
)

// Inbound deposit signing: the payment provider sets X-Ordem-Timestamp to
// the unix time in seconds and X-Ordem-Signature to "sha256=" followed by
// the hex HMAC-SHA256, keyed with DEPOSIT_WEBHOOK_SECRET, of the
// timestamp, a dot and the raw request body (internal/signature's
// scheme, which outgoing webhooks use too).
const (
	HeaderWebhookTimestamp = "X-Ordem-Timestamp"
	HeaderWebhookSignature = "X-Ordem-Signature"
	// WebhookTolerance is how far an inbound deposit's timestamp may be
	// from the server's clock; older deliveries are refused as possible
	// replays.
	WebhookTolerance = 5 * time.Minute
)

// SignDepositWebhook returns the X-Ordem-Signature value of body sent at
// timestamp (unix seconds).
func SignDepositWebhook(secret string, timestamp int64, body []byte) string {
	return "sha256=" + signature.Sign(secret, timestamp, body)
}

// ---------------------------------------------------------------------------
// Deposits

// Deposit is money credited to a user's available balance from outside.
type Deposit struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	Amount Money  `json:"amount"`
	// Currency is the deployment's currency.
	Currency string `json:"currency"`
	// Source is admin or webhook.
	Source string `json:"source"`
	// Reference is the deposit's unique key within its source: the admin's
	// reference, or the payment provider's event id.
	Reference string `json:"reference"`
	// ExternalReference is the payer-side reference a webhook carried.
	ExternalReference string    `json:"external_reference,omitempty"`
	CreditedBy        string    `json:"credited_by,omitempty"`
	TransactionID     string    `json:"transaction_id"`
	CreatedAt         time.Time `json:"created_at"`
}

// DepositResult answers a deposit: the deposit and, for admins, the
// user's balances after it.
type DepositResult struct {
	Deposit Deposit        `json:"deposit"`
	Wallet  *WalletBalance `json:"wallet,omitempty"`
}

func (s *Server) deposit(d wallet.Deposit) Deposit {
	out := Deposit{ID: id(d.ID), UserID: id(d.UserID), Amount: M(d.Amount), Currency: s.Config.Currency, Source: d.Source,
		Reference: d.Reference, ExternalReference: d.ExternalReference, TransactionID: id(d.TransactionID), CreatedAt: d.CreatedAt}
	if d.CreditedBy != 0 {
		out.CreditedBy = id(d.CreditedBy)
	}
	return out
}

// parseUserID reads a user id given as a JSON string.
func parseUserID(f fieldErrors, field, v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		f.add(field, "must be a user id")
		return 0
	}
	return n
}

// checkReference validates a reference or event id: printable text.
func checkReference(f fieldErrors, field, v string, required bool) {
	switch {
	case v == "" && !required:
	case strings.TrimSpace(v) == "":
		f.add(field, "is required")
	case len(v) > 200 || !printable(v):
		f.add(field, "must be 1 to 200 printable characters")
	}
}

type adminDepositRequest struct {
	UserID    string `json:"user_id"`
	Amount    *Money `json:"amount"`
	Reference string `json:"reference"`
	// Reason says why the admin credits it (required: the audit log
	// keeps it).
	Reason string `json:"reason"`
}

// adminDeposit credits a deposit on an admin's word: 201 with the deposit
// and the user's balances; the same reference again (same user and
// amount) is 200 with the first deposit and credits nothing.
func (s *Server) adminDeposit(c *fiber.Ctx) error {
	p := caller(c)
	var req adminDepositRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	f := fieldErrors{}
	userID := parseUserID(f, "user_id", req.UserID)
	checkAmount(f, "amount", req.Amount)
	req.Reference = strings.TrimSpace(req.Reference)
	checkReference(f, "reference", req.Reference, true)
	checkReason(f, req.Reason)
	if err := f.err(); err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	ctx := c.UserContext()
	var (
		out      DepositResult
		replayed bool
	)
	err := postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		dep, again, err := wallet.CreditDeposit(ctx, tx, wallet.Credit{Source: wallet.SourceAdmin, Reference: req.Reference,
			UserID: userID, Amount: req.Amount.Decimal, CreditedBy: p.ID})
		if err != nil {
			return err
		}
		out.Deposit, replayed = s.deposit(dep), again
		if !again {
			d := out.Deposit
			err := auditLog(c, tx, p, "credit_deposit", "deposit", dep.ID, req.Reason, map[string]any{
				"user_id": d.UserID, "amount": d.Amount, "reference": d.Reference, "transaction_id": d.TransactionID})
			if err != nil {
				return err
			}
		}
		w, err := s.walletBalance(ctx, tx, userID)
		out.Wallet = &w
		return err
	})
	if err != nil {
		return err
	}
	return depositAnswer(c, out, replayed)
}

// depositAnswer is 201 with a newly credited deposit, or 200 marked
// Idempotent-Replayed with one credited before.
func depositAnswer(c *fiber.Ctx, out DepositResult, replayed bool) error {
	if replayed {
		c.Set("Idempotent-Replayed", "true")
		return c.Status(fiber.StatusOK).JSON(out)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

// providerDepositRequest is the body of a deposit a payment provider
// announces.
type providerDepositRequest struct {
	// ID is the payment provider's event id.
	ID        string `json:"id"`
	UserID    string `json:"user_id"`
	Amount    *Money `json:"amount"`
	Reference string `json:"reference"`
}

// receiveDeposit credits a deposit a payment provider announces, signed
// with DEPOSIT_WEBHOOK_SECRET. Each event id credits once: a redelivery
// is 200 with the first deposit; the same id with other content is 409.
func (s *Server) receiveDeposit(c *fiber.Ctx) error {
	secret := s.Config.DepositWebhookSecret
	if secret == "" {
		return ordem.Errorf(ordem.ENotFound, "no such route")
	}
	if err := s.verifyDepositSignature(c, secret); err != nil {
		return err
	}
	var req providerDepositRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	f := fieldErrors{}
	checkReference(f, "id", req.ID, true)
	userID := parseUserID(f, "user_id", req.UserID)
	checkAmount(f, "amount", req.Amount)
	checkReference(f, "reference", req.Reference, false)
	if err := f.err(); err != nil {
		return err
	}
	ctx := c.UserContext()
	var (
		out      DepositResult
		replayed bool
	)
	err := postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		dep, again, err := wallet.ReceiveDeposit(ctx, tx, wallet.Announced{EventID: req.ID, UserID: userID,
			Amount: req.Amount.Decimal, Reference: req.Reference})
		if err != nil {
			return err
		}
		out.Deposit, replayed = s.deposit(dep), again
		if again {
			return nil
		}
		d := out.Deposit
		data := map[string]any{"user_id": d.UserID, "amount": d.Amount, "event_id": req.ID,
			"reference": req.Reference, "transaction_id": d.TransactionID}
		return audit.Record(ctx, tx, audit.Entry{ActorRole: "webhook", Action: "webhook_deposit",
			TargetType: "deposit", TargetID: d.ID, Data: data})
	})
	if err != nil {
		return err
	}
	return depositAnswer(c, out, replayed)
}

// verifyDepositSignature checks an inbound deposit's timestamp and the
// HMAC signature of its raw body.
func (s *Server) verifyDepositSignature(c *fiber.Ctx, secret string) error {
	tsHeader, sigHeader := c.Get(HeaderWebhookTimestamp), c.Get(HeaderWebhookSignature)
	if tsHeader == "" || sigHeader == "" {
		return ordem.Errorf(ordem.EUnauthenticated, "the %s and %s headers are required", HeaderWebhookTimestamp, HeaderWebhookSignature)
	}
	var macs []string
	if mac, ok := strings.CutPrefix(sigHeader, "sha256="); ok {
		macs = []string{mac}
	}
	// Whole seconds: a timestamp exactly WebhookTolerance away from the
	// server's second is still taken.
	now := time.Unix(s.now().Unix(), 0)
	switch err := signature.Verify(now, secret, tsHeader, c.Body(), macs, WebhookTolerance); err {
	case nil:
		return nil
	case signature.ErrBadTimestamp:
		return ordem.Errorf(ordem.EUnauthenticated, "%s must be a unix time in seconds", HeaderWebhookTimestamp)
	case signature.ErrStale:
		return ordem.Errorf(ordem.EUnauthenticated, "%s is more than 5 minutes from the server's clock", HeaderWebhookTimestamp)
	default:
		return ordem.Errorf(ordem.EUnauthenticated, "the webhook signature does not match")
	}
}

// adminListDeposits lists deposits newest first, filterable by user_id
// and source.
func (s *Server) adminListDeposits(c *fiber.Ctx) error {
	pg, err := parsePage(c)
	if err != nil {
		return err
	}
	f := fieldErrors{}
	var userID int64
	if v := c.Query("user_id"); v != "" {
		userID = parseUserID(f, "user_id", v)
	}
	source := c.Query("source")
	if source != "" && source != wallet.SourceAdmin && source != wallet.SourceWebhook {
		f.add("source", "must be admin or webhook")
	}
	if err := f.err(); err != nil {
		return err
	}
	list, err := wallet.ListDeposits(c.UserContext(), s.Pool, userID, source, walletPage(pg))
	if err != nil {
		return err
	}
	return c.JSON(pageOf(list, pg.limit, func(d wallet.Deposit) (time.Time, int64) { return d.CreatedAt, d.ID }, s.deposit))
}
