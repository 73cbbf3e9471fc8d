package crd_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmroute/llmroute/internal/testenv"
)

// TestOperatorRBAC binds the generated operator role (config/rbac) to the operator's service account and asks
// the real API server, through `kubectl auth can-i --as`, what that account may do: exactly what the design
// needs and nothing more (docs/operator.md explains the Secret permissions).
func TestOperatorRBAC(t *testing.T) {
	env := testenv.Start(t)
	const sa = "system:serviceaccount:llmroute-system:llmroute-operator"
	run := func(stdin string, args ...string) (string, error) {
		var in []byte
		if stdin != "" {
			in = []byte(stdin)
		}
		out, stderr, err := env.Kubectl(t, in, args...)
		return strings.TrimSpace(out + stderr), err
	}
	if out, err := run("", "create", "namespace", "llmroute-system"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := run("", "apply", "-f", filepath.Join(testenv.RepoRoot(), "config", "rbac", "role.yaml")); err != nil {
		t.Fatalf("apply role: %v: %s", err, out)
	}
	if out, err := run("", "create", "clusterrolebinding", "llmroute-operator", "--clusterrole=llmroute-operator",
		"--serviceaccount=llmroute-system:llmroute-operator"); err != nil {
		t.Fatalf("bind: %v: %s", err, out)
	}
	if out, err := run("", "-n", "llmroute-system", "create", "rolebinding", "llmroute-operator", "--role=llmroute-operator",
		"--serviceaccount=llmroute-system:llmroute-operator"); err != nil {
		t.Fatalf("bind leases: %v: %s", err, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		// Needed: read the Secrets ProviderKeys name (any namespace), by metadata watch and uncached get.
		{[]string{"get", "secrets", "-n", "payments"}, "yes"},
		{[]string{"watch", "secrets", "--all-namespaces"}, "yes"},
		// Needed: write each namespace's llmroute-config.
		{[]string{"update", "secrets", "-n", "payments"}, "yes"},
		// Not needed, not granted: the garbage collector removes llmroute-config through owner references.
		{[]string{"delete", "secrets", "-n", "payments"}, "no"},
		{[]string{"deletecollection", "secrets", "-n", "payments"}, "no"},
		// Spec is the user's: the operator writes status only.
		{[]string{"update", "routepolicies.llmroute.dev", "-n", "payments"}, "no"},
		{[]string{"patch", "routepolicies.llmroute.dev", "-n", "payments", "--subresource=status"}, "yes"},
		{[]string{"delete", "providerkeys.llmroute.dev", "-n", "payments"}, "no"},
		// Pods: list/watch injected pods to poll routers; never create or exec.
		{[]string{"list", "pods", "--all-namespaces"}, "yes"},
		{[]string{"create", "pods", "-n", "payments"}, "no"},
		{[]string{"create", "pods/exec", "-n", "payments"}, "no"},
		{[]string{"list", "configmaps", "--all-namespaces"}, "no"},
		// Leader election only in its own namespace.
		{[]string{"update", "leases.coordination.k8s.io", "-n", "llmroute-system"}, "yes"},
		{[]string{"update", "leases.coordination.k8s.io", "-n", "payments"}, "no"},
		{[]string{"create", "clusterrolebindings"}, "no"},
	} {
		args := append([]string{"auth", "can-i"}, c.args...)
		args = append(args, "--as", sa)
		got, _ := run("", args...)         // can-i exits 1 for "no"
		got, _, _ = strings.Cut(got, "\n") // a warning may follow on stderr
		if got != c.want {
			t.Errorf("kubectl auth can-i %s as the operator = %q, want %q", strings.Join(c.args, " "), got, c.want)
		}
	}
}
