// Package catalog holds model metadata (prices, limits, capabilities) from a pinned, embedded snapshot of the
// models.dev database. Unknown facts stay unknown: a missing price is a nil pointer, never 0, so that a model with
// no published price cannot pass a hard cost cap by looking free.
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

//go:embed models.json
var snapshot []byte

// Price is a model's price in USD per million tokens. A nil field is unknown (the source does not state it); it
// is never replaced by 0, which would make the model look free.
type Price struct {
	Input      *float64
	Output     *float64
	CacheRead  *float64
	CacheWrite *float64
}

// Capabilities says what a model supports. A nil field is unknown.
type Capabilities struct {
	Tools            *bool
	StructuredOutput *bool
	Vision           *bool
	Reasoning        *bool
	Streaming        *bool
}

// Model is one model's published facts.
type Model struct {
	// Provider is llmroute's provider name (v1alpha1.Provider), e.g. "gemini" for the catalog's "google".
	Provider string
	// Model is the provider's model name as sent on the wire.
	Model string
	// Name is the human-readable name.
	Name string
	// Price is the published price; nil fields are unknown.
	Price Price
	// ContextTokens is the context window; 0 means unknown.
	ContextTokens int
	// MaxOutputTokens is the largest output the model produces; 0 means unknown.
	MaxOutputTokens int
	// Caps are the published capabilities; nil fields are unknown.
	Caps Capabilities
	// Status is "active", "beta" or "deprecated".
	Status string
}

// Source is the provenance of the snapshot, shown to users next to any price taken from it.
type Source struct {
	Repository   string
	Commit       string
	SnapshotDate string
	License      string
}

// Catalog is an immutable set of models indexed by provider and model name. Its accessors return copies, so it
// is safe for concurrent use.
type Catalog struct {
	models []Model // sorted by provider, then model
	index  map[modelKey]int
	source Source
}

type modelKey struct{ provider, model string }

// providerNames maps the catalog's provider names to llmroute's. openaiCompatible has no entry on purpose: such
// endpoints serve arbitrary models the catalog cannot know.
var providerNames = map[string]string{
	"openai":    "openai",
	"anthropic": "anthropic",
	"google":    "gemini",
	"groq":      "groq",
	"mistral":   "mistral",
	"deepseek":  "deepseek",
	"xai":       "xai",
}

var defaultCatalog = sync.OnceValue(func() *Catalog {
	c, err := Parse(snapshot)
	if err != nil {
		// The snapshot is compiled in and parsed by the package tests, so this is a build defect, not input.
		panic(fmt.Sprintf("catalog: embedded models.json: %v", err))
	}
	return c
})

// Default returns the catalog built from the embedded snapshot. It is parsed once, on first use.
func Default() *Catalog { return defaultCatalog() }

type fileJSON struct {
	Source struct {
		Repository   string `json:"repository"`
		Commit       string `json:"commit"`
		SnapshotDate string `json:"snapshot_date"`
		License      string `json:"license"`
	} `json:"source"`
	Models []modelJSON `json:"models"`
}

type modelJSON struct {
	Provider        string   `json:"provider"`
	Model           string   `json:"model"`
	Name            string   `json:"name"`
	Input           *float64 `json:"input_usd_per_mtok"`
	Output          *float64 `json:"output_usd_per_mtok"`
	CacheRead       *float64 `json:"cache_read_usd_per_mtok"`
	CacheWrite      *float64 `json:"cache_write_usd_per_mtok"`
	ContextTokens   *int     `json:"context_tokens"`
	MaxOutputTokens *int     `json:"max_output_tokens"`
	Capabilities    struct {
		Tools            *bool `json:"tools"`
		StructuredOutput *bool `json:"structured_output"`
		Vision           *bool `json:"vision"`
		Reasoning        *bool `json:"reasoning"`
		Streaming        *bool `json:"streaming"`
	} `json:"capabilities"`
	Status string `json:"status"`
}

// Parse builds a catalog from data in the models.json format. It rejects unknown providers, duplicate
// models and negative prices or limits, so that a bad snapshot fails loudly instead of mispricing requests.
func Parse(data []byte) (*Catalog, error) {
	var f fileJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode catalog: %w", err)
	}
	c := &Catalog{
		models: make([]Model, 0, len(f.Models)),
		index:  make(map[modelKey]int, len(f.Models)),
		source: Source{
			Repository:   f.Source.Repository,
			Commit:       f.Source.Commit,
			SnapshotDate: f.Source.SnapshotDate,
			License:      f.Source.License,
		},
	}
	for i, m := range f.Models {
		provider, ok := providerNames[m.Provider]
		if !ok {
			return nil, fmt.Errorf("catalog model %d (%s/%s): unknown provider %q", i, m.Provider, m.Model, m.Provider)
		}
		if m.Model == "" {
			return nil, fmt.Errorf("catalog model %d (provider %s): empty model name", i, m.Provider)
		}
		for name, p := range map[string]*float64{"input": m.Input, "output": m.Output, "cache read": m.CacheRead, "cache write": m.CacheWrite} {
			if p != nil && *p < 0 {
				return nil, fmt.Errorf("catalog model %s/%s: negative %s price %v", m.Provider, m.Model, name, *p)
			}
		}
		ctx, maxOut := deref(m.ContextTokens), deref(m.MaxOutputTokens)
		if ctx < 0 || maxOut < 0 {
			return nil, fmt.Errorf("catalog model %s/%s: negative token limit", m.Provider, m.Model)
		}
		c.models = append(c.models, Model{
			Provider: provider,
			Model:    m.Model,
			Name:     m.Name,
			Price:    Price{Input: m.Input, Output: m.Output, CacheRead: m.CacheRead, CacheWrite: m.CacheWrite},
			// The snapshot writes 0 for limits it does not know (image and audio models); 0 means unknown here too.
			ContextTokens:   ctx,
			MaxOutputTokens: maxOut,
			Caps: Capabilities{
				Tools:            m.Capabilities.Tools,
				StructuredOutput: m.Capabilities.StructuredOutput,
				Vision:           m.Capabilities.Vision,
				Reasoning:        m.Capabilities.Reasoning,
				Streaming:        m.Capabilities.Streaming,
			},
			Status: m.Status,
		})
	}
	slices.SortFunc(c.models, func(a, b Model) int {
		if n := strings.Compare(a.Provider, b.Provider); n != 0 {
			return n
		}
		return strings.Compare(a.Model, b.Model)
	})
	for i, m := range c.models {
		k := modelKey{m.Provider, m.Model}
		if _, dup := c.index[k]; dup {
			return nil, fmt.Errorf("catalog: duplicate model %s/%s", m.Provider, m.Model)
		}
		c.index[k] = i
	}
	return c, nil
}

// Lookup returns the model served by provider (llmroute's name, e.g. "gemini") under model. The result is a
// copy: changing it does not change the catalog.
func (c *Catalog) Lookup(provider, model string) (Model, bool) {
	if c == nil {
		return Model{}, false
	}
	i, ok := c.index[modelKey{provider, model}]
	if !ok {
		return Model{}, false
	}
	return c.models[i].clone(), true
}

// Models returns a copy of every model, sorted by provider, then model.
func (c *Catalog) Models() []Model {
	if c == nil {
		return nil
	}
	out := make([]Model, len(c.models))
	for i, m := range c.models {
		out[i] = m.clone()
	}
	return out
}

// Source returns the snapshot's provenance.
func (c *Catalog) Source() Source {
	if c == nil {
		return Source{}
	}
	return c.source
}

// clone copies the pointed-to values so callers cannot write through into the shared catalog.
func (m Model) clone() Model {
	m.Price = Price{Input: clonePtr(m.Price.Input), Output: clonePtr(m.Price.Output), CacheRead: clonePtr(m.Price.CacheRead), CacheWrite: clonePtr(m.Price.CacheWrite)}
	m.Caps = Capabilities{
		Tools:            clonePtr(m.Caps.Tools),
		StructuredOutput: clonePtr(m.Caps.StructuredOutput),
		Vision:           clonePtr(m.Caps.Vision),
		Reasoning:        clonePtr(m.Caps.Reasoning),
		Streaming:        clonePtr(m.Caps.Streaming),
	}
	return m
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// GeminiThinkingLevels reports whether a Gemini model takes its thinking as thinkingConfig.thinkingLevel rather
// than as a thinkingBudget: Gemini 3 and later (gemini-3-pro-preview, gemini-3.1-flash-lite, ...). Google keeps
// thinkingBudget working on them for compatibility only, and refuses a request that sets both. The "models/"
// prefix of Gemini's resource names is ignored. Earlier models (gemini-2.5-flash, gemini-2.0-flash) and names
// that are not gemini-<major>... report false.
func GeminiThinkingLevels(model string) bool {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(model, "models/"), "gemini-")
	if !ok {
		return false
	}
	major := 0
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' && n < 3 {
		major = major*10 + int(rest[n]-'0')
		n++
	}
	if n == 0 || (n < len(rest) && rest[n] != '.' && rest[n] != '-') {
		return false
	}
	return major >= 3
}
