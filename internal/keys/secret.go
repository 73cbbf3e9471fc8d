// Package keys resolves provider API keys by precedence and keeps them from ever being printed.
package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
)

// redacted is what every printing path of a Secret produces.
const redacted = "[REDACTED]"

// Secret holds an API key. Every way Go can print or serialise it (String, GoString, Format with any verb,
// MarshalJSON, MarshalText, slog's LogValue) yields "[REDACTED]"; only Reveal returns the key, and it is called
// in exactly one place: where an adapter sets the Authorization header.
type Secret struct {
	// value is unexported so reflection-based printers (fmt %+v on a containing struct, encoding/json) cannot reach it.
	value string
	// fp caches Fingerprint: the router asks for it on every request, and a SHA-256 per request is waste.
	fp string
}

// NewSecret wraps a key. Surrounding whitespace (a trailing newline from `kubectl create secret --from-file`)
// is trimmed, because providers reject it and it would change the fingerprint.
func NewSecret(key string) Secret {
	v := strings.TrimSpace(key)
	return Secret{value: v, fp: fingerprint(v)}
}

// Reveal returns the key itself. Call it only to authenticate a request to the configured provider endpoint.
func (s Secret) Reveal() string { return s.value }

// Empty reports whether no key is held.
func (s Secret) Empty() bool { return s.value == "" }

// Fingerprint is the first 8 hex digits of the key's SHA-256: enough to tell keys apart in status and traces,
// useless for recovering the key.
func (s Secret) Fingerprint() string {
	if s.fp != "" {
		return s.fp
	}
	return fingerprint(s.value)
}

// Equal reports whether two secrets hold the same key.
func (s Secret) Equal(o Secret) bool { return s.value == o.value }

// String implements fmt.Stringer.
func (Secret) String() string { return redacted }

// GoString implements fmt.GoStringer, used by %#v.
func (Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb, including %x and %q, prints the redaction.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (used by YAML encoders and map keys).
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// Fingerprint returns the first 8 hex digits of the SHA-256 of key (after trimming whitespace).
func Fingerprint(key string) string { return fingerprint(strings.TrimSpace(key)) }

func fingerprint(trimmed string) string {
	sum := sha256.Sum256([]byte(trimmed))
	return hex.EncodeToString(sum[:4])
}
