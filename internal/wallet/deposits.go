package wallet

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/accounts"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/internal/postgres"
)

// Deposit sources (deposits.source, shown to admins as is).
const (
	// SourceAdmin: an admin credited it on their own word.
	SourceAdmin = "admin"
	// SourceWebhook: a payment provider announced it on the signed
	// inbound deposit route.
	SourceWebhook = "webhook"
)

// Deposit is money credited to a user's available balance from outside.
type Deposit struct {
	ID     int64
	UserID int64
	Amount decimal.Decimal
	// Source is SourceAdmin or SourceWebhook.
	Source string
	// Reference is the deposit's unique key within its source: the
	// admin's reference, or the payment provider's event id.
	Reference string
	// ExternalReference is the payer-side reference a provider sent.
	ExternalReference string
	// CreditedBy is the admin who credited it; 0 for a provider's.
	CreditedBy    int64
	TransactionID int64
	CreatedAt     time.Time
}

const depositColumns = `id, user_id, amount, source, reference, external_reference, credited_by, transaction_id, created_at`

func scanDeposit(r pgx.Row) (Deposit, error) {
	var (
		d          Deposit
		creditedBy *int64
	)
	err := r.Scan(&d.ID, &d.UserID, &d.Amount, &d.Source, &d.Reference, &d.ExternalReference, &creditedBy,
		&d.TransactionID, &d.CreatedAt)
	if creditedBy != nil {
		d.CreditedBy = *creditedBy
	}
	return d, err
}

// Credit is a deposit to credit.
type Credit struct {
	Source            string
	Reference         string
	ExternalReference string
	UserID            int64
	Amount            decimal.Decimal
	// CreditedBy is the admin crediting it; 0 for a provider's.
	CreditedBy int64
}

// depositKey is the ledger idempotency key of a deposit: one per source
// and reference, so the same reference credits once however often it is
// sent. The reference is hashed to keep the key short.
func depositKey(source, reference string) string {
	h := sha256.Sum256([]byte(reference))
	return "deposit:" + source + ":" + hex.EncodeToString(h[:])
}

// ErrDepositConflict refuses a reference already used for a deposit of
// another user or amount.
var ErrDepositConflict = ordem.Errorf(ordem.EIdempotencyConflict, "this reference was already used for a different deposit")

// errNotCreditable refuses a deposit to a user who is not an active
// client or provider, as a validation error of the request's user_id.
func errNotCreditable() error {
	return &ordem.Error{Code: ordem.EValidation, Message: "invalid fields: user_id",
		Fields: map[string]string{"user_id": "is not an active client or provider"}}
}

// CreditDeposit credits d in tx (world → the user's available balance)
// exactly once per (source, reference), with its deposits row. It returns
// the deposit and whether it had already been credited (with the same
// user and amount; anything else is ErrDepositConflict).
func CreditDeposit(ctx context.Context, tx pgx.Tx, d Credit) (Deposit, bool, error) {
	existing := func() (Deposit, bool, error) {
		dep, err := scanDeposit(tx.QueryRow(ctx, `SELECT `+depositColumns+` FROM deposits WHERE source = $1 AND reference = $2`,
			d.Source, d.Reference))
		if err != nil {
			return Deposit{}, false, fmt.Errorf("read deposit %s %q: %w", d.Source, d.Reference, err)
		}
		if dep.UserID != d.UserID || !dep.Amount.Equal(d.Amount) {
			return Deposit{}, false, ErrDepositConflict
		}
		return dep, true, nil
	}
	var found bool
	err := tx.QueryRow(ctx, `SELECT true FROM deposits WHERE source = $1 AND reference = $2`, d.Source, d.Reference).Scan(&found)
	if err == nil {
		return existing()
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Deposit{}, false, fmt.Errorf("look up deposit %s %q: %w", d.Source, d.Reference, err)
	}

	if ok, err := creditable(ctx, tx, d.UserID); err != nil {
		return Deposit{}, false, fmt.Errorf("check user %d of deposit: %w", d.UserID, err)
	} else if !ok {
		return Deposit{}, false, errNotCreditable()
	}

	memo := "deposit by admin, reference " + d.Reference
	if d.Source == SourceWebhook {
		memo = "deposit via payment webhook, event " + d.Reference
		if d.ExternalReference != "" {
			memo += ", reference " + d.ExternalReference
		}
	}
	res, err := ledger.Post(ctx, tx, ledger.Posting{
		IdempotencyKey: depositKey(d.Source, d.Reference),
		Kind:           KindDeposit,
		Memo:           memo,
		Legs: []ledger.Leg{
			{Account: ledger.WorldAccount, Amount: d.Amount.Neg()},
			{Account: ledger.UserAccount(d.UserID, ledger.Available), Amount: d.Amount},
		},
	})
	if errors.Is(err, ledger.ErrIdempotencyConflict) {
		return Deposit{}, false, ErrDepositConflict
	}
	if err != nil {
		return Deposit{}, false, fmt.Errorf("post deposit %s %q: %w", d.Source, d.Reference, err)
	}
	if res.Replayed {
		// A concurrent request with the same reference committed first.
		return existing()
	}
	var creditedBy *int64
	if d.CreditedBy != 0 {
		creditedBy = &d.CreditedBy
	}
	dep, err := scanDeposit(tx.QueryRow(ctx, `
		INSERT INTO deposits (user_id, amount, source, reference, external_reference, credited_by, transaction_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+depositColumns,
		d.UserID, d.Amount, d.Source, d.Reference, d.ExternalReference, creditedBy, res.TransactionID))
	if err != nil {
		return Deposit{}, false, fmt.Errorf("insert deposit %s %q: %w", d.Source, d.Reference, err)
	}
	return dep, false, nil
}

// creditable reports whether uid is a live client or provider, the users
// who hold money. The row stays locked (key share) until tx ends, so the
// user stays live until the deposit commits: a concurrent deletion, which
// locks the row for update first, waits.
func creditable(ctx context.Context, tx pgx.Tx, uid int64) (bool, error) {
	for _, role := range []ordem.Role{ordem.RoleClient, ordem.RoleProvider} {
		if ok, err := accounts.ActiveAs(ctx, tx, uid, role, true); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// Announced is a deposit a payment provider announced on the signed
// inbound deposit route.
type Announced struct {
	// EventID is the provider's event id: each credits once.
	EventID   string
	UserID    int64
	Amount    decimal.Decimal
	Reference string
}

// hash identifies an announcement's content, to tell a redelivery from
// another event reusing its id.
func (a Announced) hash() []byte {
	h := sha256.Sum256([]byte(fmt.Sprintf("user=%d\namount=%s\nreference=%s\n",
		a.UserID, a.Amount.StringFixed(money.Scale), a.Reference)))
	return h[:]
}

// ErrEventReused refuses an event id already received with other content.
var ErrEventReused = ordem.Errorf(ordem.EIdempotencyConflict, "this event id was already received with different content")

// ReceiveDeposit credits an announced deposit in tx, once per event id: a
// redelivery (same content) returns the first deposit and replayed true;
// the same id with other content is ErrEventReused.
func ReceiveDeposit(ctx context.Context, tx pgx.Tx, a Announced) (dep Deposit, replayed bool, err error) {
	hash := a.hash()
	// A concurrent delivery of the same event waits here for this one.
	tag, err := tx.Exec(ctx, `INSERT INTO webhook_receipts (event_id, request_hash) VALUES ($1, $2)
		ON CONFLICT (event_id) DO NOTHING`, a.EventID, hash)
	if err != nil {
		return Deposit{}, false, fmt.Errorf("record deposit event %q: %w", a.EventID, err)
	}
	if tag.RowsAffected() == 0 {
		var (
			prev  []byte
			depID *int64
		)
		if err := tx.QueryRow(ctx, `SELECT request_hash, deposit_id FROM webhook_receipts WHERE event_id = $1`,
			a.EventID).Scan(&prev, &depID); err != nil {
			return Deposit{}, false, fmt.Errorf("read deposit event %q: %w", a.EventID, err)
		}
		if !hmac.Equal(prev, hash) || depID == nil {
			return Deposit{}, false, ErrEventReused
		}
		dep, err := scanDeposit(tx.QueryRow(ctx, `SELECT `+depositColumns+` FROM deposits WHERE id = $1`, *depID))
		if err != nil {
			return Deposit{}, false, fmt.Errorf("read deposit %d of event %q: %w", *depID, a.EventID, err)
		}
		return dep, true, nil
	}
	dep, replayed, err = CreditDeposit(ctx, tx, Credit{Source: SourceWebhook, Reference: a.EventID,
		ExternalReference: a.Reference, UserID: a.UserID, Amount: a.Amount})
	if err != nil {
		return Deposit{}, false, err
	}
	if _, err := tx.Exec(ctx, `UPDATE webhook_receipts SET deposit_id = $2 WHERE event_id = $1`, a.EventID, dep.ID); err != nil {
		return Deposit{}, false, fmt.Errorf("link deposit event %q to deposit %d: %w", a.EventID, dep.ID, err)
	}
	return dep, replayed, nil
}

// Page selects a page of a newest-first list: the rows strictly before
// the keyset (After, AfterID) when After is set, at most Limit of them.
// Callers ask for one more than they show, to know whether a next page
// exists.
type Page struct {
	After   *time.Time
	AfterID int64
	Limit   int
}

// ListDeposits lists deposits newest first, of one user (userID != 0) or
// of everyone, of one source (source != "") or of both.
func ListDeposits(ctx context.Context, db postgres.DBTX, userID int64, source string, pg Page) ([]Deposit, error) {
	return listNewest(ctx, db, "deposits", depositColumns, "source", userID, source, pg, scanDeposit)
}

// listNewest lists the rows of a user-owned table newest first, of one
// user (userID != 0) or of everyone, whose column equals value (value !=
// ""), paged by pg. table, columns and column are this package's
// constants, never input.
func listNewest[T any](ctx context.Context, db postgres.DBTX, table, columns, column string, userID int64, value string,
	pg Page, scan func(pgx.Row) (T, error)) ([]T, error) {
	rows, err := db.Query(ctx, `SELECT `+columns+` FROM `+table+`
		WHERE ($1::bigint = 0 OR user_id = $1) AND ($2::text = '' OR `+column+` = $2)
		  AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
		ORDER BY created_at DESC, id DESC LIMIT $5`, userID, value, pg.After, pg.AfterID, pg.Limit)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	return list, nil
}
