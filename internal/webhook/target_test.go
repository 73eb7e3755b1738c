package webhook_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/internal/webhook"
)

// Ensure every spelling of a refused address is refused at save time,
// naming its class: with WEBHOOK_ALLOW_PRIVATE_TARGETS off all of them;
// with it on, still the link-local, metadata, unspecified, multicast,
// broadcast and reserved ones.
func TestCheckTargetRefusesEverySpelling(t *testing.T) {
	for _, c := range []struct {
		url     string
		class   string
		private bool // allowed with AllowPrivate
	}{
		// Loopback.
		{"http://127.0.0.1/", webhook.ClassLoopback, true},
		{"http://127.0.0.1:8080/hook", webhook.ClassLoopback, true},
		{"http://127.1/", webhook.ClassLoopback, true},
		{"http://127.0.1/", webhook.ClassLoopback, true},
		{"http://2130706433/", webhook.ClassLoopback, true},
		{"http://0x7f000001/", webhook.ClassLoopback, true},
		{"http://0x7f.1/", webhook.ClassLoopback, true},
		{"http://0X7F.0.0.1/", webhook.ClassLoopback, true},
		{"http://0177.0.0.1/", webhook.ClassLoopback, true},
		{"http://017700000001/", webhook.ClassLoopback, true},
		{"http://127.000.000.001/", webhook.ClassLoopback, true},
		{"http://127.255.255.254/", webhook.ClassLoopback, true},
		{"http://127.0.0.1./", webhook.ClassLoopback, true},
		{"http://[::1]/", webhook.ClassLoopback, true},
		{"http://[0:0:0:0:0:0:0:1]/", webhook.ClassLoopback, true},
		{"http://[::ffff:127.0.0.1]/", webhook.ClassLoopback, true},
		{"http://[::ffff:7f00:1]/", webhook.ClassLoopback, true},
		{"http://[0:0:0:0:0:ffff:127.0.0.1]/", webhook.ClassLoopback, true},
		{"http://[64:ff9b::127.0.0.1]/", webhook.ClassLoopback, true},
		{"http://[2002:7f00:1::]/", webhook.ClassLoopback, true},
		{"http://localhost/", webhook.ClassLoopback, true},
		{"http://LOCALHOST:9000/", webhook.ClassLoopback, true},
		{"http://localhost./", webhook.ClassLoopback, true},
		{"http://api.localhost/", webhook.ClassLoopback, true},
		// Unspecified.
		{"http://0.0.0.0/", webhook.ClassUnspecified, false},
		{"http://0/", webhook.ClassUnspecified, false},
		{"http://0x0/", webhook.ClassUnspecified, false},
		{"http://0.1.2.3/", webhook.ClassUnspecified, false},
		{"http://[::]/", webhook.ClassUnspecified, false},
		{"http://[::ffff:0.0.0.0]/", webhook.ClassUnspecified, false},
		// Link-local and cloud metadata.
		{"http://169.254.169.254/latest/meta-data/", webhook.ClassMetadata, false},
		{"http://2852039166/", webhook.ClassMetadata, false},
		{"http://0xa9fea9fe/", webhook.ClassMetadata, false},
		{"http://0251.0376.0251.0376/", webhook.ClassMetadata, false},
		{"http://169.254.43518/", webhook.ClassMetadata, false},
		{"http://[::ffff:169.254.169.254]/", webhook.ClassMetadata, false},
		{"http://[::ffff:a9fe:a9fe]/", webhook.ClassMetadata, false},
		{"http://[64:ff9b::169.254.169.254]/", webhook.ClassMetadata, false},
		{"http://[fd00:ec2::254]/", webhook.ClassMetadata, false},
		{"http://100.100.100.200/", webhook.ClassMetadata, false},
		{"http://169.254.170.2/", webhook.ClassLinkLocal, false},
		{"http://169.254.0.1/", webhook.ClassLinkLocal, false},
		{"http://[fe80::1]/", webhook.ClassLinkLocal, false},
		{"http://[fe80::1%25eth0]/", webhook.ClassLinkLocal, false},
		{"http://[febf:ffff::1]/", webhook.ClassLinkLocal, false},
		// Private.
		{"http://10.0.0.1/", webhook.ClassPrivate, true},
		{"http://10.1/", webhook.ClassPrivate, true},
		{"http://167772161/", webhook.ClassPrivate, true},
		{"http://012.0.0.1/", webhook.ClassPrivate, true},
		{"http://172.16.0.1/", webhook.ClassPrivate, true},
		{"http://172.31.255.255/", webhook.ClassPrivate, true},
		{"http://192.168.1.1/", webhook.ClassPrivate, true},
		{"http://0xc0.0xa8.1.1/", webhook.ClassPrivate, true},
		{"http://100.64.0.1/", webhook.ClassPrivate, true},
		{"http://100.127.255.254/", webhook.ClassPrivate, true},
		{"http://[fc00::1]/", webhook.ClassPrivate, true},
		{"http://[fd12:3456::1]/", webhook.ClassPrivate, true},
		{"http://[::ffff:10.0.0.1]/", webhook.ClassPrivate, true},
		{"http://[fec0::1]/", webhook.ClassPrivate, true},
		// Multicast, broadcast, reserved.
		{"http://224.0.0.1/", webhook.ClassMulticast, false},
		{"http://239.255.255.250/", webhook.ClassMulticast, false},
		{"http://[ff02::1]/", webhook.ClassMulticast, false},
		{"http://255.255.255.255/", webhook.ClassBroadcast, false},
		{"http://4294967295/", webhook.ClassBroadcast, false},
		{"http://240.0.0.1/", webhook.ClassReserved, false},
		{"http://[::127.0.0.1]/", webhook.ClassReserved, false},
		{"https://192.0.0.8/", webhook.ClassReserved, false},
	} {
		t.Run(c.url, func(t *testing.T) {
			err := webhook.TargetPolicy{AllowHTTP: true}.CheckTarget(c.url)
			require.ErrorIs(t, err, webhook.ErrForbiddenTarget)
			var te *webhook.TargetError
			require.True(t, errors.As(err, &te))
			require.Equal(t, c.class, te.Class, err.Error())
			require.Equal(t, c.private, te.Private)

			err = webhook.TargetPolicy{AllowHTTP: true, AllowPrivate: true}.CheckTarget(c.url)
			if c.private {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, webhook.ErrForbiddenTarget)
				require.ErrorContains(t, err, "never allowed")
			}
		})
	}
}

// Ensure public addresses and names pass the save-time check (a name's
// addresses are checked when connecting), https is required unless http
// is allowed, and hosts that look numeric but are no address, or are not
// ASCII, are refused as invalid (not as forbidden).
func TestCheckTargetAccepts(t *testing.T) {
	strict := webhook.TargetPolicy{}
	for _, u := range []string{
		"https://hooks.example.com/ordem", "https://8.8.8.8/", "https://134744072/", "https://[2001:4860:4860::8888]/",
		"https://[64:ff9b::8.8.8.8]/", "https://172.32.0.1/", "https://100.128.0.1/", "https://11.0.0.1/",
		"https://1e100.net/", "https://0x7f.example.com/", "https://localhost.example.com/", "https://169.254.169.254.nip.io/",
	} {
		require.NoError(t, strict.CheckTarget(u), u)
	}
	require.ErrorContains(t, strict.CheckTarget("http://hooks.example.com/"), "https")
	require.NoError(t, webhook.TargetPolicy{AllowHTTP: true}.CheckTarget("http://hooks.example.com/"))
	for _, u := range []string{"https://256.0.0.1/", "https://1.2.3.4.5/", "https://4294967296/", "https://1.2.65536/",
		"https://0x100.1.1.1/", "https://1.2.3.09/", "https://[::gg]/", "https://１２７.0.0.1/", "https://%31%32%37.0.0.1/"} {
		err := strict.CheckTarget(u)
		require.Error(t, err, u)
		require.NotErrorIs(t, err, webhook.ErrForbiddenTarget, u)
	}
}

// Ensure ParseHostAddr reads the numeric spellings as the platforms'
// resolvers (inet_aton) do.
func TestParseHostAddr(t *testing.T) {
	for host, want := range map[string]string{
		"127.1": "127.0.0.1", "0x7f.1": "127.0.0.1", "2130706433": "127.0.0.1", "0177.0.0.01": "127.0.0.1",
		"10.1.2": "10.1.0.2", "192.168.257": "192.168.1.1", "0x": "0.0.0.0", "::ffff:1.2.3.4": "::ffff:1.2.3.4",
		"1.2.3.4.": "1.2.3.4",
	} {
		a, ok, err := webhook.ParseHostAddr(host)
		require.NoError(t, err, host)
		require.True(t, ok, host)
		require.Equal(t, netip.MustParseAddr(want), a, host)
	}
	for _, host := range []string{"example.com", "a1.b2", "1.2.3.x", "xn--nxasmq6b"} {
		_, ok, err := webhook.ParseHostAddr(host)
		require.NoError(t, err, host)
		require.False(t, ok, host)
	}
}

// Ensure the delivery client refuses at dial time, before connecting, a
// name that resolves to a refused address (localhost: what DNS
// rebinding would make of a public name), sending nothing; that with
// WEBHOOK_ALLOW_PRIVATE_TARGETS the same receiver gets the request; and
// that a redirect is not followed.
func TestClientRefusesAtDialTime(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	byName := "http://localhost:" + port + "/hook"

	for _, p := range []webhook.TargetPolicy{{}, {AllowHTTP: true}} {
		resp, err := webhook.NewClient(p).Post(byName, "application/json", strings.NewReader(`{}`))
		if resp != nil {
			resp.Body.Close()
		}
		require.ErrorIs(t, err, webhook.ErrForbiddenTarget)
		require.ErrorContains(t, err, "loopback")
		require.ErrorContains(t, err, "WEBHOOK_ALLOW_PRIVATE_TARGETS")
		// The literal address too (a URL saved before the check existed).
		resp, err = webhook.NewClient(p).Post(srv.URL, "application/json", strings.NewReader(`{}`))
		if resp != nil {
			resp.Body.Close()
		}
		require.ErrorIs(t, err, webhook.ErrForbiddenTarget)
	}
	require.Zero(t, hits.Load(), "nothing may reach a refused address")

	allowed := webhook.NewClient(webhook.TargetPolicy{AllowPrivate: true, AllowHTTP: true})
	resp, err := allowed.Post(byName, "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.EqualValues(t, 1, hits.Load())

	resp, err = allowed.Post(srv.URL+"/redirect", "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.EqualValues(t, 2, hits.Load(), "the redirect is not followed")
	require.Same(t, allowed, webhook.NewClient(webhook.TargetPolicy{AllowPrivate: true, AllowHTTP: true}))
}
