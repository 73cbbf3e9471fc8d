package keys

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Source names where a key came from. It is traced in decision events next to the key's fingerprint.
type Source string

// Key sources, in precedence order.
const (
	// SourceRequest: the request carried its own key (header x-llmroute-provider-key), allowed by the policy.
	SourceRequest Source = "request"
	// SourceStore: the router's in-memory store, filled through the localhost admin API.
	SourceStore Source = "store"
	// SourceConfig: the compiled router config (a ProviderKey's Secret).
	SourceConfig Source = "config"
	// SourceEnv: an environment variable of the router process.
	SourceEnv Source = "env"
	// SourceDotEnv: a .env file next to the router, re-read when it changes.
	SourceDotEnv Source = "dotenv"
)

// OverrideName is the source-specific name of a request key in Resolved.ID.
const OverrideName = "x-llmroute-provider-key"

// Errors returned by Resolve; test with errors.Is.
var (
	// ErrNoKey: no source had a key; the message lists the sources tried, never a value.
	ErrNoKey = errors.New("no key found")
	// ErrOverrideNotAllowed: the request carried a key but its policy does not allow request keys.
	ErrOverrideNotAllowed = errors.New("request key override not allowed by the policy")
)

// Resolved is a key with where it came from.
type Resolved struct {
	// Secret is the key; it cannot be printed.
	Secret Secret
	// Source is the source the key came from.
	Source Source
	// ID is "<source-specific name>#<fingerprint>", e.g. "payments/groq-key#a1b2c3d4" or "GROQ_API_KEY#9f8e7d6c":
	// enough to tell which key was used, never the key.
	ID string
}

func resolved(s Secret, src Source, name string) Resolved {
	return Resolved{Secret: s, Source: src, ID: name + "#" + s.Fingerprint()}
}

// ConfigSource gives the keys of the router's current config snapshot, by ProviderKey name ("namespace/name").
// The router swaps snapshots atomically, so an implementation answers from one snapshot per call.
type ConfigSource interface {
	// Key returns the key of a ProviderKey, false when the config has none.
	Key(providerKey string) (Secret, bool)
}

// Request asks for the key of one target.
type Request struct {
	// ProviderKey is the ProviderKey name the target references ("namespace/name", or a bare name standalone).
	ProviderKey string
	// Provider is the provider ("openai", "groq", ...), which picks the conventional environment variable.
	Provider string
	// Override is a key carried by the request, nil when none.
	Override *Secret
	// AllowOverride is the policy's allowRequestKeyOverride.
	AllowOverride bool
}

// Resolver finds a target's key by precedence: request override (only when allowed) → in-memory store → config
// → environment → .env file. Every source is read at each call, so rotating a key in any of them takes effect
// on the next request without a restart. Nil sources are skipped. A Resolver is safe for concurrent use as long
// as its sources are.
type Resolver struct {
	// Store is the admin API's in-memory store.
	Store *MemoryStore
	// Config is the current router config.
	Config ConfigSource
	// Env looks up an environment variable; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// DotEnv is the .env file, if any.
	DotEnv *DotEnv
}

// Resolve returns the key for req. A request key given where the policy does not allow one is an error
// (ErrOverrideNotAllowed), not silently ignored: the client believes it is paying with its own key. When no
// source has a key the error wraps ErrNoKey and names the sources and variables tried.
func (r *Resolver) Resolve(req Request) (Resolved, error) {
	if req.Override != nil && !req.Override.Empty() {
		if !req.AllowOverride {
			return Resolved{}, fmt.Errorf("resolve key for %q: %w", req.ProviderKey, ErrOverrideNotAllowed)
		}
		return resolved(*req.Override, SourceRequest, OverrideName), nil
	}
	var tried []string
	if r.Store != nil && req.ProviderKey != "" {
		if s, ok := r.Store.Get(req.ProviderKey); ok && !s.Empty() {
			return resolved(s, SourceStore, req.ProviderKey), nil
		}
		tried = append(tried, string(SourceStore))
	}
	if r.Config != nil && req.ProviderKey != "" {
		if s, ok := r.Config.Key(req.ProviderKey); ok && !s.Empty() {
			return resolved(s, SourceConfig, req.ProviderKey), nil
		}
		tried = append(tried, string(SourceConfig))
	}
	names := EnvNames(req.ProviderKey, req.Provider)
	env := r.Env
	if env == nil {
		env = os.LookupEnv
	}
	for _, n := range names {
		if v, ok := env(n); ok {
			if s := NewSecret(v); !s.Empty() {
				return resolved(s, SourceEnv, n), nil
			}
		}
	}
	tried = append(tried, fmt.Sprintf("env (%s)", strings.Join(names, ", ")))
	var dotErr error
	if r.DotEnv != nil {
		for _, n := range names {
			s, ok, err := r.DotEnv.Lookup(n)
			if err != nil {
				dotErr = err
				break
			}
			if ok && !s.Empty() {
				return resolved(s, SourceDotEnv, n), nil
			}
		}
		tried = append(tried, fmt.Sprintf("dotenv %s (%s)", r.DotEnv.Path(), strings.Join(names, ", ")))
	}
	err := fmt.Errorf("resolve key for %q (provider %q): %w; tried %s", req.ProviderKey, req.Provider, ErrNoKey,
		strings.Join(tried, ", "))
	if dotErr != nil {
		err = fmt.Errorf("%w; %w", err, dotErr)
	}
	return Resolved{}, err
}

// providerEnv holds each provider's conventional variable, the one its own SDK reads.
var providerEnv = map[string]string{
	"openai":    "OPENAI_API_KEY",
	"anthropic": "ANTHROPIC_API_KEY",
	"gemini":    "GEMINI_API_KEY",
	"groq":      "GROQ_API_KEY",
	"mistral":   "MISTRAL_API_KEY",
	"deepseek":  "DEEPSEEK_API_KEY",
	"xai":       "XAI_API_KEY",
}

// EnvNames returns the variables that may hold a key, in the order they are read: LLMROUTE_KEY_<ProviderKey>
// first (upper case, every other character than A-Z and 0-9 as _), so that two ProviderKeys of one provider can
// have different keys, then the provider's conventional variable, if it has one.
func EnvNames(providerKey, provider string) []string {
	var out []string
	if providerKey != "" {
		out = append(out, "LLMROUTE_KEY_"+envSafe(providerKey))
	}
	if v, ok := providerEnv[provider]; ok {
		out = append(out, v)
	}
	return out
}

func envSafe(name string) string {
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
