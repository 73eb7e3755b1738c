// Package deploy holds no code: its tests check the deployment files
// (docker-compose.yml, Dockerfile, .env.example, deploy/k8s, deploy/nginx,
// deploy/systemd, deploy/backup, deploy/prometheus/jobs.alerts.yml)
// against what the code really reads and serves, since no Docker engine
// or cluster runs in CI; and the API routes the docs name against
// api/openapi.yaml (docs_routes_test.go).
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ordem/ordem/internal/config"
	"github.com/ordem/ordem/internal/ledger"
	"github.com/ordem/ordem/internal/pgtest"
	"github.com/ordem/ordem/internal/s3test"
	"github.com/ordem/ordem/internal/seed"
)

// root is the repository root (tests run in deploy/).
const root = ".."

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, path))
	require.NoError(t, err)
	return string(b)
}

// configVars lists every environment variable internal/config reads, from
// its source: a deployment file that sets anything else sets a typo.
func configVars(t *testing.T) map[string]bool {
	t.Helper()
	src := read(t, "internal/config/config.go")
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile(`p\.\w+\("([A-Z][A-Z0-9_]+)"`).FindAllStringSubmatch(src, -1) {
		vars[m[1]] = true
	}
	require.Greater(t, len(vars), 25, "config.go's parser calls not found; did its style change?")
	require.True(t, vars["DATABASE_URL"] && vars["SECRET_KEY"] && vars["TEMPORAL_ADDRESS"])
	return vars
}

// strongSecret stands in for every "change-me" placeholder.
const strongSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// envExample parses .env.example: active assignments, and every variable
// named in an assignment, commented out or not.
func envExample(t *testing.T) (active map[string]string, mentioned map[string]bool) {
	t.Helper()
	active, mentioned = map[string]string{}, map[string]bool{}
	assign := regexp.MustCompile(`^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$`)
	sc := bufio.NewScanner(strings.NewReader(read(t, ".env.example")))
	for sc.Scan() {
		m := assign.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		mentioned[m[2]] = true
		if m[1] == "" {
			_, dup := active[m[2]]
			require.False(t, dup, ".env.example sets %s twice", m[2])
			// Quoted like a shell, compose and systemd all read it.
			active[m[2]] = strings.TrimSuffix(strings.TrimPrefix(m[3], `"`), `"`)
		}
	}
	return active, mentioned
}

// filled returns .env.example's values with every placeholder replaced.
func filled(t *testing.T) map[string]string {
	env, _ := envExample(t)
	out := map[string]string{}
	for k, v := range env {
		if strings.HasPrefix(v, "change-me") {
			v = strongSecret
		}
		out[k] = v
	}
	return out
}

func lookupIn(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// --- docker-compose.yml -----------------------------------------------------

type composeFile struct {
	Name     string                    `yaml:"name"`
	Shared   any                       `yaml:"x-ordem"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image         string            `yaml:"image"`
	Build         *composeBuild     `yaml:"build"`
	ContainerName string            `yaml:"container_name"`
	Restart       string            `yaml:"restart"`
	Entrypoint    []string          `yaml:"entrypoint"`
	Command       []string          `yaml:"command"`
	Environment   map[string]string `yaml:"environment"`
	Ports         []string          `yaml:"ports"`
	Volumes       []string          `yaml:"volumes"`
	DependsOn     map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test        []string `yaml:"test"`
		Disable     bool     `yaml:"disable"`
		Interval    string   `yaml:"interval"`
		Timeout     string   `yaml:"timeout"`
		Retries     int      `yaml:"retries"`
		StartPeriod string   `yaml:"start_period"`
	} `yaml:"healthcheck"`
	StopGracePeriod string `yaml:"stop_grace_period"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(read(t, "docker-compose.yml")))
	dec.KnownFields(true) // a misspelt key fails here, not at `up`
	require.NoError(t, dec.Decode(&c))
	require.NotEmpty(t, c.Services)
	return c
}

// ordemServices are the services that run the image built from the
// Dockerfile.
func ordemServices(c composeFile) []string {
	var out []string
	for name, s := range c.Services {
		if s.Build != nil {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func oneShot(s composeService) bool { return s.Restart == "no" }

var interpolation = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// interpolate does what compose does to ${VAR}, ${VAR:-default} and
// ${VAR:?error} with the variables of env.
func interpolate(t *testing.T, s string, env map[string]string) string {
	t.Helper()
	s = strings.ReplaceAll(s, "$$", "\x00")
	s = interpolation.ReplaceAllStringFunc(s, func(m string) string {
		p := interpolation.FindStringSubmatch(m)
		v, ok := env[p[1]]
		switch p[2] {
		case ":-":
			if v == "" {
				return p[3]
			}
		case "-":
			if !ok {
				return p[3]
			}
		case ":?", "?":
			if !ok || (p[2] == ":?" && v == "") {
				t.Errorf("compose would stop: %s is required (%s)", p[1], p[3])
			}
		}
		return v
	})
	return strings.ReplaceAll(s, "\x00", "$")
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	assert.Equal(t, "ordem", c.Name)
	for _, want := range []string{"postgres", "temporal-schema", "temporal", "temporal-namespace",
		"temporal-ui", "temporal-admin-tools", "s3", "migrate", "api", "worker"} {
		assert.Contains(t, c.Services, want)
	}

	t.Run("Ensure the Temporal images are pinned to the server release of go.mod", func(t *testing.T) {
		m := regexp.MustCompile(`go\.temporal\.io/server v(\d+\.\d+)\.\d+`).FindStringSubmatch(read(t, "go.mod"))
		require.NotNil(t, m)
		tag := regexp.MustCompile(`^temporalio/(server|admin-tools):` + regexp.QuoteMeta(m[1]) + `\.\d+$`)
		n := 0
		for name, s := range c.Services {
			if strings.HasPrefix(s.Image, "temporalio/") {
				assert.NotContains(t, s.Image, "auto-setup", "%s: auto-setup is retired after 1.29", name)
				if !strings.HasPrefix(s.Image, "temporalio/ui:") {
					assert.Regexp(t, tag, s.Image, name)
					n++
				}
			}
			assert.NotContains(t, s.Image, ":latest", "%s: pin the image", name)
		}
		assert.Equal(t, 4, n)
		assert.Regexp(t, `^temporalio/ui:\d+\.\d+\.\d+$`, c.Services["temporal-ui"].Image)
	})

	t.Run("Ensure every long-running service has a healthcheck, the API's and the worker's on /readyz", func(t *testing.T) {
		for name, s := range c.Services {
			if oneShot(s) {
				assert.Nil(t, s.Healthcheck, "%s is a one-shot", name)
				continue
			}
			assert.Equal(t, "unless-stopped", s.Restart, name)
			if assert.NotNil(t, s.Healthcheck, "%s has no healthcheck", name) {
				assert.False(t, s.Healthcheck.Disable, name)
				assert.NotEmpty(t, s.Healthcheck.Test, name)
			}
		}
		assert.Contains(t, c.Services["api"].Healthcheck.Test, "http://127.0.0.1:8080/readyz")
		assert.Equal(t, ":8080", c.Services["api"].Environment["HTTP_ADDR"])
		assert.Contains(t, c.Services["worker"].Healthcheck.Test, "http://127.0.0.1:9090/readyz")
		assert.Equal(t, ":9090", c.Services["worker"].Environment["WORKER_HTTP_ADDR"])
		assert.Contains(t, read(t, "worker/observe.go"), `"GET /readyz"`, "the worker serves /readyz")
	})

	t.Run("Ensure depends_on waits on health or completion, never on mere start", func(t *testing.T) {
		for name, s := range c.Services {
			for dep, d := range s.DependsOn {
				target, ok := c.Services[dep]
				require.True(t, ok, "%s depends on unknown %s", name, dep)
				switch d.Condition {
				case "service_healthy":
					assert.NotNil(t, target.Healthcheck, "%s waits for %s to be healthy, but it has no healthcheck", name, dep)
				case "service_completed_successfully":
					assert.True(t, oneShot(target), "%s waits for %s to complete, but it is long-running", name, dep)
				default:
					t.Errorf("%s -> %s: condition %q", name, dep, d.Condition)
				}
			}
		}
		for _, svc := range []string{"api", "worker"} {
			deps := c.Services[svc].DependsOn
			assert.Equal(t, "service_completed_successfully", deps["migrate"].Condition, svc)
			assert.Equal(t, "service_completed_successfully", deps["temporal-namespace"].Condition, svc)
			assert.Equal(t, "service_healthy", deps["s3"].Condition, svc)
		}
		assert.Equal(t, "service_completed_successfully", c.Services["temporal"].DependsOn["temporal-schema"].Condition)
		assert.Equal(t, "service_healthy", c.Services["migrate"].DependsOn["postgres"].Condition)
	})

	t.Run("Ensure api, worker and migrate run the image the Dockerfile builds", func(t *testing.T) {
		assert.Equal(t, []string{"api", "migrate", "worker"}, ordemServices(c))
		image := c.Services["api"].Image
		for _, name := range ordemServices(c) {
			s := c.Services[name]
			assert.Equal(t, ".", s.Build.Context, name)
			assert.Equal(t, "Dockerfile", s.Build.Dockerfile, name)
			assert.Equal(t, image, s.Image, name)
			assert.Empty(t, s.ContainerName, "%s: a container_name forbids --scale", name)
		}
		assert.Equal(t, []string{"api"}, c.Services["api"].Command)
		assert.Equal(t, []string{"worker"}, c.Services["worker"].Command)
		mig := strings.Join(c.Services["migrate"].Command, " ")
		assert.Regexp(t, `^ordem migrate up && ordem seed$`, mig)
		assert.Equal(t, []string{"/bin/sh", "-c"}, c.Services["migrate"].Entrypoint)
	})

	t.Run("Ensure api and worker can scale: no fixed host port", func(t *testing.T) {
		assert.Empty(t, c.Services["worker"].Ports)
		env := filled(t)
		for _, p := range c.Services["api"].Ports {
			p = interpolate(t, p, env)
			// ip:hostrange:container or container alone; a single host
			// port would fail the second replica.
			parts := strings.Split(p, ":")
			require.Equal(t, "8080", parts[len(parts)-1], p)
			if len(parts) > 1 {
				assert.Regexp(t, `^\d+-\d+$`, parts[len(parts)-2], "api publishes a single host port: %s", p)
			}
		}
	})

	t.Run("Ensure every file compose mounts exists", func(t *testing.T) {
		for name, s := range c.Services {
			for _, v := range s.Volumes {
				src := strings.SplitN(v, ":", 2)[0]
				if strings.HasPrefix(src, "./") {
					_, err := os.Stat(filepath.Join(root, src))
					assert.NoError(t, err, "%s mounts %s", name, src)
				} else {
					assert.Contains(t, c.Volumes, src, "%s: named volume %s is not declared", name, src)
				}
			}
		}
	})
}

func TestComposeEnvironmentIsOrdemConfig(t *testing.T) {
	c := loadCompose(t)
	vars := configVars(t)
	env := filled(t)
	for _, name := range ordemServices(c) {
		s := c.Services[name]
		t.Run(name, func(t *testing.T) {
			resolved := map[string]string{}
			for k, v := range s.Environment {
				assert.True(t, vars[k], "%s sets %s, which internal/config does not read", name, k)
				resolved[k] = interpolate(t, v, env)
			}
			_, err := config.Parse(lookupIn(resolved))
			require.NoError(t, err, "the environment compose gives %s must be a valid configuration", name)
		})
	}
	assert.Equal(t, "temporal:7233", c.Services["api"].Environment["TEMPORAL_ADDRESS"])
	assert.Equal(t, ":8080", c.Services["api"].Environment["HTTP_ADDR"])
	assert.Contains(t, c.Services["migrate"].Environment, "ADMIN_EMAIL")
}

func TestEnvExample(t *testing.T) {
	vars := configVars(t)
	active, mentioned := envExample(t)
	compose := read(t, "docker-compose.yml")
	used := map[string]bool{}
	for _, m := range interpolation.FindAllStringSubmatch(compose, -1) {
		used[m[1]] = true
	}

	t.Run("Ensure every variable of internal/config is documented", func(t *testing.T) {
		for v := range vars {
			assert.True(t, mentioned[v], ".env.example does not document %s", v)
		}
	})
	t.Run("Ensure every variable is read by ordem or used by compose", func(t *testing.T) {
		for v := range mentioned {
			assert.True(t, vars[v] || used[v], ".env.example has %s, which neither internal/config nor docker-compose.yml uses", v)
		}
		for v := range used {
			assert.True(t, mentioned[v], "docker-compose.yml uses ${%s}, which .env.example does not document", v)
		}
	})
	t.Run("Ensure the placeholders are refused, so nobody runs on them", func(t *testing.T) {
		env := map[string]string{"DATABASE_URL": "postgres://ordem@db/ordem"}
		for k, v := range active {
			env[k] = v
		}
		_, err := config.Parse(lookupIn(env))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "SECRET_KEY")
		assert.Equal(t, "production", active["ORDEM_ENV"])
	})
	t.Run("Ensure the example is valid once the placeholders are filled in", func(t *testing.T) {
		env := filled(t)
		env["DATABASE_URL"] = "postgres://ordem@db/ordem"
		_, err := config.Parse(lookupIn(env))
		require.NoError(t, err)
	})
}

// --- Dockerfile ---------------------------------------------------------------

func TestDockerfile(t *testing.T) {
	df := read(t, "Dockerfile")
	stages := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	require.Len(t, stages, 2, "a builder and a final stage")
	assert.Regexp(t, `^golang:1\.26`, stages[0][1])
	assert.Contains(t, df, "CGO_ENABLED=0")
	assert.Contains(t, df, "go build")
	assert.Contains(t, df, "./cmd/ordem")
	final := df[strings.LastIndex(df, "\nFROM "):]
	assert.Regexp(t, `(?m)^USER 10001:10001$`, final, "the final image runs as the numeric non-root user k8s expects")
	assert.Regexp(t, `(?m)^ENTRYPOINT \["/usr/local/bin/ordem"\]$`, final)
	assert.Regexp(t, `(?m)^CMD \["api"\]$`, final)

	ignore := read(t, ".dockerignore")
	for _, p := range []string{".git", ".env"} {
		assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(p)+`$`, ignore, "%s must stay out of the build context", p)
	}
}

// --- Kubernetes -------------------------------------------------------------

type manifest struct {
	path string
	kind string
	name string
	raw  []byte
}

// k8sManifests returns every object under deploy/k8s except the
// kustomizations themselves.
func k8sManifests(t *testing.T) []manifest {
	t.Helper()
	var out []manifest
	err := filepath.WalkDir(filepath.Join(root, "deploy/k8s"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml")) {
			return err
		}
		if filepath.Base(path) == "kustomization.yaml" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				if err.Error() == "EOF" {
					break
				}
				return fmt.Errorf("%s: %w", path, err)
			}
			if doc == nil {
				continue
			}
			// Anchors resolved, then back to JSON-shaped YAML for the
			// strict typed decode.
			raw, err := yaml.Marshal(doc)
			if err != nil {
				return err
			}
			meta, _ := doc["metadata"].(map[string]any)
			name, _ := meta["name"].(string)
			kind, _ := doc["kind"].(string)
			out = append(out, manifest{path: path, kind: kind, name: name, raw: raw})
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// decodeStrict decodes into a typed Kubernetes object, failing on any
// field the API does not have (a misplaced probe, a typo).
func decodeStrict(t *testing.T, m manifest, into any) {
	t.Helper()
	require.NoError(t, sigsyaml.UnmarshalStrict(m.raw, into), "%s: %s %s", m.path, m.kind, m.name)
}

func TestKubernetesManifests(t *testing.T) {
	vars := configVars(t)
	ms := k8sManifests(t)
	deployments := map[string]*appsv1.Deployment{}
	var (
		job      *batchv1.Job
		cm       *corev1.ConfigMap
		secret   *corev1.Secret
		services []*corev1.Service
		hpas     []*autoscalingv2.HorizontalPodAutoscaler
		pdbs     []*policyv1.PodDisruptionBudget
		cronjobs = map[string]*batchv1.CronJob{}
		pvcs     = map[string]*corev1.PersistentVolumeClaim{}
	)
	for _, m := range ms {
		switch m.kind {
		case "Deployment":
			var d appsv1.Deployment
			decodeStrict(t, m, &d)
			deployments[d.Name] = &d
		case "Job":
			job = &batchv1.Job{}
			decodeStrict(t, m, job)
		case "ConfigMap":
			cm = &corev1.ConfigMap{}
			decodeStrict(t, m, cm)
		case "Secret":
			secret = &corev1.Secret{}
			decodeStrict(t, m, secret)
		case "Service":
			var s corev1.Service
			decodeStrict(t, m, &s)
			services = append(services, &s)
		case "HorizontalPodAutoscaler":
			var h autoscalingv2.HorizontalPodAutoscaler
			decodeStrict(t, m, &h)
			hpas = append(hpas, &h)
		case "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			decodeStrict(t, m, &p)
			pdbs = append(pdbs, &p)
		case "ServiceAccount":
			var s corev1.ServiceAccount
			decodeStrict(t, m, &s)
		case "Namespace":
			var n corev1.Namespace
			decodeStrict(t, m, &n)
		case "CronJob":
			var c batchv1.CronJob
			decodeStrict(t, m, &c)
			cronjobs[c.Name] = &c
		case "PersistentVolumeClaim":
			var c corev1.PersistentVolumeClaim
			decodeStrict(t, m, &c)
			pvcs[c.Name] = &c
		default:
			t.Errorf("%s: unexpected kind %q (add its checks here)", m.path, m.kind)
		}
	}
	require.Contains(t, deployments, "ordem-api")
	require.Contains(t, deployments, "ordem-worker")
	require.NotNil(t, job)
	require.NotNil(t, cm)
	require.NotNil(t, secret, "deploy/k8s/secret.example.yaml")

	t.Run("Ensure ConfigMap and Secret hold only variables internal/config reads, and together a valid configuration", func(t *testing.T) {
		env := map[string]string{}
		for k, v := range cm.Data {
			assert.True(t, vars[k], "ConfigMap key %s is not read by internal/config", k)
			env[k] = v
		}
		for k, v := range secret.StringData {
			assert.True(t, vars[k], "Secret key %s is not read by internal/config", k)
			_, dup := cm.Data[k]
			assert.False(t, dup, "%s is in both the ConfigMap and the Secret", k)
			if strings.HasPrefix(v, "change-me") {
				v = strongSecret
			}
			env[k] = v
		}
		for _, k := range []string{"SECRET_KEY", "DATABASE_URL", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "DEPOSIT_WEBHOOK_SECRET", "ADMIN_PASSWORD", "SMTP_PASSWORD"} {
			assert.Contains(t, secret.StringData, k, "%s is a secret", k)
		}
		_, err := config.Parse(lookupIn(env))
		require.NoError(t, err)
	})

	var checkPodImage func(t *testing.T, what string, spec corev1.PodSpec, image string)
	checkPod := func(t *testing.T, what string, spec corev1.PodSpec) {
		t.Helper()
		checkPodImage(t, what, spec, "ordem")
	}
	checkPodImage = func(t *testing.T, what string, spec corev1.PodSpec, image string) {
		t.Helper()
		psc := spec.SecurityContext
		require.NotNil(t, psc, what)
		assert.True(t, psc.RunAsNonRoot != nil && *psc.RunAsNonRoot, "%s: runAsNonRoot", what)
		assert.True(t, psc.RunAsUser != nil && *psc.RunAsUser == 10001, "%s: runAsUser must be the Dockerfile's USER 10001", what)
		assert.True(t, psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault, what)
		assert.True(t, spec.AutomountServiceAccountToken != nil && !*spec.AutomountServiceAccountToken, "%s: no API token", what)
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			sc := c.SecurityContext
			require.NotNil(t, sc, "%s/%s", what, c.Name)
			assert.True(t, sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation, "%s/%s", what, c.Name)
			assert.True(t, sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem, "%s/%s", what, c.Name)
			assert.True(t, sc.Capabilities != nil && slices.Contains(sc.Capabilities.Drop, "ALL"), "%s/%s", what, c.Name)
			assert.Equal(t, image, c.Image, "%s/%s: the base uses the placeholder the kustomization maps", what, c.Name)
			assert.False(t, c.Resources.Requests.Cpu().IsZero(), "%s/%s: cpu request", what, c.Name)
			assert.False(t, c.Resources.Limits.Memory().IsZero(), "%s/%s: memory limit", what, c.Name)
			var refs []string
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil {
					refs = append(refs, "cm:"+e.ConfigMapRef.Name)
				}
				if e.SecretRef != nil {
					refs = append(refs, "secret:"+e.SecretRef.Name)
				}
			}
			assert.ElementsMatch(t, []string{"cm:" + cm.Name, "secret:" + secret.Name}, refs, "%s/%s", what, c.Name)
			for _, e := range c.Env {
				assert.True(t, vars[e.Name] || image != "ordem", "%s/%s sets %s, which internal/config does not read", what, c.Name, e.Name)
			}
		}
	}

	// checkProbes: liveness /healthz and readiness /readyz on the one
	// container port, which is the port of the listen address addr.
	checkProbes := func(t *testing.T, c corev1.Container, addr string) {
		t.Helper()
		require.Len(t, c.Ports, 1, c.Name)
		assert.Equal(t, ":"+strconv.Itoa(int(c.Ports[0].ContainerPort)), addr, "%s: containerPort and listen address agree", c.Name)
		for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
			require.NotNil(t, probe, c.Name)
			require.NotNil(t, probe.HTTPGet, c.Name)
			assert.Equal(t, path, probe.HTTPGet.Path, c.Name)
			assert.True(t, probe.HTTPGet.Port.String() == c.Ports[0].Name || probe.HTTPGet.Port.IntValue() == int(c.Ports[0].ContainerPort), c.Name)
		}
	}

	t.Run("Ensure the API probes /healthz for liveness and /readyz for readiness on its port", func(t *testing.T) {
		d := deployments["ordem-api"]
		checkPod(t, "ordem-api", d.Spec.Template.Spec)
		require.Len(t, d.Spec.Template.Spec.Containers, 1)
		c := d.Spec.Template.Spec.Containers[0]
		assert.Equal(t, []string{"api"}, c.Args)
		checkProbes(t, c, cm.Data["HTTP_ADDR"])
		// The routes exist (api/server.go).
		srv := read(t, "api/server.go")
		assert.Contains(t, srv, `app.Get("/healthz"`)
		assert.Contains(t, srv, `app.Get("/readyz"`)
	})

	t.Run("Ensure the worker runs `worker` and is probed on WORKER_HTTP_ADDR", func(t *testing.T) {
		d := deployments["ordem-worker"]
		checkPod(t, "ordem-worker", d.Spec.Template.Spec)
		require.Len(t, d.Spec.Template.Spec.Containers, 1)
		c := d.Spec.Template.Spec.Containers[0]
		assert.Equal(t, []string{"worker"}, c.Args)
		checkProbes(t, c, cm.Data["WORKER_HTTP_ADDR"])
		src := read(t, "worker/observe.go")
		assert.Contains(t, src, `"GET /healthz"`)
		assert.Contains(t, src, `"GET /readyz"`)
		assert.True(t, d.Spec.Replicas != nil && *d.Spec.Replicas >= 2, "one worker's restart must not pause timers")
	})

	t.Run("Ensure the migration Job runs `migrate up`, once, before `seed`", func(t *testing.T) {
		spec := job.Spec.Template.Spec
		checkPod(t, "ordem-migrate", spec)
		require.Len(t, spec.InitContainers, 1)
		assert.Equal(t, []string{"migrate", "up"}, spec.InitContainers[0].Args)
		require.Len(t, spec.Containers, 1)
		assert.Equal(t, []string{"seed"}, spec.Containers[0].Args)
		assert.Equal(t, corev1.RestartPolicyNever, spec.RestartPolicy)
		assert.EqualValues(t, 1, *job.Spec.Parallelism, "goose takes no lock: one migrator at a time")
	})

	t.Run("Ensure the CronJobs fail visibly: no overlap, failed Jobs kept, no TTL that deletes them", func(t *testing.T) {
		require.Contains(t, cronjobs, "ordem-backup")
		require.Contains(t, cronjobs, "ordem-ledger-verify")
		for name, c := range cronjobs {
			assert.Len(t, strings.Fields(c.Spec.Schedule), 5, "%s: schedule %q", name, c.Spec.Schedule)
			assert.Equal(t, batchv1.ForbidConcurrent, c.Spec.ConcurrencyPolicy, name)
			if assert.NotNil(t, c.Spec.FailedJobsHistoryLimit, name) {
				assert.GreaterOrEqual(t, *c.Spec.FailedJobsHistoryLimit, int32(1), "%s: kube_job_failed needs the failed Job", name)
			}
			js := c.Spec.JobTemplate.Spec
			assert.Nil(t, js.TTLSecondsAfterFinished, "%s: a TTL deletes the failed Job and its alert", name)
			assert.NotNil(t, js.ActiveDeadlineSeconds, "%s: a hung run must end as failed", name)
			assert.Equal(t, corev1.RestartPolicyNever, js.Template.Spec.RestartPolicy, name)
		}
	})

	t.Run("Ensure the ledger-verify CronJob runs `ordem ledger verify` in the Ordem image", func(t *testing.T) {
		spec := cronjobs["ordem-ledger-verify"].Spec.JobTemplate.Spec.Template.Spec
		checkPod(t, "ordem-ledger-verify", spec)
		require.Len(t, spec.Containers, 1)
		assert.Equal(t, []string{"ledger", "verify"}, spec.Containers[0].Args)
		assert.Contains(t, read(t, "cmd/ordem/ledger.go"), `Use:   "verify"`)
	})

	t.Run("Ensure the backup CronJob runs backup.sh onto its claim, with variables backup.sh reads", func(t *testing.T) {
		spec := cronjobs["ordem-backup"].Spec.JobTemplate.Spec.Template.Spec
		checkPodImage(t, "ordem-backup", spec, "ordem-backup")
		require.Len(t, spec.Containers, 1)
		c := spec.Containers[0]
		assert.Empty(t, c.Command, "the image's ENTRYPOINT is backup.sh")
		assert.Empty(t, c.Args, "backup, then retention")
		script := read(t, "deploy/backup/backup.sh")
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
			if e.Name != "HOME" {
				assert.Contains(t, script, e.Name, "backup.sh does not read %s", e.Name)
			}
			if e.ValueFrom != nil {
				require.NotNil(t, e.ValueFrom.SecretKeyRef, e.Name)
				assert.True(t, e.ValueFrom.SecretKeyRef.Optional != nil && *e.ValueFrom.SecretKeyRef.Optional,
					"%s: the Temporal URLs are optional", e.Name)
			}
		}
		assert.Equal(t, "30", env["BACKUP_KEEP_DAYS"])
		var claim string
		for _, v := range spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				claim = v.Name
				assert.Contains(t, pvcs, v.PersistentVolumeClaim.ClaimName, "the backup claim is in the base")
			}
		}
		require.NotEmpty(t, claim, "backups go to a PersistentVolumeClaim")
		var mounted bool
		for _, m := range c.VolumeMounts {
			if m.Name == claim {
				mounted = true
				assert.Equal(t, env["BACKUP_DIR"], m.MountPath, "BACKUP_DIR is the claim's mount")
			}
		}
		assert.True(t, mounted, "the claim is mounted")
		assert.True(t, spec.SecurityContext.FSGroup != nil && *spec.SecurityContext.FSGroup == 10001, "the volume is writable by uid 10001")

		df := read(t, "deploy/backup/Dockerfile")
		assert.Regexp(t, `(?m)^FROM postgres:\$\{PG_MAJOR\}-alpine$`, df)
		assert.Regexp(t, `(?m)^ARG PG_MAJOR=15$`, df, "the tested Postgres major")
		for _, pkg := range []string{"bash", "coreutils", "findutils", "aws-cli"} {
			assert.Regexp(t, `apk add --no-cache[^\n]*\b`+pkg+`\b`, df)
		}
		assert.Contains(t, df, "COPY --chmod=0755 backup.sh restore.sh /usr/local/lib/ordem/")
		assert.Regexp(t, `(?m)^USER 10001:10001$`, df)
		assert.Regexp(t, `(?m)^ENTRYPOINT \["/usr/local/lib/ordem/backup\.sh"\]$`, df)
		var k struct {
			Images []struct {
				Name    string `yaml:"name"`
				NewName string `yaml:"newName"`
			} `yaml:"images"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(read(t, "deploy/k8s/base/kustomization.yaml")), &k))
		mapped := map[string]string{}
		for _, i := range k.Images {
			mapped[i.Name] = i.NewName
		}
		assert.Equal(t, "ghcr.io/ordem/ordem-backup", mapped["ordem-backup"])
		assert.Contains(t, read(t, "deploy/k8s/overlays/production/kustomization.yaml"), "- name: ghcr.io/ordem/ordem-backup",
			"the overlay pins the backup image too")
	})

	t.Run("Ensure Service, autoscaler and budgets select what exists", func(t *testing.T) {
		require.Len(t, services, 1)
		api := deployments["ordem-api"]
		assert.Equal(t, api.Spec.Selector.MatchLabels, services[0].Spec.Selector)
		assert.Equal(t, api.Spec.Template.Spec.Containers[0].Ports[0].Name, services[0].Spec.Ports[0].TargetPort.String())
		require.Len(t, hpas, 1)
		assert.Equal(t, "ordem-worker", hpas[0].Spec.ScaleTargetRef.Name)
		assert.GreaterOrEqual(t, *hpas[0].Spec.MinReplicas, int32(2))
		for _, p := range pdbs {
			d, ok := deployments[p.Name]
			if assert.True(t, ok, "PDB %s matches no Deployment", p.Name) {
				assert.Equal(t, d.Spec.Selector.MatchLabels, p.Spec.Selector.MatchLabels)
			}
		}
		for _, d := range deployments {
			assert.Equal(t, d.Spec.Selector.MatchLabels, labelsSubset(d.Spec.Template.Labels, d.Spec.Selector.MatchLabels), d.Name)
		}
	})

	t.Run("Ensure each kustomization lists files that exist, and the base lists every manifest", func(t *testing.T) {
		for _, dir := range []string{"deploy/k8s/base", "deploy/k8s/overlays/production"} {
			var k struct {
				Resources []string `yaml:"resources"`
			}
			require.NoError(t, yaml.Unmarshal([]byte(read(t, dir+"/kustomization.yaml")), &k))
			for _, r := range k.Resources {
				_, err := os.Stat(filepath.Join(root, dir, r))
				assert.NoError(t, err, "%s lists %s", dir, r)
			}
			if dir == "deploy/k8s/base" {
				files, _ := filepath.Glob(filepath.Join(root, dir, "*.yaml"))
				for _, f := range files {
					if b := filepath.Base(f); b != "kustomization.yaml" {
						assert.Contains(t, k.Resources, b, "base/%s is not in the kustomization", b)
					}
				}
				assert.NotContains(t, k.Resources, "secret.example.yaml", "an apply would overwrite the real Secret")
			}
		}
	})
}

func labelsSubset(labels, selector map[string]string) map[string]string {
	out := map[string]string{}
	for k := range selector {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

// TestKustomizeBuild renders the overlay with the kustomize built into
// kubectl, when it is installed.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl not installed")
	}
	for _, dir := range []string{"deploy/k8s/base", "deploy/k8s/overlays/production"} {
		out, err := exec.Command(kubectl, "kustomize", filepath.Join(root, dir)).CombinedOutput()
		require.NoError(t, err, "%s:\n%s", dir, out)
		if strings.Contains(dir, "production") {
			assert.Regexp(t, `image: ghcr\.io/ordem/ordem:\d+\.\d+\.\d+`, string(out), "the overlay pins the image")
			assert.NotContains(t, string(out), "image: ordem\n")
			assert.Contains(t, string(out), "namespace: ordem")
		}
	}
}

// TestDockerComposeConfig validates docker-compose.yml with Compose v2
// itself, when the plugin is installed (it needs no Docker engine).
func TestDockerComposeConfig(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil || exec.Command(docker, "compose", "version").Run() != nil {
		t.Skip("docker compose (v2) not installed")
	}
	env := filled(t)
	cmd := exec.Command(docker, "compose", "--env-file", "/dev/null", "-f", "docker-compose.yml", "config", "--quiet")
	cmd.Dir = root
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
}

// --- nginx, systemd -----------------------------------------------------------

func TestNginx(t *testing.T) {
	conf := read(t, "deploy/nginx/ordem.conf")
	m := regexp.MustCompile(`uploadOverhead = (\d+) \* 1024`).FindStringSubmatch(read(t, "api/evidence.go"))
	require.NotNil(t, m, "api/evidence.go uploadOverhead")
	kib, _ := strconv.Atoi(m[1])
	env, _ := envExample(t)
	maxUpload, err := strconv.Atoi(env["MAX_UPLOAD_SIZE"])
	require.NoError(t, err)
	assert.Contains(t, conf, fmt.Sprintf("client_max_body_size %d;", maxUpload+kib*1024),
		"nginx must admit MAX_UPLOAD_SIZE plus the API's multipart overhead")

	// The API takes the first X-Forwarded-For address as the client:
	// appending would let the client choose it.
	assert.Contains(t, conf, "proxy_set_header X-Forwarded-For $remote_addr;")
	assert.NotRegexp(t, `(?m)^\s*proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for`, conf)
	assert.Contains(t, read(t, "api/server.go"), "fiber.HeaderXForwardedFor", "the API reads X-Forwarded-For")
	assert.Contains(t, conf, "server 127.0.0.1:8080", "the upstream is the API's HTTP_ADDR")
	for _, internal := range []string{"/metrics", "/readyz"} {
		block := regexp.MustCompile(`location = ` + regexp.QuoteMeta(internal) + ` \{[^}]*\}`).FindString(conf)
		assert.Contains(t, block, "deny all;", "%s must not be public", internal)
	}

	if nginx, err := exec.LookPath("nginx"); err == nil {
		testNginxSyntax(t, nginx, conf)
	}
}

// testNginxSyntax runs `nginx -t` on the site with a throwaway certificate.
func testNginxSyntax(t *testing.T, nginx, conf string) {
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "crt.pem"), filepath.Join(dir, "key.pem")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
		"-subj", "/CN=ordem.example.com", "-keyout", key, "-out", crt).CombinedOutput()
	if err != nil {
		t.Logf("openssl unavailable, nginx -t skipped: %v %s", err, out)
		return
	}
	conf = strings.ReplaceAll(conf, "/etc/letsencrypt/live/ordem.example.com/fullchain.pem", crt)
	conf = strings.ReplaceAll(conf, "/etc/letsencrypt/live/ordem.example.com/privkey.pem", key)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ordem.conf"), []byte(conf), 0o600))
	main := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/body; proxy_temp_path %[1]s/proxy; fastcgi_temp_path %[1]s/fcgi;
  uwsgi_temp_path %[1]s/uwsgi; scgi_temp_path %[1]s/scgi;
  include %[1]s/ordem.conf;
}
`, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o600))
	out, err = exec.Command(nginx, "-t", "-q", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput()
	require.NoError(t, err, "nginx -t:\n%s", out)
}

func unitKeys(t *testing.T, path string) map[string][]string {
	t.Helper()
	keys := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(read(t, path)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[]")
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s: %q", path, line)
		keys[section+"."+k] = append(keys[section+"."+k], v)
	}
	return keys
}

func TestSystemdUnits(t *testing.T) {
	for unit, cmd := range map[string]string{"ordem-api.service": "api", "ordem-worker.service": "worker"} {
		t.Run(unit, func(t *testing.T) {
			k := unitKeys(t, "deploy/systemd/"+unit)
			assert.Equal(t, []string{"/usr/local/bin/ordem " + cmd}, k["Service.ExecStart"])
			assert.Equal(t, []string{"/etc/ordem/ordem.env"}, k["Service.EnvironmentFile"])
			assert.Equal(t, []string{"ordem"}, k["Service.User"])
			assert.Equal(t, []string{"on-failure"}, k["Service.Restart"])
			for _, hard := range []string{"NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet", "SystemCallFilter", "RestrictAddressFamilies"} {
				assert.NotEmpty(t, k["Service."+hard], "%s: %s", unit, hard)
			}
			assert.NotEmpty(t, k["Unit.StartLimitIntervalSec"], "StartLimit* belong to [Unit]")
			assert.NotContains(t, k, "Service.ExecStartPre", "migrations must not race from every host")
		})
	}

	t.Run("Ensure the backup and ledger-verify units are oneshots whose failure shows", func(t *testing.T) {
		for unit, want := range map[string]struct{ exec, job string }{
			"ordem-backup.service":        {"/usr/local/lib/ordem/backup.sh", "backup"},
			"ordem-ledger-verify.service": {"/usr/local/bin/ordem ledger verify", "ledger_verify"},
		} {
			k := unitKeys(t, "deploy/systemd/"+unit)
			assert.Equal(t, []string{"oneshot"}, k["Service.Type"], unit)
			assert.Equal(t, []string{want.exec}, k["Service.ExecStart"], unit)
			assert.Equal(t, []string{"ordem"}, k["Service.User"], unit)
			assert.Equal(t, "/etc/ordem/ordem.env", k["Service.EnvironmentFile"][0], unit)
			assert.Equal(t, []string{"ordem-alert@%n.service"}, k["Unit.OnFailure"], unit)
			// "+": as root, so it can write node_exporter's directory.
			assert.Equal(t, []string{"+/usr/local/lib/ordem/ordem-job-metric " + want.job + " %n"}, k["Service.ExecStopPost"], unit)
			assert.NotContains(t, k, "Service.Restart", "%s: a failed run stays failed until the next one", unit)
			assert.NotEmpty(t, k["Service.TimeoutStartSec"], unit)
			for _, hard := range []string{"NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet", "RestrictAddressFamilies"} {
				assert.NotEmpty(t, k["Service."+hard], "%s: %s", unit, hard)
			}

			timer := strings.TrimSuffix(unit, ".service") + ".timer"
			tk := unitKeys(t, "deploy/systemd/"+timer)
			require.Len(t, tk["Timer.OnCalendar"], 1, timer)
			assert.Equal(t, []string{"true"}, tk["Timer.Persistent"], "%s: a run missed while the host was off starts at boot", timer)
			assert.NotContains(t, tk, "Timer.Unit", "%s starts the service of its own name", timer)
			assert.Equal(t, []string{"timers.target"}, tk["Install.WantedBy"], timer)
			if sa, err := exec.LookPath("systemd-analyze"); err == nil {
				out, err := exec.Command(sa, "calendar", tk["Timer.OnCalendar"][0]).CombinedOutput()
				assert.NoError(t, err, "%s: OnCalendar: %s", timer, out)
			}
		}
		bk := unitKeys(t, "deploy/systemd/ordem-backup.service")
		assert.Contains(t, bk["Service.Environment"], "BACKUP_DIR=/var/backups/ordem")
		assert.Equal(t, []string{"/var/backups/ordem"}, bk["Service.ReadWritePaths"], "the one writable path is BACKUP_DIR")
		assert.Equal(t, []string{"+/usr/bin/install -d -m 0700 -o ordem -g ordem /var/backups/ordem"}, bk["Service.ExecStartPre"])
		assert.Equal(t, []string{"OnCalendar=*-*-* 03:15:00"}, []string{"OnCalendar=" + unitKeys(t, "deploy/systemd/ordem-backup.timer")["Timer.OnCalendar"][0]}, "daily")

		ak := unitKeys(t, "deploy/systemd/ordem-alert@.service")
		assert.Equal(t, []string{"/usr/local/lib/ordem/ordem-alert %i"}, ak["Service.ExecStart"])
		assert.NotContains(t, ak, "Unit.OnFailure", "an alert that fails must not alert about itself in a loop")

		// Every script the units run is shipped, where the install comment
		// puts it.
		install := read(t, "deploy/systemd/ordem-backup.service")
		for _, f := range []string{"deploy/backup/backup.sh", "deploy/backup/restore.sh", "deploy/systemd/ordem-job-metric", "deploy/systemd/ordem-alert"} {
			assert.FileExists(t, filepath.Join(root, f))
			assert.Contains(t, install, f, "the install lines of ordem-backup.service copy %s", f)
		}
	})

	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		// verify wants the binaries to exist: point them at a real one.
		dir := t.TempDir()
		units, err := filepath.Glob(filepath.Join(root, "deploy/systemd/*.*"))
		require.NoError(t, err)
		var args []string
		for _, f := range units {
			unit := filepath.Base(f)
			u := strings.ReplaceAll(read(t, "deploy/systemd/"+unit), "/usr/local/bin/ordem", "/bin/true")
			u = regexp.MustCompile(`/usr/local/lib/ordem/[a-z.-]+`).ReplaceAllString(u, "/bin/true")
			require.NoError(t, os.WriteFile(filepath.Join(dir, unit), []byte(u), 0o600))
			if !strings.HasSuffix(unit, "@.service") {
				args = append(args, filepath.Join(dir, unit))
			}
		}
		require.GreaterOrEqual(t, len(args), 6)
		cmd := exec.Command(sa, append([]string{"verify"}, args...)...)
		// The template of OnFailure= is found beside the units.
		cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "systemd-analyze verify:\n%s", out)
		assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warnings")
	}
}

// --- backup / restore -------------------------------------------------------

func TestBackupScriptsSyntax(t *testing.T) {
	scripts := []string{"deploy/backup/backup.sh", "deploy/backup/restore.sh", "deploy/compose/postgres-init.sh",
		"deploy/systemd/ordem-job-metric", "deploy/systemd/ordem-alert"}
	for _, s := range scripts {
		src := read(t, s)
		assert.True(t, strings.HasPrefix(src, "#!/"), s)
		if strings.HasSuffix(filepath.Dir(s), "backup") {
			assert.Contains(t, src, "set -euo pipefail", s)
		}
		fi, err := os.Stat(filepath.Join(root, s))
		require.NoError(t, err)
		assert.NotZero(t, fi.Mode()&0o111, "%s is not executable", s)
		out, err := exec.Command("bash", "-n", filepath.Join(root, s)).CombinedOutput()
		require.NoError(t, err, "bash -n %s: %s", s, out)
	}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		args := []string{}
		for _, s := range scripts {
			args = append(args, filepath.Join(root, s))
		}
		out, err := exec.Command(sc, args...).CombinedOutput()
		require.NoError(t, err, "shellcheck:\n%s", out)
	}
}

// TestBackupRestore runs backup.sh on a migrated, seeded database with a
// posting and an evidence object, then restore.sh into an empty database
// and another bucket, and checks the ledger and the object came back; and
// that a non-empty database is refused without --force.
func TestBackupRestore(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Postgres, versitygw and the aws CLI; skipped with -short")
	}
	for _, tool := range []string{"pg_dump", "pg_restore", "psql", "aws", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	ctx := context.Background()
	srcURL := pgtest.NewDBURL(t)
	pool := pgtest.Connect(t, srcURL)
	res, err := seed.Run(ctx, pool, seed.Admin{Name: "Admin", Email: "admin@example.com", Password: "correct horse battery"})
	require.NoError(t, err)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = ledger.Post(ctx, tx, ledger.Posting{IdempotencyKey: "deploy-test:deposit", Kind: "deposit", Legs: []ledger.Leg{
		{Account: ledger.WorldAccount, Amount: decimal.RequireFromString("-150.00")},
		{Account: ledger.UserAccount(res.AdminID, ledger.Available), Amount: decimal.RequireFromString("150.00")},
	}})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	s3 := s3test.Start(t)
	require.NoError(t, os.MkdirAll(filepath.Join(s3.Dir, "source", "evidence", "7"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(s3.Dir, "source", "evidence", "7", "e.pdf"), []byte("%PDF-1.4 evidence"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(s3.Dir, "source", "staging"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(s3.Dir, "source", "staging", "upload"), []byte("in flight"), 0o644))

	backups := t.TempDir()
	run := func(dbURL, bucket string, args ...string) (string, int) {
		cmd := exec.Command("bash", args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
			"DATABASE_URL=" + dbURL, "BACKUP_DIR=" + backups, "S3_BUCKET=" + bucket,
			"S3_ENDPOINT=" + s3.Endpoint, "S3_REGION=" + s3.Region,
			"S3_ACCESS_KEY_ID=" + s3.AccessKey, "S3_SECRET_ACCESS_KEY=" + s3.SecretKey}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		require.NoError(t, err)
		return string(out), 0
	}

	out, code := run(srcURL, "source", filepath.Join(root, "deploy/backup/backup.sh"))
	require.Equal(t, 0, code, out)
	dirs, _ := filepath.Glob(filepath.Join(backups, "ordem-*"))
	require.Len(t, dirs, 1, out)
	backup := dirs[0]
	assert.FileExists(t, filepath.Join(backup, "ordem.dump"))
	assert.FileExists(t, filepath.Join(backup, "evidence", "7", "e.pdf"))
	assert.NoDirExists(t, filepath.Join(backup, "evidence", "staging"))
	assert.NoFileExists(t, filepath.Join(backup, "staging", "upload"), "staged uploads are not evidence")

	dstURL := pgtest.NewEmptyDBURL(t)
	out, code = run(dstURL, "restored", filepath.Join(root, "deploy/backup/restore.sh"), backup)
	require.Equal(t, 0, code, out)
	restored, err := os.ReadFile(filepath.Join(s3.Dir, "restored", "evidence", "7", "e.pdf"))
	require.NoError(t, err)
	assert.Equal(t, "%PDF-1.4 evidence", string(restored))

	dst := pgtest.Connect(t, dstURL)
	rep, err := ledger.VerifySnapshot(ctx, dst)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Violations)
	assert.EqualValues(t, 1, rep.Transactions)
	var bal string
	require.NoError(t, dst.QueryRow(ctx, `SELECT balance::text FROM ledger_accounts WHERE code = $1`,
		ledger.UserAccount(res.AdminID, ledger.Available)).Scan(&bal))
	assert.Equal(t, "150.00", bal)

	t.Run("Ensure a non-empty database is refused without --force, and restored with it", func(t *testing.T) {
		out, code := run(dstURL, "restored", filepath.Join(root, "deploy/backup/restore.sh"), "--no-evidence", backup)
		assert.Equal(t, 3, code, out)
		assert.Contains(t, out, "not empty")
		out, code = run(dstURL, "restored", filepath.Join(root, "deploy/backup/restore.sh"), "--force", "--no-evidence", backup)
		assert.Equal(t, 0, code, out)
	})

	t.Run("Ensure a second backup hard-links the evidence it already has, and restores", func(t *testing.T) {
		out, code := run(srcURL, "source", filepath.Join(root, "deploy/backup/backup.sh"))
		require.Equal(t, 0, code, out)
		dirs, _ := filepath.Glob(filepath.Join(backups, "ordem-*"))
		sort.Strings(dirs)
		require.Len(t, dirs, 2, out)
		require.Equal(t, backup, dirs[0])
		first, err := os.Stat(filepath.Join(backup, "evidence", "7", "e.pdf"))
		require.NoError(t, err)
		second, err := os.Stat(filepath.Join(dirs[1], "evidence", "7", "e.pdf"))
		require.NoError(t, err)
		assert.True(t, os.SameFile(first, second), "unchanged evidence is linked, not copied again")
		out, code = run(pgtest.NewEmptyDBURL(t), "second", filepath.Join(root, "deploy/backup/restore.sh"), dirs[1])
		require.Equal(t, 0, code, out)
		restored, err := os.ReadFile(filepath.Join(s3.Dir, "second", "evidence", "7", "e.pdf"))
		require.NoError(t, err)
		assert.Equal(t, "%PDF-1.4 evidence", string(restored))
	})

	t.Run("Ensure a corrupted backup is refused before anything is written", func(t *testing.T) {
		f := filepath.Join(backup, "evidence", "7", "e.pdf")
		require.NoError(t, os.WriteFile(f, []byte("tampered"), 0o644))
		out, code := run(pgtest.NewEmptyDBURL(t), "other", filepath.Join(root, "deploy/backup/restore.sh"), backup)
		assert.NotEqual(t, 0, code, out)
		_, err := os.Stat(filepath.Join(s3.Dir, "other"))
		assert.True(t, os.IsNotExist(err), "nothing restored from a corrupted backup")
	})
}
