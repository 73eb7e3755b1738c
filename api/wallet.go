package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/audit"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/webhook"
)

// PayoutGateway sends payouts to a payment provider.
type PayoutGateway interface {
	// Name identifies the gateway in the payouts table.
	Name() string
	// Submit hands a payout over; it returns the gateway's reference. It is
	// called after the payout and its ledger posting are committed; an
	// error leaves the payout pending for an admin to mark paid or failed.
	Submit(ctx context.Context, payoutID, userID int64, amount decimal.Decimal) (ref string, err error)
}

// ManualGateway leaves payouts pending until an admin marks them paid or
// failed (the operator pays by hand, e.g. by PIX).
type ManualGateway struct{}

// Name implements PayoutGateway.
func (ManualGateway) Name() string { return "manual" }

// Submit implements PayoutGateway: nothing to send.
func (ManualGateway) Submit(context.Context, int64, int64, decimal.Decimal) (string, error) {
	return "", nil
}

// Deposit webhook signing: the sender sets X-Ordem-Timestamp to the unix
// time in seconds and X-Ordem-Signature to "sha256=" followed by the hex
// HMAC-SHA256, keyed with DEPOSIT_WEBHOOK_SECRET, of the timestamp, a dot
// and the raw request body.
const (
	HeaderWebhookTimestamp = "X-Ordem-Timestamp"
	HeaderWebhookSignature = "X-Ordem-Signature"
	// WebhookTolerance is how far a webhook's timestamp may be from the
	// server's clock; older deliveries are refused as possible replays.
	WebhookTolerance = 5 * time.Minute
)

// SignDepositWebhook returns the X-Ordem-Signature value of body sent at
// timestamp (unix seconds).
func SignDepositWebhook(secret string, timestamp int64, body []byte) string {
	return "sha256=" + hex.EncodeToString(webhookMAC(secret, strconv.FormatInt(timestamp, 10), body))
}

func webhookMAC(secret, timestamp string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return mac.Sum(nil)
}

// Ledger transaction kinds of the wallet.
const (
	kindDeposit       = "deposit"
	kindPayoutRequest = "payout_request"
	kindPayoutPaid    = "payout_paid"
	kindPayoutFailed  = "payout_failed"
)

// Deposit sources.
const (
	sourceAdmin   = "admin"
	sourceWebhook = "webhook"
)

// Payout statuses.
const (
	payoutPending = "pending"
	payoutPaid    = "paid"
	payoutFailed  = "failed"
)

func (s *Server) mountWallet(r, admin fiber.Router) {
	w := r.Group("/wallet", s.authenticate)
	w.Get("/", s.getWallet)
	w.Get("/transactions", s.walletTransactions)
	w.Get("/payouts", s.listOwnPayouts)
	w.Get("/payouts/:id", s.getOwnPayout)
	// Any user may withdraw their available balance: a client's refunds
	// must never be trapped (spec §8).
	w.Post("/payouts", requireRole(ordem.RoleClient, ordem.RoleProvider), s.idempotent, s.requestPayout)

	// Authenticated by its HMAC signature, not by a bearer token.
	r.Post("/webhooks/deposits", s.depositWebhook)

	admin.Post("/deposits", s.idempotent, s.adminDeposit)
	admin.Get("/deposits", s.adminListDeposits)
	admin.Get("/wallets/:user_id", s.adminWallet)
	admin.Get("/wallets/:user_id/transactions", s.adminWalletTransactions)
	admin.Get("/payouts", s.adminListPayouts)
	admin.Get("/payouts/:id", s.adminGetPayout)
	admin.Post("/payouts/:id/mark-paid", s.idempotent, s.decidePayout(payoutPaid))
	admin.Post("/payouts/:id/mark-failed", s.idempotent, s.decidePayout(payoutFailed))
}

// ---------------------------------------------------------------------------
// Balances and statement

// WalletBalance is a user's balances.
type WalletBalance struct {
	UserID    string `json:"user_id"`
	Available Money  `json:"available"`
	Blocked   Money  `json:"blocked"`
	Currency  string `json:"currency"`
}

func (s *Server) walletBalance(ctx context.Context, q postgres.DBTX, userID int64) (WalletBalance, error) {
	w, err := ledger.UserWallet(ctx, q, userID)
	if err != nil {
		return WalletBalance{}, err
	}
	return WalletBalance{UserID: id(userID), Available: M(w.Available), Blocked: M(w.Blocked), Currency: s.Config.Currency}, nil
}

func (s *Server) getWallet(c *fiber.Ctx) error {
	w, err := s.walletBalance(c.UserContext(), s.Pool, caller(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(w)
}

// WalletEntry is one movement of one of a user's accounts.
type WalletEntry struct {
	ID            string `json:"id"`
	TransactionID string `json:"transaction_id"`
	// Account is available or blocked.
	Account string `json:"account"`
	// Kind is the business meaning: deposit, hold, release, cancel,
	// contest_fee_hold, resolve, payout_request, payout_paid, payout_failed.
	Kind    string `json:"kind"`
	OrderID string `json:"order_id,omitempty"`
	// Amount is signed: positive credits the account, negative debits it.
	Amount       Money     `json:"amount"`
	BalanceAfter Money     `json:"balance_after"`
	Memo         string    `json:"memo"`
	CreatedAt    time.Time `json:"created_at"`
}

func (s *Server) walletTransactions(c *fiber.Ctx) error {
	return s.statement(c, caller(c).ID)
}

// statement lists a user's ledger entries, newest first (the ledger's own
// order, in which balance_after runs), keyset-paginated; ?account=
// available|blocked narrows it to one account.
func (s *Server) statement(c *fiber.Ctx, userID int64) error {
	pg, err := parsePage(c)
	if err != nil {
		return err
	}
	account := c.Query("account")
	if account != "" && account != string(ledger.Available) && account != string(ledger.Blocked) {
		return (fieldErrors{"account": "must be available or blocked"}).err()
	}
	// Per account, the page's worth of its newest entries
	// (ledger_entries_account_idx backwards), then the newest of those:
	// joining first would fetch and join every entry of a busy user.
	rows, err := s.Pool.Query(c.UserContext(), `
		SELECT e.id, e.transaction_id, a.kind, t.kind, t.order_id, e.amount, e.balance_after, t.memo, e.created_at
		FROM ledger_accounts a
		CROSS JOIN LATERAL (
		    SELECT * FROM ledger_entries e
		    WHERE e.account_id = a.id AND ($3::bigint = 0 OR e.id < $3)
		    ORDER BY e.id DESC LIMIT $4) e
		JOIN ledger_transactions t ON t.id = e.transaction_id
		WHERE a.user_id = $1 AND ($2::text = '' OR a.kind = $2)
		ORDER BY e.id DESC LIMIT $4`, userID, account, pg.afterID, pg.limit+1)
	if err != nil {
		return err
	}
	type row struct {
		WalletEntry
		id int64
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var (
			x              row
			txID           int64
			orderID        *int64
			amount, balAft decimal.Decimal
		)
		err := r.Scan(&x.id, &txID, &x.Account, &x.Kind, &orderID, &amount, &balAft, &x.Memo, &x.CreatedAt)
		x.ID, x.TransactionID, x.Amount, x.BalanceAfter = id(x.id), id(txID), M(amount), M(balAft)
		if orderID != nil {
			x.OrderID = id(*orderID)
		}
		return x, err
	})
	if err != nil {
		return err
	}
	out := Page[WalletEntry]{Items: make([]WalletEntry, 0, len(list))}
	for i, x := range list {
		if i == pg.limit {
			out.NextCursor = encodeCursor(list[i-1].CreatedAt, list[i-1].id)
			break
		}
		out.Items = append(out.Items, x.WalletEntry)
	}
	return c.JSON(out)
}

func (s *Server) adminWallet(c *fiber.Ctx) error {
	userID, err := s.existingUser(c, "user_id")
	if err != nil {
		return err
	}
	w, err := s.walletBalance(c.UserContext(), s.Pool, userID)
	if err != nil {
		return err
	}
	return c.JSON(w)
}

func (s *Server) adminWalletTransactions(c *fiber.Ctx) error {
	userID, err := s.existingUser(c, "user_id")
	if err != nil {
		return err
	}
	return s.statement(c, userID)
}

// existingUser reads a user id path parameter of a user that exists
// (deleted users included: their history stays readable).
func (s *Server) existingUser(c *fiber.Ctx, param string) (int64, error) {
	userID, err := pathID(c, param)
	if err != nil {
		return 0, err
	}
	var ok bool
	err = s.Pool.QueryRow(c.UserContext(), `SELECT true FROM users WHERE id = $1`, userID).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ordem.Errorf(ordem.ENotFound, "no such user")
	}
	return userID, err
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

const depositColumns = `id, user_id, amount, source, reference, external_reference, credited_by, transaction_id, created_at`

// depositRow is a deposit with its numeric id.
type depositRow struct {
	Deposit
	id int64
}

func (s *Server) scanDeposit(r pgx.Row) (depositRow, error) {
	var (
		d          depositRow
		uid, txID  int64
		amount     decimal.Decimal
		creditedBy *int64
	)
	err := r.Scan(&d.id, &uid, &amount, &d.Source, &d.Reference, &d.ExternalReference, &creditedBy, &txID, &d.CreatedAt)
	d.ID, d.UserID, d.Amount, d.TransactionID, d.Currency = id(d.id), id(uid), M(amount), id(txID), s.Config.Currency
	if creditedBy != nil {
		d.CreditedBy = id(*creditedBy)
	}
	return d, err
}

// credit is a request to credit a deposit.
type credit struct {
	source            string
	reference         string
	externalReference string
	userID            int64
	amount            decimal.Decimal
	creditedBy        int64
}

// depositKey is the ledger idempotency key of a deposit: one per source
// and reference, so the same reference credits once however often it is
// sent. The reference is hashed to keep the key short.
func depositKey(source, reference string) string {
	h := sha256.Sum256([]byte(reference))
	return "deposit:" + source + ":" + hex.EncodeToString(h[:])
}

var errDepositConflict = ordem.Errorf(ordem.EIdempotencyConflict, "this reference was already used for a different deposit")

// creditDeposit credits d in tx exactly once per (source, reference). It
// returns the deposit and whether it had already been credited (with the
// same user and amount; anything else is an idempotency conflict).
func (s *Server) creditDeposit(ctx context.Context, tx pgx.Tx, d credit) (depositRow, bool, error) {
	existing := func() (depositRow, bool, error) {
		dep, err := s.scanDeposit(tx.QueryRow(ctx, `SELECT `+depositColumns+` FROM deposits WHERE source = $1 AND reference = $2`,
			d.source, d.reference))
		if err != nil {
			return depositRow{}, false, err
		}
		if dep.UserID != id(d.userID) || !dep.Amount.Equal(d.amount) {
			return depositRow{}, false, errDepositConflict
		}
		return dep, true, nil
	}
	var found bool
	err := tx.QueryRow(ctx, `SELECT true FROM deposits WHERE source = $1 AND reference = $2`, d.source, d.reference).Scan(&found)
	if err == nil {
		return existing()
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return depositRow{}, false, err
	}

	// The user stays live until commit: a concurrent soft delete waits.
	var role ordem.Role
	err = tx.QueryRow(ctx, `SELECT role FROM users WHERE id = $1 AND deleted_at IS NULL FOR SHARE`, d.userID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && role != ordem.RoleClient && role != ordem.RoleProvider) {
		return depositRow{}, false, (fieldErrors{"user_id": "is not an active client or provider"}).err()
	}
	if err != nil {
		return depositRow{}, false, err
	}

	memo := "deposit by admin, reference " + d.reference
	if d.source == sourceWebhook {
		memo = "deposit via payment webhook, event " + d.reference
		if d.externalReference != "" {
			memo += ", reference " + d.externalReference
		}
	}
	res, err := ledger.Post(ctx, tx, ledger.Posting{
		IdempotencyKey: depositKey(d.source, d.reference),
		Kind:           kindDeposit,
		Memo:           memo,
		Legs: []ledger.Leg{
			{Account: ledger.WorldAccount, Amount: d.amount.Neg()},
			{Account: ledger.UserAccount(d.userID, ledger.Available), Amount: d.amount},
		},
	})
	if errors.Is(err, ledger.ErrIdempotencyConflict) {
		return depositRow{}, false, errDepositConflict
	}
	if err != nil {
		return depositRow{}, false, err
	}
	if res.Replayed {
		// A concurrent request with the same reference committed first.
		return existing()
	}
	var creditedBy *int64
	if d.creditedBy != 0 {
		creditedBy = &d.creditedBy
	}
	dep, err := s.scanDeposit(tx.QueryRow(ctx, `
		INSERT INTO deposits (user_id, amount, source, reference, external_reference, credited_by, transaction_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+depositColumns,
		d.userID, d.amount, d.source, d.reference, d.externalReference, creditedBy, res.TransactionID))
	return dep, false, err
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
		dep, again, err := s.creditDeposit(ctx, tx, credit{source: sourceAdmin, reference: req.Reference,
			userID: userID, amount: req.Amount.Decimal, creditedBy: p.ID})
		if err != nil {
			return err
		}
		out.Deposit, replayed = dep.Deposit, again
		if !again {
			err := auditLog(c, tx, p, "credit_deposit", "deposit", dep.id, req.Reason, map[string]any{
				"user_id": dep.UserID, "amount": dep.Amount, "reference": dep.Reference, "transaction_id": dep.TransactionID})
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
	if replayed {
		c.Set("Idempotent-Replayed", "true")
		return c.Status(fiber.StatusOK).JSON(out)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

type webhookDepositRequest struct {
	// ID is the payment provider's event id.
	ID        string `json:"id"`
	UserID    string `json:"user_id"`
	Amount    *Money `json:"amount"`
	Reference string `json:"reference"`
}

// depositWebhook credits a deposit a payment provider announces, signed
// with DEPOSIT_WEBHOOK_SECRET. Each event id credits once: a redelivery
// is 200 with the first deposit; the same id with other content is 409.
func (s *Server) depositWebhook(c *fiber.Ctx) error {
	secret := s.Config.DepositWebhookSecret
	if secret == "" {
		return ordem.Errorf(ordem.ENotFound, "no such route")
	}
	if err := s.verifyWebhook(c, secret); err != nil {
		return err
	}
	var req webhookDepositRequest
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
	h := sha256.Sum256([]byte(fmt.Sprintf("user=%d\namount=%s\nreference=%s\n",
		userID, req.Amount.StringFixed(money.Scale), req.Reference)))
	hash := h[:]

	ctx := c.UserContext()
	var (
		out      DepositResult
		replayed bool
	)
	err := postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		// A concurrent delivery of the same event waits here for this one.
		tag, err := tx.Exec(ctx, `INSERT INTO webhook_receipts (event_id, request_hash) VALUES ($1, $2)
			ON CONFLICT (event_id) DO NOTHING`, req.ID, hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var (
				prev  []byte
				depID *int64
			)
			if err := tx.QueryRow(ctx, `SELECT request_hash, deposit_id FROM webhook_receipts WHERE event_id = $1`,
				req.ID).Scan(&prev, &depID); err != nil {
				return err
			}
			if !hmac.Equal(prev, hash) || depID == nil {
				return ordem.Errorf(ordem.EIdempotencyConflict, "this event id was already received with different content")
			}
			dep, err := s.scanDeposit(tx.QueryRow(ctx, `SELECT `+depositColumns+` FROM deposits WHERE id = $1`, *depID))
			out.Deposit, replayed = dep.Deposit, true
			return err
		}
		dep, again, err := s.creditDeposit(ctx, tx, credit{source: sourceWebhook, reference: req.ID,
			externalReference: req.Reference, userID: userID, amount: req.Amount.Decimal})
		if err != nil {
			return err
		}
		out.Deposit, replayed = dep.Deposit, again
		if _, err := tx.Exec(ctx, `UPDATE webhook_receipts SET deposit_id = $2 WHERE event_id = $1`, req.ID, dep.id); err != nil {
			return err
		}
		if again {
			return nil
		}
		data := map[string]any{"user_id": dep.UserID, "amount": dep.Amount, "event_id": req.ID,
			"reference": req.Reference, "transaction_id": dep.TransactionID}
		return audit.Record(ctx, tx, audit.Entry{ActorRole: "webhook", Action: "webhook_deposit",
			TargetType: "deposit", TargetID: dep.ID, Data: data})
	})
	if err != nil {
		return err
	}
	if replayed {
		c.Set("Idempotent-Replayed", "true")
		return c.Status(fiber.StatusOK).JSON(out)
	}
	return c.Status(fiber.StatusCreated).JSON(out)
}

// verifyWebhook checks the timestamp and the HMAC signature of the raw body.
func (s *Server) verifyWebhook(c *fiber.Ctx, secret string) error {
	tsHeader, sigHeader := c.Get(HeaderWebhookTimestamp), c.Get(HeaderWebhookSignature)
	if tsHeader == "" || sigHeader == "" {
		return ordem.Errorf(ordem.EUnauthenticated, "the %s and %s headers are required", HeaderWebhookTimestamp, HeaderWebhookSignature)
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return ordem.Errorf(ordem.EUnauthenticated, "%s must be a unix time in seconds", HeaderWebhookTimestamp)
	}
	now := s.now().Unix()
	tol := int64(WebhookTolerance / time.Second)
	if ts < now-tol || ts > now+tol {
		return ordem.Errorf(ordem.EUnauthenticated, "%s is more than 5 minutes from the server's clock", HeaderWebhookTimestamp)
	}
	sig, ok := strings.CutPrefix(sigHeader, "sha256=")
	got, err := hex.DecodeString(sig)
	if !ok || err != nil || !hmac.Equal(got, webhookMAC(secret, tsHeader, c.Body())) {
		return ordem.Errorf(ordem.EUnauthenticated, "the webhook signature does not match")
	}
	return nil
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
	if source != "" && source != sourceAdmin && source != sourceWebhook {
		f.add("source", "must be admin or webhook")
	}
	if err := f.err(); err != nil {
		return err
	}
	rows, err := s.Pool.Query(c.UserContext(), `SELECT `+depositColumns+` FROM deposits
		WHERE ($1::bigint = 0 OR user_id = $1) AND ($2::text = '' OR source = $2)
		  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
		ORDER BY created_at DESC, id DESC LIMIT $5`, userID, source, pg.after, pg.afterID, pg.limit+1)
	if err != nil {
		return err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (depositRow, error) { return s.scanDeposit(r) })
	if err != nil {
		return err
	}
	out := pageOf(list, pg.limit, func(d depositRow) (time.Time, int64) { return d.CreatedAt, d.id },
		func(d depositRow) Deposit { return d.Deposit })
	return c.JSON(out)
}

// ---------------------------------------------------------------------------
// Payouts

// Payout is a user's withdrawal to outside Ordem.
type Payout struct {
	ID       string `json:"id"`
	UserID   string `json:"user_id"`
	Amount   Money  `json:"amount"`
	Currency string `json:"currency"`
	// Status is pending, paid or failed.
	Status        string     `json:"status"`
	Gateway       string     `json:"gateway"`
	GatewayRef    string     `json:"gateway_ref,omitempty"`
	FailureReason string     `json:"failure_reason,omitempty"`
	DecidedBy     string     `json:"decided_by,omitempty"`
	DecidedAt     *time.Time `json:"decided_at,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// PayoutResult answers a payout request: the payout and the user's
// balances after it.
type PayoutResult struct {
	Payout Payout        `json:"payout"`
	Wallet WalletBalance `json:"wallet"`
}

const payoutColumns = `id, user_id, amount, status, gateway, gateway_ref, failure_reason, decided_by, decided_at, created_at, updated_at`

// payoutRow is a payout with its numeric ids.
type payoutRow struct {
	Payout
	id     int64
	userID int64
	amount decimal.Decimal
}

func (s *Server) scanPayout(r pgx.Row) (payoutRow, error) {
	var (
		p         payoutRow
		decidedBy *int64
	)
	err := r.Scan(&p.id, &p.userID, &p.amount, &p.Status, &p.Gateway, &p.GatewayRef, &p.FailureReason,
		&decidedBy, &p.DecidedAt, &p.CreatedAt, &p.UpdatedAt)
	p.ID, p.UserID, p.Amount, p.Currency = id(p.id), id(p.userID), M(p.amount), s.Config.Currency
	if decidedBy != nil {
		p.DecidedBy = id(*decidedBy)
	}
	return p, err
}

// forCaller hides what only admins see: which admin decided.
func (p Payout) forCaller(c *principal) Payout {
	if c.Role != ordem.RoleAdmin {
		p.DecidedBy = ""
	}
	return p
}

func payoutKey(payoutID int64, step string) string {
	return "payout:" + strconv.FormatInt(payoutID, 10) + ":" + step
}

// requestPayout moves the caller's available balance to
// platform:payouts_pending together with the payouts row, then hands the
// payout to the gateway. With an Idempotency-Key the payout carries it, so
// a retry that takes the key over (the first attempt's process died)
// finds the payout already made instead of making another.
func (s *Server) requestPayout(c *fiber.Ctx) error {
	p := caller(c)
	var req struct {
		Amount *Money `json:"amount"`
	}
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	f := fieldErrors{}
	checkAmount(f, "amount", req.Amount)
	if err := f.err(); err != nil {
		return err
	}
	amount := req.Amount.Decimal
	ctx := c.UserContext()
	var key *string
	if a := attemptOf(c); a != nil {
		key = &a.key
	}
	var out PayoutResult
	var row payoutRow
	made := false
	err := postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		row, err = s.scanPayout(tx.QueryRow(ctx, `INSERT INTO payouts (user_id, amount, status, gateway, idempotency_key)
			VALUES ($1, $2, 'pending', $3, $4)
			ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
			RETURNING `+payoutColumns, p.ID, amount, s.Payouts.Name(), key))
		if errors.Is(err, pgx.ErrNoRows) {
			// Made by an earlier attempt of this request.
			row, err = s.scanPayout(tx.QueryRow(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE user_id = $1 AND idempotency_key = $2`,
				p.ID, key))
			if err != nil {
				return fmt.Errorf("read payout of an earlier attempt: %w", err)
			}
			out.Wallet, err = s.walletBalance(ctx, tx, p.ID)
			return err
		}
		if err != nil {
			return fmt.Errorf("insert payout: %w", err)
		}
		made = true
		_, err = ledger.Post(ctx, tx, ledger.Posting{
			IdempotencyKey: payoutKey(row.id, "request"),
			Kind:           kindPayoutRequest,
			Memo:           "payout " + row.ID + " requested",
			Legs: []ledger.Leg{
				{Account: ledger.UserAccount(p.ID, ledger.Available), Amount: amount.Neg()},
				{Account: ledger.PayoutsPendingAccount, Amount: amount},
			},
		})
		if errors.Is(err, ledger.ErrInsufficientFunds) {
			return ordem.Errorf(ordem.EInsufficientFunds, "the available balance is less than %s", amount.StringFixed(money.Scale))
		}
		if err != nil {
			return err
		}
		out.Wallet, err = s.walletBalance(ctx, tx, p.ID)
		return err
	})
	if err != nil {
		return err
	}
	if !made {
		out.Payout = row.Payout.forCaller(p)
		return c.Status(fiber.StatusCreated).JSON(out)
	}
	// The payout is committed: a gateway that fails now leaves it pending
	// for an admin to mark paid or failed.
	ref, err := s.Payouts.Submit(ctx, row.id, p.ID, amount)
	if err != nil {
		s.Logger.Error("Payout gateway refused a payout; it stays pending", "request_id", requestID(c),
			"payout_id", row.id, "gateway", s.Payouts.Name(), "error", err)
	} else if ref != "" {
		ref = truncate(ref, 200)
		row, err = s.scanPayout(s.Pool.QueryRow(ctx, `UPDATE payouts SET gateway_ref = $2, updated_at = now()
			WHERE id = $1 RETURNING `+payoutColumns, row.id, ref))
		if err != nil {
			return err
		}
	}
	out.Payout = row.Payout.forCaller(p)
	return c.Status(fiber.StatusCreated).JSON(out)
}

type decidePayoutRequest struct {
	// GatewayRef records the payment's proof (e.g. a PIX end-to-end id).
	GatewayRef string `json:"gateway_ref"`
	Reason     string `json:"reason"`
}

// decidePayout marks a pending payout paid (payouts_pending → world) or
// failed (payouts_pending → the provider's available). A payout that is
// not pending is refused with invalid_transition.
func (s *Server) decidePayout(outcome string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := caller(c)
		payoutID, err := pathID(c, "id")
		if err != nil {
			return ordem.Errorf(ordem.ENotFound, "no such payout")
		}
		var req decidePayoutRequest
		// Either decision needs its reason (an admin action); a missing
		// body is a missing reason.
		if err := decodeOptionalJSON(c, &req); err != nil {
			return err
		}
		f := fieldErrors{}
		checkReason(f, req.Reason)
		checkReference(f, "gateway_ref", req.GatewayRef, false)
		if outcome == payoutFailed && req.GatewayRef != "" {
			f.add("gateway_ref", "is only for paid payouts")
		}
		if err := f.err(); err != nil {
			return err
		}
		req.Reason = strings.TrimSpace(req.Reason)
		ctx := c.UserContext()
		var row payoutRow
		err = postgres.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
			cur, err := s.scanPayout(tx.QueryRow(ctx, `SELECT `+payoutColumns+` FROM payouts WHERE id = $1 FOR UPDATE`, payoutID))
			if errors.Is(err, pgx.ErrNoRows) {
				return ordem.Errorf(ordem.ENotFound, "no such payout")
			}
			if err != nil {
				return err
			}
			if a := attemptOf(c); a != nil && a.takenOver && cur.Status == outcome {
				// This request's own earlier attempt decided it and died
				// before answering: its answer is the payout as it stands.
				row = cur
				return nil
			}
			if cur.Status != payoutPending {
				return ordem.Errorf(ordem.EInvalidTransition, "payout %d is already %s", payoutID, cur.Status)
			}
			posting := ledger.Posting{IdempotencyKey: payoutKey(payoutID, outcome)}
			if outcome == payoutPaid {
				posting.Kind, posting.Memo = kindPayoutPaid, "payout "+cur.ID+" paid"
				posting.Legs = []ledger.Leg{
					{Account: ledger.PayoutsPendingAccount, Amount: cur.amount.Neg()},
					{Account: ledger.WorldAccount, Amount: cur.amount},
				}
			} else {
				posting.Kind, posting.Memo = kindPayoutFailed, "payout "+cur.ID+" failed: "+req.Reason
				posting.Legs = []ledger.Leg{
					{Account: ledger.PayoutsPendingAccount, Amount: cur.amount.Neg()},
					{Account: ledger.UserAccount(cur.userID, ledger.Available), Amount: cur.amount},
				}
			}
			if _, err := ledger.Post(ctx, tx, posting); err != nil {
				return err
			}
			failure := ""
			if outcome == payoutFailed {
				failure = req.Reason
			}
			row, err = s.scanPayout(tx.QueryRow(ctx, `
				UPDATE payouts SET status = $2, failure_reason = $3, gateway_ref = CASE WHEN $4 = '' THEN gateway_ref ELSE $4 END,
				       decided_by = $5, decided_at = now(), updated_at = now()
				WHERE id = $1 RETURNING `+payoutColumns, payoutID, outcome, failure, req.GatewayRef, p.ID))
			if err != nil {
				return err
			}
			if err := auditChange(c, tx, p, "mark_payout_"+outcome, "payout", payoutID, req.Reason, map[string]any{
				"user_id": row.UserID, "amount": row.Amount, "gateway": row.Gateway, "gateway_ref": row.GatewayRef},
				map[string]any{"status": cur.Status, "gateway_ref": cur.GatewayRef},
				map[string]any{"status": row.Status, "gateway_ref": row.GatewayRef, "failure_reason": row.FailureReason}); err != nil {
				return err
			}
			if outcome != payoutPaid {
				return nil
			}
			// The webhook outbox, in the payout's transaction.
			_, err = webhook.Enqueue(ctx, tx, webhook.Event{Key: "payout:" + row.ID + ":paid", Type: webhook.PayoutPaid,
				At: row.UpdatedAt, Data: map[string]any{"payout_id": row.ID, "user_id": row.UserID, "amount": row.Amount,
					"currency": row.Currency, "gateway": row.Gateway, "gateway_ref": row.GatewayRef}})
			return err
		})
		if err != nil {
			return err
		}
		return c.JSON(row.Payout)
	}
}

func (s *Server) listOwnPayouts(c *fiber.Ctx) error {
	return s.listPayouts(c, caller(c).ID)
}

func (s *Server) adminListPayouts(c *fiber.Ctx) error {
	var userID int64
	if v := c.Query("user_id"); v != "" {
		f := fieldErrors{}
		if userID = parseUserID(f, "user_id", v); userID == 0 {
			return f.err()
		}
	}
	return s.listPayouts(c, userID)
}

// listPayouts lists payouts newest first, of one user (userID != 0) or of
// everyone, filterable by ?status=.
func (s *Server) listPayouts(c *fiber.Ctx, userID int64) error {
	p := caller(c)
	pg, err := parsePage(c)
	if err != nil {
		return err
	}
	status := c.Query("status")
	if status != "" && status != payoutPending && status != payoutPaid && status != payoutFailed {
		return (fieldErrors{"status": "must be pending, paid or failed"}).err()
	}
	rows, err := s.Pool.Query(c.UserContext(), `SELECT `+payoutColumns+` FROM payouts
		WHERE ($1::bigint = 0 OR user_id = $1) AND ($2::text = '' OR status = $2)
		  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
		ORDER BY created_at DESC, id DESC LIMIT $5`, userID, status, pg.after, pg.afterID, pg.limit+1)
	if err != nil {
		return err
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (payoutRow, error) { return s.scanPayout(r) })
	if err != nil {
		return err
	}
	out := pageOf(list, pg.limit, func(x payoutRow) (time.Time, int64) { return x.CreatedAt, x.id },
		func(x payoutRow) Payout { return x.Payout.forCaller(p) })
	return c.JSON(out)
}

func (s *Server) getOwnPayout(c *fiber.Ctx) error {
	p := caller(c)
	return s.getPayout(c, p.ID)
}

func (s *Server) adminGetPayout(c *fiber.Ctx) error {
	return s.getPayout(c, 0)
}

// getPayout answers one payout, of userID only when userID != 0: another
// user's payout is not_found.
func (s *Server) getPayout(c *fiber.Ctx, userID int64) error {
	payoutID, err := pathID(c, "id")
	if err != nil {
		return ordem.Errorf(ordem.ENotFound, "no such payout")
	}
	row, err := s.scanPayout(s.Pool.QueryRow(c.UserContext(), `SELECT `+payoutColumns+` FROM payouts
		WHERE id = $1 AND ($2::bigint = 0 OR user_id = $2)`, payoutID, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return ordem.Errorf(ordem.ENotFound, "no such payout")
	}
	if err != nil {
		return err
	}
	return c.JSON(row.Payout.forCaller(caller(c)))
}
