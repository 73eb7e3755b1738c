package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The docs name API routes in prose, tables and shell examples; an
// operator who follows one that does not exist finds out during an
// incident. These tests hold every route README.md and docs/*.md name to
// the OpenAPI document the API serves (api/openapi.yaml, itself kept in
// step with the router by api/openapi_test.go).

// docRoute is one API route a document names.
type docRoute struct {
	line   int
	method string // "" when the text gives none
	path   string // as written, trimmed
	note   string // how it was read, when not literally
	prefix bool   // "/v1/admin/…": some route must start with it
}

func (r docRoute) String() string {
	s := r.path
	if r.method != "" {
		s = r.method + " " + s
	}
	if r.note != "" {
		s += " (" + r.note + ")"
	}
	return s
}

const httpMethods = `GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS`

var (
	// A /v1 route with at least one segment after /v1, optionally led by a
	// method ("POST /v1/…", "GET `/v1/…`") or a scheme and host. Segment
	// characters cover {id}, :id, <id>, numbers, and an ellipsis or "*"
	// that makes the rest a prefix.
	docRouteRe = regexp.MustCompile("(?:\\b(" + httpMethods + ")\\s+`?)?(?:https?://[A-Za-z0-9.:\\[\\]-]+)?(/v1(?:/[A-Za-z0-9_{}:<>.*…-]+)+/?)")
	// curl's method, for the routes on the same line.
	curlMethodRe = regexp.MustCompile(`\bcurl\b.*?\s(?:-[A-Za-z]*X\s*|--request[ =])(` + httpMethods + `)\b`)
	// A code span holding one path segment: "`/cancel`".
	siblingRe = regexp.MustCompile("^`(/[a-z][a-z0-9_-]*)`")
	// What may stand between a route and the siblings that complete it:
	// whitespace, punctuation, "and"/"or", other code spans.
	siblingGapRe = regexp.MustCompile("^(?:\\s|[,;(/&]|\\band\\b|\\bor\\b|`[^`\\n]*`)*?`")
)

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// normalizeRoute turns a written route into the shape of the OpenAPI
// paths: every parameter ({id}, :id, <id>), number and UUID becomes {}.
func normalizeRoute(p string) string {
	p = strings.TrimSuffix(p, "/")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch {
		case s == "":
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"),
			strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">"),
			strings.HasPrefix(s, ":") && len(s) > 1,
			strings.Trim(s, "0123456789") == "",
			uuidRe.MatchString(s):
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}

// segmentsMatch tells whether a written route (normalized) fits an
// OpenAPI path (normalized), segment by segment, the first len(doc)
// segments only when prefix. A parameter of the spec also takes a value
// written with an underscore, as a config key (/v1/admin/config/
// platform_fee_percentage): the API's own segments use hyphens.
func segmentsMatch(spec, doc string, prefix bool) bool {
	s, d := strings.Split(spec, "/"), strings.Split(doc, "/")
	if len(s) < len(d) || (!prefix && len(s) != len(d)) {
		return false
	}
	for i := range d {
		if s[i] != d[i] && (s[i] != "{}" || !strings.Contains(d[i], "_")) {
			return false
		}
	}
	return true
}

// trimRoute cuts what the regexp takes in but prose puts after a route:
// a sentence's full stop or colon, and an elided tail ("/…", "/*",
// "/..."), which makes the route a prefix.
func trimRoute(p string) (string, bool) {
	p = strings.TrimRight(p, ".:")
	prefix := false
	for _, tail := range []string{"/…", "…", "/*", "*", "/..."} {
		if strings.HasSuffix(p, tail) {
			p, prefix = strings.TrimSuffix(p, tail), true
		}
	}
	return strings.TrimSuffix(p, "/"), prefix
}

// scanDocRoutes returns every API route a Markdown text names: each /v1
// path (with the method written before it, or curl's -X on its line), and
// the shorthand siblings that complete a route in a list, as in
// "`POST /v1/admin/orders/{id}/extend-deadline`, `/cancel`, `/resolve`",
// which name .../{id}/cancel and .../{id}/resolve with the same method.
// Root paths written alone ("`/healthz`") are not siblings but routes of
// their own (rootPaths).
func scanDocRoutes(text string, rootPaths map[string]bool) []docRoute {
	lineOf := func(off int) int { return strings.Count(text[:off], "\n") + 1 }
	var out []docRoute
	for _, m := range docRouteRe.FindAllStringSubmatchIndex(text, -1) {
		method := ""
		if m[2] >= 0 {
			method = text[m[2]:m[3]]
		}
		raw := text[m[4]:m[5]]
		path, prefix := trimRoute(raw)
		if strings.Count(path, "/") < 2 {
			continue // "/v1" alone, or "/v1/…": the prefix of everything
		}
		lineStart := strings.LastIndex(text[:m[4]], "\n") + 1
		lineEnd := len(text)
		if i := strings.Index(text[m[4]:], "\n"); i >= 0 {
			lineEnd = m[4] + i
		}
		if method == "" {
			if cm := curlMethodRe.FindStringSubmatch(text[lineStart:lineEnd]); cm != nil {
				method = cm[1]
			}
		}
		r := docRoute{line: lineOf(m[4]), method: method, path: path, prefix: prefix}
		out = append(out, r)
		if prefix {
			continue
		}

		// Siblings: "`/x`" code spans listed right after the route. The
		// route's own code span, if any, ends first.
		rest := strings.TrimPrefix(text[m[5]:], "`")
		parent := path[:strings.LastIndex(path, "/")]
		for {
			gap := siblingGapRe.FindStringIndex(rest)
			if gap == nil || strings.Contains(rest[:gap[1]], "\n\n") {
				break
			}
			sm := siblingRe.FindStringSubmatchIndex(rest[gap[1]-1:])
			if sm == nil {
				// Not a sibling: skip this code span and look on.
				end := strings.Index(rest[gap[1]:], "`")
				if end < 0 {
					break
				}
				rest = rest[gap[1]+end+1:]
				continue
			}
			seg := rest[gap[1]-1+sm[2] : gap[1]-1+sm[3]]
			if rootPaths[seg] {
				break
			}
			off := len(text) - len(rest) + gap[1] - 1 + sm[2]
			out = append(out, docRoute{line: lineOf(off), method: method, path: parent + seg,
				note: fmt.Sprintf("written `%s` after %s", seg, path)})
			rest = rest[gap[1]-1+sm[1]:]
		}
	}
	return out
}

// openAPIRoutes reads api/openapi.yaml: normalized path → methods
// (upper case).
func openAPIRoutes(t *testing.T) (routes map[string]map[string]bool, roots map[string]bool) {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(read(t, "api/openapi.yaml")), &doc))
	require.NotEmpty(t, doc.Paths, "api/openapi.yaml has no paths")
	routes, roots = map[string]map[string]bool{}, map[string]bool{}
	for p, ops := range doc.Paths {
		n := normalizeRoute(p)
		if routes[n] == nil {
			routes[n] = map[string]bool{}
		}
		for m := range ops {
			if up := strings.ToUpper(m); strings.Contains("|"+httpMethods+"|", "|"+up+"|") {
				routes[n][up] = true
			}
		}
		if strings.Count(p, "/") == 1 {
			roots[p] = true
		}
	}
	return routes, roots
}

// checkRoute returns why r is not in routes, or "".
func checkRoute(r docRoute, routes map[string]map[string]bool) string {
	n := normalizeRoute(r.path)
	methods := map[string]bool{}
	found := false
	for p, ms := range routes {
		if segmentsMatch(p, n, r.prefix) {
			found = true
			for m := range ms {
				methods[m] = true
			}
		}
	}
	switch {
	case !found && r.prefix:
		return "no route of api/openapi.yaml starts with it"
	case !found:
		return "api/openapi.yaml has no such path"
	case r.prefix:
		return ""
	}
	if r.method != "" && !methods[r.method] {
		var have []string
		for m := range methods {
			have = append(have, m)
		}
		sort.Strings(have)
		return fmt.Sprintf("api/openapi.yaml has %s but not %s", strings.Join(have, ", "), r.method)
	}
	return ""
}

// docFiles are README.md and every docs/*.md, relative to the root.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	out := []string{"README.md"}
	for _, f := range files {
		rel, err := filepath.Rel(root, f)
		require.NoError(t, err)
		out = append(out, rel)
	}
	return out
}

// TestDocsRoutesExist fails naming each route of README.md and docs/*.md
// that api/openapi.yaml does not define (the path; and the method, when
// the text gives one).
func TestDocsRoutesExist(t *testing.T) {
	routes, roots := openAPIRoutes(t)
	var problems []string
	n := 0
	for _, f := range docFiles(t) {
		b, err := os.ReadFile(filepath.Join(root, f))
		require.NoError(t, err)
		for _, r := range scanDocRoutes(string(b), roots) {
			n++
			if why := checkRoute(r, routes); why != "" {
				problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", f, r.line, r, why))
			}
		}
	}
	// The scanner still finds what the docs name (it would pass on
	// nothing if it broke).
	require.Greater(t, n, 15, "the docs name fewer API routes than expected: is the scanner broken?")
	if len(problems) > 0 {
		t.Errorf("%d route(s) named in the docs that api/openapi.yaml does not define:\n%s", len(problems), strings.Join(problems, "\n"))
	}
}

// TestDocRouteScanner pins what the scanner reads, and that a bogus route
// in any of those forms fails the check.
func TestDocRouteScanner(t *testing.T) {
	routes, roots := openAPIRoutes(t)
	cases := []struct {
		text string
		want []string // docRoute.String() of each, "!" first when it must fail
	}{
		{"Log in with `POST /v1/auth/login`, then", []string{"POST /v1/auth/login"}},
		{"the public\n`GET /v1/meta`: currency", []string{"GET /v1/meta"}},
		{"`GET /v1/orders/:id/evidence/:evidence_id/content` (streamed", []string{"GET /v1/orders/:id/evidence/:evidence_id/content"}},
		{"(`GET /v1/orders/42/events`, `\"refused\": true`)", []string{"GET /v1/orders/42/events"}},
		{"routes under `/v1/orders/:id`.", []string{"/v1/orders/:id"}},
		{"edited by admins (`/v1/admin/config`).", []string{"/v1/admin/config"}},
		{"`PUT /v1/admin/config/confirmation_deadline_hours`", []string{"PUT /v1/admin/config/confirmation_deadline_hours"}},
		{"`GET /v1/orders/7/evidence/0b5f3c1e-8d2a-4c6e-9f1a-2b3c4d5e6f70`", []string{"GET /v1/orders/7/evidence/0b5f3c1e-8d2a-4c6e-9f1a-2b3c4d5e6f70"}},
		{"| `PATCH /v1/admin/webhooks/:id` | change |", []string{"PATCH /v1/admin/webhooks/:id"}},
		{"curl -sX POST -H 'Authorization: Bearer …' http://127.0.0.1:8080/v1/orders/7/confirm", []string{"POST /v1/orders/7/confirm"}},
		{"curl -s http://127.0.0.1:8080/v1/wallet?limit=5 | jq", []string{"/v1/wallet"}},
		{"everything under `/v1/admin/…` needs an admin", []string{"/v1/admin"}},
		{"`/v1`, `/healthz`, `/readyz` and `/metrics` are never the console's", nil},
		{"(`POST /v1/orders/{id}/cancel` `{\"reason\":\"…\"}`, `/confirm`, `/contest`), which",
			[]string{"POST /v1/orders/{id}/cancel", "POST /v1/orders/{id}/confirm (written `/confirm` after /v1/orders/{id}/cancel)",
				"POST /v1/orders/{id}/contest (written `/contest` after /v1/orders/{id}/cancel)"}},
		{"`GET /v1/meta`, `/healthz` and `/readyz`", []string{"GET /v1/meta"}},
		{"`POST /v1/orders`. Then `/cancel` is", []string{"POST /v1/orders"}},
		// What must fail.
		{"(`POST /v1/admin/orders/{id}/extend-deadline` `{\"hours\":\"24\"}`, `/cancel`, `/resolve`)",
			[]string{"POST /v1/admin/orders/{id}/extend-deadline",
				"!POST /v1/admin/orders/{id}/cancel (written `/cancel` after /v1/admin/orders/{id}/extend-deadline)",
				"POST /v1/admin/orders/{id}/resolve (written `/resolve` after /v1/admin/orders/{id}/extend-deadline)"}},
		{"`POST /v1/admin/orders/{id}/cancel`", []string{"!POST /v1/admin/orders/{id}/cancel"}},
		{"`DELETE /v1/orders/:id`", []string{"!DELETE /v1/orders/:id"}},
		{"see /v1/orders/7/refund.", []string{"!/v1/orders/7/refund"}},
		{"curl -X PUT https://ordem.example.com/v1/wallet", []string{"!PUT /v1/wallet"}},
		{"under `/v1/nothing/…`", []string{"!/v1/nothing"}},
		{"`POST /v1/admin/orders/cancel`", []string{"!POST /v1/admin/orders/cancel"}},
	}
	for _, c := range cases {
		var got []string
		for _, r := range scanDocRoutes(c.text, roots) {
			s := r.String()
			if checkRoute(r, routes) != "" {
				s = "!" + s
			}
			got = append(got, s)
		}
		assert.Equal(t, c.want, got, "%q", c.text)
	}
}
