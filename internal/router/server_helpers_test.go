package router_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/router"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// target describes one target of a test route and the fake provider behind it.
type target struct {
	name      string
	provider  v1alpha1.Provider
	model     string
	fault     fakeprovider.Fault
	key       string // key in the config; "" for none (the store, env or override must supply it)
	serverKey string // key the fake accepts; "" accepts any
	echoKey   bool
	// reasoningContent makes an OpenAI-wire fake answer with reasoning_content, as DeepSeek's reasoner does.
	reasoningContent bool
}

func wireOf(p v1alpha1.Provider) string {
	switch p {
	case v1alpha1.ProviderAnthropic:
		return fakeprovider.Anthropic
	case v1alpha1.ProviderGemini:
		return fakeprovider.Gemini
	}
	return fakeprovider.OpenAI
}

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a logger and a decision log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// rig is a Server over fake providers, served on loopback by httptest with the real handlers.
type rig struct {
	t       testing.TB
	srv     *router.Server
	api     *httptest.Server
	admin   *httptest.Server
	fakes   map[string]*fakeprovider.Server
	client  openai.Client
	logs    *lockedBuffer
	decLog  *lockedBuffer
	targets []target
}

type rigOptions struct {
	spec       func(*v1alpha1.RoutePolicySpec)
	server     func(*router.ServerOptions)
	noConfig   bool
	routeNames []string // extra routes with the same targets
}

func newRig(t testing.TB, o rigOptions, targets ...target) *rig {
	t.Helper()
	r := &rig{t: t, fakes: map[string]*fakeprovider.Server{}, logs: &lockedBuffer{}, decLog: &lockedBuffer{}, targets: targets}
	for _, tg := range targets {
		f, err := fakeprovider.Start(fakeprovider.Options{Provider: wireOf(tg.provider), Key: tg.serverKey, EchoKey: tg.echoKey,
			ReasoningContent: tg.reasoningContent})
		if err != nil {
			t.Fatalf("start fake %s: %v", tg.name, err)
		}
		t.Cleanup(f.Close)
		f.SetFault(tg.fault)
		r.fakes[tg.name] = f
	}
	opts := router.ServerOptions{
		Logger:      slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		DecisionLog: r.decLog,
		Env:         func(string) (string, bool) { return "", false },
	}
	if o.server != nil {
		o.server(&opts)
	}
	r.srv = router.NewServer(opts)
	t.Cleanup(r.srv.Close)
	if !o.noConfig {
		if err := r.srv.Apply("test", r.bundle(o)); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	r.api = httptest.NewServer(r.srv.Handler())
	t.Cleanup(r.api.Close)
	r.admin = httptest.NewServer(r.srv.AdminHandler())
	t.Cleanup(r.admin.Close)
	r.client = openai.NewClient(option.WithBaseURL(r.api.URL+"/v1"), option.WithAPIKey("client-side-key"),
		option.WithMaxRetries(0), option.WithHTTPClient(r.api.Client()))
	return r
}

// bundle is the router config of the rig: route "chat" (and o.routeNames) over the targets, in order.
func (r *rig) bundle(o rigOptions) *routerconfig.Bundle {
	b := &routerconfig.Bundle{Config: routerconfig.Config{Namespace: "team"}, Keys: map[string]keys.Secret{}}
	spec := v1alpha1.RoutePolicySpec{Ranking: v1alpha1.RankingPriority}
	for _, tg := range r.targets {
		spec.Targets = append(spec.Targets, v1alpha1.Target{Name: v1alpha1.TargetName(tg.name), Provider: tg.provider,
			Model: tg.model, KeyRef: v1alpha1.LocalObjectReference{Name: tg.name}})
		pk := routerconfig.ProviderKey{Name: tg.name, Provider: tg.provider, BaseURL: r.fakes[tg.name].URL(), InCluster: true}
		if tg.key != "" {
			b.Keys[tg.name] = keys.NewSecret(tg.key)
			pk.Fingerprint = keys.Fingerprint(tg.key)
		}
		b.Config.ProviderKeys = append(b.Config.ProviderKeys, pk)
	}
	if o.spec != nil {
		o.spec(&spec)
	}
	rp := v1alpha1.RoutePolicy{Spec: spec}
	v1alpha1.SetDefaults(&rp)
	for _, name := range append([]string{"chat"}, o.routeNames...) {
		b.Config.Routes = append(b.Config.Routes, routerconfig.Route{Name: name, Spec: rp.Spec})
	}
	sum, err := routerconfig.Checksum(b.Config)
	if err != nil {
		r.t.Fatal(err)
	}
	b.Config.Checksum = sum
	return b
}

func userMsg(text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: "chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}
}

// rawPost posts body to the API and returns the response with its body read.
func (r *rig) rawPost(path string, body string, hdr map[string]string) (*http.Response, string) {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.api.URL+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := r.api.Client().Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp, string(b)
}

// get fetches path from the admin listener.
func (r *rig) get(path string) (int, string) {
	r.t.Helper()
	resp, err := r.admin.Client().Get(r.admin.URL + path)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// settledMetrics returns /metrics once no API request is in flight. The server puts an answer on the wire
// before it records the request's metrics (so that the client does not wait on them), so a scrape made as soon
// as a response arrives can come before them; the in-flight gauge drops only after they are recorded. A scrape
// is no snapshot (the registry reads its collectors one by one), so the one that sees the gauge at 0 may have
// read the counters before that: the scrape after it is the one returned.
func (r *rig) settledMetrics() string {
	r.t.Helper()
	waitFor(r.t, "no request in flight", func() bool {
		_, m := r.get("/metrics")
		return strings.Contains(m, "\nllmroute_inflight_requests 0\n")
	})
	_, m := r.get("/metrics")
	return m
}

// event returns the decision event of a request id from the ring.
func (r *rig) event(id string) *decision.Event {
	r.t.Helper()
	ev, ok := r.srv.Ring().Get(id)
	if !ok {
		r.t.Fatalf("no decision event for %s", id)
	}
	return ev
}

// errorBody decodes an OpenAI error body and checks its shape: message, type, param (present, null) and code.
func errorBody(t testing.TB, body string) (typ, code, msg string) {
	t.Helper()
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	e, ok := raw["error"]
	if !ok {
		t.Fatalf("no error object: %s", body)
	}
	for _, f := range []string{"message", "type", "param", "code"} {
		if _, ok := e[f]; !ok {
			t.Errorf("error body lacks %q: %s", f, body)
		}
	}
	_ = json.Unmarshal(e["type"], &typ)
	_ = json.Unmarshal(e["code"], &code)
	_ = json.Unmarshal(e["message"], &msg)
	return typ, code, msg
}

// waitFor polls cond until it holds or the deadline passes. It waits for a state another goroutine reaches
// (an upstream request arriving), not for time to pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
