package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/money"
)

// Money is an amount in JSON: always a string with two decimals ("150.00"),
// never a JSON number, so no client ever routes money through a float.
type Money struct{ decimal.Decimal }

// M wraps a decimal as Money.
func M(d decimal.Decimal) Money { return Money{d} }

// MarshalJSON writes "150.00".
func (m Money) MarshalJSON() ([]byte, error) {
	return []byte(`"` + m.StringFixed(money.Scale) + `"`), nil
}

// decimalFormat is the one spelling of a decimal in a request: an
// optional minus, an integer part without leading zeros and, if there is
// a dot, at least one digit after it ("5", "5.0", "-1.00"); Money then
// allows at most two decimals. decimal.NewFromString alone would also take
// "5.", ".5", "05.00", "+5" and exponents.
var decimalFormat = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// maxDecimalLen bounds a decimal's text before it is parsed.
const maxDecimalLen = 40

// valueError is a refusal by a type's own UnmarshalJSON: its message
// completes `field "amount" …` in the 400 answer.
type valueError string

func (e valueError) Error() string { return string(e) }

// UnmarshalJSON reads a decimal string of the form decimalFormat; numbers,
// exponents, signs other than a leading minus, spaces and more than two
// decimals are refused. Negative amounts are the callers' to refuse.
func (m *Money) UnmarshalJSON(b []byte) error {
	const format = valueError(`must be a decimal string such as "150.00" (digits, an optional leading "-", at most two decimals after a ".")`)
	var s string
	if len(b) == 0 || b[0] != '"' || json.Unmarshal(b, &s) != nil {
		if len(b) > 0 && (b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
			return valueError(`must be a string such as "150.00", never a JSON number`)
		}
		return valueError(`must be a string such as "150.00"`)
	}
	if len(s) > maxDecimalLen || !decimalFormat.MatchString(s) {
		return format
	}
	if dot := strings.IndexByte(s, '.'); dot >= 0 && len(s)-dot-1 > money.Scale {
		return valueError("must have at most two decimal places")
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return format
	}
	m.Decimal = d
	return nil
}

// decodeOptionalJSON is decodeJSON for a body that may be left out: an
// empty (or blank) body leaves v as it is.
func decodeOptionalJSON(c *fiber.Ctx, v any) error {
	if len(bytes.TrimSpace(c.Body())) == 0 {
		return nil
	}
	return decodeJSON(c, v)
}

// decodeJSON reads the body strictly into v, a pointer to a struct:
// malformed JSON, invalid UTF-8, wrong types, unknown fields (no mass
// assignment of status, amounts or ids), a field named twice (whose
// second value encoding/json would silently take), names that differ
// only in case from a field ("Amount") and trailing data are refused
// before anything is done, each with a message naming the field.
func decodeJSON(c *fiber.Ctx, v any) error {
	body := c.Body()
	if trimmed := bytes.TrimSpace(body); len(trimmed) == 0 || trimmed[0] != '{' {
		return ordem.Errorf(ordem.EInvalid, "the request body must be a JSON object")
	}
	// jsontext refuses duplicate names by default; the json package
	// matches names case-sensitively by default.
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	if err := json.UnmarshalDecode(dec, v, json.RejectUnknownMembers(true)); err != nil {
		return ordem.Errorf(ordem.EInvalid, "%s", describeJSONError(err))
	}
	if _, err := dec.ReadValue(); !errors.Is(err, io.EOF) {
		return ordem.Errorf(ordem.EInvalid, "the request body must hold exactly one JSON object")
	}
	return nil
}

// describeJSONError turns a decoding error into a message for the client
// built from the error's parts (the JSON pointer, the kind, the Go type),
// never from its Error() text, which changes between processes and names
// Go types.
func describeJSONError(err error) string {
	var syntax *jsontext.SyntacticError
	var semantic *json.SemanticError
	switch {
	case errors.As(err, &syntax):
		field := fieldPath(syntax.JSONPointer)
		switch {
		case errors.Is(syntax.Err, jsontext.ErrDuplicateName):
			return fmt.Sprintf("duplicate field %q", field)
		case errors.Is(syntax.Err, io.ErrUnexpectedEOF):
			return "malformed JSON: unexpected end of input"
		case field != "":
			return fmt.Sprintf("malformed JSON in field %q at byte %d: %s", field, syntax.ByteOffset, syntax.Err)
		}
		return fmt.Sprintf("malformed JSON at byte %d: %s", syntax.ByteOffset, syntax.Err)
	case errors.As(err, &semantic):
		field := fieldPath(semantic.JSONPointer)
		var refused valueError
		switch {
		case errors.Is(semantic.Err, json.ErrUnknownName):
			return fmt.Sprintf("unknown field %q", field)
		case field == "":
			return "the request body must be a JSON object"
		case errors.As(semantic.Err, &refused):
			return fmt.Sprintf("field %q %s", field, refused)
		}
		return fmt.Sprintf("field %q must be %s", field, expected(semantic.GoType))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	}
	return "malformed JSON"
}

// maxFieldPath bounds a field's name as quoted back to the client: an
// unknown name may be as long as the body.
const maxFieldPath = 100

// fieldPath names the member a JSON pointer points at: "amount",
// "event_types[0]".
func fieldPath(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.ParseUint(tok, 10, 64); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	path := b.String()
	if len(path) > maxFieldPath {
		cut := maxFieldPath
		for cut > 0 && !utf8.RuneStart(path[cut]) {
			cut--
		}
		path = path[:cut] + "…"
	}
	return path
}

// expected describes the JSON a Go type takes.
func expected(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "of another type"
	}
	if t == reflect.TypeFor[time.Time]() {
		return `a date-time string such as "2026-05-01T15:00:00Z" (RFC 3339)`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fieldErrors collects validation failures, field by field.
type fieldErrors map[string]string

func (f fieldErrors) add(field, msg string) { f[field] = msg }

// err returns a validation_failed error naming every field, or nil.
func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	code := ordem.EValidation
	if f["reason"] == reasonMissing {
		// An admin action without its reason: a code of its own, so a
		// console can ask for one (the other fields are still named).
		code = ordem.EReasonRequired
	}
	return &ordem.Error{Code: code, Message: "invalid fields: " + strings.Join(sortedKeys(f), ", "), Fields: f}
}

// decimalString is a non-money decimal (hours, percentages): a JSON string
// ("0.5") or number (0.5) of the form decimalFormat, parsed exactly
// without a float. Exponents, a leading "+", spaces, "5." and ".5" are
// refused.
type decimalString struct{ decimal.Decimal }

// UnmarshalJSON reads a decimal from a string or a number literal.
func (d *decimalString) UnmarshalJSON(b []byte) error {
	const bad = valueError(`must be a decimal number such as "24" or "0.5"`)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return bad
		}
	}
	if len(s) > maxDecimalLen || !decimalFormat.MatchString(s) {
		return bad
	}
	v, err := decimal.NewFromString(s)
	if err != nil {
		return bad
	}
	d.Decimal = v
	return nil
}
