// Package signature is the HMAC scheme Ordem signs requests with, in
// both directions: the deposits a payment provider posts to Ordem and the
// webhooks Ordem posts to its endpoints. The sender puts the unix time in
// seconds in a timestamp header and the hex HMAC-SHA256, keyed with the
// shared secret, of that timestamp, a dot and the raw body in a signature
// header; the receiver recomputes it and refuses stale timestamps, so a
// captured request cannot be replayed later. Each caller keeps its own
// header names and signature prefix ("sha256=", "v1="): only the MAC and
// the checks are here, once.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// Verification errors, in the order Verify checks.
var (
	ErrBadTimestamp = errors.New("signature: malformed timestamp")
	ErrStale        = errors.New("signature: timestamp outside the tolerance")
	ErrBadSignature = errors.New("signature: signature does not match")
)

// MAC returns the HMAC-SHA256, keyed with secret, of timestamp, a dot and
// body. timestamp is the text the sender signed, byte for byte.
func MAC(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the hex MAC of body sent at timestamp (unix seconds,
// written in decimal as senders write it).
func Sign(secret string, timestamp int64, body []byte) string {
	return hex.EncodeToString(MAC(secret, strconv.FormatInt(timestamp, 10), body))
}

// Fresh reports whether ts (unix seconds) is within tolerance of now,
// either way: older is a possible replay, newer a sender's clock too far
// ahead to trust.
func Fresh(now time.Time, ts int64, tolerance time.Duration) bool {
	d := now.Sub(time.Unix(ts, 0))
	return d <= tolerance && d >= -tolerance
}

// Verify checks a request as received: timestamp is the timestamp header's
// text (a decimal unix time; the MAC covers this exact text), body the raw
// body and macs the hex MACs the signature header carried (several while a
// secret rotates: any one may match). It returns ErrBadTimestamp,
// ErrStale or ErrBadSignature, or nil. The comparison is constant-time.
func Verify(now time.Time, secret, timestamp string, body []byte, macs []string, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	if !Fresh(now, ts, tolerance) {
		return ErrStale
	}
	want := MAC(secret, timestamp, body)
	for _, m := range macs {
		got, err := hex.DecodeString(m)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}
