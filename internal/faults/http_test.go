package faults_test

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var httpClient = &http.Client{Timeout: 60 * time.Second}

func (s *stack) get(t *testing.T, path, token string) (*http.Response, string) {
	t.Helper()
	return s.do(t, http.MethodGet, path, token, "")
}

func (s *stack) post(t *testing.T, path, token, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	return s.do(t, http.MethodPost, path, token, body, headers...)
}

func (s *stack) do(t *testing.T, method, path, token, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.apiURLs[0]+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := httpClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, string(raw)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
