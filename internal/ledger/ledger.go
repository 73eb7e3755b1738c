// Package ledger is Ordem's double-entry ledger on Postgres.
//
// Money lives in accounts (per user: available and blocked; per platform:
// revenue, world and payouts_pending). A transaction moves it with two or
// more entries that sum to zero. Entries are append-only; each account keeps
// a cached balance that Verify checks against its entries.
package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/money"
)

// AccountKind is the role an account plays.
type AccountKind string

// Account kinds. Users have available and blocked; the platform has the rest.
const (
	Available      AccountKind = "available"
	Blocked        AccountKind = "blocked"
	Revenue        AccountKind = "revenue"
	World          AccountKind = "world"
	PayoutsPending AccountKind = "payouts_pending"
)

// Platform account codes.
const (
	// RevenueAccount collects platform fees and forfeited contestation fees.
	RevenueAccount = "platform:revenue"
	// WorldAccount is money outside Ordem: deposits come from it and paid
	// payouts go to it, so its balance is minus the money inside.
	WorldAccount = "platform:world"
	// PayoutsPendingAccount holds payouts requested but not yet paid.
	PayoutsPendingAccount = "platform:payouts_pending"
)

// UserAccount returns the code of a user's account of the given kind.
func UserAccount(userID int64, kind AccountKind) string {
	return "user:" + strconv.FormatInt(userID, 10) + ":" + string(kind)
}

// Leg is one side of a posting: a signed amount on an account.
type Leg struct {
	Account string
	Amount  decimal.Decimal
}

// Posting is a request to move money.
type Posting struct {
	// IdempotencyKey identifies the posting for ever: the same key with the
	// same request returns the first result; with another request it is an
	// idempotency conflict.
	IdempotencyKey string
	// Kind names the business meaning (deposit, hold, release, …).
	Kind string
	// OrderID is the order the money belongs to, or 0.
	OrderID int64
	// Memo is free text for humans; it is not part of the request identity.
	Memo string
	Legs []Leg
}

// Entry is a posted leg.
type Entry struct {
	ID           int64
	AccountID    int64
	Account      string
	Amount       decimal.Decimal
	BalanceAfter decimal.Decimal
}

// Result is a posted transaction.
type Result struct {
	TransactionID int64
	CreatedAt     time.Time
	Entries       []Entry
	// Replayed is true when the key had already been posted with the same
	// request and nothing new was written.
	Replayed bool
}

// Balance returns the balance after this transaction of the given account,
// and whether the transaction touched it.
func (r Result) Balance(account string) (decimal.Decimal, bool) {
	for _, e := range r.Entries {
		if e.Account == account {
			return e.BalanceAfter, true
		}
	}
	return decimal.Zero, false
}

// Errors returned by Post. They are *ordem.Error values, so the API maps
// them without knowing about the ledger.
var (
	ErrIdempotencyConflict = ordem.Errorf(ordem.EIdempotencyConflict, "this idempotency key was already used for a different request")
	ErrInsufficientFunds   = ordem.Errorf(ordem.EInsufficientFunds, "insufficient funds")
)

// ErrInvalidPosting is a posting no caller should ever build (legs that
// do not sum to zero, an amount out of bounds, no key). It is a bug, not a
// refusal the user can act on: deliberately not an *ordem.Error, so the
// API answers it as internal and its message never reaches a client.
var ErrInvalidPosting = errors.New("ledger: invalid posting")

func invalidPosting(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPosting, fmt.Sprintf(format, args...))
}

// InsufficientFundsError names the account that would have gone negative.
type InsufficientFundsError struct{ Account string }

func (e *InsufficientFundsError) Error() string {
	return "insufficient funds in account " + e.Account
}

// Unwrap lets errors.Is(err, ErrInsufficientFunds) and ordem.ErrorCode work.
func (e *InsufficientFundsError) Unwrap() error { return ErrInsufficientFunds }

// Tx is what Post needs from a transaction: a pgx.Tx satisfies it.
type Tx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// normalize validates p and returns its legs in lock order and the hash
// that identifies the request.
func (p Posting) normalize() ([]Leg, []byte, error) {
	if p.IdempotencyKey == "" || len(p.IdempotencyKey) > 200 {
		return nil, nil, invalidPosting("posting needs an idempotency key of 1 to 200 characters")
	}
	if p.Kind == "" {
		return nil, nil, invalidPosting("posting needs a kind")
	}
	if len(p.Legs) < 2 {
		return nil, nil, invalidPosting("posting needs at least two legs")
	}
	legs := make([]Leg, len(p.Legs))
	copy(legs, p.Legs)
	// Locks are always taken in descending code order, so two postings can
	// never wait on each other in a cycle. Descending puts the platform
	// accounts (the hot rows) last, so their locks are held the shortest.
	sort.Slice(legs, func(i, j int) bool { return legs[i].Account > legs[j].Account })
	sum := decimal.Zero
	for i, l := range legs {
		if l.Account == "" {
			return nil, nil, invalidPosting("posting leg without an account")
		}
		if i > 0 && legs[i-1].Account == l.Account {
			return nil, nil, invalidPosting("account %s appears twice in one posting", l.Account)
		}
		if l.Amount.IsZero() || !money.HasCents(l.Amount) || l.Amount.Abs().GreaterThan(money.MaxAmount) {
			return nil, nil, invalidPosting("leg on %s has invalid amount %s", l.Account, l.Amount)
		}
		sum = sum.Add(l.Amount)
	}
	if !sum.IsZero() {
		return nil, nil, invalidPosting("posting legs sum to %s, not zero", sum.StringFixed(money.Scale))
	}
	h := sha256.New()
	fmt.Fprintf(h, "kind=%s\norder=%d\n", p.Kind, p.OrderID)
	for _, l := range legs {
		fmt.Fprintf(h, "%s=%s\n", l.Account, l.Amount.StringFixed(money.Scale))
	}
	return legs, h.Sum(nil), nil
}

const insertTransactionSQL = `
INSERT INTO ledger_transactions (idempotency_key, request_hash, kind, order_id, memo)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id, created_at`

// One statement per leg: move the balance and append the entry with the
// balance after it. The account row lock is taken here and held to commit.
const postLegSQL = `
WITH moved AS (
    UPDATE ledger_accounts SET balance = balance + $3, updated_at = now()
    WHERE code = $2
    RETURNING id, balance
)
INSERT INTO ledger_entries (transaction_id, account_id, amount, balance_after)
SELECT $1, id, $3, balance FROM moved
RETURNING id, account_id, balance_after`

// Post writes p inside tx. On any error the caller must roll tx back: a
// refused posting may have written part of its legs before the refusal.
// Callers that need the posting to commit with other writes (the orders
// read model, the timeline) pass their own transaction.
func Post(ctx context.Context, tx Tx, p Posting) (res Result, err error) {
	if o := observer.Load(); o != nil {
		start := time.Now()
		defer func() { (*o).ObservePost(p.Kind, res.Replayed, time.Since(start), err) }()
	}
	return post(ctx, tx, p)
}

// Observer is told of every Post (metrics): the posting's kind, whether
// it was a replay, how long it took and its error (nil when posted).
// A posting reported without error may still be rolled back with the
// caller's transaction.
type Observer interface {
	ObservePost(kind string, replayed bool, took time.Duration, err error)
}

// observer is process-wide, like the ledger it watches: Post is a free
// function called from the API and every activity with their own
// transactions, so a hook here sees all postings without threading an
// observer through each caller (and keeps Prometheus out of this package).
var observer atomic.Pointer[Observer]

// SetObserver installs o as the observer of every Post in the process (nil
// removes it).
func SetObserver(o Observer) {
	if o == nil {
		observer.Store(nil)
		return
	}
	observer.Store(&o)
}

func post(ctx context.Context, tx Tx, p Posting) (Result, error) {
	legs, hash, err := p.normalize()
	if err != nil {
		return Result{}, err
	}
	var orderID *int64
	if p.OrderID != 0 {
		orderID = &p.OrderID
	}
	res := Result{Entries: make([]Entry, 0, len(legs))}
	err = tx.QueryRow(ctx, insertTransactionSQL, p.IdempotencyKey, hash, p.Kind, orderID, p.Memo).
		Scan(&res.TransactionID, &res.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return replay(ctx, tx, p.IdempotencyKey, hash)
	}
	if err != nil {
		return Result{}, fmt.Errorf("insert ledger transaction: %w", err)
	}

	batch := &pgx.Batch{}
	for _, l := range legs {
		batch.Queue(postLegSQL, res.TransactionID, l.Account, l.Amount)
	}
	br := tx.SendBatch(ctx, batch)
	for _, l := range legs {
		e := Entry{Account: l.Account, Amount: l.Amount}
		if err := br.QueryRow().Scan(&e.ID, &e.AccountID, &e.BalanceAfter); err != nil {
			_ = br.Close()
			return Result{}, legError(l.Account, err)
		}
		res.Entries = append(res.Entries, e)
	}
	if err := br.Close(); err != nil {
		return Result{}, fmt.Errorf("post ledger legs: %w", err)
	}
	return res, nil
}

func legError(account string, err error) error {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return invalidPosting("account %s does not exist", account)
	case isConstraint(err, "ledger_accounts_non_negative"):
		return &InsufficientFundsError{Account: account}
	default:
		return fmt.Errorf("post ledger leg on %s: %w", account, err)
	}
}

func isConstraint(err error, name string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.ConstraintName == name
}

// replay returns the already-posted transaction for key, or a conflict if
// it was posted for a different request.
func replay(ctx context.Context, tx Tx, key string, hash []byte) (Result, error) {
	var (
		res  = Result{Replayed: true}
		prev []byte
	)
	err := tx.QueryRow(ctx, `SELECT id, request_hash, created_at FROM ledger_transactions WHERE idempotency_key = $1`, key).
		Scan(&res.TransactionID, &prev, &res.CreatedAt)
	if err != nil {
		return Result{}, fmt.Errorf("load posted transaction %q: %w", key, err)
	}
	if string(prev) != string(hash) {
		return Result{}, ErrIdempotencyConflict
	}
	rows, err := tx.Query(ctx, `
		SELECT e.id, e.account_id, a.code, e.amount, e.balance_after
		FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
		WHERE e.transaction_id = $1 ORDER BY e.id`, res.TransactionID)
	if err != nil {
		return Result{}, fmt.Errorf("load posted entries: %w", err)
	}
	res.Entries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := r.Scan(&e.ID, &e.AccountID, &e.Account, &e.Amount, &e.BalanceAfter)
		return e, err
	})
	if err != nil {
		return Result{}, fmt.Errorf("load posted entries: %w", err)
	}
	return res, nil
}

// EnsurePlatformAccounts creates the platform accounts that do not exist.
func EnsurePlatformAccounts(ctx context.Context, tx Tx) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO ledger_accounts (code, kind, allow_negative) VALUES
		    ($1, 'revenue', false), ($2, 'world', true), ($3, 'payouts_pending', false)
		ON CONFLICT (code) DO NOTHING`, RevenueAccount, WorldAccount, PayoutsPendingAccount)
	if err != nil {
		return fmt.Errorf("create platform accounts: %w", err)
	}
	return nil
}

// OpenUserAccounts creates the wallet (available and blocked) of every user
// that lacks one; with userID != 0, only that user's.
func OpenUserAccounts(ctx context.Context, tx Tx, userID int64) (int64, error) {
	tag, err := tx.Exec(ctx, `
		INSERT INTO ledger_accounts (code, user_id, kind)
		SELECT 'user:' || u.id || ':' || k.kind, u.id, k.kind
		FROM users u CROSS JOIN (VALUES ('available'), ('blocked')) AS k(kind)
		WHERE $1 = 0 OR u.id = $1
		ON CONFLICT (code) DO NOTHING`, userID)
	if err != nil {
		return 0, fmt.Errorf("open user accounts: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Wallet is a user's two balances.
type Wallet struct {
	Available decimal.Decimal
	Blocked   decimal.Decimal
}

// UserWallet reads a user's cached balances.
func UserWallet(ctx context.Context, tx Tx, userID int64) (Wallet, error) {
	var w Wallet
	err := tx.QueryRow(ctx, `
		SELECT coalesce(sum(balance) FILTER (WHERE kind = 'available'), 0),
		       coalesce(sum(balance) FILTER (WHERE kind = 'blocked'), 0)
		FROM ledger_accounts WHERE user_id = $1`, userID).Scan(&w.Available, &w.Blocked)
	if err != nil {
		return Wallet{}, fmt.Errorf("read wallet of user %d: %w", userID, err)
	}
	return w, nil
}

// AccountBalance reads one account's cached balance.
func AccountBalance(ctx context.Context, tx Tx, code string) (decimal.Decimal, error) {
	var b decimal.Decimal
	if err := tx.QueryRow(ctx, `SELECT balance FROM ledger_accounts WHERE code = $1`, code).Scan(&b); err != nil {
		return decimal.Zero, fmt.Errorf("read balance of %s: %w", code, err)
	}
	return b, nil
}
