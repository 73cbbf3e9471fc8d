// Package simulate runs the real routing engine against in-process fake providers (over loopback HTTP, in the
// right wire format for each provider) and prints the decision trail, for `llmroute simulate` and `make demo`.
// Every scenario returns its decision events and the fake providers' counters, so tests assert on them.
package simulate

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/breaker"
	"github.com/llmroute/llmroute/internal/catalog"
	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/providers"
	"github.com/llmroute/llmroute/internal/router"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// Clock is real time plus an offset the scenario advances, so attempt latencies are real while cooldowns of
// seconds or minutes pass at once, without sleeping.
type Clock struct{ off atomic.Int64 }

// Now returns the simulated time.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// Advance moves the simulated time forward by d.
func (c *Clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// targetDef is one target of the simulated payments policy and its fake provider.
type targetDef struct {
	name      string
	provider  v1alpha1.Provider
	model     string
	maxTokens int32
	priority  int32
	latency   time.Duration
}

// paymentTargets mirror config/samples/payments-workflow.yaml (scenarios_test.go keeps them in step).
var paymentTargets = []targetDef{
	{"a-cheap", v1alpha1.ProviderDeepSeek, "deepseek-chat", 1024, 10, 120 * time.Millisecond},
	{"b-stable", v1alpha1.ProviderAnthropic, "claude-haiku-4-5", 600, 20, 200 * time.Millisecond},
	{"c-fast", v1alpha1.ProviderGroq, "llama-3.1-8b-instant", 256, 30, 50 * time.Millisecond},
}

func md(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
func f64(v float64) *float64              { return &v }
func i32(v int32) *int32                  { return &v }

// PaymentSpec is the payments-workflow sample's RoutePolicy spec (without targets): 1.5 s, at most 0.004 USD.
func PaymentSpec() v1alpha1.RoutePolicySpec {
	return v1alpha1.RoutePolicySpec{
		Constraints: v1alpha1.Constraints{MaxCostPerRequestUSD: f64(0.004), SoftCostPerRequestUSD: f64(0.0025), MaxLatency: md(1500 * time.Millisecond)},
		Ranking:     v1alpha1.RankingPriority,
		Baseline:    "a-cheap",
		Fallback:    v1alpha1.Fallback{MaxAttempts: 3, PerAttemptTimeout: md(700 * time.Millisecond), FailOverOn: []v1alpha1.FailureClass{"transient", "hard"}},
		CircuitBreaker: v1alpha1.CircuitBreaker{FailureThreshold: 3, CooldownBase: md(5 * time.Second), CooldownMax: md(2 * time.Minute),
			CooldownMultiplier: 2, Jitter: f64(0.1), ProbeTimeout: md(time.Second)},
		RetryBudget: v1alpha1.RetryBudget{Ratio: f64(0.2), MinPerSecond: i32(5)},
	}
}

// Fixture is one simulated router: fake providers, config, snapshot and engine.
type Fixture struct {
	Clock   *Clock
	Servers map[string]*fakeprovider.Server
	Engine  *router.Engine
	Snap    *router.Snapshot
	Ring    *decision.Ring
	spec    v1alpha1.RoutePolicySpec
	keys    map[string]string
	srvKeys map[string]string
}

// NewFixture starts one fake provider per payments target (deepseek and groq speak the OpenAI format,
// anthropic its own) and an engine over them. mutate may adjust the spec.
func NewFixture(mutate func(*v1alpha1.RoutePolicySpec)) (*Fixture, error) {
	f := &Fixture{Clock: &Clock{}, Servers: map[string]*fakeprovider.Server{}, Ring: decision.NewRing(4096), spec: PaymentSpec(),
		keys: map[string]string{}, srvKeys: map[string]string{}}
	if mutate != nil {
		mutate(&f.spec)
	}
	for _, t := range paymentTargets {
		wire, prefix := fakeprovider.OpenAI, "/v1"
		switch t.provider {
		case v1alpha1.ProviderAnthropic:
			wire = fakeprovider.Anthropic
		case v1alpha1.ProviderGroq:
			prefix = "/openai/v1"
		}
		f.keys[t.name] = "sk-sim-" + t.name + "-0000000000000000"
		s, err := fakeprovider.Start(fakeprovider.Options{Provider: wire, PathPrefix: prefix, Key: f.keys[t.name], EchoKey: true})
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("start fake %s: %w", t.name, err)
		}
		s.SetFault(fakeprovider.Fault{Latency: t.latency})
		f.Servers[t.name] = s
	}
	snap, err := f.snapshot()
	if err != nil {
		f.Close()
		return nil, err
	}
	f.Snap = snap
	f.Engine = router.NewEngine(router.EngineOptions{
		HTTPClient: providers.NewHTTPClient(providers.HTTPClientOptions{}),
		Resolver:   &keys.Resolver{Env: func(string) (string, bool) { return "", false }},
		Sink:       f.Ring, Now: f.Clock.Now, Router: "simulate",
		Breakers: breaker.NewSet(breaker.WithClock(f.Clock.Now), breaker.WithRand(func() float64 { return 0.5 })),
		Seed:     func() uint64 { return 42 },
	})
	f.Engine.SetSnapshot(snap)
	return f, nil
}

func (f *Fixture) snapshot() (*router.Snapshot, error) {
	b := &routerconfig.Bundle{Config: routerconfig.Config{Namespace: "payments"}, Keys: map[string]keys.Secret{}}
	spec := f.spec
	spec.Targets = nil
	for _, t := range paymentTargets {
		spec.Targets = append(spec.Targets, v1alpha1.Target{Name: v1alpha1.TargetName(t.name), Provider: t.provider, Model: t.model,
			KeyRef: v1alpha1.LocalObjectReference{Name: t.name}, MaxTokens: i32(t.maxTokens), Priority: t.priority})
		b.Config.ProviderKeys = append(b.Config.ProviderKeys, routerconfig.ProviderKey{Name: t.name, Provider: t.provider,
			BaseURL: f.Servers[t.name].URL(), InCluster: true})
		b.Keys[t.name] = keys.NewSecret(f.keys[t.name])
	}
	b.Config.Routes = []routerconfig.Route{{Name: "assistant", Spec: spec}}
	if err := b.Normalize(); err != nil {
		return nil, fmt.Errorf("normalize config: %w", err)
	}
	s, err := router.NewSnapshot(b, catalog.Default())
	if err != nil {
		return nil, fmt.Errorf("compile config: %w", err)
	}
	return s, nil
}

// SetConfigKey replaces the key the config holds for a target and swaps in a new snapshot, as a reload of a
// rotated ProviderKey Secret would.
func (f *Fixture) SetConfigKey(target, key string) error {
	f.keys[target] = key
	s, err := f.snapshot()
	if err != nil {
		return err
	}
	f.Snap = s
	f.Engine.SetSnapshot(s)
	return nil
}

// Close stops the fake providers.
func (f *Fixture) Close() {
	for _, s := range f.Servers {
		s.Close()
	}
}

// Do sends one non-streaming request with prompt text and max_tokens (0: none).
func (f *Fixture) Do(ctx context.Context, text string, maxTokens int) *router.Outcome {
	req := &providers.ChatRequest{Model: "assistant", Messages: []providers.Message{{Role: providers.RoleUser, Content: providers.TextContent(text)}}}
	if maxTokens > 0 {
		req.MaxTokens = &maxTokens
	}
	return f.Engine.Execute(ctx, f.Snap, &router.Inbound{RequestID: decision.NewRequestID()[:6], Route: "assistant", Req: req})
}

// Counters returns the fake providers' call counts by target.
func (f *Fixture) Counters() map[string]int64 {
	m := map[string]int64{}
	for n, s := range f.Servers {
		m[n] = s.Calls()
	}
	return m
}
