package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"go.temporal.io/api/serviceerror"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/locale"
	"github.com/ordem/ordem/workflows/order"
)

// statusByCode maps every domain error code to its HTTP status: the one
// table clients and this server agree on.
var statusByCode = map[string]int{
	ordem.EInvalid:             fiber.StatusBadRequest,
	ordem.EUnauthenticated:     fiber.StatusUnauthorized,
	ordem.EForbidden:           fiber.StatusForbidden,
	ordem.ENotFound:            fiber.StatusNotFound,
	ordem.EInsufficientFunds:   fiber.StatusPaymentRequired,
	ordem.EInvalidTransition:   fiber.StatusConflict,
	ordem.EIdempotencyConflict: fiber.StatusConflict,
	ordem.ETooLarge:            fiber.StatusRequestEntityTooLarge,
	ordem.EValidation:          fiber.StatusUnprocessableEntity,
	ordem.ERateLimited:         fiber.StatusTooManyRequests,
	ordem.EInternal:            fiber.StatusInternalServerError,
	ordem.EPreconditionFailed:  fiber.StatusPreconditionFailed,
	ordem.EProposalChanged:     fiber.StatusConflict,
	ordem.EPenaltyChanged:      fiber.StatusConflict,
	ordem.ESettlementChanged:   fiber.StatusConflict,
	ordem.EOfferLimit:          fiber.StatusConflict,
	ordem.ERevisionLimit:       fiber.StatusConflict,
	ordem.EUnavailable:         fiber.StatusServiceUnavailable,
	ordem.EReasonRequired:      fiber.StatusUnprocessableEntity,
	ordem.EHasOpenOrders:       fiber.StatusConflict,
	// Webhook targets (issue 16).
	ordem.EWebhookTargetForbidden: fiber.StatusUnprocessableEntity,
	// Accounts (issue 16).
	ordem.EEmailTaken:            fiber.StatusConflict,
	ordem.EPasswordTooShort:      fiber.StatusUnprocessableEntity,
	ordem.EPasswordTooLong:       fiber.StatusUnprocessableEntity,
	ordem.EPasswordContainsEmail: fiber.StatusUnprocessableEntity,
	ordem.EPasswordTooCommon:     fiber.StatusUnprocessableEntity,
	ordem.EWrongPassword:         fiber.StatusUnprocessableEntity,
	ordem.EAccountLocked:         fiber.StatusTooManyRequests,
	ordem.EResetTokenInvalid:     fiber.StatusUnprocessableEntity,
	ordem.EResetTokenExpired:     fiber.StatusUnprocessableEntity,
}

// ErrorBody is the one error envelope: {"error": {"code", "message"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail describes a refusal.
type ErrorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
	// Details is the refusal's machine-readable context, when it has one
	// (has_open_orders: {"orders": [{"id", "status"}]}).
	Details any `json:"details,omitempty"`
}

// toDomain turns any error a handler returns into a domain error: domain
// errors as they are, workflow refusals by their type, Fiber's own errors
// by status, and everything else as internal.
func toDomain(err error) *ordem.Error {
	var de *ordem.Error
	if errors.As(err, &de) {
		return de
	}
	if e := order.AsError(err); e != nil {
		return e
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		switch fe.Code {
		case fiber.StatusNotFound:
			return ordem.Errorf(ordem.ENotFound, "no such route")
		case fiber.StatusMethodNotAllowed:
			return ordem.Errorf(ordem.ENotFound, "no such route for this method")
		case fiber.StatusRequestEntityTooLarge:
			return ordem.Errorf(ordem.ETooLarge, "the request body is too large")
		case fiber.StatusTooManyRequests:
			return ordem.Errorf(ordem.ERateLimited, "too many requests; slow down and retry later")
		case fiber.StatusBadRequest:
			return ordem.Errorf(ordem.EInvalid, "malformed request")
		}
	}
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		// The order's workflow is closed (or gone past retention).
		return ordem.Errorf(ordem.EInvalidTransition, "this order no longer accepts actions")
	}
	var busy *serviceerror.ResourceExhausted
	if errors.As(err, &busy) {
		// Too many updates in flight on one workflow, or the server's
		// own rate limits: a moment later it goes through.
		return &ordem.Error{Code: ordem.ERateLimited, Message: "the order is busy with other requests; retry in a moment", RetryAfter: time.Second}
	}
	if errors.Is(err, context.DeadlineExceeded) || isTemporalTimeout(err) {
		return &ordem.Error{Code: ordem.EUnavailable, RetryAfter: 5 * time.Second,
			Message: "the order did not answer in time; retry with the same Idempotency-Key to get its outcome"}
	}
	if dependency := unavailable(err); dependency != "" {
		return &ordem.Error{Code: ordem.EUnavailable, RetryAfter: 5 * time.Second,
			Message: "the " + dependency + " is unavailable; retry shortly (with the same Idempotency-Key)"}
	}
	return &ordem.Error{Code: ordem.EInternal, Message: ordem.ErrorMessage(nil)}
}

// unavailable names the dependency an error says is down ("" when it says
// nothing of the kind): Postgres refusing or dropping connections or
// shutting down, Temporal's frontend unreachable, any connection refused. Such a request may be
// retried as it is; answering 500 would call it a bug.
func unavailable(err error) string {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		tUnavail   *serviceerror.Unavailable
		netErr     *net.OpError
	)
	switch {
	case errors.As(err, &tUnavail):
		return "order engine"
	case errors.As(err, &connectErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), pgconn.Timeout(err):
		return "database"
	case errors.As(err, &pgErr):
		// Class 08: connection exceptions; 57P01-03: the server is
		// shutting down, crashed or starting.
		if strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03" {
			return "database"
		}
	case errors.As(err, &netErr):
		return "service"
	}
	return ""
}

// errorHandler writes every error in the one envelope. Internal errors are
// logged with the request id and answered without details.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	de := toDomain(err)
	// Messages follow Accept-Language (pt-BR or English); codes never do.
	lang := locale.FromAcceptLanguage(c.Get(fiber.HeaderAcceptLanguage))
	status, ok := statusByCode[de.Code]
	if !ok {
		status = fiber.StatusInternalServerError
	}
	switch {
	case status == fiber.StatusInternalServerError:
		s.Logger.Error("Internal error", "request_id", requestID(c), "method", c.Method(), "path", c.Path(), "error", err)
		de = &ordem.Error{Code: ordem.EInternal, Message: ordem.InternalMessage(lang, requestID(c))}
	case status == fiber.StatusServiceUnavailable:
		s.Logger.Warn("Dependency unavailable", "request_id", requestID(c), "method", c.Method(), "path", c.Path(), "error", err)
	case s.Logger.Enabled(c.UserContext(), slog.LevelDebug):
		s.Logger.Debug("Request refused", "request_id", requestID(c), "code", de.Code, "message", de.Message)
	}
	if de.RetryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((de.RetryAfter+time.Second-1)/time.Second)))
	}
	message, fields := de.Message, de.Fields
	if status != fiber.StatusInternalServerError { // already in lang, with the request id
		message, fields = ordem.Localize(de, lang)
	}
	return c.Status(status).JSON(ErrorBody{Error: ErrorDetail{Code: de.Code, Message: message, Fields: fields, Details: de.Details}})
}

// isTemporalTimeout reports a gRPC deadline from the Temporal client
// (an update still running when the request's deadline passed).
func isTemporalTimeout(err error) bool {
	var dl *serviceerror.DeadlineExceeded
	return errors.As(err, &dl)
}
