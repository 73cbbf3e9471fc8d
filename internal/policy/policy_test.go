package policy

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/catalog"
)

func testKeys() map[string]v1alpha1.ProviderKeySpec {
	return map[string]v1alpha1.ProviderKeySpec{
		"groq":   {Provider: v1alpha1.ProviderGroq, SecretRef: v1alpha1.SecretKeySelector{Name: "groq"}},
		"anth":   {Provider: v1alpha1.ProviderAnthropic, SecretRef: v1alpha1.SecretKeySelector{Name: "anth"}, BaseURL: "https://proxy.example.com/v1"},
		"gemini": {Provider: v1alpha1.ProviderGemini, SecretRef: v1alpha1.SecretKeySelector{Name: "gemini"}},
		"local":  {Provider: v1alpha1.ProviderOpenAICompatible, SecretRef: v1alpha1.SecretKeySelector{Name: "local"}, BaseURL: "http://vllm:8000/v1", InCluster: true},
		"nourl":  {Provider: v1alpha1.ProviderOpenAICompatible, SecretRef: v1alpha1.SecretKeySelector{Name: "x"}},
	}
}

func rp(name string, targets ...v1alpha1.Target) *v1alpha1.RoutePolicy {
	p := &v1alpha1.RoutePolicy{Spec: v1alpha1.RoutePolicySpec{Targets: targets}}
	p.Name = name
	return p
}

func tgt(name string, provider v1alpha1.Provider, model, key string) v1alpha1.Target {
	return v1alpha1.Target{Name: v1alpha1.TargetName(name), Provider: provider, Model: model, KeyRef: v1alpha1.LocalObjectReference{Name: key}}
}

func TestCompileResolvesTargets(t *testing.T) {
	over := tgt("local", v1alpha1.ProviderOpenAICompatible, "llama-local", "local")
	over.Price = &v1alpha1.PriceOverride{InputUSDPerMTok: 1, OutputUSDPerMTok: 2, SafetyMargin: 0.5}
	over.MaxTokens = ptr(int32(1000))
	over.Priority = 7
	in := rp("assistant",
		tgt("cheap", v1alpha1.ProviderGroq, "llama-3.3-70b-versatile", "groq"),
		tgt("claude", v1alpha1.ProviderAnthropic, "claude-3-haiku-20240307", "anth"),
		tgt("gemma", v1alpha1.ProviderGemini, "gemma-4-31b-it", "gemini"),
		over,
	)
	in.Spec.Constraints.MaxCostPerRequestUSD = ptr(0.01)
	before := in.DeepCopy()

	p, err := Compile("payments", in, testKeys(), catalog.Default())
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if in.Spec.Ranking != "" || in.Spec.Fallback.MaxAttempts != 0 || before.Spec.Targets[0].Weight != in.Spec.Targets[0].Weight {
		t.Fatalf("Compile modified its input")
	}
	if p.Name != "payments/assistant" || p.Baseline != "cheap" || p.BaselineIndex != 0 {
		t.Fatalf("name/baseline = %q %q %d", p.Name, p.Baseline, p.BaselineIndex)
	}
	if p.MaxLatency != 30*time.Second || p.MaxAttempts != 3 || p.PerAttemptTimeout != 10*time.Second ||
		p.Ranking != v1alpha1.RankingPriority || *p.HardCapUSD != 0.01 || p.SoftCapUSD != nil {
		t.Fatalf("defaults not applied: %+v", p)
	}
	wantBreaker := Breaker{FailureThreshold: 5, Window: 30 * time.Second, CooldownBase: 5 * time.Second,
		CooldownMax: 5 * time.Minute, Multiplier: 2, Jitter: 0.1, ProbeTimeout: 5 * time.Second}
	if p.Breaker != wantBreaker || p.RetryBudget != (RetryBudget{Ratio: 0.2, MinPerSecond: 10}) {
		t.Fatalf("breaker/budget = %+v %+v", p.Breaker, p.RetryBudget)
	}
	if !p.FailOver.Allows("transient", "timeout") || !p.FailOver.Allows("hard", "invalid_credentials") ||
		p.FailOver.Allows("semantic", "bad_request") {
		t.Fatalf("FailOver = %v", p.FailOver)
	}

	cheap, claude, gemma, local := p.Targets[0], p.Targets[1], p.Targets[2], p.Targets[3]
	if cheap.ID != "payments/assistant/cheap" || cheap.Index != 0 || cheap.Weight != 1 || !cheap.InCatalog || cheap.Price.Input == nil {
		t.Fatalf("cheap = %+v", cheap)
	}
	if claude.BaseURL != "https://proxy.example.com/v1" || claude.ContextTokens != 200000 || claude.ModelMaxOutputTokens != 4096 ||
		*claude.Price.Input != 0.25 || *claude.Price.CacheRead != 0.03 || !*claude.Caps.Tools {
		t.Fatalf("claude = %+v", claude)
	}
	if gemma.Provider != v1alpha1.ProviderGemini || !gemma.InCatalog || gemma.Price.Input != nil || gemma.Price.Output != nil {
		t.Fatalf("gemma (catalog google, no price) = %+v", gemma)
	}
	if local.InCatalog || local.BaseURL != "http://vllm:8000/v1" || local.MaxTokens != 1000 || local.Priority != 7 ||
		!local.PriceOverridden || *local.Price.Input != 1.5 || *local.Price.Output != 3 ||
		*local.BilledPrice.Input != 1 || *local.BilledPrice.Output != 2 || local.Caps.Tools != nil || !*local.Caps.Streaming {
		t.Fatalf("local = %+v", local)
	}
}

// Targets calling the same upstream share a breaker key across policies only when the ProviderKey, provider,
// model and breaker settings all match; the upstream (latency) key ignores the settings.
func TestBreakerKeysIdentifyTheUpstream(t *testing.T) {
	compile := func(ns, name string, threshold int32, targets ...v1alpha1.Target) *Policy {
		t.Helper()
		in := rp(name, targets...)
		in.Spec.CircuitBreaker.FailureThreshold = threshold
		p, err := Compile(ns, in, testKeys(), catalog.Default())
		if err != nil {
			t.Fatalf("Compile %s: %v", name, err)
		}
		return p
	}
	llama := tgt("cheap", v1alpha1.ProviderGroq, "llama-3.3-70b-versatile", "groq")
	renamed := tgt("other-name", v1alpha1.ProviderGroq, "llama-3.3-70b-versatile", "groq")
	a := compile("payments", "assistant", 5, llama, tgt("claude", v1alpha1.ProviderAnthropic, "claude-3-haiku-20240307", "anth"))
	b := compile("payments", "support", 5, renamed)
	c := compile("payments", "strict", 9, llama)
	d := compile("search", "assistant", 5, llama)
	e := compile("payments", "small", 5, tgt("cheap", v1alpha1.ProviderGroq, "llama-3.1-8b-instant", "groq"))

	if a.Targets[0].BreakerKey == "" || a.Targets[0].BreakerKey != b.Targets[0].BreakerKey {
		t.Fatalf("same upstream and settings under two policies: breaker keys %q and %q differ", a.Targets[0].BreakerKey, b.Targets[0].BreakerKey)
	}
	for _, other := range []struct {
		why string
		t   Target
	}{{"other breaker settings", c.Targets[0]}, {"other namespace (other ProviderKey)", d.Targets[0]},
		{"other model", e.Targets[0]}, {"other provider and key", a.Targets[1]}} {
		if other.t.BreakerKey == a.Targets[0].BreakerKey {
			t.Errorf("%s shares the breaker key %q", other.why, other.t.BreakerKey)
		}
	}
	if a.Targets[0].Upstream != c.Targets[0].Upstream {
		t.Errorf("settings changed the upstream key: %q vs %q", a.Targets[0].Upstream, c.Targets[0].Upstream)
	}
	if a.Targets[0].Upstream == d.Targets[0].Upstream || a.Targets[0].Upstream == e.Targets[0].Upstream {
		t.Errorf("different upstreams share the upstream key %q", a.Targets[0].Upstream)
	}
}

func TestCompileOverrideReplacesCatalogPrice(t *testing.T) {
	tg := tgt("claude", v1alpha1.ProviderAnthropic, "claude-3-haiku-20240307", "anth")
	tg.Price = &v1alpha1.PriceOverride{InputUSDPerMTok: 0.2, OutputUSDPerMTok: 1, SafetyMargin: 0}
	p, err := Compile("ns", rp("p", tg), testKeys(), catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	got := p.Targets[0]
	if *got.Price.Input != 0.2 || *got.Price.Output != 1 || got.Price.CacheRead != nil || got.ContextTokens != 200000 {
		t.Fatalf("override target = %+v", got)
	}
}

func TestCompileErrors(t *testing.T) {
	good := func() *v1alpha1.RoutePolicy {
		return rp("p", tgt("a", v1alpha1.ProviderGroq, "llama-3.3-70b-versatile", "groq"))
	}
	tests := []struct {
		name   string
		mutate func(*v1alpha1.RoutePolicy)
		want   []string
	}{
		{"missing key", func(r *v1alpha1.RoutePolicy) { r.Spec.Targets[0].KeyRef.Name = "nope" },
			[]string{`compile policy ns/p`, `target "a": keyRef "nope" names no ProviderKey`}},
		{"provider mismatch", func(r *v1alpha1.RoutePolicy) { r.Spec.Targets[0].KeyRef.Name = "anth" },
			[]string{`target "a": provider "groq" differs from provider "anthropic" of its ProviderKey "anth"`}},
		{"compatible without url", func(r *v1alpha1.RoutePolicy) {
			r.Spec.Targets[0] = tgt("a", v1alpha1.ProviderOpenAICompatible, "m", "nourl")
		}, []string{`target "a": ProviderKey "nourl" is openaiCompatible but has no baseURL`}},
		{"no targets", func(r *v1alpha1.RoutePolicy) { r.Spec.Targets = nil }, []string{"at least one target"}},
		{"duplicate names", func(r *v1alpha1.RoutePolicy) { r.Spec.Targets = append(r.Spec.Targets, r.Spec.Targets[0]) },
			[]string{`target "a": name is used twice`}},
		{"bad baseline", func(r *v1alpha1.RoutePolicy) { r.Spec.Baseline = "zzz" }, []string{`baseline: "zzz" names no target`}},
		{"semantic fail-over", func(r *v1alpha1.RoutePolicy) { r.Spec.Fallback.FailOverOn = []v1alpha1.FailureClass{"bad_request"} },
			[]string{`fallback.failOverOn: "bad_request" is a semantic failure`}},
		{"soft over hard", func(r *v1alpha1.RoutePolicy) {
			r.Spec.Constraints.MaxCostPerRequestUSD, r.Spec.Constraints.SoftCostPerRequestUSD = ptr(0.01), ptr(0.02)
		}, []string{"softCostPerRequestUSD 0.02 is greater than maxCostPerRequestUSD 0.01"}},
		{"cooldown base over max", func(r *v1alpha1.RoutePolicy) {
			r.Spec.CircuitBreaker.CooldownBase = &metav1.Duration{Duration: time.Hour}
		}, []string{"cooldownBase 1h0m0s is longer than cooldownMax 5m0s"}},
		{"slow call not below the attempt timeout", func(r *v1alpha1.RoutePolicy) {
			r.Spec.CircuitBreaker.SlowCallThreshold = &metav1.Duration{Duration: 10 * time.Second}
		}, []string{"circuitBreaker.slowCallThreshold 10s must be shorter than fallback.perAttemptTimeout 10s"}},
		{"slow call zero", func(r *v1alpha1.RoutePolicy) {
			r.Spec.CircuitBreaker.SlowCallThreshold = &metav1.Duration{}
		}, []string{"circuitBreaker.slowCallThreshold: 0s must be greater than 0"}},
		{"bad ranking", func(r *v1alpha1.RoutePolicy) { r.Spec.Ranking = "random" }, []string{`unknown strategy "random"`}},
		{"every problem reported", func(r *v1alpha1.RoutePolicy) {
			r.Spec.Targets[0].KeyRef.Name = "nope"
			r.Spec.Baseline = "zzz"
		}, []string{"names no ProviderKey", "names no target"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good()
			tt.mutate(in)
			p, err := Compile("ns", in, testKeys(), catalog.Default())
			if err == nil {
				t.Fatalf("Compile succeeded: %+v", p)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := Compile("ns", nil, nil, nil); err == nil {
		t.Fatalf("Compile(nil) succeeded")
	}
}

func TestFailOverSet(t *testing.T) {
	s := FailOverSet{"hard", "timeout"}
	tests := []struct {
		class, reason string
		want          bool
	}{
		{"hard", "invalid_credentials", true},
		{"transient", "timeout", true},
		{"transient", "provider_5xx", false},
		{"semantic", "timeout", false},
	}
	for _, tt := range tests {
		if got := s.Allows(tt.class, tt.reason); got != tt.want {
			t.Errorf("Allows(%s, %s) = %v, want %v", tt.class, tt.reason, got, tt.want)
		}
	}
}
