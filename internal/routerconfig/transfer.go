package routerconfig

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/llmroute/llmroute/internal/keys"
)

// transfer is the wire form of a Bundle between `llmroute compile` and the router that asked for it. Unlike
// Render's Secret layout it carries a bundle whose ProviderKeys may lack a key (standalone manifests leave
// those to the store, environment or .env), and it is a single stream a pipe can carry, so keys never touch
// disk on the way.
type transfer struct {
	Config Config            `json:"config"`
	Keys   map[string]string `json:"keys,omitempty"`
}

// EncodeBundle writes b to w in the form DecodeBundle reads. The output holds key material: write it only to
// a pipe or file the reader owns.
func EncodeBundle(w io.Writer, b *Bundle) error {
	if b == nil {
		return fmt.Errorf("encode router config: %w: nil bundle", ErrInvalidConfig)
	}
	t := transfer{Config: b.Config, Keys: make(map[string]string, len(b.Keys))}
	for name, s := range b.Keys {
		t.Keys[name] = s.Reveal()
	}
	if err := json.NewEncoder(w).Encode(&t); err != nil {
		return fmt.Errorf("encode router config: %w", err)
	}
	return nil
}

// DecodeBundle reads what EncodeBundle wrote. Errors name the problem, never the content, which holds keys.
func DecodeBundle(r io.Reader) (*Bundle, error) {
	var t transfer
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		// json's syntax and type errors quote offsets and Go types, not values, so they cannot leak a key.
		return nil, fmt.Errorf("decode router config: %w: %w", ErrInvalidConfig, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("decode router config: %w: trailing data after the bundle", ErrInvalidConfig)
	}
	if err := validate(&t.Config); err != nil {
		return nil, fmt.Errorf("decode router config: %w", err)
	}
	b := &Bundle{Config: t.Config, Keys: make(map[string]keys.Secret, len(t.Keys))}
	for name, v := range t.Keys {
		b.Keys[name] = keys.NewSecret(v)
	}
	return b, nil
}
