package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

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

// UnmarshalJSON reads a decimal string; numbers, exponents and more than
// two decimals are refused.
func (m *Money) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("must be a string such as \"150.00\"")
	}
	if s == "" || strings.ContainsAny(s, "eE+ ") {
		return fmt.Errorf("must be a decimal string such as \"150.00\"")
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return fmt.Errorf("must be a decimal string such as \"150.00\"")
	}
	if !money.HasCents(d) {
		return fmt.Errorf("must have at most two decimal places")
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

// decodeJSON reads the body strictly into v: malformed JSON, wrong types,
// unknown fields (no mass assignment of status, amounts or ids) and
// trailing data are refused before anything is done.
func decodeJSON(c *fiber.Ctx, v any) error {
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return ordem.Errorf(ordem.EInvalid, "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return ordem.Errorf(ordem.EInvalid, "%s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ordem.Errorf(ordem.EInvalid, "the request body must hold exactly one JSON object")
	}
	return nil
}

func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("malformed JSON at byte %d", syntax.Offset)
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return fmt.Sprintf("field %q must be of type %s", typeErr.Field, jsonType(typeErr.Type.Kind().String()))
		}
		return "the request body must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "malformed JSON: unexpected end of input"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	// Errors from a field's own UnmarshalJSON (e.g. Money) name the field.
	msg := err.Error()
	if i := strings.Index(msg, "Go struct field "); i >= 0 {
		rest := msg[i+len("Go struct field "):]
		if j := strings.Index(rest, " of type"); j >= 0 {
			field := rest[:j]
			if k := strings.LastIndex(field, "."); k >= 0 {
				field = field[k+1:]
			}
			if e := strings.LastIndex(msg, ": "); e >= 0 {
				return fmt.Sprintf("field %q %s", field, msg[e+2:])
			}
		}
	}
	return "malformed JSON"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "slice":
		return "array"
	}
	return "object"
}

// fieldErrors collects validation failures, field by field.
type fieldErrors map[string]string

func (f fieldErrors) add(field, msg string) { f[field] = msg }

// err returns a validation_failed error naming every field, or nil.
func (f fieldErrors) err() error {
	if len(f) == 0 {
		return nil
	}
	return &ordem.Error{Code: ordem.EValidation, Message: "invalid fields: " + strings.Join(sortedKeys(f), ", "), Fields: f}
}

// decimalString is a non-money decimal (hours, percentages): a JSON string
// ("0.5") or number (0.5), parsed exactly without a float.
type decimalString struct{ decimal.Decimal }

// UnmarshalJSON reads a decimal from a string or a number literal.
func (d *decimalString) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := decimal.NewFromString(s)
	if err != nil || strings.ContainsAny(s, "eE") {
		return fmt.Errorf("must be a decimal number such as \"24\" or \"0.5\"")
	}
	d.Decimal = v
	return nil
}
