package api

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/accounts"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/postgres"
	"github.com/ordem/ordem/internal/wallet"
)

// mountWallet mounts the wallet's routes: balances and statement (this
// file), deposits (deposits.go) and payouts (payouts.go). The money moves
// in internal/wallet; these handlers validate, call it and answer.
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
	r.Post("/webhooks/deposits", s.receiveDeposit)

	admin.Post("/deposits", s.idempotent, s.adminDeposit)
	admin.Get("/deposits", s.adminListDeposits)
	admin.Get("/wallets/:user_id", s.adminWallet)
	admin.Get("/wallets/:user_id/transactions", s.adminWalletTransactions)
	admin.Get("/payouts", s.adminListPayouts)
	admin.Get("/payouts/:id", s.adminGetPayout)
	admin.Post("/payouts/:id/mark-paid", s.idempotent, s.decidePayout(wallet.PayoutPaid))
	admin.Post("/payouts/:id/mark-failed", s.idempotent, s.decidePayout(wallet.PayoutFailed))
}

// ---------------------------------------------------------------------------
// Balances and statement

// WalletBalance is a user's balances: the one shape every answer that
// shows balances uses (the wallet, deposits, payouts, the dashboard).
type WalletBalance struct {
	// UserID names the user when the answer is not the caller's own
	// dashboard (there it is left out).
	UserID    string `json:"user_id,omitempty"`
	Available Money  `json:"available"`
	Blocked   Money  `json:"blocked"`
	Currency  string `json:"currency"`
}

// balances reads a user's balances, without naming the user.
func (s *Server) balances(ctx context.Context, q postgres.DBTX, userID int64) (WalletBalance, error) {
	w, err := ledger.UserWallet(ctx, q, userID)
	if err != nil {
		return WalletBalance{}, err
	}
	return WalletBalance{Available: M(w.Available), Blocked: M(w.Blocked), Currency: s.Config.Currency}, nil
}

// walletBalance reads a user's balances, naming the user.
func (s *Server) walletBalance(ctx context.Context, q postgres.DBTX, userID int64) (WalletBalance, error) {
	w, err := s.balances(ctx, q, userID)
	w.UserID = id(userID)
	return w, err
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

func walletEntry(e wallet.Entry) WalletEntry {
	x := WalletEntry{ID: id(e.ID), TransactionID: id(e.TransactionID), Account: e.Account, Kind: e.Kind,
		Amount: M(e.Amount), BalanceAfter: M(e.BalanceAfter), Memo: e.Memo, CreatedAt: e.CreatedAt}
	if e.OrderID != 0 {
		x.OrderID = id(e.OrderID)
	}
	return x
}

func (s *Server) walletTransactions(c *fiber.Ctx) error {
	return s.statement(c, caller(c).ID)
}

// statement lists a user's ledger entries, newest first, keyset-paginated;
// ?account=available|blocked narrows it to one account.
func (s *Server) statement(c *fiber.Ctx, userID int64) error {
	pg, err := parsePage(c)
	if err != nil {
		return err
	}
	account := c.Query("account")
	if account != "" && account != string(ledger.Available) && account != string(ledger.Blocked) {
		return (fieldErrors{"account": "must be available or blocked"}).err()
	}
	list, err := wallet.Statement(c.UserContext(), s.Pool, userID, ledger.AccountKind(account), pg.afterID, pg.limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(list, pg.limit, func(e wallet.Entry) (time.Time, int64) { return e.CreatedAt, e.ID }, walletEntry))
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
	// Every user, deleted or not, has a name: reading it is the users
	// owner's existence check that keeps deleted users.
	names, err := accounts.Names(c.UserContext(), s.Pool, []int64{userID})
	if err != nil {
		return 0, err
	}
	if _, ok := names[userID]; !ok {
		return 0, ordem.Errorf(ordem.ENotFound, "no such user")
	}
	return userID, nil
}

// walletPage is the wallet lists' page of pg, one row longer than shown so
// pageOf knows whether a next page exists.
func walletPage(pg page) wallet.Page {
	return wallet.Page{After: pg.after, AfterID: pg.afterID, Limit: pg.limit + 1}
}
