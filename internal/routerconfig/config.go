package routerconfig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/keys"
)

// SchemaVersion identifies the layout of config.json. A reader refuses any other version rather than guess:
// a router running an older build keeps its last good config until it is upgraded.
const SchemaVersion = "llmroute.dev/router-config/v1"

const (
	// ConfigSecretName is the name of the Secret, one per namespace, that holds the compiled router config.
	ConfigSecretName = "llmroute-config"
	// ConfigFile is the Secret data entry (and mounted file) holding the JSON-encoded Config.
	ConfigFile = "config.json"
	// KeyFilePrefix prefixes the Secret data entry holding the raw key of the ProviderKey named after it.
	KeyFilePrefix = "key."
)

// Config is the compiled router config of one namespace. It holds no secret material: keys are in the key
// files it names, and only their fingerprints are here.
type Config struct {
	// SchemaVersion is always SchemaVersion for this package.
	SchemaVersion string `json:"schemaVersion"`
	// Namespace the config was compiled for; routes and keys are all in it.
	Namespace string `json:"namespace"`
	// Checksum is the SHA-256 (hex) of the canonical JSON of this Config with Checksum empty. It changes with
	// any route or key change, including a key rotation, because fingerprints are part of it.
	Checksum string `json:"checksum,omitempty"`
	// Routes are the compiled RoutePolicies, sorted by name.
	Routes []Route `json:"routes"`
	// ProviderKeys are the keys the routes reference, sorted by name.
	ProviderKeys []ProviderKey `json:"providerKeys"`
}

// Route is one compiled RoutePolicy. Clients select it by sending its Name as the request's model.
type Route struct {
	// Name is the RoutePolicy's name.
	Name string `json:"name"`
	// Spec is the policy's spec with defaults applied, as admitted by the API server.
	Spec v1alpha1.RoutePolicySpec `json:"spec"`
}

// ProviderKey describes one resolved key: where it may be sent and which key file holds it.
type ProviderKey struct {
	// Name is the ProviderKey's name, as targets' keyRef name it.
	Name string `json:"name"`
	// Provider is the provider the key authenticates to.
	Provider v1alpha1.Provider `json:"provider"`
	// BaseURL overrides the provider's default endpoint when set.
	BaseURL string `json:"baseURL,omitempty"`
	// InCluster marks BaseURL as an in-cluster endpoint (plain http allowed).
	InCluster bool `json:"inCluster,omitempty"`
	// Fingerprint is keys.Fingerprint of the key, so readers can trace and verify it without holding it.
	Fingerprint string `json:"fingerprint"`
	// KeyFile is the Secret data entry holding the key: KeyFilePrefix + Name.
	KeyFile string `json:"keyFile"`
}

// Bundle is a Config together with the keys it names, as read from or written to the config Secret.
type Bundle struct {
	// Config is the key-free part of the bundle.
	Config Config
	// Keys maps a ProviderKey name to its key.
	Keys map[string]keys.Secret
}

// Bundle is the router's config key source.
var _ keys.ConfigSource = (*Bundle)(nil)

// Key returns the key of the ProviderKey called name, given bare or as "namespace/name" (the keys package's
// form; another namespace than the config's finds nothing). It makes a Bundle the router's keys.ConfigSource.
func (b *Bundle) Key(name string) (keys.Secret, bool) {
	if b == nil {
		return keys.Secret{}, false
	}
	if ns, bare, ok := strings.Cut(name, "/"); ok {
		if ns != b.Config.Namespace {
			return keys.Secret{}, false
		}
		name = bare
	}
	s, ok := b.Keys[name]
	if !ok || s.Empty() {
		return keys.Secret{}, false
	}
	return s, true
}

// Route returns the compiled route called name.
func (b *Bundle) Route(name string) (Route, bool) {
	if b == nil {
		return Route{}, false
	}
	for _, r := range b.Config.Routes {
		if r.Name == name {
			return r, true
		}
	}
	return Route{}, false
}

// ProviderKey returns the metadata of the ProviderKey called name.
func (b *Bundle) ProviderKey(name string) (ProviderKey, bool) {
	if b == nil {
		return ProviderKey{}, false
	}
	for _, k := range b.Config.ProviderKeys {
		if k.Name == name {
			return k, true
		}
	}
	return ProviderKey{}, false
}

// Checksum computes the checksum of c: the SHA-256 (hex) of its canonical JSON with the Checksum field empty.
// encoding/json writes struct fields in declaration order and map keys sorted, and Normalize sorts the lists,
// so equal configs always give equal checksums.
func Checksum(c Config) (string, error) {
	c.Checksum = ""
	raw, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("encode config for checksum: %w", err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}

// Normalize sorts routes and provider keys by name, fills SchemaVersion, KeyFile and every Fingerprint from
// the bundle's keys, and sets the checksum. Render calls it; the operator may call it to compare bundles.
func (b *Bundle) Normalize() error {
	c := &b.Config
	c.SchemaVersion = SchemaVersion
	if c.Routes == nil {
		c.Routes = []Route{}
	}
	if c.ProviderKeys == nil {
		c.ProviderKeys = []ProviderKey{}
	}
	slices.SortFunc(c.Routes, func(a, b Route) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(c.ProviderKeys, func(a, b ProviderKey) int { return strings.Compare(a.Name, b.Name) })
	for i := range c.ProviderKeys {
		pk := &c.ProviderKeys[i]
		pk.KeyFile = KeyFilePrefix + pk.Name
		s, ok := b.Keys[pk.Name]
		if !ok || s.Empty() {
			return fmt.Errorf("provider key %q: %w", pk.Name, ErrMissingKey)
		}
		pk.Fingerprint = s.Fingerprint()
	}
	if err := validate(c); err != nil {
		return err
	}
	sum, err := Checksum(*c)
	if err != nil {
		return err
	}
	c.Checksum = sum
	return nil
}

// Errors Parse and Render wrap, so callers can tell them apart with errors.Is.
var (
	// ErrUnknownSchemaVersion: config.json declares a schema version this build does not understand.
	ErrUnknownSchemaVersion = errors.New("unknown router config schema version")
	// ErrChecksumMismatch: config.json's content does not match its checksum.
	ErrChecksumMismatch = errors.New("router config checksum mismatch")
	// ErrMissingKey: a ProviderKey has no (or an empty) key file.
	ErrMissingKey = errors.New("key file missing or empty")
	// ErrFingerprintMismatch: a key file holds a different key than the config's fingerprint says.
	ErrFingerprintMismatch = errors.New("key file does not match the fingerprint in the config")
	// ErrInvalidConfig: config.json is missing, malformed or inconsistent.
	ErrInvalidConfig = errors.New("invalid router config")
)

// Render encodes b as config Secret data. It normalises b first, so the output is deterministic and carries
// a correct checksum. Key bytes appear only in the key.<name> entries.
func Render(b *Bundle) (map[string][]byte, error) {
	if b == nil {
		return nil, fmt.Errorf("render router config: %w: nil bundle", ErrInvalidConfig)
	}
	if err := b.Normalize(); err != nil {
		return nil, fmt.Errorf("render router config: %w", err)
	}
	raw, err := json.MarshalIndent(b.Config, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render router config: encode: %w", err)
	}
	data := map[string][]byte{ConfigFile: append(raw, '\n')}
	for _, pk := range b.Config.ProviderKeys {
		data[pk.KeyFile] = []byte(b.Keys[pk.Name].Reveal())
	}
	return data, nil
}

// Parse decodes config Secret data (or the files of a mounted config directory). It refuses an unknown schema
// version, a checksum that does not match, and key files that are missing or do not match their fingerprint,
// so a reader never acts on a half-written or tampered config. Entries not named by the config are ignored.
// Errors never include key material.
func Parse(data map[string][]byte) (*Bundle, error) {
	raw, ok := data[ConfigFile]
	if !ok {
		return nil, fmt.Errorf("parse router config: %w: no %s", ErrInvalidConfig, ConfigFile)
	}
	// Read the version first, so that a config written by a newer operator is reported as such rather than as
	// an unknown field.
	var head struct {
		SchemaVersion string `json:"schemaVersion"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("parse router config: %w: decode %s: %w", ErrInvalidConfig, ConfigFile, err)
	}
	if head.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("parse router config: %w: %q (this build reads %q)", ErrUnknownSchemaVersion, head.SchemaVersion, SchemaVersion)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	// Unknown fields would only surface as a checksum mismatch; naming them is kinder.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse router config: %w: decode %s: %w", ErrInvalidConfig, ConfigFile, err)
	}
	if err := validate(&c); err != nil {
		return nil, fmt.Errorf("parse router config: %w", err)
	}
	sum, err := Checksum(c)
	if err != nil {
		return nil, fmt.Errorf("parse router config: %w", err)
	}
	if sum != c.Checksum {
		return nil, fmt.Errorf("parse router config: %w: config says %q, content hashes to %q", ErrChecksumMismatch, c.Checksum, sum)
	}
	b := &Bundle{Config: c, Keys: make(map[string]keys.Secret, len(c.ProviderKeys))}
	for _, pk := range c.ProviderKeys {
		kb, ok := data[pk.KeyFile]
		s := keys.NewSecret(string(kb))
		if !ok || s.Empty() {
			return nil, fmt.Errorf("parse router config: provider key %q: %w (%s)", pk.Name, ErrMissingKey, pk.KeyFile)
		}
		if got := s.Fingerprint(); got != pk.Fingerprint {
			// Both fingerprints are safe to show: they identify keys without revealing them.
			return nil, fmt.Errorf("parse router config: provider key %q: %w: file has %s, config says %s", pk.Name, ErrFingerprintMismatch, got, pk.Fingerprint)
		}
		b.Keys[pk.Name] = s
	}
	return b, nil
}

// validate checks what the checksum cannot: that names are unique and key files are where they must be.
func validate(c *Config) error {
	if c.SchemaVersion != SchemaVersion {
		return fmt.Errorf("%w: %q (this build reads %q)", ErrUnknownSchemaVersion, c.SchemaVersion, SchemaVersion)
	}
	seen := make(map[string]bool, len(c.Routes))
	for _, r := range c.Routes {
		if r.Name == "" || seen[r.Name] {
			return fmt.Errorf("%w: route name %q empty or repeated", ErrInvalidConfig, r.Name)
		}
		seen[r.Name] = true
	}
	clear(seen)
	for _, pk := range c.ProviderKeys {
		if pk.Name == "" || seen[pk.Name] {
			return fmt.Errorf("%w: provider key name %q empty or repeated", ErrInvalidConfig, pk.Name)
		}
		seen[pk.Name] = true
		// A fixed file name per key keeps a crafted config from pointing a key at another file.
		if pk.KeyFile != KeyFilePrefix+pk.Name {
			return fmt.Errorf("%w: provider key %q: keyFile %q, want %q", ErrInvalidConfig, pk.Name, pk.KeyFile, KeyFilePrefix+pk.Name)
		}
	}
	for _, r := range c.Routes {
		for _, t := range r.Spec.Targets {
			if !seen[t.KeyRef.Name] {
				return fmt.Errorf("%w: route %q target %q: keyRef %q names no provider key in the config", ErrInvalidConfig, r.Name, t.Name, t.KeyRef.Name)
			}
		}
	}
	return nil
}
