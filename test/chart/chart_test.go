// Package chart tests the Helm chart in charts/llmroute: lint, rendering with defaults and with every option,
// the values schema, that its copies of generated CRDs and RBAC are current, and that a real API server accepts
// what it renders (server-side dry run with the real kubectl, in a namespace enforcing restricted Pod Security).
package chart

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/llmroute/llmroute/internal/testenv"
)

var update = flag.Bool("update", false, "refresh the chart's copies of config/crd/bases and config/rbac/role.yaml")

const (
	chartDir  = "charts/llmroute"
	release   = "llmroute"
	namespace = "llmroute-system"
)

var root = testenv.RepoRoot()

// helm runs the Helm pinned in tools/go.mod from the repository root.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool", "-modfile=tools/go.mod", "helm"}, args...)...)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(err.Error() + ": " + stderr.String() + stdout.String())
	}
	return stdout.String(), nil
}

// render runs helm template with extra arguments (--set, -f) and fails the test on error.
func render(t *testing.T, args ...string) string {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	return out
}

func allOptions() []string {
	return []string{"-f", filepath.Join("test", "chart", "testdata", "all-options.yaml")}
}

// objects decodes a multi-document manifest.
func objects(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("decode rendered manifest: %v", err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && (name == "" || o.GetName() == name) {
			return o
		}
	}
	return nil
}

func kinds(objs []*unstructured.Unstructured) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, o.GetKind())
	}
	slices.Sort(ks)
	return slices.Compact(ks)
}

func TestLint(t *testing.T) {
	for name, args := range map[string][]string{"defaults": nil, "all options": allOptions()} {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", chartDir, "--namespace", namespace}, args...)...)
			if err != nil {
				t.Fatalf("helm lint: %v", err)
			}
			if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Fatalf("helm lint reports problems:\n%s", out)
			}
		})
	}
}

func TestRenderDefaults(t *testing.T) {
	objs := objects(t, render(t))
	want := []string{"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment",
		"MutatingWebhookConfiguration", "Role", "RoleBinding", "Service", "ServiceAccount"}
	if got := kinds(objs); !slices.Equal(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" && o.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s lacks helm.sh/resource-policy: keep", o.GetName())
		}
	}

	dep := find(objs, "Deployment", "")
	c := container(t, dep)
	args := strings.Join(stringSlice(c["args"]), " ")
	for _, want := range []string{"--leader-elect=true", "--enable-webhook", "--webhook-cert-mode=self-signed",
		"--webhook-config-name=llmroute", "--webhook-service-name=llmroute-webhook", "--router-admin-port=9901",
		"--router-image=ghcr.io/llmroute/llmroute:0.1.0"} {
		if !strings.Contains(args, want) {
			t.Errorf("operator args lack %s: %s", want, args)
		}
	}
	sc, _, _ := unstructured.NestedMap(c, "securityContext")
	if sc["runAsNonRoot"] != true || sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
		t.Errorf("operator security context %v", sc)
	}
	for _, probe := range []string{"livenessProbe", "readinessProbe"} {
		if _, ok := c[probe]; !ok {
			t.Errorf("operator has no %s", probe)
		}
	}

	mwc := find(objs, "MutatingWebhookConfiguration", "llmroute")
	hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
	hook := hooks[0].(map[string]any)
	if hook["failurePolicy"] != "Fail" {
		t.Errorf("failurePolicy %v", hook["failurePolicy"])
	}
	svc, _, _ := unstructured.NestedString(hook, "clientConfig", "service", "name")
	if svc != "llmroute-webhook" || find(objs, "Service", svc) == nil {
		t.Errorf("webhook points at Service %q, which the chart does not render", svc)
	}
	// Self-signed mode: the operator may write the CA bundle into this configuration and no other.
	webhookRole := find(objs, "ClusterRole", "llmroute-webhook")
	rules, _, _ := unstructured.NestedSlice(webhookRole.Object, "rules")
	if names := stringSlice(rules[0].(map[string]any)["resourceNames"]); !slices.Equal(names, []string{mwc.GetName()}) {
		t.Errorf("webhook ClusterRole resourceNames %v, want [%s]", names, mwc.GetName())
	}
}

func TestRenderAllOptions(t *testing.T) {
	objs := objects(t, render(t, allOptions()...))
	for _, k := range []string{"ServiceMonitor", "PodMonitor", "PrometheusRule", "ConfigMap", "Certificate", "Issuer"} {
		if find(objs, k, "") == nil {
			t.Errorf("no %s rendered with every option on", k)
		}
	}
	// cert-manager mode: no self-signed RBAC, the Secret is mounted, cainjector is asked for the bundle.
	if find(objs, "ClusterRole", "llmroute-webhook") != nil {
		t.Error("webhook-configuration RBAC rendered in cert-manager mode")
	}
	mwc := find(objs, "MutatingWebhookConfiguration", "")
	if got := mwc.GetAnnotations()["cert-manager.io/inject-ca-from"]; got != namespace+"/llmroute-webhook" {
		t.Errorf("inject-ca-from = %q", got)
	}
	cert := find(objs, "Certificate", "llmroute-webhook")
	secretName, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
	dep := find(objs, "Deployment", "")
	vols, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "volumes")
	if len(vols) != 1 || vols[0].(map[string]any)["secret"].(map[string]any)["secretName"] != secretName {
		t.Errorf("operator volumes %v, want the Certificate's Secret %s", vols, secretName)
	}
	c := container(t, dep)
	args := strings.Join(stringSlice(c["args"]), " ")
	for _, want := range []string{"--webhook-cert-mode=files", "--router-image=registry.example/llmroute:v9.9.9",
		"--router-image-pull-policy=Always", "--router-require-config=true", "--zap-log-level=debug",
		`--router-resources={"limits":{"cpu":"1","memory":"64Mi"},"requests":{"cpu":"25m","memory":"32Mi"}}`} {
		if !strings.Contains(args, want) {
			t.Errorf("operator args lack %s: %s", want, args)
		}
	}
	hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
	hook := hooks[0].(map[string]any)
	sel, _, _ := unstructured.NestedStringMap(hook, "namespaceSelector", "matchLabels")
	if hook["failurePolicy"] != "Ignore" || sel["llmroute.dev/injection"] != "enabled" {
		t.Errorf("failurePolicy %v namespaceSelector %v", hook["failurePolicy"], sel)
	}
	dash := find(objs, "ConfigMap", "llmroute-dashboard")
	data, _, _ := unstructured.NestedString(dash.Object, "data", "llmroute.json")
	var board map[string]any
	if err := yaml.Unmarshal([]byte(data), &board); err != nil || board["uid"] != "llmroute-overview" {
		t.Errorf("dashboard JSON: uid %v, err %v", board["uid"], err)
	}
}

func TestCRDsCanBeLeftOut(t *testing.T) {
	if o := find(objects(t, render(t, "--set", "crds.enabled=false")), "CustomResourceDefinition", ""); o != nil {
		t.Fatalf("CRD %s rendered with crds.enabled=false", o.GetName())
	}
}

func TestWebhookCanBeTurnedOff(t *testing.T) {
	objs := objects(t, render(t, "--set", "webhook.enabled=false"))
	if find(objs, "MutatingWebhookConfiguration", "") != nil || find(objs, "Service", "llmroute-webhook") != nil {
		t.Fatal("webhook objects rendered with webhook.enabled=false")
	}
	if args := strings.Join(stringSlice(container(t, find(objs, "Deployment", ""))["args"]), " "); strings.Contains(args, "--enable-webhook") {
		t.Fatalf("operator still serves the webhook: %s", args)
	}
}

// TestSchemaRejectsBadValues: values.schema.json turns a wrong value into an install-time error naming it.
func TestSchemaRejectsBadValues(t *testing.T) {
	cases := map[string][]string{
		"replicas as a word":       {"--set-string", "operator.replicas=two"},
		"unknown failure policy":   {"--set", "webhook.failurePolicy=Sometimes"},
		"unknown certificate mode": {"--set", "webhook.certificates.mode=vault"},
		"typo in a key":            {"--set", "webhook.failurPolicy=Fail"},
		"port out of range":        {"--set", "router.adminPort=70000"},
		"pull policy":              {"--set", "router.image.pullPolicy=Sometimes"},
		"duration":                 {"--set", "operator.pollInterval=often"},
		"resource quantity":        {"--set", "router.resources.requests.cpu=lots"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, append([]string{"template", release, chartDir}, args...)...)
			if err == nil {
				t.Fatalf("rendered despite a bad value:\n%.300s", out)
			}
			if !strings.Contains(err.Error(), "values don't meet the specifications of the schema") {
				t.Fatalf("failed, but not on the schema: %v", err)
			}
		})
	}
}

// TestChartFilesInSync: the chart renders CRDs and operator RBAC from copies of generated files; they must be
// byte-identical to the sources. Run with -update after `make manifests` to refresh them.
func TestChartFilesInSync(t *testing.T) {
	pairs := map[string]string{filepath.Join("config", "rbac", "role.yaml"): filepath.Join(chartDir, "files", "rbac", "role.yaml")}
	srcCRDs, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(srcCRDs) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	for _, s := range srcCRDs {
		pairs[filepath.Join("config", "crd", "bases", filepath.Base(s))] = filepath.Join(chartDir, "files", "crds", filepath.Base(s))
	}
	chartCRDs, _ := filepath.Glob(filepath.Join(root, chartDir, "files", "crds", "*.yaml"))
	for _, c := range chartCRDs {
		if _, ok := pairs[filepath.Join("config", "crd", "bases", filepath.Base(c))]; !ok {
			if *update {
				if err := os.Remove(c); err != nil {
					t.Fatal(err)
				}
				continue
			}
			t.Errorf("%s has no source in config/crd/bases (run go test ./test/chart -run TestChartFilesInSync -update)", c)
		}
	}
	for src, dst := range pairs {
		want, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(filepath.Join(root, dst))
		if bytes.Equal(got, want) {
			continue
		}
		if *update {
			if err := os.WriteFile(filepath.Join(root, dst), want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s differs from %s (run go test ./test/chart -run TestChartFilesInSync -update)", dst, src)
	}
}

// TestRenderedCRDsMatchSource: the template's YAML round trip (fromYaml, set, toYaml) keeps every field; only
// the keep annotation and the chart's labels are added.
func TestRenderedCRDsMatchSource(t *testing.T) {
	objs := objects(t, render(t))
	srcs, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	for _, path := range srcs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		src := objects(t, string(data))[0]
		got := find(objs, "CustomResourceDefinition", src.GetName())
		if got == nil {
			t.Errorf("CRD %s not rendered", src.GetName())
			continue
		}
		got = got.DeepCopy()
		got.SetAnnotations(withoutKey(got.GetAnnotations(), "helm.sh/resource-policy"))
		got.SetLabels(nil)
		src.SetLabels(nil)
		if !equality.Semantic.DeepEqual(got.Object, src.Object) {
			t.Errorf("rendered CRD %s differs from %s", src.GetName(), path)
		}
	}
}

// TestRBACMirrorsGenerated: the operator's rendered ClusterRole and leader-election Role grant exactly what the
// controllers' RBAC markers generated.
func TestRBACMirrorsGenerated(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, render(t))
	for _, gen := range objects(t, string(data)) {
		got := find(objs, gen.GetKind(), "llmroute-operator")
		if got == nil {
			t.Errorf("no %s llmroute-operator rendered", gen.GetKind())
			continue
		}
		if !equality.Semantic.DeepEqual(got.Object["rules"], gen.Object["rules"]) {
			t.Errorf("%s rules differ from config/rbac/role.yaml", gen.GetKind())
		}
		if gen.GetKind() == "Role" && got.GetNamespace() != namespace {
			t.Errorf("leader-election Role in %q, want the release namespace", got.GetNamespace())
		}
	}
}

var metricName = regexp.MustCompile(`\bllmroute_[a-z_]+`)

// TestAlertAndDashboardMetricsExist: every metric the alerts and the dashboard query is one the router
// registers (internal/router/metrics.go), so a renamed metric cannot silently disarm an alert.
func TestAlertAndDashboardMetricsExist(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root, "internal", "router", "metrics.go"))
	if err != nil {
		t.Skipf("router metrics not available: %v", err)
	}
	manifest := render(t, allOptions()...)
	rule := find(objects(t, manifest), "PrometheusRule", "")
	ruleYAML, err := yaml.Marshal(rule.Object)
	if err != nil {
		t.Fatal(err)
	}
	board, err := os.ReadFile(filepath.Join(root, chartDir, "files", "dashboards", "llmroute.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range metricName.FindAllString(string(ruleYAML)+string(board), -1) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		if !bytes.Contains(src, []byte(`"`+base+`"`)) {
			t.Errorf("metric %s is not registered by the router", base)
		}
	}
}

// TestServerSideDryRun: a real API server accepts every rendered object, with defaults and with every option,
// in a namespace that enforces restricted Pod Security. The Prometheus Operator and cert-manager CRDs are not
// part of the test API server; testdata/monitoring-crds.yaml installs schema-less stand-ins, so for those
// kinds the dry run checks group, version, kind, scope and metadata, not their fields.
func TestServerSideDryRun(t *testing.T) {
	log.SetLogger(logr.Discard())
	env := testenv.Start(t)
	crds, err := os.ReadFile(filepath.Join(root, "test", "chart", "testdata", "monitoring-crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kubectl := func(t *testing.T, stdin []byte, args ...string) string {
		t.Helper()
		stdout, stderr, err := env.Kubectl(t, stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, stderr)
		}
		// Pod Security in warn mode reports a Deployment whose pods enforce mode would reject. (Other warnings,
		// e.g. about the CRDs testenv installed without kubectl's last-applied annotation, are expected.)
		if strings.Contains(stderr, "PodSecurity") {
			t.Errorf("kubectl %v warned:\n%s", args, stderr)
		}
		return stdout
	}
	kubectl(t, crds, "apply", "-f", "-")
	kubectl(t, crds, "wait", "--for=condition=Established", "--timeout=30s", "-f", "-")
	kubectl(t, nil, "create", "namespace", namespace)
	kubectl(t, nil, "label", "namespace", namespace,
		"pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted")
	// Enforcement is live: a pod without the restricted settings is refused, so the passes below mean something.
	bare := []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: bare, namespace: " + namespace +
		"}\nspec: {containers: [{name: c, image: busybox}]}\n")
	if _, stderr, err := env.Kubectl(t, bare, "create", "--dry-run=server", "-f", "-"); err == nil ||
		!strings.Contains(stderr, "violates PodSecurity") {
		t.Fatalf("restricted Pod Security not enforced in the test namespace: err %v, stderr %s", err, stderr)
	}

	for name, args := range map[string][]string{"defaults": nil, "all options": allOptions()} {
		t.Run(name, func(t *testing.T) {
			manifest := render(t, args...)
			out := kubectl(t, []byte(manifest), "apply", "--dry-run=server", "-f", "-")
			if n, want := strings.Count(out, "(server dry run)"), len(objects(t, manifest)); n != want {
				t.Errorf("server accepted %d objects, rendered %d:\n%s", n, want, out)
			}
			// Enforce mode judges pods, not Deployments: submit the operator's pod template as a pod.
			dep := find(objects(t, manifest), "Deployment", "")
			tmpl, _, _ := unstructured.NestedMap(dep.Object, "spec", "template")
			pod := &unstructured.Unstructured{Object: tmpl}
			pod.SetAPIVersion("v1")
			pod.SetKind("Pod")
			pod.SetName("operator-pod-template")
			pod.SetNamespace(namespace)
			podYAML, err := yaml.Marshal(pod.Object)
			if err != nil {
				t.Fatal(err)
			}
			kubectl(t, podYAML, "create", "--dry-run=server", "-f", "-")
		})
	}
}

func container(t *testing.T, dep *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Fatalf("operator Deployment has %d containers", len(cs))
	}
	return cs[0].(map[string]any)
}

func stringSlice(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func withoutKey(m map[string]string, key string) map[string]string {
	delete(m, key)
	if len(m) == 0 {
		return nil
	}
	return m
}
