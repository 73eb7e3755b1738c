package api

// Fuzz targets of the API's parsers of outside input: JSON request
// bodies, decimals and amounts, pagination cursors, If-Match and the
// deposit webhook's signature. They are in package api (not api_test) to
// reach the unexported parsers, and need no database: run them with
// -short, which makes TestMain skip the stack (make fuzz does).

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem"
	"github.com/ordem/ordem/internal/money"
	"github.com/ordem/ordem/internal/sysconfig"
)

var fuzzApp = sync.OnceValue(func() *fiber.App { return fiber.New(fiber.Config{DisableStartupMessage: true}) })

// fuzzNewCtx calls acquire with a new zero request context. Inferring T
// from fiber's AcquireCtx keeps fasthttp out of this module's imports (it
// is only an indirect dependency).
func fuzzNewCtx[T any](acquire func(*T) *fiber.Ctx) *fiber.Ctx { return acquire(new(T)) }

// fuzzRequest runs fn on a fiber.Ctx holding a request with body and
// headers (name, value pairs) for uri.
func fuzzRequest(uri string, body []byte, headers []string, fn func(c *fiber.Ctx)) {
	app := fuzzApp()
	c := fuzzNewCtx(app.AcquireCtx)
	defer app.ReleaseCtx(c)
	c.Request().SetRequestURI(uri)
	c.Request().Header.SetMethod(fiber.MethodPost)
	for i := 0; i+1 < len(headers); i += 2 {
		c.Request().Header.Set(headers[i], headers[i+1])
	}
	c.Request().SetBody(body)
	fn(c)
}

func fuzzDecode(body []byte, v any, optional bool) (err error) {
	fuzzRequest("/", body, nil, func(c *fiber.Ctx) {
		if optional {
			err = decodeOptionalJSON(c, v)
		} else {
			err = decodeJSON(c, v)
		}
	})
	return err
}

// The request bodies declared inside their handlers, mirrored here with
// the same fields and tags (extendInput, requestPayout, noBody).
type (
	fuzzExtendRequest struct {
		Hours  *decimalString `json:"hours"`
		Reason string         `json:"reason"`
	}
	fuzzPayoutRequest struct {
		Amount *Money `json:"amount"`
	}
)

// fuzzBodies is every request body the API decodes, with whether it may
// be left out (decodeOptionalJSON).
var fuzzBodies = []struct {
	name     string
	optional bool
	check    func(t *testing.T, body []byte, optional bool)
}{
	{"createOrder", false, fuzzCheckBody[createOrderRequest]},
	{"accept", false, fuzzCheckBody[acceptRequest]},
	{"propose", false, fuzzCheckBody[proposeRequest]},
	{"contest/redeliver/rotate", true, fuzzCheckBody[reasonRequest]},
	{"cancel", true, fuzzCheckBody[cancelRequest]},
	{"resolve", false, fuzzCheckBody[resolveRequest]},
	{"extend", false, fuzzCheckBody[fuzzExtendRequest]},
	{"noBody", true, fuzzCheckBody[struct{}]},
	{"register", false, fuzzCheckBody[registerRequest]},
	{"login", false, fuzzCheckBody[loginRequest]},
	{"updateMe", false, fuzzCheckBody[updateMeRequest]},
	{"adminDeposit", false, fuzzCheckBody[adminDepositRequest]},
	{"depositWebhook", false, fuzzCheckBody[providerDepositRequest]},
	{"payout", false, fuzzCheckBody[fuzzPayoutRequest]},
	{"decidePayout", true, fuzzCheckBody[decidePayoutRequest]},
	{"updateConfig", false, fuzzCheckBody[updateConfigRequest]},
	{"webhook", false, fuzzCheckBody[webhookRequest]},
	{"deleteUser", true, fuzzCheckBody[deleteUserRequest]},
	{"changePassword", false, fuzzCheckBody[changePasswordRequest]},
	{"issueReset", false, fuzzCheckBody[issueResetRequest]},
	{"consumeReset", false, fuzzCheckBody[consumeResetRequest]},
}

// fuzzFieldNames are the JSON names of struct T's fields, exactly.
func fuzzFieldNames[T any]() map[string]bool {
	names := map[string]bool{}
	rt := reflect.TypeFor[T]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		names[name] = true
	}
	return names
}

// fuzzMembers reads body as the one JSON object it must be, without the
// code under test and tolerating duplicates: its top-level member names,
// in order. ok is false for anything but one object and white space.
func fuzzMembers(body []byte) (names []string, ok bool) {
	dec := jsontext.NewDecoder(bytes.NewReader(body), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, false
	}
	for dec.PeekKind() == '"' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, false
		}
		names = append(names, tok.String()) // before the token is voided
		if _, err := dec.ReadValue(); err != nil {
			return nil, false
		}
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '}' {
		return nil, false
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return names, true
}

// fuzzRefusal checks a decoding refusal: a 400 invalid_request whose
// message is short, valid text however long the body (an unknown name
// may be as long as the body).
func fuzzRefusal(t *testing.T, err error) {
	var oe *ordem.Error
	require.True(t, errors.As(err, &oe), "%T %v", err, err)
	require.Equal(t, ordem.EInvalid, oe.Code, oe.Message)
	require.NotEmpty(t, oe.Message)
	require.True(t, utf8.ValidString(oe.Message), "%q", oe.Message)
	require.LessOrEqual(t, len(oe.Message), 600, "%q", oe.Message)
}

// fuzzCheckBody decodes body into a T as the handler does and checks that
// what is accepted is one JSON object naming only T's fields, each once
// and exactly as spelled, with valid text and amounts of at most two
// decimals, and that what a handler can act on (amounts up to MaxAmount)
// survives a round trip: encoded again and decoded again it encodes the
// same.
func fuzzCheckBody[T any](t *testing.T, body []byte, optional bool) {
	var v T
	err := fuzzDecode(body, &v, optional)
	if err != nil {
		fuzzRefusal(t, err)
		return
	}
	if optional && len(bytes.TrimSpace(body)) == 0 {
		require.Zero(t, v, "a left-out body changes nothing")
		return
	}
	names, ok := fuzzMembers(body)
	require.True(t, ok, "%q accepted as a %T but is not one JSON object", body, v)
	fields, seen := fuzzFieldNames[T](), map[string]bool{}
	for _, n := range names {
		require.True(t, fields[n], "%q accepted with unknown field %q", body, n)
		require.False(t, seen[n], "%q accepted with field %q twice", body, n)
		seen[n] = true
	}
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		if m, ok := rv.Field(i).Interface().(*Money); ok && m != nil {
			require.True(t, money.HasCents(m.Decimal), "%q accepted with amount %s", body, m.Decimal)
			if m.Abs().GreaterThan(money.MaxAmount) {
				// Every handler refuses it next; and a 40-digit amount
				// would gain ".00" and exceed maxDecimalLen.
				return
			}
		}
	}

	first, err := json.Marshal(v)
	require.NoError(t, err, "%q accepted as %#v, which does not encode", body, v)
	var again T
	require.NoError(t, fuzzDecode(first, &again, optional), "%q accepted, its encoding %q refused", body, first)
	second, err := json.Marshal(again)
	require.NoError(t, err)
	require.Equal(t, string(first), string(second), "%q does not round-trip", body)
}

// FuzzDecodeJSON decodes each input as every request body of the API.
func FuzzDecodeJSON(f *testing.F) {
	long := strings.Repeat("n", 70_000)
	for _, s := range []string{
		// one good body of each kind
		`{"provider_id":"2","title":"Reparo","description":"Telhado\ncom goteira","amount":"150.00","due_date":"2026-05-01T15:00:00Z"}`,
		`{"proposal_version":3}`,
		`{"amount":"99.9","due_date":"2026-05-01T15:00:00-03:00","note":"ok"}`,
		`{"reason":"não entregou"}`,
		`{"reason":"mudança","expected_penalty":"15.00"}`,
		`{"refund_amount":"0.00","reason":"r"}`,
		`{"hours":"0.5","reason":"r"}`, `{"hours":24,"reason":"r"}`,
		`{}`, ``, " \n\t", `null`,
		`{"name":"Ana","email":"ana@x.io","phone":"+55 11","password":"12345678","role":"client"}`,
		`{"email":"ana@x.io","password":"x"}`,
		`{"current_password":"old-pass-1","new_password":"new-pass-42"}`, `{"token":"abc","new_password":"n"}`,
		`{"user_id":"7","amount":"10.00","reference":"pix-1","reason":"r"}`,
		`{"id":"evt_1","user_id":"7","amount":"10.00","reference":"r"}`,
		`{"amount":"1"}`,
		`{"gateway_ref":"E123","reason":"paid"}`,
		`{"value":"5.5","reason":"r"}`, `{"value":5.5,"reason":"r"}`, `{"value":{"a":1},"reason":"r"}`,
		`{"url":"https://x.io/h","description":"d","event_types":["order.created"],"active":true,"reason":"r"}`,
		// names: case variants, duplicates, escapes, mass assignment
		`{"amount":"1","Amount":"2"}`, `{"amount":"1","amount":"2"}`, `{"AMOUNT":"1"}`, `{"amount ":"1"}`,
		`{"\u0061mount":"1"}`, `{"\u0061mount":"1","amount":"2"}`, `{"status":"paid","amount":"1"}`, `{"id":"1","id":"2"}`,
		`{"value":{"a":1,"a":2}}`, `{"` + long + `":1}`,
		// trailing data, other top-level values, broken text
		`{"amount":"1"} {}`, `{"amount":"1"}x`, `{"amount":"1"`, `[]`, `"{}"`, "\ufeff{}", `{"title":"\ud800"}`,
		"{\"title\":\"\xff\"}", `{"title":"a\u0000b"}`,
		// values the types refuse
		`{"amount":1}`, `{"amount":"1e3"}`, `{"amount":"5."}`, `{"amount":"0150"}`, `{"amount":"-0.00"}`, `{"amount":"1.001"}`,
		`{"amount":" 1"}`, `{"amount":null}`, `{"proposal_version":1.0}`, `{"proposal_version":1e2}`,
		`{"proposal_version":9223372036854775808}`, `{"proposal_version":"3"}`, `{"hours":5e1}`, `{"hours":"+5"}`,
		`{"due_date":"2026-13-01T00:00:00Z"}`, `{"due_date":"2026-05-01"}`, `{"due_date":"0000-01-01T00:00:00Z"}`,
		`{"event_types":["order.created",1]}`, `{"event_types":null}`, `{"active":"true"}`, `{"role":1}`,
		`{"value":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, b := range fuzzBodies {
			b.check(t, body, b.optional)
		}
	})
}

// fuzzJSONString is the text a JSON string literal holds (ok false for
// anything else).
func fuzzJSONString(b []byte) (string, bool) {
	var s string
	if len(b) == 0 || b[0] != '"' || json.Unmarshal(b, &s) != nil {
		return "", false
	}
	return s, true
}

// fuzzPlainDecimal is the one spelling a decimal may have in a request,
// by hand: an optional minus, an integer part without leading zeros and,
// after a dot, one or more digits (at most maxDecimals, -1 for any).
func fuzzPlainDecimal(s string, maxDecimals int) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, dot := strings.Cut(s, ".")
	digits := func(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
	if !digits(whole) || (len(whole) > 1 && whole[0] == '0') {
		return false
	}
	if dot && (!digits(frac) || (maxDecimals >= 0 && len(frac) > maxDecimals)) {
		return false
	}
	return true
}

// FuzzDecimalJSON checks Money and decimalString against the documented
// spelling in both directions (accepted exactly when plain, at most 40
// characters and, for Money, a string with at most two decimals), that
// the value is the one written, that Money's answer spelling decodes to
// the same amount, and that a body holding the value agrees.
func FuzzDecimalJSON(f *testing.F) {
	for _, s := range []string{
		`"150.00"`, `"150.5"`, `"0.01"`, `"0"`, `"-0.00"`, `"-1.00"`, `"5."`, `".5"`, `"0150"`, `"+5"`, `"1e3"`, `"1E3"`,
		`"1.001"`, `" 1"`, `"1 "`, `"\u0031"`, `"١"`, `"0x10"`, `"NaN"`, `""`, `"-"`, `"--1"`, `"1.2.3"`,
		`"` + strings.Repeat("9", 40) + `"`, `"` + strings.Repeat("9", 41) + `"`, `"1.` + strings.Repeat("0", 38) + `"`,
		`150`, `150.5`, `0.5`, `-0`, `1e3`, `5.`, `null`, `true`, `{}`, `[]`, ``, `"`, `"1`, "\"1\x00\"",
		strings.Repeat("9", 40), strings.Repeat("9", 41),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Money
		err := m.UnmarshalJSON(b)
		s, isString := fuzzJSONString(b)
		wantMoney := isString && len(s) <= maxDecimalLen && fuzzPlainDecimal(s, money.Scale)
		require.Equal(t, wantMoney, err == nil, "Money %q: %v", b, err)
		if err != nil {
			var ve valueError
			require.ErrorAs(t, err, &ve)
		} else {
			require.True(t, m.Equal(decimal.RequireFromString(s)), "Money %q read as %s", b, m.Decimal)
		}
		// Every amount the API can show decodes back as itself. (Beyond
		// MaxAmount, which every caller refuses, a 40-digit amount gains
		// ".00" and exceeds maxDecimalLen.)
		if err == nil && !m.Abs().GreaterThan(money.MaxAmount) {
			out, err := m.MarshalJSON()
			require.NoError(t, err)
			require.True(t, fuzzPlainDecimal(strings.Trim(string(out), `"`), money.Scale), "%q shown as %s", b, out)
			var back Money
			require.NoError(t, back.UnmarshalJSON(out), "%q shown as %s", b, out)
			require.True(t, back.Equal(m.Decimal))
			require.Equal(t, string(out), string(must(back.MarshalJSON())))
		}

		var d decimalString
		derr := d.UnmarshalJSON(b)
		text := string(b)
		if isString {
			text = s
		}
		wantDecimal := (isString || (len(b) > 0 && b[0] != '"')) && len(text) <= maxDecimalLen && fuzzPlainDecimal(text, -1)
		require.Equal(t, wantDecimal, derr == nil, "decimal %q: %v", b, derr)
		if derr == nil {
			require.True(t, d.Equal(decimal.RequireFromString(text)), "decimal %q read as %s", b, d.Decimal)
		}

		// In a body, the decoder hands the types the value itself, without
		// the JSON white space around it.
		value := bytes.Trim(b, " \t\r\n")
		var m2 Money
		err = m2.UnmarshalJSON(value)
		var d2 decimalString
		derr = d2.UnmarshalJSON(value)
		single := jsontext.Value(value).IsValid() // else b spills into more members
		for _, field := range []string{"amount", "hours"} {
			var req struct {
				Amount *Money         `json:"amount"`
				Hours  *decimalString `json:"hours"`
			}
			body := append(append([]byte(`{"`+field+`":`), b...), '}')
			berr := fuzzDecode(body, &req, false)
			if berr != nil {
				fuzzRefusal(t, berr)
				continue
			}
			if field == "amount" && req.Amount != nil && single {
				require.NoError(t, err, "%s accepted, %q refused", body, value)
				require.True(t, req.Amount.Equal(m2.Decimal))
			}
			if field == "hours" && req.Hours != nil && single {
				require.NoError(t, derr, "%s accepted, %q refused", body, value)
				require.True(t, req.Hours.Equal(d2.Decimal))
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzConfigValue follows PUT /v1/admin/config/{key}: configValue reads
// the JSON value, the key validates it, the API stores its spelling and
// every later read validates that again. What is accepted is a decimal
// of digits, dots and a leading minus only, and what is stored always
// reads back as the same value. (configValue only screens; the key's
// Validate refuses the rest.)
func FuzzConfigValue(f *testing.F) {
	for _, s := range []string{
		`"5.5"`, `5.5`, `"10.00"`, `10`, `"-0"`, `0`, `"0.0001"`, `"0.00001"`, `"8760"`, `"1e3"`, `1E3`, `"+5"`, `" 5"`,
		`"5."`, `".5"`, `"05"`, `"0x10"`, `"\u0035"`, `"5\r"`, `null`, ``, `true`, `{}`, `"١"`, `"1_0"`, `"1..0"`,
		`"` + strings.Repeat("9", 100) + `"`, `"0.` + strings.Repeat("0", 100) + `1"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, problem := configValue(raw)
		if problem != "" {
			require.Empty(t, v)
			return
		}
		require.NotEmpty(t, v)
		for _, k := range sysconfig.Keys {
			d, err := k.Validate(v)
			if err != nil {
				continue
			}
			require.Equal(t, "", strings.Trim(strings.TrimPrefix(v, "-"), "0123456789."), "%s: %q accepted as %q", k.Name, raw, v)
			stored := d.String()
			if k.Name == sysconfig.ContestationFee {
				stored = d.StringFixed(2)
			}
			back, err := k.Validate(stored)
			require.NoError(t, err, "%s: %q stored as %q, which reads back refused", k.Name, raw, stored)
			require.True(t, back.Equal(d), "%s: %q stored as %q", k.Name, raw, stored)
		}
	})
}

// FuzzCursor checks that decodeCursor accepts only the cursors the API
// hands out, each spelled the one way encodeCursor spells it, and that
// every cursor the API can hand out decodes to its position.
func FuzzCursor(f *testing.F) {
	at := time.Date(2026, 5, 1, 15, 4, 5, 123456789, time.UTC)
	good := encodeCursor(at, 42)
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, s := range []string{
		good, good + "=", good + "\n", good[:len(good)-1], base64.URLEncoding.EncodeToString([]byte("2026-05-01T15:04:05Z|42")),
		base64.StdEncoding.EncodeToString([]byte("2026-05-01T15:04:05Z|42?>")),
		raw("2026-05-01T15:04:05Z|42"), raw("2026-05-01T15:04:05+03:00|42"), raw("2026-05-01T15:04:05.500Z|42"),
		raw("2026-05-01T15:04:05Z|+42"), raw("2026-05-01T15:04:05Z|042"), raw("2026-05-01T15:04:05Z|-1"),
		raw("2026-05-01T15:04:05Z|9223372036854775808"), raw("2026-05-01T15:04:05Z|"), raw("|42"), raw("x|42"),
		raw("2026-05-01T15:04:05Z|4|2"), raw("2026-05-01T15:04:05z|42"), "", "!!!!", "AAAA",
	} {
		f.Add(s, at.Unix(), int64(at.Nanosecond()), int64(42))
	}
	f.Add("", int64(-62135596800), int64(0), int64(1))               // 0001-01-01
	f.Add("", int64(253402300799), int64(999999999), int64(1<<63-1)) // 9999-12-31
	f.Fuzz(func(t *testing.T, s string, sec, nsec, n int64) {
		ts, id, ok := decodeCursor(s)
		if ok {
			require.Equal(t, s, encodeCursor(ts, id), "%q accepted but is not spelled as the API spells it", s)
		}
		// Round trip of a position in the years a timestamp column holds
		// and RFC 3339 spells.
		pos := time.Unix(sec, nsec).UTC()
		if pos.Year() < 1 || pos.Year() > 9999 {
			return
		}
		cur := encodeCursor(pos, n)
		back, backID, ok := decodeCursor(cur)
		require.True(t, ok, "%q (%s, %d) refused", cur, pos, n)
		require.True(t, back.Equal(pos), "%q: %s, not %s", cur, back, pos)
		require.Equal(t, n, backID)
	})
}

// FuzzParsePage checks that any query string gives a page size between 1
// and 100 and a position only from a cursor the API hands out, or a 422
// naming the parameter.
func FuzzParsePage(f *testing.F) {
	good := encodeCursor(time.Date(2026, 5, 1, 15, 4, 5, 0, time.UTC), 42)
	for _, s := range []string{
		"", "limit=20", "limit=100", "limit=101", "limit=0", "limit=-1", "limit=+5", "limit=05", "limit=1e2", "limit=",
		"cursor=" + good, "cursor=" + good + "&limit=5", "cursor=" + good + "%0A", "cursor=%00", "cursor=" + good + "&cursor=x",
		"limit=5&limit=500", "limit=9223372036854775808",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		fuzzRequest("/v1/orders?"+query, nil, nil, func(c *fiber.Ctx) {
			p, err := parsePage(c)
			if err != nil {
				var oe *ordem.Error
				require.ErrorAs(t, err, &oe)
				require.Equal(t, ordem.EValidation, oe.Code)
				require.Len(t, oe.Fields, 1)
				return
			}
			require.True(t, p.limit >= 1 && p.limit <= maxPageSize, "limit %d from %q", p.limit, query)
			if cur := c.Query("cursor"); cur != "" {
				require.NotNil(t, p.after)
				require.Equal(t, cur, encodeCursor(*p.after, p.afterID), "position from %q", query)
			} else {
				require.Nil(t, p.after)
			}
		})
	})
}

// FuzzIfMatch checks that If-Match names a version only as the ETag the
// API sends ("3"), so a precondition holds only for the entity tag it
// saw, and that every version's ETag is read back as that version.
func FuzzIfMatch(f *testing.F) {
	for _, s := range []string{
		`"3"`, ` "3" `, `*`, ``, `3`, `"0"`, `"-1"`, `"+3"`, `"03"`, `W/"3"`, `"3", "4"`, `"`, `""`, `"3`, `3"`,
		`"9223372036854775808"`, `"٣"`, `"3 "`,
	} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, v string, version int) {
		fuzzRequest("/", nil, []string{fiber.HeaderIfMatch, v}, func(c *fiber.Ctx) {
			n, err := parseIfMatch(c)
			header := strings.TrimSpace(c.Get(fiber.HeaderIfMatch))
			switch {
			case err != nil:
				var oe *ordem.Error
				require.ErrorAs(t, err, &oe)
				require.Equal(t, ordem.EInvalid, oe.Code)
			case header == "" || header == "*":
				require.Zero(t, n)
			default:
				require.Positive(t, n)
				require.Equal(t, etag(n), header, "If-Match %q read as version %d", header, n)
			}
		})
		if version < 1 {
			return
		}
		fuzzRequest("/", nil, []string{fiber.HeaderIfMatch, etag(version)}, func(c *fiber.Ctx) {
			n, err := parseIfMatch(c)
			require.NoError(t, err)
			require.Equal(t, version, n)
		})
	})
}

// fuzzWebhookNow is the server's clock in the webhook targets.
var fuzzWebhookNow = time.Unix(1_767_225_600, 0)

func fuzzVerify(secret, timestamp, signature string, body []byte) (err error) {
	s := &Server{Now: func() time.Time { return fuzzWebhookNow }}
	fuzzRequest("/v1/webhooks/deposits", body, []string{HeaderWebhookTimestamp, timestamp, HeaderWebhookSignature, signature},
		func(c *fiber.Ctx) { err = s.verifyDepositSignature(c, secret) })
	return err
}

func fuzzFresh(ts int64) bool {
	now, tol := fuzzWebhookNow.Unix(), int64(WebhookTolerance/time.Second)
	return ts >= now-tol && ts <= now+tol
}

func fuzzUnauthenticated(t *testing.T, err error) {
	var oe *ordem.Error
	require.ErrorAs(t, err, &oe)
	require.Equal(t, ordem.EUnauthenticated, oe.Code)
}

// FuzzDepositWebhookSignature signs a deposit webhook as a payment
// provider does and checks that verifyDepositSignature takes it exactly when its
// timestamp is within the tolerance, and never once a byte of the body,
// the secret or the MAC changed, or with another timestamp.
func FuzzDepositWebhookSignature(f *testing.F) {
	now := fuzzWebhookNow.Unix()
	body := `{"id":"evt_1","user_id":"7","amount":"10.00","reference":"pix"}`
	for _, ts := range []int64{now, now - 300, now + 300, now - 301, now + 301, 0, -1, 1<<63 - 1, -1 << 63} {
		f.Add("webhook-secret-for-tests-0123456789abcdef", ts, []byte(body), uint16(0), byte(1))
	}
	f.Add("", now, []byte{}, uint16(0), byte(0x20))
	f.Fuzz(func(t *testing.T, secret string, ts int64, body []byte, pos uint16, flip byte) {
		if flip == 0 {
			flip = 1
		}
		stamp := strconv.FormatInt(ts, 10)
		sig := SignDepositWebhook(secret, ts, body)
		err := fuzzVerify(secret, stamp, sig, body)
		if !fuzzFresh(ts) {
			fuzzUnauthenticated(t, err)
			return
		}
		require.NoError(t, err)
		if len(body) > 0 {
			changed := append([]byte(nil), body...)
			changed[int(pos)%len(body)] ^= flip
			fuzzUnauthenticated(t, fuzzVerify(secret, stamp, sig, changed))
			fuzzUnauthenticated(t, fuzzVerify(secret, stamp, sig, body[:len(body)-1]))
		}
		fuzzUnauthenticated(t, fuzzVerify(secret, stamp, sig, append(append([]byte(nil), body...), ' ')))
		other := []byte(secret + "x")
		if len(secret) > 0 {
			other = []byte(secret)
			other[int(pos)%len(secret)] ^= flip
		}
		fuzzUnauthenticated(t, fuzzVerify(string(other), stamp, sig, body))
		for _, moved := range []int64{ts - 1, ts + 1} {
			if fuzzFresh(moved) {
				fuzzUnauthenticated(t, fuzzVerify(secret, strconv.FormatInt(moved, 10), sig, body))
			}
		}
		mac := must(hex.DecodeString(strings.TrimPrefix(sig, "sha256=")))
		mac[int(pos)%len(mac)] ^= flip
		fuzzUnauthenticated(t, fuzzVerify(secret, stamp, "sha256="+hex.EncodeToString(mac), body))
		fuzzUnauthenticated(t, fuzzVerify(secret, stamp, "sha512="+strings.TrimPrefix(sig, "sha256="), body))
	})
}

// FuzzDepositWebhookHeaders feeds arbitrary headers: verifyDepositSignature takes
// only a timestamp that is a whole number of seconds within the tolerance
// and a signature that is "sha256=" and the hex HMAC, computed here
// without the package, of that exact timestamp text, a dot and the body.
func FuzzDepositWebhookHeaders(f *testing.F) {
	secret := "webhook-secret-for-tests-0123456789abcdef"
	now := fuzzWebhookNow.Unix()
	body := []byte(`{"id":"evt_1"}`)
	good := SignDepositWebhook(secret, now, body)
	stamp := strconv.FormatInt(now, 10)
	for _, c := range [][2]string{
		{stamp, good}, {" " + stamp, good}, {"+" + stamp, good}, {"0" + stamp, good}, {stamp + ".0", good}, {"", good},
		{stamp, ""}, {stamp, strings.ToUpper(good)}, {stamp, "sha256=" + strings.ToUpper(good[7:])}, {stamp, good[7:]},
		{stamp, good + "00"}, {stamp, good[:len(good)-1]}, {stamp, "sha256=" + good}, {stamp, good + "," + good},
		{"99999999999999999999", good},
	} {
		f.Add(c[0], c[1], body)
	}
	f.Fuzz(func(t *testing.T, timestamp, signature string, body []byte) {
		var tsHeader, sigHeader string
		var err error
		s := &Server{Now: func() time.Time { return fuzzWebhookNow }}
		fuzzRequest("/v1/webhooks/deposits", body, []string{HeaderWebhookTimestamp, timestamp, HeaderWebhookSignature, signature},
			func(c *fiber.Ctx) {
				// What the server reads, which is what the sender signs.
				tsHeader, sigHeader = c.Get(HeaderWebhookTimestamp), c.Get(HeaderWebhookSignature)
				err = s.verifyDepositSignature(c, secret)
			})
		if err != nil {
			fuzzUnauthenticated(t, err)
			return
		}
		ts, perr := strconv.ParseInt(tsHeader, 10, 64)
		require.NoError(t, perr, "timestamp %q accepted", tsHeader)
		require.True(t, fuzzFresh(ts), "timestamp %q accepted", tsHeader)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(tsHeader + "."))
		m.Write(body)
		require.True(t, strings.EqualFold(sigHeader, "sha256="+hex.EncodeToString(m.Sum(nil))) &&
			strings.HasPrefix(sigHeader, "sha256="), "signature %q accepted", sigHeader)
	})
}

// FuzzPathID: an id path parameter is accepted only in the spelling the
// API writes ids, and then as that id.
func FuzzPathID(f *testing.F) {
	for _, s := range []string{"5", "05", "+5", "-5", "0", "9223372036854775807", "9223372036854775808", " 5", "5 ", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, ok := parseID(raw)
		if ok && (n <= 0 || strconv.FormatInt(n, 10) != raw) {
			t.Fatalf("parseID accepted %q as %d", raw, n)
		}
		if !ok && raw == strconv.FormatInt(n, 10) && n > 0 {
			t.Fatalf("parseID refused the canonical %q", raw)
		}
	})
}
