package web_test

import (
	"compress/gzip"
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"

	"github.com/ordem/ordem/web"
)

func get(t *testing.T, app *fiber.App, method, path string) (int, string, string, string) {
	t.Helper()
	res, err := app.Test(httptest.NewRequest(method, path, nil), -1)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("Content-Type"), string(b)
}

func TestConsoleServing(t *testing.T) {
	app := fiber.New()
	app.Get("/v1/me", func(c *fiber.Ctx) error { return c.SendString("api") })
	c := web.New()
	c.Mount(app)
	// Mounted after the console: still reached, the console passes it on.
	app.Get("/metrics", func(c *fiber.Ctx) error { return c.SendString("metrics") })

	status, cache, ctype, body := get(t, app, "GET", "/")
	require.Equal(t, 200, status)
	require.Equal(t, "no-cache", cache)
	require.Contains(t, ctype, "text/html")
	require.NotContains(t, body, "{{ASSETS}}")
	// No inline script: only the module from the versioned asset path.
	require.Regexp(t, `<script type="module" src="/assets/`+c.Version()+`/app.js"></script>`, body)
	require.NotRegexp(t, regexp.MustCompile(`<script>|<script type="module">|\sstyle=|\son[a-z]+=`), body)

	// Console paths fall back to index.html.
	for _, p := range []string{"/orders/12", "/admin/disputes", "/login"} {
		status, cache, _, b := get(t, app, "GET", p)
		require.Equal(t, 200, status, p)
		require.Equal(t, "no-cache", cache, p)
		require.Equal(t, body, b, p)
	}

	// Versioned assets are immutable for a year, with their types.
	status, cache, ctype, js := get(t, app, "GET", "/assets/"+c.Version()+"/app.js")
	require.Equal(t, 200, status)
	require.Equal(t, "public, max-age=31536000, immutable", cache)
	require.Equal(t, "text/javascript; charset=utf-8", ctype)
	require.Equal(t, string(c.Files()["app.js"]), js)
	_, _, ctype, _ = get(t, app, "GET", "/assets/"+c.Version()+"/app.css")
	require.Equal(t, "text/css; charset=utf-8", ctype)
	// Another version's URL gets today's file, not cached.
	status, cache, _, _ = get(t, app, "GET", "/assets/0123456789ab/app.js")
	require.Equal(t, 200, status)
	require.Equal(t, "no-cache", cache)
	status, _, _, _ = get(t, app, "GET", "/assets/"+c.Version()+"/missing.js")
	require.Equal(t, 404, status)
	status, _, _, _ = get(t, app, "GET", "/nothing.png")
	require.Equal(t, 404, status)
	status, _, ctype, _ = get(t, app, "GET", "/favicon.svg")
	require.Equal(t, 200, status)
	require.Equal(t, "image/svg+xml", ctype)

	// The server's own paths are never the console.
	_, _, _, b := get(t, app, "GET", "/v1/me")
	require.Equal(t, "api", b)
	_, _, _, b = get(t, app, "GET", "/metrics")
	require.Equal(t, "metrics", b)
	for _, p := range []string{"/v1/nope", "/healthz", "/readyz", "/openapi.yaml", "/metrics/x"} {
		status, _, _, b := get(t, app, "GET", p)
		require.Equal(t, 404, status, p)
		require.NotContains(t, b, "<html", p)
	}
	// Only GET and HEAD reach the console.
	status, _, _, _ = get(t, app, "POST", "/orders/12")
	require.Equal(t, 404, status)
	status, _, _, _ = get(t, app, "HEAD", "/orders/12")
	require.Equal(t, 200, status)
}

func TestConsoleGzip(t *testing.T) {
	app := fiber.New()
	c := web.New()
	c.Mount(app)
	req := httptest.NewRequest("GET", "/assets/"+c.Version()+"/app.js", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	res, err := app.Test(req, -1)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, "gzip", res.Header.Get("Content-Encoding"))
	require.Contains(t, res.Header.Get("Vary"), "Accept-Encoding")
	zr, err := gzip.NewReader(res.Body)
	require.NoError(t, err)
	b, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, string(c.Files()["app.js"]), string(b))
}

// The CSP allows no inline script or style and no other origin.
func TestCSP(t *testing.T) {
	require.Contains(t, web.CSP, "script-src 'self';")
	require.Contains(t, web.CSP, "style-src 'self';")
	require.NotContains(t, web.CSP, "unsafe")
	for name, b := range web.New().Files() {
		if strings.HasSuffix(name, ".js") {
			require.NotContains(t, string(b), "eval(", name)
			require.NotContains(t, string(b), "innerHTML", name)
		}
	}
}

// The console stays small: the budget README states.
func TestConsoleSize(t *testing.T) {
	total := 0
	for _, b := range web.New().Files() {
		total += len(b)
	}
	require.Less(t, total, 120*1024, "embedded console assets, bytes")
	require.Greater(t, total, 10*1024)
}
