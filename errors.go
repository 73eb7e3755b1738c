// Package ordem holds the domain vocabulary shared by every layer of Ordem:
// roles, order states and the error codes the API maps to HTTP statuses.
// It does no I/O, so workflow code may import it.
package ordem

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Error codes are stable, machine-readable identifiers. Clients branch on
// them, so they are never renamed.
const (
	EInvalid             = "invalid_request"
	EUnauthenticated     = "unauthenticated"
	EForbidden           = "forbidden"
	ENotFound            = "not_found"
	EInsufficientFunds   = "insufficient_funds"
	EInvalidTransition   = "invalid_transition"
	EIdempotencyConflict = "idempotency_conflict"
	ETooLarge            = "too_large"
	EValidation          = "validation_failed"
	ERateLimited         = "rate_limited"
	EInternal            = "internal"
	// EPreconditionFailed: the If-Match version is no longer the order's.
	EPreconditionFailed = "precondition_failed"
	// EProposalChanged: accept named a proposal that is no longer the latest.
	EProposalChanged = "proposal_changed"
	// EPenaltyChanged: a cancellation would now cost another penalty than
	// the one the caller agreed to.
	EPenaltyChanged = "penalty_changed"
	// EUnavailable: a dependency is down or the order is busy; retry later.
	EUnavailable = "unavailable"
	// EEmailTaken: a live account already uses this e-mail.
	EEmailTaken = "email_taken"
	// Password rules (registration, change and reset).
	EPasswordTooShort      = "password_too_short"
	EPasswordTooLong       = "password_too_long"
	EPasswordContainsEmail = "password_contains_email"
	EPasswordTooCommon     = "password_too_common"
	// EWrongPassword: the current password given to confirm a change is wrong.
	EWrongPassword = "wrong_password"
	// EAccountLocked: too many failed logins; the account is locked for a while.
	EAccountLocked = "account_locked"
	// EResetTokenInvalid: unknown, already used or superseded reset token.
	EResetTokenInvalid = "reset_token_invalid"
	// EResetTokenExpired: the reset token is past its expiry.
	EResetTokenExpired = "reset_token_expired"
)

// Codes lists every error code: a code outside it is not a refusal.
var Codes = []string{EInvalid, EUnauthenticated, EForbidden, ENotFound, EInsufficientFunds, EInvalidTransition,
	EIdempotencyConflict, ETooLarge, EValidation, ERateLimited, EInternal, EPreconditionFailed, EProposalChanged,
	EPenaltyChanged, EUnavailable, EEmailTaken, EPasswordTooShort, EPasswordTooLong, EPasswordContainsEmail,
	EPasswordTooCommon, EWrongPassword, EAccountLocked, EResetTokenInvalid, EResetTokenExpired}

// IsRefusal reports whether code is a known code other than EInternal:
// something the caller can understand and act on.
func IsRefusal(code string) bool {
	return code != EInternal && slices.Contains(Codes, code)
}

// Error is a domain error: a refusal the caller can understand and act on.
// Anything that is not an *Error is an internal error.
type Error struct {
	Code    string
	Message string
	// Fields names the offending input fields for validation errors.
	Fields map[string]string
	// RetryAfter, when set, tells the caller when a retry may succeed
	// (rate limits, unavailable dependencies).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns a domain error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the domain error in err's chain, or
// EInternal when there is none.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the human message of the domain error in err's
// chain; internal errors get a generic message so details never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error has occurred."
}
