// Package ordem holds the vocabulary every layer of Ordem shares: user
// roles and the error codes the API maps to HTTP statuses (order states
// live with the order workflow, in workflows/order). It does no I/O, so
// workflow code may import it.
package ordem

import (
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// EReasonRequired: an admin action that changes state came without a
	// reason (spec: admin actions always carry one, for the audit log).
	EReasonRequired = "reason_required"
	// EHasOpenOrders: a user with open orders cannot be deleted unless the
	// same request cancels them; Details lists the orders.
	EHasOpenOrders = "has_open_orders"
	// ESettlementChanged: accept_settlement named an offer that is no
	// longer the latest.
	ESettlementChanged = "settlement_changed"
	// EOfferLimit: the party already made the most settlement offers
	// allowed on a dispute.
	EOfferLimit = "offer_limit_reached"
	// ERevisionLimit: the order already had max_revisions revisions; only
	// confirm or contest remain.
	ERevisionLimit = "revision_limit_reached"
	// EWebhookTargetForbidden: a webhook URL points at an address the
	// worker must not post to (loopback, private, link-local, metadata).
	EWebhookTargetForbidden = "webhook_target_forbidden"
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
	EPenaltyChanged, EUnavailable, EReasonRequired, EHasOpenOrders, ESettlementChanged, EOfferLimit, ERevisionLimit,
	EWebhookTargetForbidden, EEmailTaken, EPasswordTooShort, EPasswordTooLong, EPasswordContainsEmail,
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
	// Details is machine-readable context of the refusal (the open orders
	// of has_open_orders), encoded as JSON in the envelope; nil: none.
	Details any
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

// Localized messages (spec §8): an error's code never changes, its human
// message follows the caller's language (the API reads Accept-Language).
// English is each error's own message; pt-BR is the exact translation of a
// message when the catalogue has one, else the meaning of its code. The
// catalogue is here, in one place, next to the codes.

// LocalePtBR is the one language besides English the API answers in.
const LocalePtBR = "pt-BR"

// messagesPtBR says what each code means, in pt-BR.
var messagesPtBR = map[string]string{
	EInvalid:                "Requisição malformada.",
	EUnauthenticated:        "É preciso entrar: o token está ausente, inválido ou expirado.",
	EForbidden:              "Seu papel não permite esta ação.",
	ENotFound:               "Não encontrado.",
	EInsufficientFunds:      "Saldo disponível insuficiente.",
	EInvalidTransition:      "Esta ação não é possível na situação atual.",
	EIdempotencyConflict:    "Esta Idempotency-Key já foi usada em outra requisição, ou a anterior ainda está em andamento.",
	ETooLarge:               "Grande demais.",
	EValidation:             "Dados recusados.",
	ERateLimited:            "Muitas requisições; aguarde e tente de novo.",
	EInternal:               "Ocorreu um erro interno.",
	EPreconditionFailed:     "O pedido mudou desde que você o viu; recarregue e tente de novo.",
	EProposalChanged:        "A proposta mudou; recarregue e confira a nova antes de aceitar.",
	EPenaltyChanged:         "A multa de cancelamento mudou; recarregue e confira antes de cancelar.",
	EUnavailable:            "Serviço temporariamente indisponível; tente de novo em instantes.",
	EReasonRequired:         "Informe o motivo: toda ação de administrador fica registrada na auditoria.",
	EHasOpenOrders:          "O usuário tem pedidos em aberto: cancele-os antes ou peça para cancelá-los nesta mesma ação.",
	ESettlementChanged:      "A proposta de acordo mudou; recarregue e confira a nova antes de aceitar.",
	EOfferLimit:             "Você já fez o máximo de propostas de acordo: aceite a da outra parte ou peça uma decisão.",
	ERevisionLimit:          "As revisões deste pedido acabaram: confirme ou conteste a entrega.",
	EWebhookTargetForbidden: "Este endereço de webhook não é permitido (rede interna, loopback ou metadados de nuvem).",
	EEmailTaken:             "Este e-mail já tem conta.",
	EPasswordTooShort:       "Senha curta demais.",
	EPasswordTooLong:        "Senha longa demais.",
	EPasswordContainsEmail:  "A senha não pode conter o e-mail.",
	EPasswordTooCommon:      "Senha comum demais; escolha outra.",
	EWrongPassword:          "Senha atual incorreta.",
	EAccountLocked:          "Conta bloqueada por excesso de tentativas; aguarde ou peça uma redefinição de senha.",
	EResetTokenInvalid:      "Código inválido ou já usado.",
	EResetTokenExpired:      "Código expirado; peça outro.",
}

// translationsPtBR are messages (and field messages) with their own pt-BR
// words; a message not listed gets its code's meaning instead.
var translationsPtBR = map[string]string{
	"wrong e-mail or password":                 "E-mail ou senha incorretos.",
	"a valid bearer token is required":         "É preciso entrar: o token está ausente, inválido ou expirado.",
	"no such order":                            "Pedido não encontrado.",
	"no such notification":                     "Notificação não encontrada.",
	"no such user":                             "Usuário não encontrado.",
	"no such route":                            "Rota inexistente.",
	"this order no longer accepts actions":     "Este pedido não aceita mais ações.",
	"an admin cannot delete their own account": "Um administrador não pode desativar a própria conta.",
	"this e-mail is already registered":        "Este e-mail já tem conta.",
	// Field messages.
	"is required":                                         "é obrigatório",
	"is already registered":                               "já está cadastrado",
	"must be a valid e-mail address":                      "deve ser um e-mail válido",
	"must have at least 8 characters":                     "deve ter pelo menos 8 caracteres",
	"must be client or provider":                          "deve ser client ou provider",
	"must be in the future":                               "deve estar no futuro",
	"must not be negative":                                "não pode ser negativo",
	"must be the id of a provider":                        "deve ser o número de um prestador",
	"is not an active provider":                           "não é um prestador ativo",
	"is not a cursor this API returned":                   "não é um cursor desta API",
	"must be a whole number between 1 and 100":            "deve ser um número inteiro entre 1 e 100",
	"must be pt-BR or en":                                 "deve ser pt-BR ou en",
	"must be an IANA time zone such as America/Sao_Paulo": "deve ser um fuso horário IANA, como America/Sao_Paulo",
	"must not contain line breaks":                        "não pode conter quebras de linha",
	"must not contain tabs":                               "não pode conter tabulações",
	"must be valid UTF-8 text":                            "deve ser texto UTF-8 válido",
	"must not contain NUL characters":                     "não pode conter caracteres NUL",
}

// InternalMessage is the message of an internal error, which quotes the
// request id logged with it and nothing else.
func InternalMessage(locale, requestID string) string {
	if locale == LocalePtBR {
		return "Ocorreu um erro interno; informe ao suporte o id de requisição " + requestID + "."
	}
	return "An internal error has occurred; quote the request id " + requestID + " to support."
}

// Localize returns e's message and field messages in locale ("" or any
// other locale: English, as they are). e is not changed.
func Localize(e *Error, locale string) (message string, fields map[string]string) {
	if locale != LocalePtBR {
		return e.Message, e.Fields
	}
	message, ok := translationsPtBR[e.Message]
	if !ok {
		if message, ok = messagesPtBR[e.Code]; !ok {
			message = e.Message
		}
	}
	if len(e.Fields) > 0 {
		fields = make(map[string]string, len(e.Fields))
		for k, v := range e.Fields {
			if tr, ok := translationsPtBR[v]; ok {
				v = tr
			} else if n, ok := strings.CutPrefix(v, "must be at most "); ok && strings.HasSuffix(n, " characters") {
				v = "deve ter no máximo " + strings.TrimSuffix(n, " characters") + " caracteres"
			}
			fields[k] = v
		}
	}
	return message, fields
}
