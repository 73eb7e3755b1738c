package deploy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// Tests of the scheduled jobs: backup.sh's retention, the textfile metric
// the systemd units write, the OnFailure= alert, the alert rules on both,
// and their documentation. None needs a database.

// runScript runs a script of the repository with bash and exactly env
// (plus PATH, unless env sets it); it returns the output and exit code.
func runScript(t *testing.T, script string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(root, script)}, args...)...)
	cmd.Env = env
	hasPath := false
	for _, e := range env {
		hasPath = hasPath || strings.HasPrefix(e, "PATH=")
	}
	if !hasPath {
		cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"))
	}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}

// backupName is backup.sh's directory name for a backup made at tm.
func backupName(tm time.Time) string { return "ordem-" + tm.UTC().Format("20060102T150405Z") }

func TestBackupRetention(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	// mkBackups creates complete backups aged by the given days (and an
	// unrelated directory), returning the directory.
	mkBackups := func(t *testing.T, ages ...float64) string {
		dir := t.TempDir()
		for _, a := range ages {
			d := filepath.Join(dir, backupName(now.Add(-time.Duration(a*float64(day)))))
			require.NoError(t, os.MkdirAll(d, 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(d, "ordem.dump"), []byte("x"), 0o600))
		}
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "ordem-notes"), 0o700))
		return dir
	}
	left := func(t *testing.T, dir string) []string {
		es, err := os.ReadDir(dir)
		require.NoError(t, err)
		var out []string
		for _, e := range es {
			if e.IsDir() {
				out = append(out, e.Name())
			}
		}
		sort.Strings(out)
		return out
	}
	names := func(_ string, ages ...float64) []string {
		out := []string{"ordem-notes"}
		for _, a := range ages {
			out = append(out, backupName(now.Add(-time.Duration(a*float64(day)))))
		}
		sort.Strings(out)
		return out
	}
	prune := func(t *testing.T, dir string, env ...string) (string, int) {
		return runScript(t, "deploy/backup/backup.sh", append(env, "BACKUP_DIR="+dir), "--prune-only")
	}

	t.Run("Ensure the default keeps 30 days of backups, and nothing else needs DATABASE_URL", func(t *testing.T) {
		dir := mkBackups(t, 40, 35, 30.5, 29, 2, 1, 0.1)
		out, code := prune(t, dir)
		require.Equal(t, 0, code, out)
		assert.Equal(t, names(dir, 29, 2, 1, 0.1), left(t, dir), out)
		assert.Contains(t, out, "older than BACKUP_KEEP_DAYS=30 days")
	})

	t.Run("Ensure the newest BACKUP_KEEP_MIN backups survive however old: a month of failures keeps the last good ones", func(t *testing.T) {
		dir := mkBackups(t, 70, 60, 50, 40)
		out, code := prune(t, dir)
		require.Equal(t, 0, code, out)
		assert.Equal(t, names(dir, 60, 50, 40), left(t, dir), out)
		dir = mkBackups(t, 70, 60, 50, 40)
		out, code = prune(t, dir, "BACKUP_KEEP_MIN=0") // still never the newest
		require.Equal(t, 0, code, out)
		assert.Equal(t, names(dir, 40), left(t, dir), out)
	})

	t.Run("Ensure BACKUP_KEEP bounds the count and BACKUP_KEEP_DAYS=0 lifts the age limit", func(t *testing.T) {
		dir := mkBackups(t, 5, 4, 3, 2, 1)
		out, code := prune(t, dir, "BACKUP_KEEP=2")
		require.Equal(t, 0, code, out)
		assert.Equal(t, names(dir, 2, 1), left(t, dir), out)
		dir = mkBackups(t, 400, 100, 1)
		out, code = prune(t, dir, "BACKUP_KEEP_DAYS=0")
		require.Equal(t, 0, code, out)
		assert.Equal(t, names(dir, 400, 100, 1), left(t, dir), out)
		dir = mkBackups(t, 10, 5, 1)
		out, code = prune(t, dir, "BACKUP_KEEP_DAYS=7")
		require.Equal(t, 0, code, out)
		assert.Equal(t, names(dir, 10, 5, 1), left(t, dir), "BACKUP_KEEP_MIN=3 holds the three newest")
		out, code = prune(t, dir, "BACKUP_KEEP_DAYS=7", "BACKUP_KEEP_MIN=1")
		require.Equal(t, 0, code, out)
		assert.Equal(t, names(dir, 5, 1), left(t, dir), out)
	})

	t.Run("Ensure leftovers of killed runs go after a day, and a run in progress is left alone", func(t *testing.T) {
		dir := mkBackups(t, 1)
		old := filepath.Join(dir, backupName(now.Add(-2*day))+".partial")
		fresh := filepath.Join(dir, backupName(now)+".partial")
		require.NoError(t, os.MkdirAll(old, 0o700))
		require.NoError(t, os.MkdirAll(fresh, 0o700))
		require.NoError(t, os.Chtimes(old, now.Add(-2*day), now.Add(-2*day)))
		out, code := prune(t, dir)
		require.Equal(t, 0, code, out)
		assert.NoDirExists(t, old, out)
		assert.DirExists(t, fresh)
	})

	t.Run("Ensure bad settings and a second run on the same directory are refused", func(t *testing.T) {
		dir := mkBackups(t, 1)
		for _, bad := range []string{"BACKUP_KEEP_DAYS=30d", "BACKUP_KEEP=-1", "BACKUP_KEEP_MIN=x"} {
			out, code := prune(t, dir, bad)
			assert.Equal(t, 2, code, "%s: %s", bad, out)
			assert.Contains(t, out, strings.SplitN(bad, "=", 2)[0])
		}
		if _, err := exec.LookPath("flock"); err != nil {
			t.Skip("flock not installed")
		}
		lock := exec.Command("flock", filepath.Join(dir, ".backup.lock"), "sleep", "5")
		require.NoError(t, lock.Start())
		defer func() { _ = lock.Process.Kill(); _ = lock.Wait() }()
		require.Eventually(t, func() bool {
			_, err := os.Stat(filepath.Join(dir, ".backup.lock"))
			return err == nil
		}, 2*time.Second, 20*time.Millisecond)
		time.Sleep(100 * time.Millisecond)
		out, code := prune(t, dir)
		assert.Equal(t, 4, code, out)
		assert.Contains(t, out, "another backup.sh is running")
	})
}

// promSample reads `name{labels} value` from a text exposition.
func promSample(t *testing.T, text, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{task="[a-z_]+"\} (\S+)$`).FindStringSubmatch(text)
	require.NotNil(t, m, "%s not in:\n%s", name, text)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

func TestJobMetric(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ordem_job_ledger_verify.prom")
	// A stub systemctl: the unit started 90 s ago on the monotonic clock.
	stubs := t.TempDir()
	up, err := os.ReadFile("/proc/uptime")
	require.NoError(t, err)
	upSecs, err := strconv.ParseFloat(strings.Fields(string(up))[0], 64)
	require.NoError(t, err)
	started := int64((upSecs - 90) * 1e6)
	require.NoError(t, os.WriteFile(filepath.Join(stubs, "systemctl"),
		[]byte("#!/bin/sh\necho "+strconv.FormatInt(started, 10)+"\n"), 0o755))
	path := "PATH=" + stubs + ":" + os.Getenv("PATH")

	run := func(t *testing.T, env ...string) string {
		t.Helper()
		out, code := runScript(t, "deploy/systemd/ordem-job-metric",
			append(env, path, "ORDEM_TEXTFILE_DIR="+dir), "ledger_verify", "ordem-ledger-verify.service")
		require.Equal(t, 0, code, out)
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		return string(b)
	}

	before := time.Now().Unix()
	ok := run(t, "SERVICE_RESULT=success", "EXIT_CODE=exited", "EXIT_STATUS=0")
	assert.EqualValues(t, 0, promSample(t, ok, "ordem_job_last_exit_status"))
	success := promSample(t, ok, "ordem_job_last_success_timestamp_seconds")
	assert.GreaterOrEqual(t, success, float64(before))
	assert.Equal(t, success, promSample(t, ok, "ordem_job_last_run_timestamp_seconds"))
	assert.InDelta(t, 90, promSample(t, ok, "ordem_job_last_duration_seconds"), 3)

	t.Run("Ensure a failed run reports its exit status and keeps the last success", func(t *testing.T) {
		failed := run(t, "SERVICE_RESULT=exit-code", "EXIT_CODE=exited", "EXIT_STATUS=1")
		assert.EqualValues(t, 1, promSample(t, failed, "ordem_job_last_exit_status"))
		assert.Equal(t, success, promSample(t, failed, "ordem_job_last_success_timestamp_seconds"))
		killed := run(t, "SERVICE_RESULT=timeout", "EXIT_CODE=killed", "EXIT_STATUS=TERM")
		assert.EqualValues(t, 143, promSample(t, killed, "ordem_job_last_exit_status"), "128 + SIGTERM")
		assert.Equal(t, success, promSample(t, killed, "ordem_job_last_success_timestamp_seconds"))
		odd := run(t, "SERVICE_RESULT=start-limit-hit")
		assert.EqualValues(t, 1, promSample(t, odd, "ordem_job_last_exit_status"))
	})

	t.Run("Ensure the file is a valid exposition with no temporary file left", func(t *testing.T) {
		es, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, es, 1, "only the .prom file")
		fi, err := os.Stat(file)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "node_exporter must read it")
		if promtool, err := exec.LookPath("promtool"); err == nil {
			cmd := exec.Command(promtool, "check", "metrics")
			cmd.Stdin = strings.NewReader(run(t, "SERVICE_RESULT=success"))
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, "promtool check metrics: %s", out)
		}
	})

	t.Run("Ensure no textfile directory means nothing written and no failure", func(t *testing.T) {
		out, code := runScript(t, "deploy/systemd/ordem-job-metric",
			[]string{path, "ORDEM_TEXTFILE_DIR=" + filepath.Join(dir, "missing"), "SERVICE_RESULT=success"}, "backup")
		assert.Equal(t, 0, code, out)
		assert.NoDirExists(t, filepath.Join(dir, "missing"))
		_, code = runScript(t, "deploy/systemd/ordem-job-metric", []string{path, "ORDEM_TEXTFILE_DIR=" + dir}, "x\"y")
		assert.Equal(t, 2, code, "a job name that would break the label is refused")
	})
}

func TestAlertHook(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	// Stubs for what the hook asks systemd, and a journal that records.
	stubs := t.TempDir()
	journal := filepath.Join(t.TempDir(), "journal")
	logLines := "VIOLATION zero_sum: transaction 7: sums to 0.01\n\tquoted \"x\" and back\\slash\x01"
	for name, body := range map[string]string{
		"systemctl":   "#!/bin/sh\ncase \"$*\" in *Result*) echo exit-code ;; *ExecMainStatus*) echo 1 ;; esac\n",
		"journalctl":  "#!/bin/sh\nprintf '%s\\n' '" + strings.ReplaceAll(logLines, "'", `'\''`) + "'\n",
		"systemd-cat": "#!/bin/sh\ncat >> " + journal + "\n",
		"hostname":    "#!/bin/sh\necho db1.example.com\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(stubs, name), []byte(body), 0o755))
	}
	path := "PATH=" + stubs + ":" + os.Getenv("PATH")

	var got []map[string]string
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]string
		if assert.NoError(t, json.Unmarshal(b, &body), "the webhook body is JSON: %s", b) {
			got = append(got, body)
		}
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		w.WriteHeader(status)
	}))
	defer srv.Close()

	out, code := runScript(t, "deploy/systemd/ordem-alert", []string{path, "ORDEM_ALERT_WEBHOOK_URL=" + srv.URL}, "ordem-ledger-verify.service")
	require.Equal(t, 0, code, out)
	require.Len(t, got, 1)
	summary := "ordem: ordem-ledger-verify.service failed on db1.example.com (result exit-code, exit status 1)"
	assert.Equal(t, summary+"\nVIOLATION zero_sum: transaction 7: sums to 0.01\n\tquoted \"x\" and back\\slash", got[0]["text"],
		"the text carries the log lines, control characters dropped")
	logged, err := os.ReadFile(journal)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(logged), summary+"\n"), "logged to the journal first: %s", logged)

	t.Run("Ensure systemd's MONITOR_* outcome wins, and a webhook that refuses makes the hook fail", func(t *testing.T) {
		status = http.StatusInternalServerError
		out, code := runScript(t, "deploy/systemd/ordem-alert", []string{path, "ORDEM_ALERT_WEBHOOK_URL=" + srv.URL,
			"MONITOR_SERVICE_RESULT=timeout", "MONITOR_EXIT_STATUS=TERM", "MONITOR_INVOCATION_ID=0123"}, "ordem-backup.service")
		assert.Equal(t, 1, code, out)
		require.Len(t, got, 2)
		assert.Contains(t, got[1]["text"], "ordem-backup.service failed on db1.example.com (result timeout, exit status TERM)")
	})

	t.Run("Ensure the journal alone is enough when nothing else is configured", func(t *testing.T) {
		out, code := runScript(t, "deploy/systemd/ordem-alert", []string{path}, "ordem-backup.service")
		assert.Equal(t, 0, code, out)
		assert.Len(t, got, 2, "no webhook call")
	})
}

// TestOperationsDocCoversTheJobs keeps docs/operations.md in step with
// the deployment files of the scheduled jobs: each is named there, and
// the procedures the old guide had are there.
func TestOperationsDocCoversTheJobs(t *testing.T) {
	doc := read(t, "docs/operations.md")
	var files []string
	for _, glob := range []string{"deploy/systemd/*", "deploy/k8s/base/*cronjob*.yaml", "deploy/k8s/base/*pvc*.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, glob))
		require.NoError(t, err)
		require.NotEmpty(t, m, glob)
		files = append(files, m...)
	}
	for _, f := range files {
		assert.Contains(t, doc, filepath.Base(f), "docs/operations.md does not name %s", f)
	}
	for _, s := range []string{"deploy/backup/Dockerfile", "jobs.alerts.yml", "BACKUP_KEEP_DAYS", "kube_job_failed",
		"ordem_job_last_exit_status", "systemctl --failed", "failedJobsHistoryLimit",
		"AUTO_CONFIRM_JOB_ENABLED=false", "AUTO_CONFIRM_JOB_ENABLED=true", "pg_stat_statements", "scripts/explain-orders.sh"} {
		assert.Contains(t, doc, s)
	}
	drill := doc[strings.Index(doc, "\n## Restore drill"):]
	drill = drill[:strings.Index(drill[1:], "\n## ")+1]
	steps := []string{"AUTO_CONFIRM_JOB_ENABLED=false", "systemctl stop ordem-api ordem-worker", "restore.sh",
		"ordem migrate status", "ordem ledger verify", "/readyz", "every quarter"}
	last := -1
	for _, s := range steps {
		i := strings.Index(drill, s)
		if assert.GreaterOrEqual(t, i, 0, "the restore drill lacks %q", s) && s != "every quarter" {
			assert.Greater(t, i, last, "the restore drill has %q out of order", s)
			last = i
		}
	}
}

// TestJobAlerts checks deploy/prometheus/jobs.alerts.yml: loaded by the
// example configuration, every ordem_job_* series it reads is one
// ordem-job-metric writes, and, with promtool, its unit tests pass.
func TestJobAlerts(t *testing.T) {
	var rf struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(read(t, "deploy/prometheus/jobs.alerts.yml")), &rf))
	script := read(t, "deploy/systemd/ordem-job-metric")
	groups := map[string]int{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			groups[g.Name]++
			assert.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
			for _, m := range regexp.MustCompile(`\bordem_job_[a-z_]+`).FindAllString(r.Expr, -1) {
				assert.Contains(t, script, m+`{task="$job"}`, "%s reads %s, which ordem-job-metric does not write", r.Alert, m)
			}
			assert.NotContains(t, r.Expr, `job="backup"`, "%s: the label is task (Prometheus owns job)", r.Alert)
		}
	}
	assert.Equal(t, map[string]int{"ordem-jobs-systemd": 3, "ordem-jobs-kubernetes": 2}, groups)
	assert.Regexp(t, `(?m)^\s+- jobs\.alerts\.yml$`, read(t, "deploy/prometheus/prometheus.yml"))

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian: prometheus)")
	}
	dir := filepath.Join(root, "deploy/prometheus")
	out, err := exec.Command(promtool, "check", "rules", filepath.Join(dir, "jobs.alerts.yml")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.Command(promtool, "test", "rules", "jobs.alerts_test.yml")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "SUCCESS")
}
