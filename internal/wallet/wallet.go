// Package wallet moves a user's money in and out of Ordem and reads it:
// deposits credited by an admin or announced by a payment provider,
// payouts requested by the user and decided by an admin, and the balances
// and statement of a user's accounts. It owns the deposits, payouts and
// webhook_receipts tables; users are read through internal/accounts.
//
// Like order money, which moves in the activities, every movement here is
// one ledger posting written in the caller's transaction together with
// the row that explains it, so the HTTP handlers only validate, call these
// functions and answer. Refusals are *ordem.Error values the API maps to
// statuses as they are; any other error is internal and says what failed.
package wallet

// Ledger transaction kinds of the wallet (ledger_transactions.kind; the
// statement shows them to users, so they are never renamed).
const (
	KindDeposit       = "deposit"
	KindPayoutRequest = "payout_request"
	KindPayoutPaid    = "payout_paid"
	KindPayoutFailed  = "payout_failed"
)
