package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Stats collects what one run measured: every action's latency and every
// refusal or failure by action and code. Safe for concurrent use.
type Stats struct {
	mu        sync.Mutex
	latencies map[string][]time.Duration
	errors    map[string]int // "action code" → count
	retried   map[string]int // "status code" → failed attempts retried
}

func newStats() *Stats {
	return &Stats{latencies: map[string][]time.Duration{}, errors: map[string]int{}, retried: map[string]int{}}
}

// retry counts a failed attempt the client sent again.
func (s *Stats) retry(e *apiError) {
	s.mu.Lock()
	s.retried[fmt.Sprintf("%d %s", e.Status, e.Code)]++
	s.mu.Unlock()
}

// Retried returns the failed attempts clients retried, by "status code"
// (status 0: the connection failed).
func (s *Stats) Retried() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return counts(s.retried)
}

func (s *Stats) observe(action string, d time.Duration) {
	s.mu.Lock()
	s.latencies[action] = append(s.latencies[action], d)
	s.mu.Unlock()
}

func (s *Stats) fail(action, code string) {
	s.mu.Lock()
	s.errors[action+" "+code]++
	s.mu.Unlock()
}

// Percentiles of one action's latencies.
type Percentiles struct {
	Count              int           `json:"count"`
	P50, P95, P99, Max time.Duration `json:"-"`
	P50ms              float64       `json:"p50_ms"`
	P95ms              float64       `json:"p95_ms"`
	P99ms              float64       `json:"p99_ms"`
	MaxMs              float64       `json:"max_ms"`
}

// percentile returns the nearest-rank percentile q (0–100) of sorted.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func summarize(samples []time.Duration) Percentiles {
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	p := Percentiles{Count: len(sorted), P50: percentile(sorted, 50), P95: percentile(sorted, 95), P99: percentile(sorted, 99),
		Max: percentile(sorted, 100)}
	p.P50ms, p.P95ms, p.P99ms, p.MaxMs = ms(p.P50), ms(p.P95), ms(p.P99), ms(p.Max)
	return p
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Actions returns each action's percentiles.
func (s *Stats) Actions() map[string]Percentiles {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Percentiles, len(s.latencies))
	for a, l := range s.latencies {
		out[a] = summarize(l)
	}
	return out
}

// Errors returns the failures counted by "action code".
func (s *Stats) Errors() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return counts(s.errors)
}

// writeActions prints a table of the actions' percentiles.
func writeActions(w io.Writer, actions map[string]Percentiles) {
	names := make([]string, 0, len(actions))
	for a := range actions {
		names = append(names, a)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "| action | count | p50 ms | p95 ms | p99 ms |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: |")
	for _, a := range names {
		p := actions[a]
		fmt.Fprintf(w, "| %s | %d | %.1f | %.1f | %.1f |\n", a, p.Count, p.P50ms, p.P95ms, p.P99ms)
	}
}

func writeErrors(w io.Writer, errs map[string]int) {
	if len(errs) == 0 {
		fmt.Fprintln(w, "errors: none")
		return
	}
	fmt.Fprint(w, "errors: ")
	writeCounts(w, errs)
}

// writeCounts prints "key ×n, …" sorted by key.
func writeCounts(w io.Writer, counts map[string]int) {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, counts[k]))
	}
	fmt.Fprintln(w, strings.Join(parts, ", "))
}

// counts copies a count map, never nil, so a caller reads it without the
// lock and an empty one still encodes as {}.
func counts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	maps.Copy(out, m)
	return out
}
