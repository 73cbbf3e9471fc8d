package catalog

import (
	"slices"
	"strings"
	"testing"
)

// nullPriced are the snapshot's models whose source states no price (SOURCE.md: 15 of them).
var nullPriced = []struct{ provider, model string }{
	{"gemini", "gemma-4-26b-a4b-it"},
	{"gemini", "gemma-4-31b-it"},
	{"groq", "canopylabs/orpheus-arabic-saudi"},
	{"groq", "canopylabs/orpheus-v1-english"},
	{"groq", "groq/compound"},
	{"groq", "groq/compound-mini"},
	{"groq", "whisper-large-v3"},
	{"groq", "whisper-large-v3-turbo"},
	{"openai", "chatgpt-image-latest"},
	{"openai", "gpt-image-1"},
	{"openai", "gpt-image-1-mini"},
	{"openai", "gpt-image-1.5"},
	{"xai", "grok-imagine-image"},
	{"xai", "grok-imagine-image-quality"},
	{"xai", "grok-imagine-video"},
}

func TestNullPricesAreUnknownNotZero(t *testing.T) {
	c := Default()
	for _, m := range nullPriced {
		got, ok := c.Lookup(m.provider, m.model)
		if !ok {
			t.Errorf("Lookup(%s, %s): not found", m.provider, m.model)
			continue
		}
		if got.Price.Input != nil || got.Price.Output != nil {
			t.Errorf("%s/%s: price = %v/%v, want unknown (nil)", m.provider, m.model, got.Price.Input, got.Price.Output)
		}
	}
	// And no other model is missing a price: the list above is exactly the set.
	var unknown int
	for _, m := range c.Models() {
		if m.Price.Input == nil || m.Price.Output == nil {
			unknown++
		}
	}
	if unknown != len(nullPriced) {
		t.Fatalf("models with unknown price = %d, want %d", unknown, len(nullPriced))
	}
}

func TestLookup(t *testing.T) {
	c := Default()
	tests := []struct {
		name, provider, model string
		wantOK                bool
		wantIn, wantOut       float64
		wantCtx, wantMaxOut   int
		wantTools             *bool
	}{
		{name: "anthropic 1:1", provider: "anthropic", model: "claude-3-haiku-20240307", wantOK: true,
			wantIn: 0.25, wantOut: 1.25, wantCtx: 200000, wantMaxOut: 4096, wantTools: ptr(true)},
		{name: "groq 1:1", provider: "groq", model: "llama-3.3-70b-versatile", wantOK: true},
		{name: "mistral 1:1", provider: "mistral", model: "mistral-small-latest", wantOK: true},
		{name: "deepseek 1:1", provider: "deepseek", model: "deepseek-chat", wantOK: true},
		{name: "openai 1:1", provider: "openai", model: "gpt-4o-mini", wantOK: true},
		{name: "xai 1:1", provider: "xai", model: "grok-imagine-video", wantOK: true},
		{name: "catalog google is our gemini", provider: "gemini", model: "gemma-4-31b-it", wantOK: true},
		{name: "catalog name google is not ours", provider: "google", model: "gemma-4-31b-it"},
		{name: "openaiCompatible never matches", provider: "openaiCompatible", model: "gpt-4o-mini"},
		{name: "unknown model", provider: "openai", model: "gpt-does-not-exist"},
		{name: "free model priced 0 stays 0", provider: "mistral", model: "labs-devstral-small-2512", wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := c.Lookup(tt.provider, tt.model)
			if ok != tt.wantOK {
				t.Fatalf("Lookup ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if m.Provider != tt.provider || m.Model != tt.model {
				t.Fatalf("Lookup returned %s/%s", m.Provider, m.Model)
			}
			if tt.wantIn != 0 || tt.wantOut != 0 {
				if m.Price.Input == nil || *m.Price.Input != tt.wantIn || m.Price.Output == nil || *m.Price.Output != tt.wantOut {
					t.Fatalf("price = %v/%v, want %v/%v", m.Price.Input, m.Price.Output, tt.wantIn, tt.wantOut)
				}
			} else if strings.Contains(tt.name, "free") && (m.Price.Input == nil || *m.Price.Input != 0) {
				t.Fatalf("free model price = %v, want known 0", m.Price.Input)
			}
			if tt.wantCtx != 0 && (m.ContextTokens != tt.wantCtx || m.MaxOutputTokens != tt.wantMaxOut) {
				t.Fatalf("limits = %d/%d, want %d/%d", m.ContextTokens, m.MaxOutputTokens, tt.wantCtx, tt.wantMaxOut)
			}
			if tt.wantTools != nil && (m.Caps.Tools == nil || *m.Caps.Tools != *tt.wantTools) {
				t.Fatalf("tools = %v, want %v", m.Caps.Tools, *tt.wantTools)
			}
		})
	}
}

func TestLookupReturnsCopy(t *testing.T) {
	c := Default()
	m, _ := c.Lookup("anthropic", "claude-3-haiku-20240307")
	*m.Price.Input = 999
	*m.Caps.Tools = false
	again, _ := c.Lookup("anthropic", "claude-3-haiku-20240307")
	if *again.Price.Input != 0.25 || !*again.Caps.Tools {
		t.Fatalf("writing through a Lookup result changed the catalog")
	}
}

func TestModelsSortedAndComplete(t *testing.T) {
	ms := Default().Models()
	if len(ms) != 154 {
		t.Fatalf("Models() = %d models, want 154 (SOURCE.md)", len(ms))
	}
	if !slices.IsSortedFunc(ms, func(a, b Model) int {
		if n := strings.Compare(a.Provider, b.Provider); n != 0 {
			return n
		}
		return strings.Compare(a.Model, b.Model)
	}) {
		t.Fatalf("Models() not sorted by provider, then model")
	}
	providers := map[string]bool{}
	for _, m := range ms {
		providers[m.Provider] = true
	}
	for _, p := range []string{"openai", "anthropic", "gemini", "groq", "mistral", "deepseek", "xai"} {
		if !providers[p] {
			t.Errorf("no models for provider %s", p)
		}
	}
	if providers["google"] || providers["openaiCompatible"] {
		t.Errorf("unexpected provider names: %v", providers)
	}
}

func TestSource(t *testing.T) {
	s := Default().Source()
	if s.Commit != "f3fc692299671838c7c65fd8126bf84d81a2e817" || !strings.Contains(s.Repository, "models.dev") ||
		s.SnapshotDate == "" || !strings.HasPrefix(s.License, "MIT") {
		t.Fatalf("Source() = %+v", s)
	}
}

func TestParseRejectsBadData(t *testing.T) {
	tests := []struct{ name, data, wantErr string }{
		{"not json", `{`, "decode catalog"},
		{"unknown provider", `{"models":[{"provider":"acme","model":"m"}]}`, `unknown provider "acme"`},
		{"duplicate", `{"models":[{"provider":"openai","model":"m"},{"provider":"openai","model":"m"}]}`, "duplicate model openai/m"},
		{"negative price", `{"models":[{"provider":"openai","model":"m","input_usd_per_mtok":-1}]}`, "negative input price"},
		{"empty model", `{"models":[{"provider":"openai","model":""}]}`, "empty model name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse error = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestNilCatalog(t *testing.T) {
	var c *Catalog
	if _, ok := c.Lookup("openai", "gpt-4o-mini"); ok || c.Models() != nil || c.Source() != (Source{}) {
		t.Fatalf("nil catalog should be empty")
	}
}

func ptr[T any](v T) *T { return &v }

func TestGeminiThinkingLevels(t *testing.T) {
	for model, want := range map[string]bool{
		"gemini-3-pro-preview":          true,
		"models/gemini-3-flash-preview": true,
		"gemini-3.1-flash-lite":         true,
		"gemini-3":                      true,
		"gemini-10-ultra":               true,
		"gemini-2.5-flash":              false,
		"models/gemini-2.5-pro":         false,
		"gemini-2.0-flash":              false,
		"gemini-1.5-pro-002":            false,
		"gemini-exp-1206":               false,
		"gemini-3x":                     false,
		"gemini-2025-preview":           false,
		"gemma-4-31b-it":                false,
		"gpt-4o":                        false,
		"":                              false,
	} {
		if got := GeminiThinkingLevels(model); got != want {
			t.Errorf("GeminiThinkingLevels(%q) = %v, want %v", model, got, want)
		}
	}
	// Every Gemini 3 model of the snapshot is one: the prefix rule must not miss a published name.
	n := 0
	for _, m := range Default().Models() {
		if m.Provider == "gemini" && strings.HasPrefix(m.Model, "gemini-3") {
			n++
			if !GeminiThinkingLevels(m.Model) {
				t.Errorf("%s: not recognised as taking thinking levels", m.Model)
			}
		}
	}
	if n == 0 {
		t.Error("the snapshot has no Gemini 3 model; the check above checked nothing")
	}
}
