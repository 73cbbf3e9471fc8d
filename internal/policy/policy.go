package policy

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/breaker"
	"github.com/llmroute/llmroute/internal/catalog"
)

// MaxTargets is the largest number of targets a policy may have (the CRD's MaxItems), checked again here because
// standalone manifests never pass CRD validation.
const MaxTargets = 20

// Target is one compiled target: the spec resolved against its ProviderKey and the catalog.
type Target struct {
	// Index is the target's position in the policy's list; observations, tried flags and candidates use it.
	Index int
	// ID is "namespace/policy/target", unique across a router's config (metrics and status key on it).
	ID string
	// Upstream identifies what the target calls, whichever policy names it: the ProviderKey (namespace/name,
	// which gives the key and the base URL), the provider and the model. Latency observations key on it, so
	// every policy routing to the same deployment learns from all of their traffic.
	Upstream string
	// BreakerKey is Upstream plus the policy's circuit-breaker settings. Targets with equal keys share one
	// breaker: an upstream that fails under one policy's traffic is open for every policy calling it with the
	// same key, and the first probe after the cooldown speaks for all of them. Policies with different
	// settings keep separate breakers, because one breaker cannot open under two sets of rules.
	BreakerKey string
	// Name is the target's name within its policy.
	Name     string
	Provider v1alpha1.Provider
	Model    string
	// KeyRef is the name of the ProviderKey, in the policy's namespace.
	KeyRef string
	// BaseURL comes from the ProviderKey; empty means the provider's default endpoint.
	BaseURL string
	// Priority orders targets under ranking priority (lower first) and breaks ties under other rankings.
	Priority int
	// Weight is the share of first attempts under ranking weighted.
	Weight int

	// Price is the price used for caps: the catalog price, or the override with its safety margin applied
	// (price x (1 + margin)). Nil fields are unknown.
	Price catalog.Price
	// BilledPrice is the price expected on the bill (the catalog price or the override as stated, without the
	// margin). ActualCost uses it; it is never higher than Price.
	BilledPrice catalog.Price
	// PriceOverridden says the price comes from the policy, not the catalog.
	PriceOverridden bool
	// SafetyMargin is the override's margin (0 without an override).
	SafetyMargin float64

	// InCatalog says the model was found in the catalog.
	InCatalog bool
	// ContextTokens is the model's context window; 0 means unknown.
	ContextTokens int
	// ModelMaxOutputTokens is the model's largest output; 0 means unknown.
	ModelMaxOutputTokens int
	// MaxTokens is the target's own output cap (spec maxTokens); 0 means none.
	MaxTokens int
	// Caps are the model's capabilities; nil fields are unknown.
	Caps catalog.Capabilities
}

// Capabilities is a set of required capabilities.
type Capabilities struct {
	Tools            bool
	StructuredOutput bool
	Vision           bool
	Streaming        bool
}

// Breaker is the compiled circuit-breaker configuration: the breaker package's own Config (plain data), so the
// engine hands it over without a field-by-field copy.
type Breaker = breaker.Config

// RetryBudget is the compiled retry-budget configuration.
type RetryBudget = breaker.RetryBudgetConfig

// FailOverSet holds the failure classes ("transient", "hard") and single reason codes that fail over to the
// next target, sorted.
type FailOverSet []string

// Allows reports whether a failure of class with reason code reason fails over. Semantic failures never do,
// whatever the set says: the request itself is wrong and another target would reject it too.
func (s FailOverSet) Allows(class, reason string) bool {
	if class == "semantic" {
		return false
	}
	_, byClass := slices.BinarySearch(s, class)
	_, byReason := slices.BinarySearch(s, reason)
	return byClass || byReason
}

// Policy is a compiled RoutePolicy: defaults applied, references resolved, durations parsed. It is immutable
// once compiled and safe to share between goroutines.
type Policy struct {
	// Name is "namespace/name".
	Name    string
	Targets []Target
	// HardCapUSD excludes targets whose worst-case cost (plus what the request already spent) exceeds it; nil
	// means no hard cap.
	HardCapUSD *float64
	// SoftCapUSD ranks targets over it lower; nil means none.
	SoftCapUSD *float64
	// MaxLatency is the SLA and the overall deadline of a request.
	MaxLatency time.Duration
	Ranking    v1alpha1.RankingStrategy
	// Baseline is the name of the target cost deltas are measured against (the first target when unset).
	Baseline string
	// BaselineIndex is Baseline's index in Targets.
	BaselineIndex int
	// Required are the capabilities every target must have, whatever the request.
	Required Capabilities
	// MinContextTokens is the smallest acceptable context window; 0 means none.
	MinContextTokens  int
	MaxAttempts       int
	PerAttemptTimeout time.Duration
	// StreamIdleTimeout bounds the wait for each chunk of a stream after the first.
	StreamIdleTimeout time.Duration
	FailOver          FailOverSet
	Breaker           Breaker
	RetryBudget       RetryBudget
	// AllowRequestKeyOverride lets a request carry its own provider key.
	AllowRequestKeyOverride bool
}

// semanticFailures never fail over; the CRD's CEL rule rejects them and Compile repeats the check for standalone
// manifests.
var semanticFailures = []v1alpha1.FailureClass{"semantic", "bad_request", "schema_mismatch", "content_filtered", "context_too_large"}

// Compile validates rp and resolves it against keys (ProviderKey specs in namespace, by name) and cat. rp is not
// modified: defaults are applied to a copy. Every problem found is returned, joined, each naming its field or
// target.
func Compile(namespace string, rp *v1alpha1.RoutePolicy, keys map[string]v1alpha1.ProviderKeySpec, cat *catalog.Catalog) (*Policy, error) {
	if rp == nil {
		return nil, errors.New("compile policy: nil RoutePolicy")
	}
	name := namespace + "/" + rp.Name
	spec := rp.DeepCopy()
	v1alpha1.SetDefaults(spec)
	s := &spec.Spec

	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	switch n := len(s.Targets); {
	case n == 0:
		fail("targets: at least one target is required")
	case n > MaxTargets:
		fail("targets: %d targets, at most %d allowed", n, MaxTargets)
	}
	switch s.Ranking {
	case v1alpha1.RankingPriority, v1alpha1.RankingCost, v1alpha1.RankingLatency, v1alpha1.RankingWeighted:
	default:
		fail("ranking: unknown strategy %q (want priority, cost, latency or weighted)", s.Ranking)
	}

	c := &s.Constraints
	p := &Policy{
		Name:       name,
		Targets:    make([]Target, 0, len(s.Targets)),
		HardCapUSD: clonePtr(c.MaxCostPerRequestUSD),
		SoftCapUSD: clonePtr(c.SoftCostPerRequestUSD),
		MaxLatency: c.MaxLatency.Duration,
		Ranking:    s.Ranking,
		Required: Capabilities{
			Tools:            c.RequiredCapabilities.Tools,
			StructuredOutput: c.RequiredCapabilities.StructuredOutput,
			Vision:           c.RequiredCapabilities.Vision,
			Streaming:        c.RequiredCapabilities.Streaming,
		},
		MaxAttempts:       int(s.Fallback.MaxAttempts),
		PerAttemptTimeout: s.Fallback.PerAttemptTimeout.Duration,
		StreamIdleTimeout: s.Fallback.StreamIdleTimeout.Duration,
		Breaker: Breaker{
			FailureThreshold: int(s.CircuitBreaker.FailureThreshold),
			Window:           s.CircuitBreaker.Window.Duration,
			CooldownBase:     s.CircuitBreaker.CooldownBase.Duration,
			CooldownMax:      s.CircuitBreaker.CooldownMax.Duration,
			Multiplier:       s.CircuitBreaker.CooldownMultiplier,
			Jitter:           *s.CircuitBreaker.Jitter,
			ProbeTimeout:     s.CircuitBreaker.ProbeTimeout.Duration,
		},
		RetryBudget:             RetryBudget{Ratio: *s.RetryBudget.Ratio, MinPerSecond: int(*s.RetryBudget.MinPerSecond)},
		AllowRequestKeyOverride: s.AllowRequestKeyOverride,
	}
	if sc := s.CircuitBreaker.SlowCallThreshold; sc != nil {
		p.Breaker.SlowCall = sc.Duration
		switch {
		case sc.Duration <= 0:
			fail("circuitBreaker.slowCallThreshold: %v must be greater than 0", sc.Duration)
		case p.PerAttemptTimeout > 0 && sc.Duration >= p.PerAttemptTimeout:
			fail("circuitBreaker.slowCallThreshold %v must be shorter than fallback.perAttemptTimeout %v: an attempt is cut at its timeout before it could count as slow",
				sc.Duration, p.PerAttemptTimeout)
		}
	}
	if r := s.CircuitBreaker.FailureRatio; r != nil {
		if *r <= 0 || *r > 1 {
			fail("circuitBreaker.failureRatio: %v is outside (0, 1]", *r)
		}
		p.Breaker.FailureRatio = *r
	}
	if mc := c.RequiredCapabilities.MinContextTokens; mc != nil {
		p.MinContextTokens = int(*mc)
	}

	for _, capv := range []struct {
		field string
		v     *float64
	}{{"constraints.maxCostPerRequestUSD", p.HardCapUSD}, {"constraints.softCostPerRequestUSD", p.SoftCapUSD}} {
		if capv.v != nil && !(*capv.v > 0) {
			fail("%s: %v must be greater than 0", capv.field, *capv.v)
		}
	}
	if p.HardCapUSD != nil && p.SoftCapUSD != nil && *p.SoftCapUSD > *p.HardCapUSD {
		fail("constraints: softCostPerRequestUSD %v is greater than maxCostPerRequestUSD %v", *p.SoftCapUSD, *p.HardCapUSD)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"constraints.maxLatency", p.MaxLatency},
		{"fallback.perAttemptTimeout", p.PerAttemptTimeout},
		{"fallback.streamIdleTimeout", p.StreamIdleTimeout},
		{"circuitBreaker.window", p.Breaker.Window},
		{"circuitBreaker.cooldownBase", p.Breaker.CooldownBase},
		{"circuitBreaker.cooldownMax", p.Breaker.CooldownMax},
		{"circuitBreaker.probeTimeout", p.Breaker.ProbeTimeout},
	} {
		if d.v <= 0 {
			fail("%s: %v must be greater than 0", d.field, d.v)
		}
	}
	if p.Breaker.CooldownBase > p.Breaker.CooldownMax {
		fail("circuitBreaker: cooldownBase %v is longer than cooldownMax %v", p.Breaker.CooldownBase, p.Breaker.CooldownMax)
	}
	if p.MaxAttempts < 1 {
		fail("fallback.maxAttempts: %d must be at least 1", p.MaxAttempts)
	}

	p.FailOver = make(FailOverSet, 0, len(s.Fallback.FailOverOn))
	for _, on := range s.Fallback.FailOverOn {
		if slices.Contains(semanticFailures, on) {
			fail("fallback.failOverOn: %q is a semantic failure (the request itself is wrong); it never fails over", on)
			continue
		}
		p.FailOver = append(p.FailOver, string(on))
	}
	slices.Sort(p.FailOver)
	p.FailOver = slices.Compact(p.FailOver)

	seen := make(map[string]bool, len(s.Targets))
	for i := range s.Targets {
		st := &s.Targets[i]
		tname := string(st.Name)
		if tname == "" {
			fail("targets[%d]: name is required", i)
		}
		if seen[tname] {
			fail("target %q: name is used twice; target names must be unique within a RoutePolicy", tname)
		}
		seen[tname] = true
		t, err := compileTarget(name, i, st, keys, cat)
		if err != nil {
			errs = append(errs, err)
		}
		p.Targets = append(p.Targets, t)
	}

	switch {
	case s.Baseline == "" && len(p.Targets) > 0:
		p.Baseline = p.Targets[0].Name
	case s.Baseline != "":
		p.Baseline = s.Baseline
		p.BaselineIndex = -1
		for i := range p.Targets {
			if p.Targets[i].Name == s.Baseline {
				p.BaselineIndex = i
			}
		}
		if p.BaselineIndex < 0 {
			fail("baseline: %q names no target", s.Baseline)
		}
	}

	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("compile policy %s: %w", name, err)
	}
	cfg := fmt.Sprintf("%+v", p.Breaker) // plain data: equal settings print equally
	for i := range p.Targets {
		t := &p.Targets[i]
		t.Upstream = namespace + "/" + t.KeyRef + " " + string(t.Provider) + " " + t.BaseURL + " " + t.Model
		t.BreakerKey = t.Upstream + " " + cfg
	}
	return p, nil
}

func compileTarget(policyName string, i int, st *v1alpha1.Target, keys map[string]v1alpha1.ProviderKeySpec, cat *catalog.Catalog) (Target, error) {
	t := Target{
		Index:    i,
		ID:       policyName + "/" + string(st.Name),
		Name:     string(st.Name),
		Provider: st.Provider,
		Model:    st.Model,
		KeyRef:   st.KeyRef.Name,
		Priority: int(st.Priority),
		Weight:   int(*st.Weight),
	}
	var errs []error
	fail := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("target %q: "+format, append([]any{t.Name}, a...)...))
	}
	if t.Model == "" {
		fail("model is required")
	}
	if t.Weight < 0 || t.Priority < 0 {
		fail("priority and weight must not be negative")
	}
	if st.MaxTokens != nil {
		if *st.MaxTokens < 1 {
			fail("maxTokens %d must be at least 1", *st.MaxTokens)
		}
		t.MaxTokens = int(*st.MaxTokens)
	}

	key, ok := keys[t.KeyRef]
	switch {
	case t.KeyRef == "":
		fail("keyRef.name is required")
	case !ok:
		fail("keyRef %q names no ProviderKey in the policy's namespace", t.KeyRef)
	case key.Provider != t.Provider:
		fail("provider %q differs from provider %q of its ProviderKey %q", t.Provider, key.Provider, t.KeyRef)
	case key.Provider == v1alpha1.ProviderOpenAICompatible && key.BaseURL == "":
		fail("ProviderKey %q is openaiCompatible but has no baseURL", t.KeyRef)
	default:
		t.BaseURL = key.BaseURL
	}

	if m, ok := cat.Lookup(string(t.Provider), t.Model); ok {
		t.InCatalog = true
		t.Price = m.Price
		t.BilledPrice = m.Price
		t.ContextTokens = m.ContextTokens
		t.ModelMaxOutputTokens = m.MaxOutputTokens
		t.Caps = m.Caps
	} else {
		// Every provider llmroute speaks streams over its chat API, and the catalog itself assumes streaming for
		// every model (SOURCE.md); treating it as unknown would shut streamed requests out of every
		// openaiCompatible target. The other capabilities stay unknown.
		t.Caps.Streaming = ptr(true)
	}
	if o := st.Price; o != nil {
		if o.InputUSDPerMTok < 0 || o.OutputUSDPerMTok < 0 || o.SafetyMargin < 0 {
			fail("price override must not be negative")
		}
		t.PriceOverridden = true
		t.SafetyMargin = o.SafetyMargin
		t.BilledPrice = catalog.Price{Input: ptr(o.InputUSDPerMTok), Output: ptr(o.OutputUSDPerMTok)}
		t.Price = catalog.Price{
			Input:  ptr(o.InputUSDPerMTok * (1 + o.SafetyMargin)),
			Output: ptr(o.OutputUSDPerMTok * (1 + o.SafetyMargin)),
		}
	}
	return t, errors.Join(errs...)
}

// TargetByName returns the target named name, or nil.
func (p *Policy) TargetByName(name string) *Target {
	for i := range p.Targets {
		if p.Targets[i].Name == name {
			return &p.Targets[i]
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
