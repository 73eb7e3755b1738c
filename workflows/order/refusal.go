package order

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/ordem/ordem"
)

// A refusal crosses Temporal as a non-retryable application error whose
// type is the ordem error code and whose details are the field errors and
// the seconds to wait before a retry (either may be empty). This file is
// the one bridge between ordem.Error and such errors: validators, updates
// and activities refuse with it, and the API reads refusals back with it.

// refusal builds the application error of an ordem.Error.
func refusal(e *ordem.Error) error {
	secs := 0
	if e.RetryAfter > 0 {
		secs = max(1, int((e.RetryAfter+time.Second-1)/time.Second))
	}
	return temporal.NewApplicationErrorWithOptions(e.Message, e.Code,
		temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{e.Fields, secs}})
}

// Refusal returns the error an update, a validator or an activity uses to
// refuse an action, with a stable ordem error code the API maps to an HTTP
// status.
func Refusal(code, format string, args ...any) error {
	return refusal(&ordem.Error{Code: code, Message: fmt.Sprintf(format, args...)})
}

// invalid refuses one field's value (validation_failed, naming it).
func invalid(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return refusal(&ordem.Error{Code: ordem.EValidation, Message: field + ": " + msg, Fields: map[string]string{field: msg}})
}

// retryLater refuses for now, telling the caller when to try again.
func retryLater(code string, wait time.Duration, format string, args ...any) error {
	return refusal(&ordem.Error{Code: code, Message: fmt.Sprintf(format, args...), RetryAfter: wait})
}

// RefusalFrom turns an error whose chain holds an ordem.Error (a refusal
// of the ledger, of a check in an activity) into a refusal with its code,
// fields and retry hint, keeping the whole error's message; any other
// error is returned as it is.
func RefusalFrom(err error) error {
	var e *ordem.Error
	if !errors.As(err, &e) {
		return err
	}
	return refusal(&ordem.Error{Code: e.Code, Message: err.Error(), Fields: e.Fields, RetryAfter: e.RetryAfter})
}

// AsError returns the ordem.Error a refusal anywhere in err's chain
// carries (one carried back from an update or an activity included), or
// nil when err is not a refusal.
func AsError(err error) *ordem.Error {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !ordem.IsRefusal(appErr.Type()) {
		return nil
	}
	e := &ordem.Error{Code: appErr.Type(), Message: appErr.Message()}
	if appErr.HasDetails() {
		var fields map[string]string
		var secs int
		// Refusals recorded before the retry hint existed carry the fields
		// alone.
		if appErr.Details(&fields, &secs) != nil {
			_ = appErr.Details(&fields)
		}
		if len(fields) > 0 {
			e.Fields = fields
		}
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	return e
}

// RefusalCode returns the ordem error code of a refusal anywhere in err's
// chain, or "" if err is not a refusal.
func RefusalCode(err error) string {
	if e := AsError(err); e != nil {
		return e.Code
	}
	return ""
}

// RetryAfter returns the wait a refusal asks for, or 0.
func RetryAfter(err error) time.Duration {
	if e := AsError(err); e != nil {
		return e.RetryAfter
	}
	return 0
}
