// Package web is Ordem's web console: plain ES modules and hand-written
// CSS embedded in the binary and served by `ordem api` at /. The console
// talks to Ordem only through the public JSON API (/v1) with the user's
// bearer token; there is no build step.
//
// Assets are served under /assets/<version>/, where version is a hash of
// every embedded file, so they can be cached for a year: a new binary
// with changed assets has a new version and new URLs. index.html, which
// names the version, is never cached. Every other console path (/orders/12,
// /admin/disputes, …) answers index.html and the console routes itself.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

//go:embed static
var embedded embed.FS

// CSP is the Content-Security-Policy of every response: scripts and styles
// only from this origin (no inline code), API calls only to this origin,
// nothing may frame the console. Images and media may also be blob: URLs:
// evidence previews are fetched from the API with the bearer token and
// shown through object URLs (never from the bucket's origin).
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// reserved are the server's own paths: the console never answers them, so
// a missing API route stays a JSON 404 instead of becoming index.html.
var reserved = []string{"/v1", "/healthz", "/readyz", "/metrics", "/openapi.yaml"}

// Console serves the embedded assets.
type Console struct {
	files   map[string][]byte
	gzipped map[string][]byte // the same files, gzip-compressed once at start
	index   []byte
	version string
}

// New loads the embedded assets and computes their version.
func New() *Console {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err)
	}
	c := &Console{files: map[string][]byte{}, gzipped: map[string][]byte{}}
	h := sha256.New()
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		c.files[p] = b
		h.Write([]byte(p))
		h.Write([]byte{0})
		h.Write(b)
		return nil
	})
	if err != nil {
		panic(err)
	}
	c.version = hex.EncodeToString(h.Sum(nil))[:12]
	c.index = bytes.ReplaceAll(c.files["index.html"], []byte("{{ASSETS}}"), []byte("/assets/"+c.version))
	for name, b := range c.files {
		if name == "index.html" {
			b = c.index
		}
		c.gzipped[name] = compress(b)
	}
	return c
}

func compress(b []byte) []byte {
	var out bytes.Buffer
	w, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}

// send answers the file name (its bytes b), gzip-compressed when the
// client accepts it.
func (c *Console) send(ctx *fiber.Ctx, name string, b []byte) error {
	ctx.Vary(fiber.HeaderAcceptEncoding)
	if z, ok := c.gzipped[name]; ok && strings.Contains(ctx.Get(fiber.HeaderAcceptEncoding), "gzip") {
		ctx.Set(fiber.HeaderContentEncoding, "gzip")
		return ctx.Send(z)
	}
	return ctx.Send(b)
}

// Version is the hash in the asset URLs.
func (c *Console) Version() string { return c.version }

// Files returns the embedded assets by path (for size reports and tests).
func (c *Console) Files() map[string][]byte { return c.files }

// Mount adds the console to app after the API's routes, as a handler that
// only requests no route answered reach (so it adds no API route). It
// passes the reserved paths and methods other than GET and HEAD on to the
// 404 handler.
func (c *Console) Mount(app *fiber.App) {
	app.Use(func(ctx *fiber.Ctx) error {
		if ctx.Method() != fiber.MethodGet && ctx.Method() != fiber.MethodHead {
			return ctx.Next()
		}
		return c.serve(ctx)
	})
}

func isReserved(p string) bool {
	for _, r := range reserved {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}

func (c *Console) serve(ctx *fiber.Ctx) error {
	p := ctx.Path()
	if isReserved(p) {
		return ctx.Next()
	}
	if rest, ok := strings.CutPrefix(p, "/assets/"); ok {
		version, name, _ := strings.Cut(rest, "/")
		b, found := c.files[name]
		if !found || name == "index.html" {
			return fiber.ErrNotFound
		}
		if version == c.version {
			ctx.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
		} else {
			// An older page asking for its assets gets today's, uncached.
			ctx.Set(fiber.HeaderCacheControl, "no-cache")
		}
		ctx.Set(fiber.HeaderContentType, contentType(name))
		return c.send(ctx, name, b)
	}
	if b, found := c.files[strings.TrimPrefix(p, "/")]; found && p != "/index.html" && !strings.Contains(p[1:], "/") {
		// Root files such as /favicon.svg and /robots.txt: stable names,
		// cached for a day.
		ctx.Set(fiber.HeaderCacheControl, "public, max-age=86400")
		ctx.Set(fiber.HeaderContentType, contentType(p))
		return c.send(ctx, strings.TrimPrefix(p, "/"), b)
	}
	if path.Ext(p) != "" && p != "/index.html" {
		// A missing file is a 404, not the console.
		return fiber.ErrNotFound
	}
	ctx.Set(fiber.HeaderCacheControl, "no-cache")
	ctx.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.send(ctx, "index.html", c.index)
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return fiber.MIMEOctetStream
}
