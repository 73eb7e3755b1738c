package api_test

import (
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ordem/ordem/api"
	"github.com/ordem/ordem/internal/config"
)

type openapiDoc struct {
	OpenAPI string                                 `yaml:"openapi"`
	Paths   map[string]map[string]openapiOperation `yaml:"paths"`
}

type openapiOperation struct {
	Security   []map[string][]string `yaml:"security"`
	Parameters []struct {
		Ref  string `yaml:"$ref"`
		Name string `yaml:"name"`
		In   string `yaml:"in"`
	} `yaml:"parameters"`
	Responses map[string]any `yaml:"responses"`
}

// public routes need no bearer token.
var publicRoutes = map[string]bool{
	"GET /healthz": true, "GET /readyz": true, "GET /openapi.yaml": true, "GET /metrics": true,
	"POST /v1/auth/register": true, "POST /v1/auth/login": true, "POST /v1/webhooks/deposits": true,
	"GET /v1/meta": true, "POST /v1/auth/password-reset": true,
}

var fiberParam = regexp.MustCompile(`:([a-z_]+)`)

// Ensure the OpenAPI document and the router describe exactly the same
// routes, and that every operation is documented soundly.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	cfg, err := config.Parse(func(k string) (string, bool) {
		if k == "ORDEM_ENV" {
			return "test", true
		}
		return "", false
	})
	require.NoError(t, err)
	app := (&api.Server{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).App()

	routes := map[string]bool{}
	for _, r := range app.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" {
			continue
		}
		path := fiberParam.ReplaceAllString(r.Path, "{$1}")
		if len(path) > 1 {
			path = strings.TrimSuffix(path, "/")
		}
		routes[r.Method+" "+path] = true
	}

	raw, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	var doc openapiDoc
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))
	documented := map[string]bool{}
	pathParam := regexp.MustCompile(`\{([a-z_]+)\}`)
	for path, ops := range doc.Paths {
		for method, o := range ops {
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			has2xx := false
			for status := range o.Responses {
				has2xx = has2xx || strings.HasPrefix(status, "2")
			}
			require.True(t, has2xx, "%s documents no success response", key)
			if !publicRoutes[key] {
				require.NotEmpty(t, o.Security, "%s must require the bearer token", key)
			}
			declared := map[string]bool{}
			for _, p := range o.Parameters {
				if p.In == "path" {
					declared[p.Name] = true
				}
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				require.True(t, declared[m[1]], "%s does not declare path parameter %s", key, m[1])
			}
		}
	}

	var missing, extra []string
	for r := range routes {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for d := range documented {
		if !routes[d] {
			extra = append(extra, d)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	require.Empty(t, missing, "routes the OpenAPI document lacks")
	require.Empty(t, extra, "documented routes the router lacks")
	require.Len(t, routes, len(documented))
}
