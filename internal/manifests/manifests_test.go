package manifests_test

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/llmroute/llmroute/internal/catalog"
	"github.com/llmroute/llmroute/internal/manifests"
	"github.com/llmroute/llmroute/internal/router"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// apiServerMessages reads the validationCases table of test/crd/crd_test.go, where every fixture is paired with
// the message a real kube-apiserver returned for it, so this test compares against the API server's own words
// and stays in step with that table.
func apiServerMessages(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../../test/crd/crd_test.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "validationCases" {
			return true
		}
		for _, el := range vs.Values[0].(*ast.CompositeLit).Elts {
			kv := el.(*ast.KeyValueExpr)
			k, err1 := strconv.Unquote(kv.Key.(*ast.BasicLit).Value)
			v, err2 := strconv.Unquote(kv.Value.(*ast.BasicLit).Value)
			if err1 != nil || err2 != nil {
				t.Fatalf("unquote %v: %v %v", kv.Key, err1, err2)
			}
			out[k] = v
		}
		return false
	})
	if len(out) < 10 {
		t.Fatalf("found only %d validation cases in test/crd/crd_test.go", len(out))
	}
	return out
}

// TestManifestValidationMatchesAPIServer validates every CRD fixture offline and expects exactly the message
// the API server gave for it (or acceptance).
func TestManifestValidationMatchesAPIServer(t *testing.T) {
	for name, want := range apiServerMessages(t) {
		t.Run(name, func(t *testing.T) {
			_, err := manifests.LoadDetail(filepath.Join("../../test/crd/testdata", name+".yaml"))
			got := ""
			if err != nil {
				if !errors.Is(err, manifests.ErrInvalidManifest) {
					t.Fatalf("error does not wrap ErrInvalidManifest: %v", err)
				}
				msg := err.Error()
				const sep = "invalid manifest: "
				i := strings.Index(msg, sep)
				if i < 0 {
					t.Fatalf("unexpected error shape: %v", err)
				}
				got = msg[i+len(sep):]
			}
			if got != want {
				t.Errorf("\n got: %q\nwant: %q", got, want)
			}
		})
	}
}

const manifestsYAML = `
apiVersion: v1
kind: Secret
metadata: {name: openai-api-key}
type: Opaque
stringData:
  apiKey: sk-standalone-test-key
---
apiVersion: v1
kind: Secret
metadata: {name: anthropic-api-key}
data:
  token: c2stYW50LWJhc2U2NA==   # sk-ant-base64
---
apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: openai}
spec:
  provider: openai
  secretRef: {name: openai-api-key}
---
apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: anthropic}
spec:
  provider: anthropic
  secretRef: {name: anthropic-api-key, key: token}
---
apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: groq}
spec:
  provider: groq
  secretRef: {name: not-in-these-files}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
---
apiVersion: llmroute.dev/v1alpha1
kind: RoutePolicy
metadata: {name: chat}
spec:
  targets:
    - {name: primary, provider: openai, model: gpt-4o-mini, keyRef: {name: openai}}
    - {name: backup, provider: anthropic, model: claude-haiku-4-5, keyRef: {name: anthropic}}
    - {name: fast, provider: groq, model: llama-3.3-70b-versatile, keyRef: {name: groq}}
`

func TestLoadManifestsStandalone(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "llmroute.yaml")
	if err := os.WriteFile(path, []byte(manifestsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := manifests.LoadDetail(path)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bundle
	if b.Config.Namespace != manifests.DefaultNamespace || len(b.Config.Routes) != 1 || len(b.Config.ProviderKeys) != 3 {
		t.Fatalf("bundle: %+v", b.Config)
	}
	if k, _ := b.Key("openai"); k.Reveal() != "sk-standalone-test-key" {
		t.Errorf("stringData key not read")
	}
	if k, _ := b.Key("anthropic"); k.Reveal() != "sk-ant-base64" {
		t.Errorf("base64 data key not read")
	}
	if _, ok := b.Key("groq"); ok {
		t.Errorf("groq has no Secret in the files but got a key")
	}
	if len(m.MissingSecrets) != 1 || m.MissingSecrets[0] != "groq" {
		t.Errorf("missing secrets: %v", m.MissingSecrets)
	}
	if len(m.Ignored) != 1 || !strings.Contains(m.Ignored[0], "ConfigMap/unrelated") {
		t.Errorf("ignored: %v", m.Ignored)
	}
	// Defaults are applied as the API server would (maxAttempts 3, failOverOn transient+hard).
	spec := b.Config.Routes[0].Spec
	if spec.Fallback.MaxAttempts != 3 || len(spec.Fallback.FailOverOn) == 0 {
		t.Errorf("defaults not applied: %+v", spec.Fallback)
	}
	if b.Config.Checksum == "" {
		t.Error("no checksum")
	}
	if _, err := router.NewSnapshot(b, catalog.Default()); err != nil {
		t.Fatalf("manifests do not compile into a snapshot: %v", err)
	}

	// A directory of the same file loads the same bundle.
	b2, err := manifests.Load(dir)
	if err != nil || b2.Config.Checksum != b.Config.Checksum {
		t.Fatalf("dir load: %v, checksum %s vs %s", err, b2.Config.Checksum, b.Config.Checksum)
	}
}

func TestLoadManifestsErrorsNeverQuoteKeys(t *testing.T) {
	dir := t.TempDir()
	bad := `apiVersion: v1
kind: Secret
metadata: {name: s}
data: {apiKey: "sk-canary-not-base64!!"}
`
	path := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := manifests.Load(path)
	if err == nil || strings.Contains(err.Error(), "canary") {
		t.Fatalf("want an error without the value, got %v", err)
	}
}

func TestLoadManifestsUnknownFieldAndNamespaces(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", `apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: k, namespace: a}
spec: {provider: openai, secretRef: {name: s}, baseUrl: "https://typo.example"}
`)
	write("b.yml", `apiVersion: llmroute.dev/v1alpha1
kind: ProviderKey
metadata: {name: k2, namespace: b}
spec: {provider: openai, secretRef: {name: s}}
`)
	_, err := manifests.Load(dir)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{`unknown field "spec.baseUrl"`, `namespace "b" differs from "a"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestLoadManifestsCompiledDir(t *testing.T) {
	dir := t.TempDir()
	m, err := manifests.LoadDetail(writeManifests(t, t.TempDir(), manifestsYAML))
	if err != nil {
		t.Fatal(err)
	}
	// A compiled config needs every key; drop the one without a Secret.
	b := m.Bundle
	b.Config.ProviderKeys = slices.DeleteFunc(b.Config.ProviderKeys, func(pk routerconfig.ProviderKey) bool { return pk.Name == "groq" })
	b.Config.Routes[0].Spec.Targets = b.Config.Routes[0].Spec.Targets[:2]
	data, err := routerconfig.Render(b)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range data {
		if err := os.WriteFile(filepath.Join(dir, name), v, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := manifests.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Checksum != b.Config.Checksum {
		t.Errorf("compiled dir not read as such")
	}
}

// writeManifests writes content as dir/llmroute.yaml and returns its path.
func writeManifests(t testing.TB, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "llmroute.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
