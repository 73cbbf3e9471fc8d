package crd_test

import (
	"context"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/testenv"
)

// TestKubectl drives the real kubectl against the test API server: every sample applies with a server-side
// dry run, printer columns answer the operator's first questions, kubectl explain reads well, and the Go
// defaults the router applies to standalone manifests equal the API server's.
func TestKubectl(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	samples := filepath.Join(testenv.RepoRoot(), "config", "samples")

	kubectl := func(t *testing.T, args ...string) string {
		t.Helper()
		out, stderr, err := env.Kubectl(t, nil, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}

	t.Run("samples apply with server dry run", func(t *testing.T) {
		// The payments sample creates its namespace; a dry run cannot create objects inside a namespace that
		// does not exist yet, so the namespace is created for real first.
		kubectl(t, "create", "namespace", "payments")
		files, err := filepath.Glob(filepath.Join(samples, "*.yaml"))
		if err != nil || len(files) < 2 {
			t.Fatalf("samples: %v %v", files, err)
		}
		for _, f := range files {
			out := kubectl(t, "apply", "--dry-run=server", "-f", f)
			if !strings.Contains(out, "routepolicy.llmroute.dev/") || !strings.Contains(out, "(server dry run)") {
				t.Errorf("%s: unexpected dry-run output:\n%s", filepath.Base(f), out)
			}
		}
	})

	t.Run("printer columns", func(t *testing.T) {
		kubectl(t, "apply", "-f", filepath.Join(samples, "payments-workflow.yaml"))
		rp := &v1alpha1.RoutePolicy{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "payments", Name: "assistant"}, rp); err != nil {
			t.Fatal(err)
		}
		meta.SetStatusCondition(&rp.Status.Conditions, metav1.Condition{
			Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonCompiled,
			Message: "compiled into llmroute-config", ObservedGeneration: rp.Generation,
		})
		meta.SetStatusCondition(&rp.Status.Conditions, metav1.Condition{
			Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonTargetsUnhealthy,
			Message: "a-cheap is cooling down", ObservedGeneration: rp.Generation,
		})
		rp.Status.HealthyTargets, rp.Status.TotalTargets, rp.Status.Healthy, rp.Status.Primary = 2, 3, "2/3", "b-stable"
		if err := env.Client.Status().Update(ctx, rp); err != nil {
			t.Fatalf("status update: %v", err)
		}

		out := kubectl(t, "get", "rp", "-n", "payments")
		wantColumns(t, out, []string{"NAME", "READY", "HEALTHY", "PRIMARY", "AGE"},
			map[string]string{"NAME": "assistant", "READY": "True", "HEALTHY": "2/3", "PRIMARY": "b-stable"})
		out = kubectl(t, "get", "rp", "-n", "payments", "-o", "wide")
		wantColumns(t, out, []string{"NAME", "READY", "HEALTHY", "PRIMARY", "AGE", "RANKING", "MAX-COST", "MAX-LATENCY", "DEGRADED", "REASON"},
			map[string]string{"NAME": "assistant", "READY": "True", "HEALTHY": "2/3", "PRIMARY": "b-stable", "RANKING": "priority",
				"MAX-COST": "0.004", "MAX-LATENCY": "1500ms", "DEGRADED": "True", "REASON": "Compiled"})
		pk := &v1alpha1.ProviderKey{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "payments", Name: "anthropic"}, pk); err != nil {
			t.Fatal(err)
		}
		meta.SetStatusCondition(&pk.Status.Conditions, metav1.Condition{
			Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonKeyLoaded, Message: "key read from Secret",
		})
		pk.Status.KeyFingerprint = "a1b2c3d4"
		if err := env.Client.Status().Update(ctx, pk); err != nil {
			t.Fatalf("status update: %v", err)
		}
		out = kubectl(t, "get", "pk", "-n", "payments")
		wantColumns(t, out, []string{"NAME", "PROVIDER", "READY", "FINGERPRINT", "AGE"}, map[string]string{"NAME": "anthropic", "PROVIDER": "anthropic", "READY": "True", "FINGERPRINT": "a1b2c3d4"})
		out = kubectl(t, "get", "llmroute", "-n", "payments")
		for _, want := range []string{"routepolicy.llmroute.dev/assistant", "providerkey.llmroute.dev/deepseek"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl get llmroute (category) misses %s:\n%s", want, out)
			}
		}
	})

	t.Run("explain", func(t *testing.T) {
		out := kubectl(t, "explain", "routepolicy.spec.constraints")
		for _, want := range []string{"maxCostPerRequestUSD", "hard cost cap", "softCostPerRequestUSD", "requiredCapabilities", "maxLatency"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl explain routepolicy.spec.constraints lacks %q:\n%s", want, out)
			}
		}
		out = kubectl(t, "explain", "providerkey.spec.secretRef")
		if !strings.Contains(out, "never written to status") {
			t.Errorf("kubectl explain providerkey.spec.secretRef:\n%s", out)
		}
	})

	t.Run("Go defaults equal API server defaults", func(t *testing.T) {
		in := &v1alpha1.RoutePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: "default"},
			Spec: v1alpha1.RoutePolicySpec{Targets: []v1alpha1.Target{
				{Name: "a", Provider: v1alpha1.ProviderOpenAI, Model: "gpt-4o-mini", KeyRef: v1alpha1.LocalObjectReference{Name: "openai"}},
			}},
		}
		want := in.DeepCopy()
		v1alpha1.SetDefaults(want)
		if err := env.Client.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(in.Spec, want.Spec) {
			t.Errorf("API server defaults differ from SetDefaults:\nserver: %+v\n    go: %+v", in.Spec, want.Spec)
		}
		pk := &v1alpha1.ProviderKey{
			ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: "default"},
			Spec:       v1alpha1.ProviderKeySpec{Provider: v1alpha1.ProviderOpenAI, SecretRef: v1alpha1.SecretKeySelector{Name: "s"}},
		}
		wantPK := pk.DeepCopy()
		v1alpha1.SetProviderKeyDefaults(wantPK)
		if err := env.Client.Create(ctx, pk); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(pk.Spec, wantPK.Spec) {
			t.Errorf("API server ProviderKey defaults differ:\nserver: %+v\n    go: %+v", pk.Spec, wantPK.Spec)
		}
	})
}

// wantColumns checks the header of kubectl's table output and that some row has the given cells, by column.
func wantColumns(t *testing.T, out string, header []string, row map[string]string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	space := regexp.MustCompile(`\s+`)
	got := space.Split(strings.TrimSpace(lines[0]), -1)
	if !reflect.DeepEqual(got, header) {
		t.Errorf("header = %q, want %q\n%s", got, header, out)
		return
	}
rows:
	for _, l := range lines[1:] {
		cells := space.Split(strings.TrimSpace(l), -1)
		if len(cells) != len(header) {
			continue
		}
		for i, col := range header {
			if want, ok := row[col]; ok && cells[i] != want {
				continue rows
			}
		}
		return
	}
	t.Errorf("no row has %v:\n%s", row, out)
}
