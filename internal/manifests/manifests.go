package manifests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// DefaultNamespace is the namespace of manifests that name none, as kubectl would apply them.
const DefaultNamespace = "default"

// ErrInvalidManifest is wrapped by every error about a manifest's content (schema, CEL rule, reference), as
// opposed to an unreadable file.
var ErrInvalidManifest = errors.New("invalid manifest")

// Manifests is what LoadDetail found in a file or directory of Kubernetes manifests.
type Manifests struct {
	// Bundle is the router config the manifests compile to. Keys holds only the keys found in Secrets of the
	// manifests; a ProviderKey whose Secret is absent takes its key from the store, environment or .env.
	Bundle *routerconfig.Bundle
	// Objects counts the RoutePolicy, ProviderKey and Secret objects read.
	Objects int
	// Ignored lists objects of other kinds ("file: Kind/name"), which standalone mode does not use.
	Ignored []string
	// MissingSecrets lists ProviderKeys whose Secret is not in the manifests.
	MissingSecrets []string
}

// LoadManifests reads the router config from path, which is either a compiled config directory (one holding
// config.json, as the operator writes it: read with routerconfig.LoadDir) or a file or directory of
// multi-document YAML with RoutePolicy, ProviderKey and Secret objects, the same manifests a user applies to a
// cluster. Manifests are validated against the embedded CRDs (OpenAPI schema and CEL rules, with the API
// server's messages), defaulted, and compiled into a bundle in one namespace.
func Load(path string) (*routerconfig.Bundle, error) {
	if routerconfig.IsConfigDir(path) {
		b, err := routerconfig.LoadDir(path)
		if err != nil {
			return nil, fmt.Errorf("load config dir %s: %w", path, err)
		}
		return b, nil
	}
	m, err := LoadDetail(path)
	if err != nil {
		return nil, err
	}
	return m.Bundle, nil
}

// typeMeta is the part of an object needed to dispatch on its kind.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// LoadDetail reads a file or directory of manifests (not a compiled config directory) and reports
// what it found. Every problem found is returned, joined, each prefixed with its file, document and object.
func LoadDetail(path string) (*Manifests, error) {
	files, err := routerconfig.ManifestFiles(path)
	if err != nil {
		return nil, err
	}
	// Hold the validators for the whole load: every document shares one build (see validators).
	vs, err := validators()
	if err != nil {
		return nil, err
	}
	defer runtime.KeepAlive(vs)
	m := &Manifests{}
	var (
		errs     []error
		policies []v1alpha1.RoutePolicy
		pks      []v1alpha1.ProviderKey
		secrets  = map[string]*corev1.Secret{}
		ns       string
	)
	for _, f := range files {
		docs, err := splitDocuments(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for i, doc := range docs {
			var tm typeMeta
			if err := json.Unmarshal(doc, &tm); err != nil {
				errs = append(errs, fmt.Errorf("%s (document %d): %w: %w", f, i+1, ErrInvalidManifest, err))
				continue
			}
			where := fmt.Sprintf("%s: %s/%s", f, tm.Kind, tm.Metadata.Name)
			known := tm.APIVersion == v1alpha1.GroupVersion.String() && (tm.Kind == "RoutePolicy" || tm.Kind == "ProviderKey") ||
				tm.APIVersion == "v1" && tm.Kind == "Secret"
			if !known {
				m.Ignored = append(m.Ignored, where)
				continue
			}
			m.Objects++
			objNS := tm.Metadata.Namespace
			if objNS == "" {
				objNS = DefaultNamespace
			}
			if ns == "" {
				ns = objNS
			} else if objNS != ns {
				errs = append(errs, fmt.Errorf("%s: %w: namespace %q differs from %q: one router config serves one namespace",
					where, ErrInvalidManifest, objNS, ns))
				continue
			}
			switch tm.Kind {
			case "RoutePolicy":
				var rp v1alpha1.RoutePolicy
				if err := decodeValidated(doc, routePolicyKind, &rp); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
					continue
				}
				v1alpha1.SetDefaults(&rp)
				policies = append(policies, rp)
			case "ProviderKey":
				var pk v1alpha1.ProviderKey
				if err := decodeValidated(doc, providerKeyKind, &pk); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
					continue
				}
				v1alpha1.SetProviderKeyDefaults(&pk)
				pks = append(pks, pk)
			case "Secret":
				var s corev1.Secret
				if err := json.Unmarshal(doc, &s); err != nil {
					// The decoder's message may quote the offending value, which is a key: say where only.
					errs = append(errs, fmt.Errorf("%s: %w: cannot decode the Secret (data values must be base64)", where, ErrInvalidManifest))
					continue
				}
				secrets[s.Name] = &s
			}
		}
	}
	if ns == "" {
		ns = DefaultNamespace
	}
	b, missing, buildErrs := buildBundle(ns, policies, pks, secrets)
	errs = append(errs, buildErrs...)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("load manifests %s: %w", path, err)
	}
	m.Bundle, m.MissingSecrets = b, missing
	return m, nil
}

// splitDocuments returns the non-empty documents of a YAML (or JSON) file, each converted to JSON.
func splitDocuments(file string) ([][]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out [][]byte
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s (document %d): %w: %w", file, n, ErrInvalidManifest, err)
		}
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			// YAML errors quote at most a line number and a token; a Secret's value is never a YAML token.
			return nil, fmt.Errorf("%s (document %d): %w: %w", file, n, ErrInvalidManifest, err)
		}
		if t := bytes.TrimSpace(j); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			continue
		}
		out = append(out, j)
	}
}

// buildBundle compiles the objects of one namespace into a router config bundle, as the operator would: each
// RoutePolicy becomes a route, each ProviderKey its metadata and, when its Secret is in the manifests, its key.
func buildBundle(ns string, policies []v1alpha1.RoutePolicy, pks []v1alpha1.ProviderKey, secrets map[string]*corev1.Secret) (*routerconfig.Bundle, []string, []error) {
	var errs []error
	var missing []string
	b := &routerconfig.Bundle{Config: routerconfig.Config{SchemaVersion: routerconfig.SchemaVersion, Namespace: ns},
		Keys: map[string]keys.Secret{}}
	seen := map[string]bool{}
	for _, pk := range pks {
		if seen["pk/"+pk.Name] {
			errs = append(errs, fmt.Errorf("ProviderKey/%s: %w: defined twice", pk.Name, ErrInvalidManifest))
			continue
		}
		seen["pk/"+pk.Name] = true
		meta := routerconfig.ProviderKey{Name: pk.Name, Provider: pk.Spec.Provider, BaseURL: pk.Spec.BaseURL,
			InCluster: pk.Spec.InCluster, KeyFile: routerconfig.KeyFilePrefix + pk.Name}
		entry := pk.Spec.SecretRef.Key
		if s, ok := secrets[pk.Spec.SecretRef.Name]; !ok {
			missing = append(missing, pk.Name)
		} else {
			raw, ok := s.StringData[entry]
			if !ok {
				if v, okData := s.Data[entry]; okData {
					raw, ok = string(v), true
				}
			}
			key := keys.NewSecret(raw)
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("ProviderKey/%s: %w: Secret %q has no entry %q", pk.Name, ErrInvalidManifest,
					pk.Spec.SecretRef.Name, entry))
				continue
			case key.Empty():
				errs = append(errs, fmt.Errorf("ProviderKey/%s: %w: Secret %q entry %q is empty", pk.Name, ErrInvalidManifest,
					pk.Spec.SecretRef.Name, entry))
				continue
			}
			b.Keys[pk.Name] = key
			meta.Fingerprint = key.Fingerprint()
		}
		b.Config.ProviderKeys = append(b.Config.ProviderKeys, meta)
	}
	for _, rp := range policies {
		if seen["rp/"+rp.Name] {
			errs = append(errs, fmt.Errorf("RoutePolicy/%s: %w: defined twice", rp.Name, ErrInvalidManifest))
			continue
		}
		seen["rp/"+rp.Name] = true
		b.Config.Routes = append(b.Config.Routes, routerconfig.Route{Name: rp.Name, Spec: rp.Spec})
	}
	if b.Config.Routes == nil {
		b.Config.Routes = []routerconfig.Route{}
	}
	if b.Config.ProviderKeys == nil {
		b.Config.ProviderKeys = []routerconfig.ProviderKey{}
	}
	slices.SortFunc(b.Config.Routes, func(x, y routerconfig.Route) int { return strings.Compare(x.Name, y.Name) })
	slices.SortFunc(b.Config.ProviderKeys, func(x, y routerconfig.ProviderKey) int { return strings.Compare(x.Name, y.Name) })
	// The checksum covers routes and key fingerprints, as in a compiled config, so a key rotated in the
	// manifests changes the snapshot's checksum too.
	sum, err := routerconfig.Checksum(b.Config)
	if err != nil {
		errs = append(errs, err)
	}
	b.Config.Checksum = sum
	return b, missing, errs
}
