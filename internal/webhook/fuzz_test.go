package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fuzzNow is the receiver's clock in the fuzz targets: fixed, so whether a
// timestamp is inside the tolerance is decided by the input alone.
var fuzzNow = time.Unix(1_767_225_600, 0) // 2026-01-01T00:00:00Z

const fuzzTolerance = DefaultTolerance

// fresh reports whether unix second ts is within the tolerance of fuzzNow,
// in integer arithmetic that cannot overflow.
func fresh(ts int64) bool {
	now, tol := fuzzNow.Unix(), int64(fuzzTolerance/time.Second)
	return ts >= now-tol && ts <= now+tol
}

// FuzzSignVerify signs a body and checks that the signature verifies for
// exactly that body, timestamp and secret: within the tolerance it is
// accepted, outside it is refused as stale, and any changed byte of the
// body, of the secret or of the MAC, or another timestamp, is refused.
func FuzzSignVerify(f *testing.F) {
	now := fuzzNow.Unix()
	for _, c := range []struct {
		secret string
		ts     int64
		body   string
	}{
		{"whsec_0123456789abcdef", now, `{"id":"e1","type":"order.created","data":{}}`},
		{"whsec_0123456789abcdef", now - 300, `{}`},
		{"whsec_0123456789abcdef", now + 300, `{}`},
		{"whsec_0123456789abcdef", now - 301, `{}`},
		{"whsec_0123456789abcdef", now + 301, `{}`},
		{"", now, ""},
		{"s", -1, "x"},
		{"s", 1<<63 - 1, "x"},
		{"s", -1 << 63, "x"},
		{"s\x00", now, "\x00\xff"},
	} {
		f.Add(c.secret, c.ts, []byte(c.body), uint16(0), byte(1))
	}
	f.Fuzz(func(t *testing.T, secret string, ts int64, body []byte, pos uint16, flip byte) {
		if flip == 0 {
			flip = 1
		}
		sig := Sign(secret, ts, body)
		require.True(t, strings.HasPrefix(sig, "v1="))
		require.Len(t, sig, 3+2*sha256.Size)
		stamp := strconv.FormatInt(ts, 10)
		err := verifyAt(fuzzNow, secret, stamp, body, sig, fuzzTolerance)
		if !fresh(ts) {
			require.ErrorIs(t, err, ErrStale, "timestamp %d", ts)
			return
		}
		require.NoError(t, err)
		// Receivers that list several signatures (a secret rotation) and
		// pad the header still verify.
		require.NoError(t, verifyAt(fuzzNow, secret, " "+stamp+" ", body, "v1=00, "+sig+" ,x", fuzzTolerance))

		if len(body) > 0 {
			changed := append([]byte(nil), body...)
			changed[int(pos)%len(body)] ^= flip
			require.ErrorIs(t, verifyAt(fuzzNow, secret, stamp, changed, sig, fuzzTolerance), ErrBadSignature)
			require.ErrorIs(t, verifyAt(fuzzNow, secret, stamp, body[:len(body)-1], sig, fuzzTolerance), ErrBadSignature)
		}
		require.ErrorIs(t, verifyAt(fuzzNow, secret, stamp, append(append([]byte(nil), body...), 'x'), sig, fuzzTolerance), ErrBadSignature)
		other := []byte(secret + "x")
		if len(secret) > 0 {
			other = []byte(secret)
			other[int(pos)%len(secret)] ^= flip
		}
		require.ErrorIs(t, verifyAt(fuzzNow, string(other), stamp, body, sig, fuzzTolerance), ErrBadSignature)
		for _, moved := range []int64{ts - 1, ts + 1} {
			if fresh(moved) {
				require.ErrorIs(t, verifyAt(fuzzNow, secret, strconv.FormatInt(moved, 10), body, sig, fuzzTolerance), ErrBadSignature)
			}
		}
		mac, err := hex.DecodeString(strings.TrimPrefix(sig, "v1="))
		require.NoError(t, err)
		mac[int(pos)%len(mac)] ^= flip
		require.ErrorIs(t, verifyAt(fuzzNow, secret, stamp, body, "v1="+hex.EncodeToString(mac), fuzzTolerance), ErrBadSignature)
		require.ErrorIs(t, verifyAt(fuzzNow, secret, stamp, body, "v0="+strings.TrimPrefix(sig, "v1="), fuzzTolerance), ErrBadSignature)
	})
}

// FuzzVerifyHeaders feeds arbitrary header values: verifyAt accepts only
// a timestamp that is a whole number of seconds within the tolerance and
// a header with a v1= element that is the HMAC, computed here without the
// package, of that number, a dot and the body.
func FuzzVerifyHeaders(f *testing.F) {
	secret := "whsec_fuzz"
	now := fuzzNow.Unix()
	body := []byte(`{"id":"e"}`)
	good := Sign(secret, now, body)
	for _, c := range [][2]string{
		{strconv.FormatInt(now, 10), good},
		{" " + strconv.FormatInt(now, 10) + "\t", good},
		{"+" + strconv.FormatInt(now, 10), good},
		{"0" + strconv.FormatInt(now, 10), good},
		{strconv.FormatInt(now, 10) + ".0", good},
		{"1e9", good},
		{"", good},
		{strconv.FormatInt(now, 10), strings.ToUpper(good)},
		{strconv.FormatInt(now, 10), "V1=" + good[3:]},
		{strconv.FormatInt(now, 10), "v1=" + good[3:len(good)-2]},
		{strconv.FormatInt(now, 10), "v1=,v1=zz," + good},
		{strconv.FormatInt(now, 10), ""},
		{"99999999999999999999", good},
	} {
		f.Add(c[0], c[1], body)
	}
	f.Fuzz(func(t *testing.T, timestamp, signature string, body []byte) {
		err := verifyAt(fuzzNow, secret, timestamp, body, signature, fuzzTolerance)
		ts, perr := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
		switch {
		case perr != nil:
			require.ErrorIs(t, err, ErrBadTimestamp)
			return
		case !fresh(ts):
			require.ErrorIs(t, err, ErrStale)
			return
		}
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(strconv.FormatInt(ts, 10) + "."))
		m.Write(body)
		want := m.Sum(nil)
		matches := false
		for _, part := range strings.Split(signature, ",") {
			v, ok := strings.CutPrefix(strings.TrimSpace(part), "v1=")
			got, herr := hex.DecodeString(v)
			matches = matches || (ok && herr == nil && hmac.Equal(got, want))
		}
		if matches {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, ErrBadSignature)
		}
	})
}
