package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/breaker"
	"github.com/llmroute/llmroute/internal/catalog"
	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/providers"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// memTransport serves requests by calling a handler directly, chosen by the URL's host. It does no network
// I/O, so it works inside a synctest bubble and makes benchmarks measure the engine rather than the kernel.
type memTransport struct {
	hosts map[string]http.Handler
}

func (m *memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	h, ok := m.hosts[req.URL.Host]
	if !ok {
		return nil, errors.New("memTransport: unknown host " + req.URL.Host)
	}
	rec := httptest.NewRecorder()
	aborted := func() (aborted bool) {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler { //nolint:errorlint // recover returns the sentinel itself, never wrapped
					panic(v)
				}
				aborted = true
			}
		}()
		h.ServeHTTP(rec, req)
		return false
	}()
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	res := rec.Result()
	if aborted {
		// A real connection cut mid-body: the reader sees what was written, then an unexpected EOF.
		res.Body = io.NopCloser(io.MultiReader(bytes.NewReader(rec.Body.Bytes()), errReader{io.ErrUnexpectedEOF}))
	}
	res.Request = req
	return res, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// hangTransport never answers: it returns when the request's context ends, as a provider that accepted the
// connection and went silent. Inside a synctest bubble the wait is durably blocking, so fake time advances.
type hangTransport struct{}

func (hangTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	<-req.Context().Done()
	return nil, req.Context().Err()
}

// countSink records every event and counts them per request ID, so tests can prove exactly one per request.
type countSink struct {
	mu     sync.Mutex
	byID   map[string]int
	events []*decision.Event
}

func (c *countSink) Record(e *decision.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = map[string]int{}
	}
	c.byID[e.RequestID]++
	c.events = append(c.events, e)
}

func (c *countSink) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id]
}

func (c *countSink) all() []*decision.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*decision.Event(nil), c.events...)
}

// tgt describes one target of a test route and its fake provider.
type tgt struct {
	name      string
	provider  v1alpha1.Provider
	model     string
	maxTokens int32
	fault     fakeprovider.Fault
	serverKey string // the key the fake accepts; empty accepts any
	key       string // the key in the config; default "sk-test-<name>"
	echoKey   bool
}

var (
	cheapDeepSeek = tgt{name: "a-cheap", provider: v1alpha1.ProviderDeepSeek, model: "deepseek-chat", maxTokens: 1024}
	stableHaiku   = tgt{name: "b-stable", provider: v1alpha1.ProviderAnthropic, model: "claude-haiku-4-5", maxTokens: 600}
	fastGroq      = tgt{name: "c-fast", provider: v1alpha1.ProviderGroq, model: "llama-3.1-8b-instant", maxTokens: 256}
)

type harness struct {
	t       testing.TB
	servers map[string]*fakeprovider.Server
	targets []tgt
	spec    v1alpha1.RoutePolicySpec
	keys    map[string]string
	snap    *Snapshot
	eng     *Engine
	sink    *countSink
	mem     *memTransport
	// extra are more routes over the same targets and ProviderKeys, each with its own spec.
	extra map[string]v1alpha1.RoutePolicySpec
}

type harnessOpt struct {
	memory bool             // serve through memTransport instead of loopback HTTP
	now    func() time.Time // engine clock
	client *http.Client     // overrides the transport choice
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
func f64(v float64) *float64               { return &v }
func i32(v int32) *int32                   { return &v }

// baseSpec is the payments sample policy: 1.5 s, 0.004 USD, three attempts.
func baseSpec() v1alpha1.RoutePolicySpec {
	return v1alpha1.RoutePolicySpec{
		Constraints: v1alpha1.Constraints{MaxCostPerRequestUSD: f64(0.004), SoftCostPerRequestUSD: f64(0.0025), MaxLatency: dur(1500 * time.Millisecond)},
		Ranking:     v1alpha1.RankingPriority,
		Fallback:    v1alpha1.Fallback{MaxAttempts: 3, PerAttemptTimeout: dur(700 * time.Millisecond), FailOverOn: []v1alpha1.FailureClass{"transient", "hard"}},
		CircuitBreaker: v1alpha1.CircuitBreaker{FailureThreshold: 3, CooldownBase: dur(5 * time.Second), CooldownMax: dur(2 * time.Minute),
			CooldownMultiplier: 2, Jitter: f64(0), ProbeTimeout: dur(time.Second)},
		RetryBudget: v1alpha1.RetryBudget{Ratio: f64(1), MinPerSecond: i32(100)},
	}
}

func newHarness(t testing.TB, spec v1alpha1.RoutePolicySpec, o harnessOpt, targets ...tgt) *harness {
	t.Helper()
	h := &harness{t: t, servers: map[string]*fakeprovider.Server{}, targets: targets, spec: spec, keys: map[string]string{},
		sink: &countSink{}, mem: &memTransport{hosts: map[string]http.Handler{}}}
	for i, tg := range targets {
		wire := fakeprovider.OpenAI
		switch tg.provider {
		case v1alpha1.ProviderAnthropic:
			wire = fakeprovider.Anthropic
		case v1alpha1.ProviderGemini:
			wire = fakeprovider.Gemini
		}
		s, err := fakeprovider.Start(fakeprovider.Options{Provider: wire, Key: tg.serverKey, EchoKey: tg.echoKey})
		if err != nil {
			t.Fatalf("start fake %s: %v", tg.name, err)
		}
		t.Cleanup(s.Close)
		s.SetFault(tg.fault)
		h.servers[tg.name] = s
		h.mem.hosts[s.Addr()] = s
		if tg.key == "" {
			targets[i].key = "sk-test-" + tg.name
		}
		h.keys[tg.name] = targets[i].key
	}
	h.snap = h.buildSnapshot()
	hc := o.client
	if hc == nil && o.memory {
		hc = &http.Client{Transport: h.mem}
	}
	if hc == nil {
		hc = providers.NewHTTPClient(providers.HTTPClientOptions{})
	}
	now := o.now
	if now == nil {
		now = time.Now
	}
	h.eng = NewEngine(EngineOptions{HTTPClient: hc, Sink: h.sink, Now: now, Resolver: &keys.Resolver{Env: func(string) (string, bool) { return "", false }},
		Breakers: breaker.NewSet(breaker.WithClock(now), breaker.WithRand(func() float64 { return 0.5 })), Seed: func() uint64 { return 1 }})
	return h
}

func (h *harness) buildSnapshot() *Snapshot {
	h.t.Helper()
	b := &routerconfig.Bundle{Config: routerconfig.Config{Namespace: "payments"}, Keys: map[string]keys.Secret{}}
	spec := h.spec
	spec.Targets = nil
	for _, tg := range h.targets {
		vt := v1alpha1.Target{Name: v1alpha1.TargetName(tg.name), Provider: tg.provider, Model: tg.model, KeyRef: v1alpha1.LocalObjectReference{Name: tg.name}}
		if tg.maxTokens > 0 {
			vt.MaxTokens = i32(tg.maxTokens)
		}
		spec.Targets = append(spec.Targets, vt)
		b.Config.ProviderKeys = append(b.Config.ProviderKeys, routerconfig.ProviderKey{Name: tg.name, Provider: tg.provider,
			BaseURL: h.servers[tg.name].URL(), InCluster: true})
		b.Keys[tg.name] = keys.NewSecret(h.keys[tg.name])
	}
	b.Config.Routes = []routerconfig.Route{{Name: "assistant", Spec: spec}}
	for name, es := range h.extra {
		es.Targets = spec.Targets
		b.Config.Routes = append(b.Config.Routes, routerconfig.Route{Name: name, Spec: es})
	}
	if err := b.Normalize(); err != nil {
		h.t.Fatalf("normalize: %v", err)
	}
	s, err := NewSnapshot(b, catalog.Default())
	if err != nil {
		h.t.Fatalf("NewSnapshot: %v", err)
	}
	return s
}

// rotate replaces one target's key and returns the new snapshot, as a config reload would.
func (h *harness) rotate(target, key string) *Snapshot {
	h.keys[target] = key
	h.snap = h.buildSnapshot()
	h.eng.SetSnapshot(h.snap)
	return h.snap
}

func chat(text string, maxTokens int) *providers.ChatRequest {
	r := &providers.ChatRequest{Model: "assistant", Messages: []providers.Message{{Role: providers.RoleUser, Content: providers.TextContent(text)}}}
	if maxTokens > 0 {
		r.MaxTokens = &maxTokens
	}
	return r
}

func (h *harness) do(ctx context.Context, text string) *Outcome {
	return h.doRoute(ctx, "assistant", text)
}

func (h *harness) doRoute(ctx context.Context, route, text string) *Outcome {
	return h.eng.Execute(ctx, h.snap, &Inbound{RequestID: decision.NewRequestID(), Route: route, Req: chat(text, 64)})
}

// useTransport gives h a new engine whose upstream calls go through rt (the harness's in-memory transport,
// h.mem, serves what rt passes on). Call it inside a synctest bubble, so the engine's timers are the bubble's.
func (h *harness) useTransport(rt roundTripFunc) {
	h.eng = NewEngine(EngineOptions{Sink: h.sink, Resolver: &keys.Resolver{Env: func(string) (string, bool) { return "", false }},
		HTTPClient: &http.Client{Transport: rt}})
}

// hangOn gives h a new engine (see useTransport) on which target name accepted the connection and went
// silent: its calls block until their context ends. The other targets answer from h.mem.
func (h *harness) hangOn(name string) {
	hanging := h.servers[name].Addr()
	h.useTransport(func(req *http.Request) (*http.Response, error) {
		if req.URL.Host == hanging {
			return hangTransport{}.RoundTrip(req)
		}
		return h.mem.RoundTrip(req)
	})
}

// doEvery sends n requests, the i-th after i gaps, each in its own goroutine, and returns their outcomes and
// how long each took once all have finished.
func (h *harness) doEvery(ctx context.Context, n int, gap time.Duration) ([]*Outcome, []time.Duration) {
	outs := make([]*Outcome, n)
	took := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		if i > 0 {
			time.Sleep(gap)
		}
		wg.Go(func() {
			begin := time.Now()
			outs[i] = h.do(ctx, "x")
			took[i] = time.Since(begin)
		})
	}
	wg.Wait()
	return outs, took
}

// withRoutes adds routes over the harness's targets and rebuilds the snapshot.
func (h *harness) withRoutes(routes map[string]v1alpha1.RoutePolicySpec) {
	h.extra = routes
	h.snap = h.buildSnapshot()
	h.eng.SetSnapshot(h.snap)
}

func (h *harness) policyTargetState(policy, name string) routerconfig.TargetState {
	for _, ts := range h.eng.State().Targets {
		if ts.Target == name && strings.HasSuffix(ts.Policy, "/"+policy) {
			return ts
		}
	}
	h.t.Fatalf("no state for target %s of policy %s", name, policy)
	return routerconfig.TargetState{}
}

// requireOneEvent fails unless exactly one event was recorded for the outcome's request.
func (h *harness) requireOneEvent(o *Outcome) {
	h.t.Helper()
	if n := h.sink.count(o.Event.RequestID); n != 1 {
		h.t.Fatalf("request %s recorded %d decision events, want exactly 1", o.Event.RequestID, n)
	}
}

func (h *harness) calls(name string) int64 { return h.servers[name].Calls() }

func (h *harness) targetState(name string) routerconfig.TargetState {
	for _, ts := range h.eng.State().Targets {
		if ts.Target == name {
			return ts
		}
	}
	h.t.Fatalf("no state for target %s", name)
	return routerconfig.TargetState{}
}

func eventJSON(t testing.TB, e *decision.Event) string {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("marshal event: %v", err)
	}
	return string(b)
}

func attemptSummary(e *decision.Event) string {
	var parts []string
	for _, a := range e.Attempts {
		s := a.Target + ":" + a.Outcome
		if a.Reason != "" {
			s += ":" + string(a.Reason)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

func candidate(e *decision.Event, name string) decision.Candidate {
	for _, c := range e.Candidates {
		if c.Target == name {
			return c
		}
	}
	return decision.Candidate{}
}
