package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Webhook targets (SSRF). An admin, or whoever holds an admin's session,
// chooses where the worker POSTs signed events: without limits that is a
// way to reach what only the worker can reach (cloud metadata services,
// databases, admin ports on loopback or the private network). So a
// target's address is checked twice:
//
//   - at save time (CheckTarget), on the URL's host as written: an IP
//     literal in any spelling a resolver or browser accepts (decimal
//     2130706433, short 127.1, octal 0177.0.0.1, hex 0x7f.1, IPv4-mapped
//     [::ffff:127.0.0.1], NAT64 and 6to4 forms embedding an IPv4) and the
//     names that always mean loopback (localhost, *.localhost);
//   - at delivery time (NewClient), in net.Dialer.Control, on the very
//     address being connected to after DNS resolution, before any packet
//     is sent: a name that resolves (or is re-pointed, DNS rebinding) to a
//     refused address is never reached.
//
// Refused: unspecified (0.0.0.0/8, ::), loopback (127/8, ::1), link-local
// (169.254/16 with the cloud metadata address 169.254.169.254, fe80::/10),
// private (10/8, 172.16/12, 192.168/16, 100.64/10 CGNAT, fc00::/7,
// fec0::/10), multicast (224/4, ff00::/8), broadcast and reserved
// (240/4), and the other cloud metadata addresses (fd00:ec2::254,
// 100.100.100.200, 192.0.0.192). WEBHOOK_ALLOW_PRIVATE_TARGETS
// (TargetPolicy.AllowPrivate) admits loopback and private ranges, for
// receivers on a developer's machine or network; never the others.

// TargetPolicy says which webhook targets are allowed.
type TargetPolicy struct {
	// AllowPrivate admits loopback and private addresses
	// (WEBHOOK_ALLOW_PRIVATE_TARGETS).
	AllowPrivate bool
	// AllowHTTP admits http:// URLs (dev and test); https is required
	// otherwise.
	AllowHTTP bool
}

// Address classes a target may fall in.
const (
	ClassUnspecified = "unspecified"
	ClassLoopback    = "loopback"
	ClassLinkLocal   = "link-local"
	ClassMetadata    = "cloud metadata"
	ClassPrivate     = "private"
	ClassMulticast   = "multicast"
	ClassBroadcast   = "broadcast"
	ClassReserved    = "reserved"
)

// ErrForbiddenTarget is in the chain of every refusal of a target address.
var ErrForbiddenTarget = errors.New("webhook target forbidden")

// TargetError is a refused target address.
type TargetError struct {
	Host  string // as written (or dialed)
	Addr  netip.Addr
	Class string
	// Private reports whether WEBHOOK_ALLOW_PRIVATE_TARGETS would admit it.
	Private bool
}

func (e *TargetError) Error() string {
	msg := fmt.Sprintf("webhook target %s is a %s address", e.Addr, e.Class)
	if e.Host != "" && e.Host != e.Addr.String() {
		msg = fmt.Sprintf("webhook target %s (%s) is a %s address", e.Host, e.Addr, e.Class)
	}
	if e.Private {
		return msg + "; only allowed with WEBHOOK_ALLOW_PRIVATE_TARGETS=true"
	}
	return msg + "; never allowed"
}

// Unwrap makes errors.Is(err, ErrForbiddenTarget) true.
func (e *TargetError) Unwrap() error { return ErrForbiddenTarget }

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// The ranges by class, checked in this order (the first match names the
// class). Metadata addresses come first: some sit in ranges that
// AllowPrivate admits (fd00:ec2::254 in fc00::/7, 100.100.100.200 in
// 100.64/10).
var classes = []struct {
	class    string
	private  bool
	prefixes []netip.Prefix
}{
	{ClassMetadata, false, prefixes("169.254.169.254/32", "fd00:ec2::254/128", "100.100.100.200/32", "192.0.0.192/32")},
	{ClassUnspecified, false, prefixes("0.0.0.0/8", "::/128")},
	{ClassLoopback, true, prefixes("127.0.0.0/8", "::1/128")},
	{ClassLinkLocal, false, prefixes("169.254.0.0/16", "fe80::/10")},
	{ClassPrivate, true, prefixes("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fec0::/10")},
	{ClassMulticast, false, prefixes("224.0.0.0/4", "ff00::/8")},
	{ClassBroadcast, false, prefixes("255.255.255.255/32")},
	// 240/4 (future use), 192.0.0/24 (IETF protocol assignments), and the
	// IPv4-compatible IPv6 addresses (::a.b.c.d, deprecated: none is a
	// real receiver).
	{ClassReserved, false, prefixes("240.0.0.0/4", "192.0.0.0/24", "::/96")},
}

// Embedded IPv4 addresses: a NAT64 gateway or 6to4 relay would forward
// to them.
var (
	nat64     = prefixes("64:ff9b::/96", "64:ff9b:1::/48")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// classify returns the class of a refused address ("" when allowed in
// any case) and whether AllowPrivate admits it.
func classify(a netip.Addr) (string, bool) {
	a = a.WithZone("").Unmap()
	for _, c := range classes {
		for _, p := range c.prefixes {
			if p.Contains(a) {
				return c.class, c.private
			}
		}
	}
	if e, ok := embedded(a); ok {
		return classify(e)
	}
	return "", false
}

// embedded returns the IPv4 address inside a NAT64 or 6to4 IPv6
// address.
func embedded(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	for _, p := range nat64 {
		if p.Contains(a) {
			return netip.AddrFrom4([4]byte(b[12:16])), true
		}
	}
	if sixToFour.Contains(a) {
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// CheckAddr returns a *TargetError when the policy refuses a, else nil.
func (p TargetPolicy) CheckAddr(host string, a netip.Addr) error {
	class, private := classify(a)
	if class == "" || (private && p.AllowPrivate) {
		return nil
	}
	return &TargetError{Host: host, Addr: a.WithZone(""), Class: class, Private: private}
}

// ParseHostAddr reads host (a URL's hostname) as an IP address in any
// spelling the platforms' resolvers accept: IPv6 (with a zone or an
// embedded IPv4), dotted IPv4 with 1 to 4 parts, each part decimal, octal
// (leading 0) or hex (0x). ok is false for a host that is a name; err is
// set for a host that looks numeric (its last label is a number, as the
// WHATWG URL standard has it) but is no valid address.
func ParseHostAddr(host string) (addr netip.Addr, ok bool, err error) {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		if err != nil {
			return netip.Addr{}, false, fmt.Errorf("%q is not a valid IPv6 address", host)
		}
		return a, true, nil
	}
	parts := strings.Split(h, ".")
	if _, numeric := parseNumber(parts[len(parts)-1]); !numeric {
		return netip.Addr{}, false, nil
	}
	bad := fmt.Errorf("%q is not a valid IPv4 address", host)
	if len(parts) > 4 {
		return netip.Addr{}, false, bad
	}
	nums := make([]uint64, len(parts))
	for i, s := range parts {
		n, numeric := parseNumber(s)
		if !numeric {
			return netip.Addr{}, false, bad
		}
		nums[i] = n
	}
	// The last part fills the bytes the others leave: a (32 bits), a.b
	// (8.24), a.b.c (8.8.16), a.b.c.d.
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false, bad
		}
		v |= n << (24 - 8*i)
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false, bad
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, nil
}

// invalidPart is larger than any part of an address may be.
const invalidPart = 1 << 40

// parseNumber reads one part of a numeric IPv4 host: decimal, octal
// (leading 0) or hex (0x, possibly with no digits: "0x" is 0). numeric is
// false when s is not a number in any of them.
func parseNumber(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	base := 10
	switch {
	case strings.HasPrefix(s, "0x"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true
		}
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	n, err := strconv.ParseUint(s, base, 64)
	switch {
	case err == nil:
		return min(n, invalidPart), true
	case errors.Is(err, strconv.ErrRange), strings.Trim(s, "0123456789") == "":
		// Too large, or digits that are no octal number ("09"): still a
		// number, so an invalid address rather than a name.
		return invalidPart, true
	}
	return 0, false
}

// loopbackName reports whether host is a name that always resolves to
// loopback (RFC 6761): localhost and its subdomains.
func loopbackName(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// CheckTarget checks an endpoint URL (already valid for CheckURL) against
// the policy at save time: the scheme, and the host when it is an IP
// address or a loopback name. It returns a *TargetError (errors.Is
// ErrForbiddenTarget) for a refused address, another error for a host
// that is no valid address or name, and nil otherwise; a name's
// addresses are checked when delivering.
func (p TargetPolicy) CheckTarget(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("parse webhook URL: %w", err)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && p.AllowHTTP) {
		return errors.New("must be an https URL")
	}
	host := u.Hostname()
	for _, r := range host {
		if r > 0x7e || r < 0x21 {
			return errors.New("host must be ASCII: write an international name in its xn-- (punycode) form")
		}
	}
	a, ok, err := ParseHostAddr(host)
	switch {
	case err != nil:
		return err
	case ok:
		return p.CheckAddr(host, a)
	case loopbackName(host):
		return p.CheckAddr(host, netip.IPv6Loopback())
	}
	return nil
}

// control is the dialer's check of the address actually connected to.
func (p TargetPolicy) control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("webhook dial %s: %w", address, err)
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("webhook dial %s: not an IP address: %w", address, ErrForbiddenTarget)
	}
	return p.CheckAddr("", a)
}

// deliveryTimeout bounds one attempt, connection to answer.
const deliveryTimeout = 10 * time.Second

var (
	clientsMu sync.Mutex
	clients   = map[TargetPolicy]*http.Client{}
)

// NewClient returns the HTTP client that posts deliveries under the
// policy (one per policy, shared, so connections are reused): every
// connection's address is checked before connecting; no proxy from the
// environment is used (the check would then see only the proxy); a
// redirect is not followed (a 3xx is a failed attempt), so a delivery
// never lands anywhere but the registered URL; an attempt has 10 seconds.
func NewClient(p TargetPolicy) *http.Client {
	clientsMu.Lock()
	defer clientsMu.Unlock()
	if c, ok := clients[p]; ok {
		return c
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
	c := &http.Client{
		Timeout: deliveryTimeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
			ResponseHeaderTimeout: deliveryTimeout,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	clients[p] = c
	return c
}
