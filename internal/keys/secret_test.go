package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

const canaryKey = "sk-CANARY-7d1f0c9e2b3a4f5e6d7c8b9a"

func TestSecretBasics(t *testing.T) {
	s := NewSecret("  " + canaryKey + "\n")
	if s.Reveal() != canaryKey || s.Empty() {
		t.Fatalf("NewSecret must trim: %q", s.Reveal())
	}
	if s.Fingerprint() != Fingerprint(canaryKey) || len(s.Fingerprint()) != 8 {
		t.Fatalf("fingerprint %q", s.Fingerprint())
	}
	if !s.Equal(NewSecret(canaryKey)) || s.Equal(NewSecret("other")) {
		t.Fatal("Equal")
	}
	if !(Secret{}).Empty() {
		t.Fatal("zero Secret must be empty")
	}
}

// TestCanaryNeverPrinted prints a key through every path Go offers, directly and nested in the package's own
// types, and checks the key never comes out.
func TestCanaryNeverPrinted(t *testing.T) {
	s := NewSecret(canaryKey)
	store := NewMemoryStore()
	store.Set("payments/groq-key", s)
	dir := t.TempDir()
	dot := NewDotEnv(filepath.Join(dir, ".env"))
	writeFile(t, dot.Path(), "GROQ_API_KEY="+canaryKey+"\n")
	if _, _, err := dot.Lookup("GROQ_API_KEY"); err != nil {
		t.Fatal(err)
	}
	res := Resolved{Secret: s, Source: SourceStore, ID: "payments/groq-key#" + s.Fingerprint()}
	req := Request{ProviderKey: "p", Override: &s, AllowOverride: true}
	type holder struct {
		Key   Secret
		Ptr   *Secret
		Any   any
		Slice []Secret
		Map   map[string]Secret
	}
	h := holder{Key: s, Ptr: &s, Any: s, Slice: []Secret{s}, Map: map[string]Secret{"k": s}}
	values := map[string]any{
		"secret": s, "*secret": &s, "resolved": res, "*resolved": &res, "request": req, "holder": h,
		"*holder": &h, "store": store, "dotenv": dot, "resolver": Resolver{Store: store, DotEnv: dot},
		"*resolver": &Resolver{Store: store, DotEnv: dot},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%T", "%d"}
	for name, v := range values {
		for _, verb := range verbs {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, canaryKey) || strings.Contains(out, "CANARY") {
				t.Errorf("fmt %s of %s leaks: %s", verb, name, out)
			}
		}
		if out := fmt.Sprint(v) + fmt.Sprintln(v); strings.Contains(out, "CANARY") {
			t.Errorf("Sprint of %s leaks: %s", name, out)
		}
		if b, err := json.Marshal(v); err == nil && bytes.Contains(b, []byte("CANARY")) {
			t.Errorf("json of %s leaks: %s", name, b)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "v", v, slog.Any("any", v), slog.Group("g", "v", v))
		slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "v", v, slog.Any("any", v), slog.Group("g", "v", v))
		if strings.Contains(buf.String(), "CANARY") {
			t.Errorf("slog of %s leaks: %s", name, buf.String())
		}
	}
	// Errors built the usual ways.
	for _, err := range []error{
		fmt.Errorf("resolve %v: %w", s, errors.New("x")),
		fmt.Errorf("%+v", res),
		errors.Join(fmt.Errorf("%s", s)),
	} {
		if strings.Contains(err.Error(), "CANARY") {
			t.Errorf("error leaks: %v", err)
		}
	}
	// A panic message built from the secret.
	func() {
		defer func() {
			r := recover()
			if strings.Contains(fmt.Sprint(r), "CANARY") {
				t.Errorf("panic value leaks: %v", r)
			}
		}()
		panic(fmt.Sprint(s))
	}()
	// Text marshalling, used by YAML encoders and map keys.
	if b, _ := s.MarshalText(); strings.Contains(string(b), "CANARY") {
		t.Error("MarshalText leaks")
	}
	if b, _ := json.Marshal(map[Secret]int{s: 1}); bytes.Contains(b, []byte("CANARY")) {
		t.Errorf("json map key leaks: %s", b)
	}
}
