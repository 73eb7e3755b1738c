package metrics_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/ordem/ordem/internal/kpi"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/metrics"
)

const (
	alertsFile    = "../../deploy/prometheus/alerts.yml"
	promFile      = "../../deploy/prometheus/prometheus.yml"
	dashboardFile = "../../deploy/grafana/ordem.json"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// external are the metrics of other exporters the rules may use.
var external = map[string]bool{"up": true, "node_filesystem_avail_bytes": true, "node_filesystem_size_bytes": true}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression selects: its
// identifiers less functions and aggregations (followed by "("),
// keywords, label matchers, grouping labels, ranges and strings.
func metricNames(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlRanges.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promqlIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9' || e[loc[0]-1] == '.' || e[loc[0]-1] == '$') {
			continue // 2e3, a unit suffix, a Grafana variable
		}
		if strings.HasPrefix(strings.TrimLeft(e[loc[1]:], " \t\n"), "(") || promqlKeywords[strings.ToLower(name)] {
			continue
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNames(t *testing.T) {
	got := metricNames(`histogram_quantile(0.95, sum by (le, route) (rate(ordem_http_request_duration_seconds_bucket{route!="/metrics"}[5m])))
		/ on (job) group_left sum without (x) (up{job=~"a|b"}) > 2e3 and time() - max(ordem_x) > 30 * 60 unless foo offset 5m`)
	require.Equal(t, []string{"ordem_http_request_duration_seconds_bucket", "up", "ordem_x", "foo"}, got)
}

// temporalMetricNames are the SDK's metric names (internal/common/metrics
// of the module in use), as the Prometheus naming scope exposes them.
func temporalMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	require.NoError(t, err)
	f, err := os.Open(filepath.Join(strings.TrimSpace(string(dir)), "internal", "common", "metrics", "constants.go"))
	require.NoError(t, err)
	defer f.Close()
	def := regexp.MustCompile(`^\s*(\w+)\s*=\s*(\w+)\s*\+\s*"([a-z_]+)"`)
	consts := map[string]string{"TemporalMetricsPrefix": "temporal_"}
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := def.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		base, ok := consts[m[2]]
		require.True(t, ok, "unknown constant %s", m[2])
		consts[m[1]] = base + m[3]
		for _, suffix := range []string{"", "_total", "_seconds", "_seconds_bucket", "_seconds_sum", "_seconds_count"} {
			names[base+m[3]+suffix] = true
		}
	}
	require.True(t, names["temporal_activity_execution_failed_total"], "SDK constants not found")
	return names
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// exported gathers every metric name Ordem's code exports: the registry
// after one observation of each metric, and the KPI collector's
// descriptions (its samples need a database).
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	_, closer := m.TemporalHandler()
	defer closer.Close()
	m.HTTPRequests.WithLabelValues("GET", "/healthz", "200").Inc()
	m.HTTPDuration.WithLabelValues("GET", "/healthz").Observe(0.01)
	m.EvidenceUploadFailures.WithLabelValues("storage").Inc()
	// A refused posting reaches the observer without a database.
	_, err := ledger.Post(context.Background(), nil, ledger.Posting{})
	require.Error(t, err)
	metrics.DBTracer{}.TraceAcquireEnd(context.Background(), nil, pgxpool.TraceAcquireEndData{Err: errors.New("connection refused")})

	fams, err := m.Registry.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[f.GetName()+s] = true
			}
		}
	}
	for _, n := range []string{"ordem_http_requests_total", "ordem_http_request_duration_seconds_bucket", "ordem_ledger_postings_total",
		"ordem_ledger_posting_duration_seconds_bucket", "ordem_db_errors_total", "ordem_evidence_upload_failures_total"} {
		require.True(t, names[n], "%s is not exported", n)
	}
	ch := make(chan *prometheus.Desc, 64)
	kpi.NewCollector(nil, "BRL", slog.New(slog.NewTextHandler(io.Discard, nil))).Describe(ch)
	close(ch)
	for d := range ch {
		names[fqName.FindStringSubmatch(d.String())[1]] = true
	}
	require.True(t, names["ordem_ledger_verify_ok"])
	return names
}

// requireKnown fails for any metric an expression uses that nothing
// exports.
func requireKnown(t *testing.T, where, expr string, known, temporal map[string]bool) []string {
	t.Helper()
	names := metricNames(expr)
	require.NotEmpty(t, names, "%s: no metric in %q", where, expr)
	for _, n := range names {
		require.True(t, known[n] || temporal[n] || external[n], "%s uses %s, which no code exports", where, n)
	}
	return names
}

// Ensure every alert is well-formed and uses only metrics Ordem (or
// node_exporter) exports, every alert of the replaced system's list is
// there, and, when promtool is installed (Debian package prometheus),
// promtool accepts the files and the alerts' unit tests pass.
func TestAlertRules(t *testing.T) {
	raw, err := os.ReadFile(alertsFile)
	require.NoError(t, err)
	var rf ruleFile
	require.NoError(t, yaml.Unmarshal(raw, &rf))
	known, temporal := exported(t), temporalMetricNames(t)
	used := map[string]bool{}
	alerts := map[string]bool{}
	for _, g := range rf.Groups {
		require.NotEmpty(t, g.Name)
		for _, r := range g.Rules {
			require.NotEmpty(t, r.Alert, "group %s has a rule without alert name", g.Name)
			require.False(t, alerts[r.Alert], "alert %s twice", r.Alert)
			alerts[r.Alert] = true
			require.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], r.Alert)
			require.NotEmpty(t, r.Annotations["summary"], r.Alert)
			for _, n := range requireKnown(t, r.Alert, r.Expr, known, temporal) {
				used[n] = true
			}
		}
	}
	// The original guide's six alerts.
	for _, n := range []string{"ordem_orders_past_confirm_deadline_oldest_seconds", "ordem_ledger_postings_total",
		"ordem_ledger_verify_ok", "ordem_evidence_upload_failures_total", "ordem_db_errors_total", "node_filesystem_avail_bytes"} {
		require.True(t, used[n], "no alert on %s", n)
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed: syntax checked by the name extraction only")
		return
	}
	out, err := exec.Command(promtool, "check", "rules", alertsFile).CombinedOutput()
	require.NoError(t, err, string(out))
	out, err = exec.Command(promtool, "check", "config", promFile).CombinedOutput()
	require.NoError(t, err, string(out))
	// The alerts' unit tests: each fires on the series it is meant for,
	// not before, with its rendered summary.
	cmd := exec.Command(promtool, "test", "rules", "alerts_test.yml")
	cmd.Dir = filepath.Dir(alertsFile)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "SUCCESS")
}

// Ensure the Grafana dashboard is valid JSON whose every query uses
// exported metrics, and that it has the KPIs, API latency quantiles and
// Temporal panels.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	require.Equal(t, "ordem-overview", dash.UID)
	known, temporal := exported(t), temporalMetricNames(t)
	used := map[string]bool{}
	var exprs []string
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			for _, n := range requireKnown(t, p.Title, tg.Expr, known, temporal) {
				used[n] = true
			}
		}
	}
	for _, n := range []string{"ordem_auto_confirmation_ratio", "ordem_contest_ratio", "ordem_cancellation_ratio",
		"ordem_client_response_seconds_mean", "ordem_transaction_volume", "ordem_platform_revenue", "ordem_orders",
		"ordem_http_request_duration_seconds_bucket", "temporal_activity_execution_latency_seconds_bucket"} {
		require.True(t, used[n], "the dashboard does not show %s", n)
	}
	sort.Strings(exprs)
	all := strings.Join(exprs, "\n")
	for _, q := range []string{"histogram_quantile(0.50", "histogram_quantile(0.95", "histogram_quantile(0.99"} {
		require.Contains(t, all, q+", sum by (le) (rate(ordem_http_request_duration_seconds_bucket")
	}
}
