package routerconfig_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current Render output")

// bundleFromManifests builds the bundle the operator would compile from a manifest file: every policy, and
// every ProviderKey with the key read from its Secret.
func bundleFromManifests(t *testing.T, path string) *routerconfig.Bundle {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		ns       string
		policies []v1alpha1.RoutePolicy
		pks      []v1alpha1.ProviderKey
		secrets  = map[string]corev1.Secret{}
	)
	for doc := range strings.SplitSeq(string(raw), "\n---\n") {
		var tm struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		switch tm.Kind {
		case "RoutePolicy":
			var rp v1alpha1.RoutePolicy
			if err := yaml.UnmarshalStrict([]byte(doc), &rp); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			ns = rp.Namespace
			policies = append(policies, rp)
		case "ProviderKey":
			var pk v1alpha1.ProviderKey
			if err := yaml.UnmarshalStrict([]byte(doc), &pk); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			pks = append(pks, pk)
		case "Secret":
			var s corev1.Secret
			if err := yaml.UnmarshalStrict([]byte(doc), &s); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			secrets[s.Name] = s
		default:
			t.Fatalf("%s: unexpected kind %q", path, tm.Kind)
		}
	}
	b := &routerconfig.Bundle{Config: routerconfig.Config{Namespace: ns}, Keys: map[string]keys.Secret{}}
	for _, rp := range policies {
		b.Config.Routes = append(b.Config.Routes, routerconfig.Route{Name: rp.Name, Spec: rp.Spec})
	}
	for _, pk := range pks {
		s := secrets[pk.Spec.SecretRef.Name]
		v, ok := s.StringData[pk.Spec.SecretRef.Key]
		if !ok {
			v = string(s.Data[pk.Spec.SecretRef.Key])
		}
		b.Keys[pk.Name] = keys.NewSecret(v)
		b.Config.ProviderKeys = append(b.Config.ProviderKeys, routerconfig.ProviderKey{
			Name: pk.Name, Provider: pk.Spec.Provider, BaseURL: pk.Spec.BaseURL, InCluster: pk.Spec.InCluster,
		})
	}
	return b
}

// dump renders Secret data as text, entries sorted, so golden diffs are readable.
func dump(data map[string][]byte) []byte {
	var buf bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(data)) {
		fmt.Fprintf(&buf, "==> %s <==\n%s\n", k, data[k])
	}
	return buf.Bytes()
}

func TestRenderGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			b := bundleFromManifests(t, in)
			data, err := routerconfig.Render(b)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			got := dump(data)
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/routerconfig -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Render output differs from %s (rerun with -update if intended):\n%s", golden, got)
			}

			// config.json must hold no key: only fingerprints.
			for _, k := range b.Keys {
				if bytes.Contains(data[routerconfig.ConfigFile], []byte(k.Reveal())) {
					t.Errorf("config.json contains key material")
				}
			}

			// The reader gets back exactly what was written.
			parsed, err := routerconfig.Parse(data)
			if err != nil {
				t.Fatalf("Parse(Render()): %v", err)
			}
			if parsed.Config.Checksum != b.Config.Checksum || len(parsed.Config.Checksum) != 64 {
				t.Errorf("checksum %q after parse, rendered %q", parsed.Config.Checksum, b.Config.Checksum)
			}
			again, err := routerconfig.Render(parsed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dump(again), got) {
				t.Errorf("Render(Parse(Render(b))) differs from Render(b)")
			}
			for name, want := range b.Keys {
				got, ok := parsed.Key(name)
				if !ok || !got.Equal(want) {
					t.Errorf("Key(%q) = %v, %v; want the rendered key", name, got.Fingerprint(), ok)
				}
			}
			for name, want := range b.Keys {
				got, ok := parsed.Key(parsed.Config.Namespace + "/" + name)
				if !ok || !got.Equal(want) {
					t.Errorf("Key(%q) by namespace/name not found", name)
				}
				if _, ok := parsed.Key("elsewhere/" + name); ok {
					t.Errorf("Key(elsewhere/%s) found a key of namespace %s", name, parsed.Config.Namespace)
				}
			}
			if _, ok := parsed.Key("nope"); ok {
				t.Errorf("Key of an unknown ProviderKey reported found")
			}
		})
	}
}

func TestRenderIsDeterministicAndRotationChangesChecksum(t *testing.T) {
	b1 := bundleFromManifests(t, "testdata/multi.yaml")
	b2 := bundleFromManifests(t, "testdata/multi.yaml")
	slices.Reverse(b2.Config.Routes)
	slices.Reverse(b2.Config.ProviderKeys)
	d1, err := routerconfig.Render(b1)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := routerconfig.Render(b2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dump(d1), dump(d2)) {
		t.Fatalf("input order changed the output")
	}

	b2.Keys["openai"] = keys.NewSecret("sk-proj-rotated")
	d3, err := routerconfig.Render(b2)
	if err != nil {
		t.Fatal(err)
	}
	if b1.Config.Checksum == b2.Config.Checksum {
		t.Fatalf("rotating a key kept checksum %s", b1.Config.Checksum)
	}
	p, err := routerconfig.Parse(d3)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := p.ProviderKey("openai")
	if pk.Fingerprint != keys.Fingerprint("sk-proj-rotated") {
		t.Errorf("fingerprint %s after rotation", pk.Fingerprint)
	}
}

func TestParseRejects(t *testing.T) {
	good, err := routerconfig.Render(bundleFromManifests(t, "testdata/basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(fn func(d map[string][]byte)) map[string][]byte {
		d := maps.Clone(good)
		fn(d)
		return d
	}
	edit := func(old, new string) func(map[string][]byte) {
		return func(d map[string][]byte) {
			if !bytes.Contains(d[routerconfig.ConfigFile], []byte(old)) {
				t.Fatalf("test setup: %q not in config.json", old)
			}
			d[routerconfig.ConfigFile] = bytes.Replace(d[routerconfig.ConfigFile], []byte(old), []byte(new), 1)
		}
	}
	for _, tc := range []struct {
		name    string
		data    map[string][]byte
		wantErr error
		wantMsg string
	}{
		{"no config.json", mutate(func(d map[string][]byte) { delete(d, routerconfig.ConfigFile) }), routerconfig.ErrInvalidConfig, "no config.json"},
		{"not JSON", mutate(func(d map[string][]byte) { d[routerconfig.ConfigFile] = []byte("{") }), routerconfig.ErrInvalidConfig, "decode"},
		{"unknown schema version", mutate(edit(routerconfig.SchemaVersion, "llmroute.dev/router-config/v2")), routerconfig.ErrUnknownSchemaVersion, `"llmroute.dev/router-config/v2" (this build reads "llmroute.dev/router-config/v1")`},
		{"no schema version", mutate(edit(`"schemaVersion": "`+routerconfig.SchemaVersion+`",`, "")), routerconfig.ErrUnknownSchemaVersion, `""`},
		{"edited content", mutate(edit(`"maxAttempts": 3`, `"maxAttempts": 9`)), routerconfig.ErrChecksumMismatch, "content hashes to"},
		{"unknown field", mutate(edit(`"namespace":`, `"extra": 1, "namespace":`)), routerconfig.ErrInvalidConfig, `unknown field "extra"`},
		{"missing key file", mutate(func(d map[string][]byte) { delete(d, "key.groq") }), routerconfig.ErrMissingKey, `provider key "groq"`},
		{"empty key file", mutate(func(d map[string][]byte) { d["key.groq"] = []byte(" \n") }), routerconfig.ErrMissingKey, `provider key "groq"`},
		{"key file of another key", mutate(func(d map[string][]byte) { d["key.groq"] = []byte("gsk-someone-else") }), routerconfig.ErrFingerprintMismatch, "file has " + keys.Fingerprint("gsk-someone-else")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := routerconfig.Parse(tc.data)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", b)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("error %q is not %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			for _, k := range tc.data {
				if len(k) > 8 && !bytes.HasPrefix(k, []byte("{")) && strings.Contains(err.Error(), string(bytes.TrimSpace(k))) {
					t.Errorf("error %q carries key material", err)
				}
			}
		})
	}
}

func TestRenderRejectsInconsistentBundles(t *testing.T) {
	b := bundleFromManifests(t, "testdata/basic.yaml")
	delete(b.Keys, "groq")
	if _, err := routerconfig.Render(b); !errors.Is(err, routerconfig.ErrMissingKey) {
		t.Errorf("Render without a key: %v, want ErrMissingKey", err)
	}

	b = bundleFromManifests(t, "testdata/basic.yaml")
	b.Config.ProviderKeys = b.Config.ProviderKeys[:1] // drop one key still referenced by a target
	if _, err := routerconfig.Render(b); !errors.Is(err, routerconfig.ErrInvalidConfig) || !strings.Contains(err.Error(), "names no provider key") {
		t.Errorf("Render with a dangling keyRef: %v", err)
	}

	b = bundleFromManifests(t, "testdata/basic.yaml")
	b.Config.Routes = append(b.Config.Routes, b.Config.Routes[0])
	if _, err := routerconfig.Render(b); !errors.Is(err, routerconfig.ErrInvalidConfig) {
		t.Errorf("Render with a repeated route: %v", err)
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	b := bundleFromManifests(t, "testdata/basic.yaml")
	if _, err := routerconfig.Render(b); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprintf("%v", b), fmt.Sprintf("%+v", b), fmt.Sprintf("%#v", b)} {
		for _, k := range b.Keys {
			if strings.Contains(out, k.Reveal()) {
				t.Fatalf("printing a Bundle reveals a key: %s", out)
			}
		}
	}
}
