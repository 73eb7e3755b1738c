// Package ledger is Ordem's double-entry ledger on Postgres.
//
// Money lives in accounts (per user: available and blocked; per platform:
// revenue, world and payouts_pending). A transaction moves it with two or
// more entries that sum to zero. Entries are append-only; each account keeps
// a cached balance that Verify checks against its entries.
//
// A posting is one call of the database function ledger_post, in the
// caller's transaction. The platform accounts are sharded: their balance
// is spread over PlatformShards shard rows besides the account's own row,
// and each posting moves one shard that no other transaction holds, so
// postings that all credit platform revenue do not queue on one row lock.
// AccountBalance and Balances return an account's exact total.
package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/internal/postgres"
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

// PlatformShards is how many shard rows each platform account has besides
// its own row (migration 00019 gives existing databases the same). With
// one shard per concurrent writer, a posting on a platform account almost
// never waits for another; a debit that must keep the account's total
// non-negative (payouts_pending when a payout is paid) locks them all.
const PlatformShards = 32

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
	ID        int64
	AccountID int64
	Account   string
	// Shard is the shard of the account the entry moved: 0 is the
	// account's own row, the only shard of an unsharded account.
	Shard  int
	Amount decimal.Decimal
	// BalanceAfter is the balance of the entry's shard right after it: the
	// account's balance for an unsharded account (every user account).
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
// and whether the transaction touched it. For a sharded (platform) account
// it is the balance of the shard the entry moved; AccountBalance gives the
// account's total.
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
	// Locks are always taken in descending code order (ledger_post checks
	// it), so two postings can never wait on each other in a cycle.
	// Descending puts the platform accounts last; each of their legs takes
	// a shard no other posting holds.
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

// postSQL posts in one round trip: ledger_post (migration 00019) claims
// the key, moves every leg's balance in lock order and appends the entries,
// or returns the first posting of the key. Entries come back in leg order.
const postSQL = `
SELECT transaction_id, created_at, replayed, entry_ids, account_ids, entry_shards, balances, accounts, amounts
FROM ledger_post($1, $2, $3, $4, $5, $6, $7)`

// SQLSTATEs that ledger_post raises for a refused posting.
const (
	codeInvalidPosting    = "OL000"
	codeIdempotency       = "OL001"
	codeUnknownAccount    = "OL002"
	codeInsufficientFunds = "OL003"
)

// Post writes p inside tx, in one round trip (the database function
// ledger_post). On any error the caller must roll tx back: a refused
// posting may have written part of its legs before the refusal, and the
// database has aborted the transaction anyway. Callers that need the
// posting to commit with other writes (the orders read model, the
// timeline) pass their own transaction.
func Post(ctx context.Context, tx postgres.DBTX, p Posting) (res Result, err error) {
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

func post(ctx context.Context, tx postgres.DBTX, p Posting) (Result, error) {
	legs, hash, err := p.normalize()
	if err != nil {
		return Result{}, err
	}
	var orderID *int64
	if p.OrderID != 0 {
		orderID = &p.OrderID
	}
	accounts := make([]string, len(legs))
	amounts := make([]decimal.Decimal, len(legs))
	for i, l := range legs {
		accounts[i], amounts[i] = l.Account, l.Amount
	}
	var (
		res                  Result
		entryIDs, accountIDs []int64
		shards               []int16
		balances, postedAmts []decimal.Decimal
		postedAccts          []string
	)
	err = tx.QueryRow(ctx, postSQL, p.IdempotencyKey, hash, p.Kind, orderID, p.Memo, accounts, amounts).
		Scan(&res.TransactionID, &res.CreatedAt, &res.Replayed, &entryIDs, &accountIDs, &shards, &balances, &postedAccts, &postedAmts)
	if err != nil {
		return Result{}, postError(err)
	}
	// A new posting's entries are the legs, in order; a replay's are read
	// back from the ledger.
	if !res.Replayed {
		postedAccts, postedAmts = accounts, amounts
	}
	// Entry ids are taken in leg order, as the entries are written.
	slices.Sort(entryIDs)
	n := len(entryIDs)
	if n == 0 || len(accountIDs) != n || len(shards) != n || len(balances) != n || len(postedAccts) != n || len(postedAmts) != n {
		return Result{}, fmt.Errorf("post ledger transaction %q: %d entries returned with mismatched columns", p.IdempotencyKey, n)
	}
	res.Entries = make([]Entry, n)
	for i := range res.Entries {
		res.Entries[i] = Entry{ID: entryIDs[i], AccountID: accountIDs[i], Account: postedAccts[i], Shard: int(shards[i]),
			Amount: postedAmts[i], BalanceAfter: balances[i]}
	}
	return res, nil
}

// postError maps ledger_post's refusals to the package's errors.
func postError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("post ledger transaction: %w", err)
	}
	switch pgErr.Code {
	case codeIdempotency:
		return ErrIdempotencyConflict
	case codeInsufficientFunds:
		return &InsufficientFundsError{Account: pgErr.Detail}
	case codeUnknownAccount:
		return invalidPosting("account %s does not exist", pgErr.Detail)
	case codeInvalidPosting:
		return invalidPosting("%s", strings.TrimPrefix(pgErr.Message, "ledger: "))
	default:
		return fmt.Errorf("post ledger transaction: %w", err)
	}
}

// EnsurePlatformAccounts creates the platform accounts that do not exist,
// each with PlatformShards shards. Existing accounts are left as they are.
func EnsurePlatformAccounts(ctx context.Context, tx postgres.DBTX) error {
	_, err := tx.Exec(ctx, `
		WITH created AS (
		    INSERT INTO ledger_accounts (code, kind, allow_negative, shards) VALUES
		        ($1, 'revenue', false, $4), ($2, 'world', true, $4), ($3, 'payouts_pending', false, $4)
		    ON CONFLICT (code) DO NOTHING
		    RETURNING id, shards
		)
		INSERT INTO ledger_account_shards (account_id, shard)
		SELECT c.id, s FROM created c CROSS JOIN LATERAL generate_series(1, c.shards) AS s`,
		RevenueAccount, WorldAccount, PayoutsPendingAccount, PlatformShards)
	if err != nil {
		return fmt.Errorf("create platform accounts: %w", err)
	}
	return nil
}

// OpenUserAccounts creates the wallet (available and blocked) of every user
// that lacks one; with userID != 0, only that user's.
func OpenUserAccounts(ctx context.Context, tx postgres.DBTX, userID int64) (int64, error) {
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
func UserWallet(ctx context.Context, tx postgres.DBTX, userID int64) (Wallet, error) {
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

// AccountBalance reads one account's balance: the cached balance of its
// row plus, for a sharded account, of its shards. A missing account is an
// error wrapping pgx.ErrNoRows.
func AccountBalance(ctx context.Context, tx postgres.DBTX, code string) (decimal.Decimal, error) {
	var b decimal.Decimal
	if err := tx.QueryRow(ctx, `SELECT balance FROM ledger_account_balances WHERE code = $1`, code).Scan(&b); err != nil {
		return decimal.Zero, fmt.Errorf("read balance of %s: %w", code, err)
	}
	return b, nil
}

// Balances reads the balances of the given accounts, as AccountBalance
// does, in one query; accounts that do not exist are left out of the map.
// SQL that needs a platform account's balance reads the view
// ledger_account_balances the same way: ledger_accounts.balance holds
// only its first shard.
func Balances(ctx context.Context, tx postgres.DBTX, codes ...string) (map[string]decimal.Decimal, error) {
	rows, err := tx.Query(ctx, `SELECT code, balance FROM ledger_account_balances WHERE code = ANY($1)`, codes)
	if err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	out := make(map[string]decimal.Decimal, len(codes))
	for rows.Next() {
		var (
			code string
			b    decimal.Decimal
		)
		if err := rows.Scan(&code, &b); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read balances: %w", err)
		}
		out[code] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read balances: %w", err)
	}
	return out, nil
}
