package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/policy"
	"github.com/llmroute/llmroute/internal/providers"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

var fixedNow = func() time.Time { return time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC) }

func TestGoldenPath(t *testing.T) {
	h := newHarness(t, baseSpec(), harnessOpt{}, cheapDeepSeek, stableHaiku, fastGroq)
	o := h.do(t.Context(), "what is my balance")
	if o.Err != nil {
		t.Fatalf("error: %+v", o.Err)
	}
	h.requireOneEvent(o)
	e := o.Event
	if e.Final.Outcome != decision.OutcomeOK || e.Final.Reason != faults.ReasonOK || e.Final.Target != "a-cheap" || o.Attempts != 1 {
		t.Fatalf("final = %+v attempts %d", e.Final, o.Attempts)
	}
	if e.Route == nil || e.Route.Target != "a-cheap" || e.Route.Score != 1 || e.Policy != "payments/assistant" {
		t.Fatalf("route = %+v policy %q", e.Route, e.Policy)
	}
	if e.Final.CostUSD <= 0 || e.Final.CostUSD > 0.004 || e.Final.Usage == nil || e.Final.CostDeltaUSD == nil || *e.Final.CostDeltaUSD != 0 {
		t.Fatalf("cost = %+v", e.Final)
	}
	if k := e.Attempts[0].Key; k == nil || k.Source != keys.SourceConfig || !strings.HasPrefix(k.ID, "payments/a-cheap#") {
		t.Fatalf("key = %+v", k)
	}
	if h.calls("b-stable") != 0 || h.calls("c-fast") != 0 {
		t.Fatal("other targets were called")
	}
}

// A permanently broken first target: each request makes at most maxAttempts attempts, the breaker opens at
// exactly failureThreshold failures, and later requests never reach the broken target.
func TestPermanentOutageOpensBreakerAtThreshold(t *testing.T) {
	spec := baseSpec()
	spec.Fallback.MaxAttempts = 2
	a := cheapDeepSeek
	a.fault = fakeprovider.Fault{Status: 500}
	h := newHarness(t, spec, harnessOpt{now: fixedNow}, a, stableHaiku, fastGroq)
	for i := 1; i <= 6; i++ {
		o := h.do(t.Context(), "pay invoice")
		h.requireOneEvent(o)
		if o.Err != nil {
			t.Fatalf("request %d: %+v", i, o.Err)
		}
		if o.Attempts > 2 {
			t.Fatalf("request %d made %d attempts, maxAttempts 2", i, o.Attempts)
		}
		wantA := int64(min(i, 3))
		if got := h.calls("a-cheap"); got != wantA {
			t.Fatalf("after request %d the broken target saw %d calls, want %d", i, got, wantA)
		}
		st := h.targetState("a-cheap").State
		if i < 3 && st != routerconfig.BreakerClosed || i >= 3 && st != routerconfig.BreakerOpen {
			t.Fatalf("after request %d breaker = %s", i, st)
		}
		if i <= 3 {
			if got := attemptSummary(o.Event); got != "a-cheap:failed:provider_5xx,b-stable:ok" || o.FallbackReason != faults.ReasonProvider5xx ||
				o.Event.Final.Reason != faults.ReasonFallbackSucceeded {
				t.Fatalf("request %d attempts %s fallback %q final %q", i, got, o.FallbackReason, o.Event.Final.Reason)
			}
		} else {
			if c := candidate(o.Event, "a-cheap"); c.Eligible || c.Excluded != faults.ReasonBreakerOpen {
				t.Fatalf("request %d candidate a = %+v", i, c)
			}
			if got := attemptSummary(o.Event); got != "b-stable:ok" || o.Event.Final.Reason != faults.ReasonOK {
				t.Fatalf("request %d attempts %s", i, got)
			}
		}
	}
}

// Policies calling the same upstream (ProviderKey, provider, model) with the same breaker settings share one
// breaker: the outage one policy's traffic found is open for the other at once, and neither re-learns it. A
// policy with other settings keeps its own breaker and its own rules.
func TestPoliciesShareTheBreakerOfAnUpstream(t *testing.T) {
	spec := baseSpec()
	spec.Fallback.MaxAttempts = 2
	a := cheapDeepSeek
	a.fault = fakeprovider.Fault{Status: 500}
	h := newHarness(t, spec, harnessOpt{now: fixedNow}, a, stableHaiku)
	strict := baseSpec()
	strict.Fallback.MaxAttempts = 2
	strict.CircuitBreaker.FailureThreshold = 4
	h.withRoutes(map[string]v1alpha1.RoutePolicySpec{"support": spec, "strict": strict})

	for i := 1; i <= 3; i++ {
		if o := h.do(t.Context(), "pay invoice"); o.Err != nil {
			t.Fatalf("assistant request %d: %+v", i, o.Err)
		}
	}
	if got := h.calls("a-cheap"); got != 3 {
		t.Fatalf("the broken upstream saw %d calls, want 3 (the threshold)", got)
	}
	for _, p := range []string{"assistant", "support"} {
		if st := h.policyTargetState(p, "a-cheap").State; st != routerconfig.BreakerOpen {
			t.Fatalf("policy %s reports a-cheap %s, want open: the breaker is shared", p, st)
		}
	}
	if st := h.policyTargetState("strict", "a-cheap").State; st != routerconfig.BreakerClosed {
		t.Fatalf("policy strict reports a-cheap %s, want closed: its breaker has other settings", st)
	}

	o := h.doRoute(t.Context(), "support", "pay invoice")
	h.requireOneEvent(o)
	if o.Err != nil {
		t.Fatalf("support: %+v", o.Err)
	}
	if c := candidate(o.Event, "a-cheap"); c.Eligible || c.Excluded != faults.ReasonBreakerOpen {
		t.Fatalf("support's first request: candidate a-cheap = %+v, want excluded breaker_open", c)
	}
	if got := attemptSummary(o.Event); got != "b-stable:ok" {
		t.Fatalf("support's first request attempts %s, want only b-stable", got)
	}
	if got := h.calls("a-cheap"); got != 3 {
		t.Fatalf("support's request reached the open upstream: %d calls", got)
	}

	o = h.doRoute(t.Context(), "strict", "pay invoice")
	if got := attemptSummary(o.Event); got != "a-cheap:failed:provider_5xx,b-stable:ok" {
		t.Fatalf("strict's request attempts %s, want a try of a-cheap under its own breaker", got)
	}
	if got := h.calls("a-cheap"); got != 4 {
		t.Fatalf("after strict's request the broken upstream saw %d calls, want 4", got)
	}
}

// A target whose wire format cannot express the request (Gemini cannot fetch an https image URL) is skipped
// like a missing capability: no attempt, nothing sent, nothing counted against its breaker. With another
// target the request is served; with none, the client gets a 422 naming what could not be expressed.
func TestUnexpressibleRequestSkipsTheTarget(t *testing.T) {
	gemini := tgt{name: "a-gemini", provider: v1alpha1.ProviderGemini, model: "gemini-2.5-flash", maxTokens: 512}
	withImage := func() *providers.ChatRequest {
		r := chat("what is in this picture?", 64)
		r.Messages[0].Content = &providers.Content{Parts: []providers.ContentPart{{Type: "text", Text: "what is in this picture?"},
			{Type: "image_url", ImageURL: &providers.ImageURL{URL: "https://example.com/cat.png"}}}}
		return r
	}
	spec := baseSpec()
	spec.Constraints = v1alpha1.Constraints{MaxLatency: dur(1500 * time.Millisecond)}
	spec.CircuitBreaker.FailureThreshold = 1
	vision := tgt{name: "b-openai", provider: v1alpha1.ProviderOpenAI, model: "gpt-4o-mini", maxTokens: 256}
	h := newHarness(t, spec, harnessOpt{now: fixedNow}, gemini, vision)
	for i := range 2 {
		o := h.eng.Execute(t.Context(), h.snap, &Inbound{RequestID: decision.NewRequestID(), Route: "assistant", Req: withImage()})
		h.requireOneEvent(o)
		if o.Err != nil {
			t.Fatalf("request %d: %+v", i, o.Err)
		}
		if got := attemptSummary(o.Event); got != "b-openai:ok" || o.Attempts != 1 || o.Target.Name != "b-openai" {
			t.Fatalf("request %d: attempts %s (%d), target %v; want only b-openai", i, got, o.Attempts, o.Target.Name)
		}
		if c := candidate(o.Event, "a-gemini"); c.Eligible || c.Excluded != faults.ReasonMissingCapability {
			t.Fatalf("request %d: candidate a-gemini = %+v, want excluded missing_capability", i, c)
		}
		if o.Event.Final.Reason != faults.ReasonOK {
			t.Fatalf("request %d: final reason %s, want ok (no attempt failed)", i, o.Event.Final.Reason)
		}
	}
	if n := h.calls("a-gemini"); n != 0 {
		t.Fatalf("gemini received %d calls", n)
	}
	if st := h.targetState("a-gemini"); st.State != routerconfig.BreakerClosed || st.ConsecutiveFailures != 0 {
		t.Fatalf("gemini's breaker = %+v, want closed with no failure: the target is not at fault", st)
	}

	only := newHarness(t, spec, harnessOpt{now: fixedNow}, gemini)
	o := only.eng.Execute(t.Context(), only.snap, &Inbound{RequestID: decision.NewRequestID(), Route: "assistant", Req: withImage()})
	only.requireOneEvent(o)
	if o.Err == nil || o.Err.HTTPStatus != http.StatusUnprocessableEntity || o.Err.Reason != faults.ReasonNoEligibleTarget ||
		!strings.Contains(o.Err.Message, "a-gemini: missing_capability (") || !strings.Contains(o.Err.Message, "image") {
		t.Fatalf("only gemini: err = %+v, want 422 no_eligible_target naming the image URL", o.Err)
	}
	if len(o.Event.Attempts) != 0 || only.calls("a-gemini") != 0 {
		t.Fatalf("only gemini: %d attempts, %d calls; want none", len(o.Event.Attempts), only.calls("a-gemini"))
	}
}

func TestAllDownIsBoundedAnd503(t *testing.T) {
	spec := baseSpec()
	spec.Fallback.MaxAttempts = 2
	var ts []tgt
	for _, x := range []tgt{cheapDeepSeek, stableHaiku, fastGroq} {
		x.fault = fakeprovider.Fault{Status: 503}
		ts = append(ts, x)
	}
	h := newHarness(t, spec, harnessOpt{now: fixedNow}, ts...)
	o := h.do(t.Context(), "pay")
	h.requireOneEvent(o)
	if o.Err == nil || o.Err.HTTPStatus != http.StatusServiceUnavailable || o.Attempts != 2 || h.calls("c-fast") != 0 {
		t.Fatalf("err %+v attempts %d", o.Err, o.Attempts)
	}
	if !strings.Contains(o.Err.Message, "a-cheap: provider_5xx") || o.Event.Final.Outcome != decision.OutcomeFailed {
		t.Fatalf("message %q final %+v", o.Err.Message, o.Event.Final)
	}
}

// Semantic failures are the request's fault: the provider's error goes back as is and nothing fails over.
func TestSemanticErrorsNeverFailOver(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fault  fakeprovider.Fault
		status int
		reason faults.Reason
	}{
		{"bad_request", fakeprovider.Fault{BadRequest: true}, 400, faults.ReasonBadRequest},
		{"context_too_long", fakeprovider.Fault{ContextTooLong: true}, 400, faults.ReasonContextTooLarge},
		{"content_filter", fakeprovider.Fault{ContentFilter: true}, 0, faults.ReasonContentFiltered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := cheapDeepSeek
			a.fault = tc.fault
			h := newHarness(t, baseSpec(), harnessOpt{}, a, stableHaiku, fastGroq)
			o := h.do(t.Context(), "refund everything")
			h.requireOneEvent(o)
			if h.calls("b-stable") != 0 || h.calls("c-fast") != 0 || o.Attempts != 1 {
				t.Fatalf("failed over: attempts %d", o.Attempts)
			}
			at := o.Event.Attempts[0]
			if at.Reason != tc.reason || at.Class != faults.ClassSemantic {
				t.Fatalf("attempt = %+v", at)
			}
			if tc.status == 0 {
				// A filtered answer is still the provider's answer, delivered as OpenAI would.
				if o.Err != nil || o.Response == nil || o.Response.Choices[0].FinishReason != providers.FinishContentFilter {
					t.Fatalf("content filter outcome: %+v", o.Err)
				}
				return
			}
			if o.Err == nil || o.Err.HTTPStatus != tc.status || o.Err.Reason != tc.reason || o.Err.Upstream == nil ||
				o.Err.Type != "invalid_request_error" || o.FallbackReason != tc.reason {
				t.Fatalf("err = %+v", o.Err)
			}
			if h.targetState("a-cheap").State != routerconfig.BreakerClosed {
				t.Fatal("a semantic error counted against the breaker")
			}
		})
	}
}

// The cheapest target always fails; fallbacks must still never push any request over the hard cap.
func TestFallbackNeverExceedsHardCapUnderConcurrency(t *testing.T) {
	spec := baseSpec()
	spec.CircuitBreaker.FailureThreshold = 1 << 20 // keep the cheap target failing for every request
	spec.RetryBudget.MinPerSecond = i32(1000)
	// A thousand requests at once under -race take seconds on two cores: the deadline is not what is tested.
	spec.Constraints.MaxLatency = dur(time.Minute)
	spec.Fallback.PerAttemptTimeout = dur(30 * time.Second)
	a := cheapDeepSeek
	a.fault = fakeprovider.Fault{Status: 500}
	big := tgt{name: "d-big", provider: v1alpha1.ProviderAnthropic, model: "claude-haiku-4-5", maxTokens: 4096} // 0.02+ USD worst case
	h := newHarness(t, spec, harnessOpt{memory: true}, a, big, stableHaiku, fastGroq)
	const n = 1000
	hardCap := 0.004
	outs := make([]*Outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// No max_tokens: the big target's own 4,096-token cap makes its worst case 0.02 USD.
			outs[i] = h.eng.Execute(t.Context(), h.snap, &Inbound{RequestID: decision.NewRequestID(), Route: "assistant",
				Req: chat(strings.Repeat("word ", i%150+1), 0)})
		})
	}
	wg.Wait()
	var total float64
	for i, o := range outs {
		h.requireOneEvent(o)
		if o.Err != nil {
			t.Fatalf("request %d: %+v", i, o.Err)
		}
		if o.CostUSD > hardCap || o.Event.Final.CostUSD > hardCap {
			t.Fatalf("request %d cost %.6f over the cap", i, o.CostUSD)
		}
		if c := candidate(o.Event, "d-big"); c.Excluded != faults.ReasonOverHardCostCap {
			t.Fatalf("request %d: big target %+v", i, c)
		}
		total += o.CostUSD
	}
	if total > n*hardCap {
		t.Fatalf("total spend %.4f over %d x cap", total, n)
	}
	if h.calls("d-big") != 0 || h.calls("a-cheap") != n {
		t.Fatalf("big calls %d, cheap calls %d", h.calls("d-big"), h.calls("a-cheap"))
	}
}

// scriptedAdapter answers from a function, to produce what the wire cannot: a failure that bills usage.
type scriptedAdapter struct {
	mu    sync.Mutex
	calls map[string]int
	fn    func(model string) (*providers.ChatResponse, providers.Usage, error)
}

func (s *scriptedAdapter) Do(_ context.Context, _ *http.Client, ep providers.Endpoint, _ *providers.ChatRequest) (*providers.ChatResponse, providers.Usage, error) {
	s.mu.Lock()
	s.calls[ep.Model]++
	s.mu.Unlock()
	return s.fn(ep.Model)
}

func (s *scriptedAdapter) Stream(context.Context, *http.Client, providers.Endpoint, *providers.ChatRequest) (providers.StreamReader, error) {
	return nil, errors.New("not used")
}

func TestBudgetRecheckExcludesExpensiveFallbackAfterBilledFailure(t *testing.T) {
	h := newHarness(t, baseSpec(), harnessOpt{}, cheapDeepSeek, tgt{name: "b-stable", provider: v1alpha1.ProviderAnthropic,
		model: "claude-haiku-4-5", maxTokens: 100}, fastGroq)
	sa := &scriptedAdapter{calls: map[string]int{}, fn: func(model string) (*providers.ChatResponse, providers.Usage, error) {
		if model == "deepseek-chat" {
			// Billed 1,000 input + 13,000 output tokens = 0.00378 USD, then failed.
			return nil, providers.Usage{InputTokens: 1000, OutputTokens: 13000}, &providers.UpstreamError{Provider: "openai", Status: 500, Body: []byte(`{"error":{"message":"boom"}}`)}
		}
		content := "ok"
		return &providers.ChatResponse{Choices: []providers.Choice{{Message: providers.ResponseMessage{Role: "assistant", Content: &content}, FinishReason: "stop"}}},
			providers.Usage{InputTokens: 10, OutputTokens: 5}, nil
	}}
	h.eng.adapterFor = func(string) (providers.Adapter, error) { return sa, nil }
	o := h.do(t.Context(), "short")
	h.requireOneEvent(o)
	if o.Err != nil {
		t.Fatalf("err %+v", o.Err)
	}
	if sa.calls["claude-haiku-4-5"] != 0 || o.Event.Final.Target != "c-fast" {
		t.Fatalf("expensive fallback tried after the budget was spent: calls %v final %q", sa.calls, o.Event.Final.Target)
	}
	if o.Event.Budget == nil || o.Event.Budget.SpentUSD < 0.0035 || o.CostUSD > 0.004 {
		t.Fatalf("budget %+v cost %.6f", o.Event.Budget, o.CostUSD)
	}
}

// The overall deadline covers every attempt: two hanging targets at 700 ms each, and the third gets only what is
// left of 1.5 s.
func TestOverallDeadlineCoversAllAttempts(t *testing.T) {
	h := newHarness(t, baseSpec(), harnessOpt{}, cheapDeepSeek, stableHaiku, fastGroq) // fakes start outside the bubble
	synctest.Test(t, func(t *testing.T) {
		h.eng = NewEngine(EngineOptions{HTTPClient: &http.Client{Transport: hangTransport{}}, Sink: h.sink,
			Resolver: &keys.Resolver{Env: func(string) (string, bool) { return "", false }}})
		start := time.Now()
		o := h.do(t.Context(), "pay")
		elapsed := time.Since(start)
		h.requireOneEvent(o)
		if elapsed != 1500*time.Millisecond {
			t.Fatalf("took %s, want exactly the 1.5 s deadline", elapsed)
		}
		if got := attemptSummary(o.Event); got != "a-cheap:failed:timeout,b-stable:failed:timeout,c-fast:failed:deadline_exceeded" {
			t.Fatalf("attempts %s", got)
		}
		if o.Err == nil || o.Err.HTTPStatus != http.StatusGatewayTimeout || o.Err.Reason != faults.ReasonDeadlineExceeded {
			t.Fatalf("err %+v", o.Err)
		}
		if o.Event.Attempts[0].LatencyMS != 700 || o.Event.Attempts[2].LatencyMS != 100 || o.Event.Final.LatencyMS != 1500 {
			t.Fatalf("latencies %+v final %d", o.Event.Attempts, o.Event.Final.LatencyMS)
		}
		// The deadline cut the last attempt short: that is not the target's fault.
		if h.targetState("c-fast").ConsecutiveFailures != 0 {
			t.Fatal("deadline cut counted against the breaker")
		}
	})
}

// A breaker cycle on fake time: three failures open it, the cooldown passes, one probe closes it.
func TestBreakerCooldownProbeCloses(t *testing.T) {
	a := cheapDeepSeek
	a.fault = fakeprovider.Fault{Status: 500}
	h0 := newHarness(t, baseSpec(), harnessOpt{}, a, fastGroq) // servers are started outside the bubble
	synctest.Test(t, func(t *testing.T) {
		h := h0
		h.eng = NewEngine(EngineOptions{HTTPClient: &http.Client{Transport: h.mem}, Sink: h.sink, Resolver: &keys.Resolver{Env: func(string) (string, bool) { return "", false }}})
		for range 3 {
			h.do(t.Context(), "x")
		}
		if h.targetState("a-cheap").State != routerconfig.BreakerOpen {
			t.Fatal("breaker not open after 3 failures")
		}
		time.Sleep(4 * time.Second) // fake time: still inside the 5 s cooldown (jitter 0)
		if o := h.do(t.Context(), "x"); candidate(o.Event, "a-cheap").Excluded != faults.ReasonBreakerOpen {
			t.Fatalf("target admitted during cooldown: %s", attemptSummary(o.Event))
		}
		h.servers["a-cheap"].SetFault(fakeprovider.Fault{})
		time.Sleep(1001 * time.Millisecond)
		o := h.do(t.Context(), "x")
		if len(o.Event.Attempts) != 1 || !o.Event.Attempts[0].Probe || o.Event.Attempts[0].Target != "a-cheap" || o.Err != nil {
			t.Fatalf("probe: %+v", o.Event.Attempts)
		}
		if h.targetState("a-cheap").State != routerconfig.BreakerClosed {
			t.Fatal("successful probe did not close the breaker")
		}
	})
}

func TestStreamingFailsOverBeforeFirstChunk(t *testing.T) {
	a := cheapDeepSeek
	a.fault = fakeprovider.Fault{Status: 503}
	h := newHarness(t, baseSpec(), harnessOpt{}, a, stableHaiku, fastGroq)
	o := h.eng.Execute(t.Context(), h.snap, &Inbound{RequestID: "s1", Route: "assistant", Req: chat("stream me a reply please", 64), Stream: true})
	if o.Err != nil || o.Stream == nil || o.FirstChunk == nil {
		t.Fatalf("outcome %+v", o.Err)
	}
	if h.sink.count("s1") != 0 {
		t.Fatal("event recorded before the stream finished")
	}
	if o.FallbackReason != faults.ReasonProvider5xx || o.Target.Name != "b-stable" {
		t.Fatalf("fallback %q target %s", o.FallbackReason, o.Target.Name)
	}
	var err error
	for err == nil {
		_, err = o.Stream.Next()
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("stream ended with %v", err)
	}
	o.Stream.Close()
	o.Finish(o.Stream.Usage(), nil)
	o.Finish(o.Stream.Usage(), nil) // a second call must not record a second event
	h.requireOneEvent(o)
	if f := o.Event.Final; f.Outcome != decision.OutcomeOK || f.Reason != faults.ReasonFallbackSucceeded || f.CostUSD <= 0 || f.StreamInterrupted {
		t.Fatalf("final %+v", f)
	}
}

func TestStreamCutAfterFirstChunkIsInterrupted(t *testing.T) {
	a := cheapDeepSeek
	a.fault = fakeprovider.Fault{CutStreamAfter: 2}
	h := newHarness(t, baseSpec(), harnessOpt{}, a, stableHaiku)
	o := h.eng.Execute(t.Context(), h.snap, &Inbound{RequestID: "s2", Route: "assistant", Req: chat("one two three four five six", 64), Stream: true})
	if o.Err != nil || o.Stream == nil {
		t.Fatalf("outcome %+v", o.Err)
	}
	var err error
	for err == nil {
		_, err = o.Stream.Next()
	}
	if !errors.Is(err, providers.ErrStreamInterrupted) {
		t.Fatalf("stream ended with %v", err)
	}
	o.Stream.Close()
	o.Finish(o.Stream.Usage(), err)
	h.requireOneEvent(o)
	f := o.Event.Final
	if f.Outcome != decision.OutcomeFailed || f.Reason != faults.ReasonStreamInterrupted || !f.StreamInterrupted {
		t.Fatalf("final %+v", f)
	}
	if h.calls("b-stable") != 0 {
		t.Fatal("failed over after the first chunk")
	}
}

// A stream whose provider goes silent after two chunks, keeping the connection open, is cut after
// fallback.streamIdleTimeout of silence: Next fails with a stream_interrupted error naming the stall, the
// upstream request is cancelled, and the event records stream_interrupted. Chunks within the bound pass.
func TestStalledStreamIsCutAfterStreamIdleTimeout(t *testing.T) {
	spec := baseSpec()
	spec.Constraints.MaxLatency = dur(time.Minute)
	spec.Fallback.StreamIdleTimeout = dur(2 * time.Second)
	h0 := newHarness(t, spec, harnessOpt{}, cheapDeepSeek, stableHaiku)
	synctest.Test(t, func(t *testing.T) {
		h := h0
		upstreamGone := make(chan struct{})
		h.useTransport(func(req *http.Request) (*http.Response, error) {
			pr, pw := io.Pipe()
			go func() {
				for i, word := range []string{"one", " two"} {
					if i > 0 {
						time.Sleep(1500 * time.Millisecond) // within the 2 s bound
					}
					fmt.Fprintf(pw, "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q}}]}\n\n", word)
				}
				<-req.Context().Done() // then silence, with the connection open, until the router gives up
				close(upstreamGone)
				pw.CloseWithError(req.Context().Err())
			}()
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: pr, Request: req}, nil
		})
		begin := time.Now()
		o := h.eng.Execute(t.Context(), h.snap, &Inbound{RequestID: "stall", Route: "assistant", Req: chat("x", 64), Stream: true})
		if o.Err != nil || o.Stream == nil {
			t.Fatalf("outcome %+v", o.Err)
		}
		var text string
		var err error
		for err == nil {
			var c *providers.StreamChunk
			if c, err = o.Stream.Next(); err == nil {
				for _, ch := range c.Choices {
					if ch.Delta.Content != nil {
						text += *ch.Delta.Content
					}
				}
			}
		}
		took := time.Since(begin)
		if text != " two" || !errors.Is(err, providers.ErrStreamInterrupted) || !strings.Contains(err.Error(), "no data from the provider for 2s") {
			t.Fatalf("after the first chunk: text %q, err %v", text, err)
		}
		if took != 3500*time.Millisecond {
			t.Fatalf("stream cut after %s, want 3.5 s (the second chunk at 1.5 s, then 2 s of silence)", took)
		}
		<-upstreamGone // the upstream request was cancelled, or this would block forever (synctest reports it)
		o.Stream.Close()
		o.Finish(o.Stream.Usage(), err)
		h.requireOneEvent(o)
		if f := o.Event.Final; f.Reason != faults.ReasonStreamInterrupted || !f.StreamInterrupted {
			t.Fatalf("final %+v", f)
		}
	})
}

const canary = "sk-canary-DO-NOT-LEAK-1234567890abcdef"

// A rejected key quarantines the target; a rotated key in a new snapshot heals it at once. The rejected key,
// echoed back by the provider, never appears in an event or an error.
func TestInvalidKeyQuarantineAndRotation(t *testing.T) {
	a := cheapDeepSeek
	a.serverKey, a.key, a.echoKey = "sk-good-key-000000000000000000", canary, true
	h := newHarness(t, baseSpec(), harnessOpt{now: fixedNow}, a, stableHaiku, fastGroq)
	o1 := h.do(t.Context(), "pay")
	h.requireOneEvent(o1)
	if got := attemptSummary(o1.Event); got != "a-cheap:failed:invalid_credentials,b-stable:ok" {
		t.Fatalf("attempts %s", got)
	}
	if h.targetState("a-cheap").State != routerconfig.BreakerQuarantined {
		t.Fatalf("state %+v", h.targetState("a-cheap"))
	}
	before := h.servers["a-cheap"].Requests()
	o2 := h.do(t.Context(), "pay")
	if candidate(o2.Event, "a-cheap").Excluded != faults.ReasonQuarantined || h.servers["a-cheap"].Requests() != before {
		t.Fatalf("quarantined target used: %s", attemptSummary(o2.Event))
	}
	old := h.snap
	h.rotate("a-cheap", "sk-good-key-000000000000000000")
	o3 := h.do(t.Context(), "pay")
	if got := attemptSummary(o3.Event); got != "a-cheap:ok" {
		t.Fatalf("after rotation: %s", got)
	}
	if o3.Event.Attempts[0].Key.ID == o1.Event.Attempts[0].Key.ID || old.Checksum == h.snap.Checksum {
		t.Fatal("rotation did not change the traced fingerprint or the checksum")
	}
	// Every error path too: all targets reject the canary.
	for _, e := range h.sink.all() {
		if js := eventJSON(t, e); strings.Contains(js, canary) || strings.Contains(js, "DO-NOT-LEAK") {
			t.Fatalf("canary in event: %s", js)
		}
	}
	h2 := newHarness(t, baseSpec(), harnessOpt{}, tgt{name: "a-cheap", provider: v1alpha1.ProviderDeepSeek, model: "deepseek-chat",
		maxTokens: 1024, serverKey: "sk-other-000000000000", key: canary, echoKey: true})
	o4 := h2.do(t.Context(), "pay")
	if o4.Err == nil || strings.Contains(o4.Err.Message, "DO-NOT-LEAK") || strings.Contains(o4.Err.Error(), "DO-NOT-LEAK") ||
		strings.Contains(eventJSON(t, o4.Event), "DO-NOT-LEAK") {
		t.Fatalf("canary leaked or no error: %+v", o4.Err)
	}
}

func TestKeyOverrideOnlyWhenAllowed(t *testing.T) {
	h := newHarness(t, baseSpec(), harnessOpt{}, cheapDeepSeek)
	over := keys.NewSecret("sk-client-own-key-1234567890")
	o := h.eng.Execute(t.Context(), h.snap, &Inbound{RequestID: "k1", Route: "assistant", Req: chat("x", 8), KeyOverride: &over})
	h.requireOneEvent(o)
	if o.Err == nil || o.Err.HTTPStatus != http.StatusForbidden || h.calls("a-cheap") != 0 {
		t.Fatalf("override accepted where not allowed: %+v", o.Err)
	}
	spec := baseSpec()
	spec.AllowRequestKeyOverride = true
	h2 := newHarness(t, spec, harnessOpt{}, cheapDeepSeek)
	o2 := h2.eng.Execute(t.Context(), h2.snap, &Inbound{RequestID: "k2", Route: "assistant", Req: chat("x", 8), KeyOverride: &over})
	if o2.Err != nil || o2.Event.Attempts[0].Key.Source != keys.SourceRequest ||
		h2.servers["a-cheap"].LastRequest().Header.Get("Authorization") != "Bearer "+over.Reveal() {
		t.Fatalf("override not used: %+v %+v", o2.Err, o2.Event.Attempts)
	}
}

// During an outage of the first target, the retry budget caps how many requests may fall back.
func TestRetryBudgetCapsThunderingHerd(t *testing.T) {
	spec := baseSpec()
	spec.CircuitBreaker.FailureThreshold = 1 << 20
	spec.RetryBudget = v1alpha1.RetryBudget{Ratio: f64(0.1), MinPerSecond: i32(1)}
	a := cheapDeepSeek
	a.fault = fakeprovider.Fault{Status: 503}
	h := newHarness(t, spec, harnessOpt{memory: true, now: fixedNow}, a, stableHaiku)
	const n = 300
	outs := make([]*Outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { outs[i] = h.do(t.Context(), "pay") })
	}
	wg.Wait()
	ok, refused := 0, 0
	for _, o := range outs {
		h.requireOneEvent(o)
		switch {
		case o.Err == nil:
			ok++
		case o.Err.Reason == faults.ReasonRetryBudgetExhausted && o.Err.HTTPStatus == http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("unexpected error %+v", o.Err)
		}
	}
	// max(0.1 x 300, 1 x 10) = 30 fallbacks at most.
	if int64(ok) != h.calls("b-stable") || ok > 30 || ok < 10 || ok+refused != n {
		t.Fatalf("fallbacks %d (b calls %d), refused %d", ok, h.calls("b-stable"), refused)
	}
}

// Every way a request can end records exactly one event.
func TestExactlyOneEventOnEveryPath(t *testing.T) {
	h := newHarness(t, baseSpec(), harnessOpt{}, cheapDeepSeek, stableHaiku)
	for _, in := range []*Inbound{
		{RequestID: "unknown-route", Route: "nope", Req: chat("x", 8)},
		{RequestID: "nil-request", Route: "assistant"},
		{RequestID: "too-expensive", Route: "assistant", Req: chat(strings.Repeat("a ", 20000), 64)},
		{RequestID: "vision-missing", Route: "assistant", Req: &providers.ChatRequest{Messages: []providers.Message{{Role: "user",
			Content: &providers.Content{Parts: []providers.ContentPart{{Type: providers.PartImageURL, ImageURL: &providers.ImageURL{URL: "https://x/y.png"}}}}}}}},
	} {
		o := h.eng.Execute(t.Context(), h.snap, in)
		h.requireOneEvent(o)
		if o.Err == nil || o.Event.Final.Outcome != decision.OutcomeFailed {
			t.Fatalf("%s: %+v", in.RequestID, o.Err)
		}
	}
	if o := h.eng.Execute(t.Context(), h.snap, &Inbound{RequestID: "x", Route: "assistant", Req: chat(strings.Repeat("a ", 20000), 64)}); o.Err.HTTPStatus != http.StatusUnprocessableEntity ||
		o.Err.Reason != faults.ReasonNoEligibleTarget {
		t.Fatalf("caps exclusion: %+v", o.Err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	o := h.eng.Execute(ctx, h.snap, &Inbound{RequestID: "gone", Route: "assistant", Req: chat("x", 8)})
	h.requireOneEvent(o)
	if o.Err == nil || o.Err.Reason != faults.ReasonDeadlineExceeded {
		t.Fatalf("cancelled: %+v", o.Err)
	}
	// An abandoned stream outcome records nothing until Finish, then exactly one.
	o = h.eng.Execute(t.Context(), h.snap, &Inbound{RequestID: "stream", Route: "assistant", Req: chat("x", 8), Stream: true})
	if h.sink.count("stream") != 0 {
		t.Fatal("stream event before Finish")
	}
	o.Stream.Close()
	o.Finish(providers.Usage{}, io.ErrUnexpectedEOF)
	h.requireOneEvent(o)
}

func TestLatencyTrackerP95(t *testing.T) {
	l := NewLatencyTracker(100)
	if l.P95("t") != 0 {
		t.Fatal("p95 without data")
	}
	for i := 1; i <= 100; i++ {
		l.Record("t", time.Duration(i)*time.Millisecond)
	}
	if got := l.P95("t"); got != 95*time.Millisecond {
		t.Fatalf("p95 = %s", got)
	}
	for range 100 { // the window rolls: old samples leave
		l.Record("t", time.Second)
	}
	if got := l.P95("t"); got != time.Second {
		t.Fatalf("p95 after roll = %s", got)
	}
}

func TestSnapshotNamesAndErrors(t *testing.T) {
	h := newHarness(t, baseSpec(), harnessOpt{}, cheapDeepSeek)
	p1, ok1 := h.snap.Policy("assistant")
	p2, ok2 := h.snap.Policy("payments/assistant")
	if !ok1 || !ok2 || p1 != p2 {
		t.Fatal("route not reachable by both names")
	}
	b := *h.snap.Bundle
	b.Config.Routes = append([]routerconfig.Route{}, b.Config.Routes...)
	b.Config.Routes[0].Spec.Targets = append([]v1alpha1.Target{}, b.Config.Routes[0].Spec.Targets...)
	b.Config.Routes[0].Spec.Targets[0].KeyRef.Name = "missing"
	if _, err := NewSnapshot(&b, nil); err == nil || !strings.Contains(err.Error(), `route "assistant"`) {
		t.Fatalf("err = %v", err)
	}
	var _ = policy.ExcludedAlreadyTried
}

// TestBreakerOpeningCutsAttemptsInFlight: requests already waiting on a hanging target when other requests'
// timeouts open its breaker fail over at that moment, instead of each running out its own per-attempt timeout.
func TestBreakerOpeningCutsAttemptsInFlight(t *testing.T) {
	h0 := newHarness(t, baseSpec(), harnessOpt{}, cheapDeepSeek, fastGroq) // servers are started outside the bubble
	synctest.Test(t, func(t *testing.T) {
		h := h0
		h.hangOn("a-cheap")
		outs, took := h.doEvery(t.Context(), 7, 100*time.Millisecond) // a-cheap hangs, the per-attempt timeout is 700 ms
		requireCutAfterThreeTimeouts(t, h, outs, took)
	})
}

// requireCutAfterThreeTimeouts checks the outcomes of 7 requests sent 100 ms apart while a-cheap hangs (per-attempt
// timeout 700 ms): requests 0-2 time out on a-cheap at 700, 800 and 900 ms; the third failure opens the breaker
// at 900 ms, which cuts requests 3-6 (sent at 300-600 ms) there and then. All are answered by c-fast.
func requireCutAfterThreeTimeouts(t *testing.T, h *harness, outs []*Outcome, took []time.Duration) {
	t.Helper()
	for i, o := range outs {
		h.requireOneEvent(o)
		if o.Err != nil || o.Target.Name != "c-fast" {
			t.Fatalf("request %d: err %v, target %v", i, o.Err, o.Target)
		}
		first := o.Event.Attempts[0]
		switch {
		case i < 3:
			if first.Reason != faults.ReasonTimeout || took[i] != 700*time.Millisecond {
				t.Errorf("request %d: first attempt %s after %s, want a 700 ms timeout", i, first.Reason, took[i])
			}
		default:
			want := 900*time.Millisecond - time.Duration(i)*100*time.Millisecond
			if first.Reason != faults.ReasonBreakerOpen || took[i] != want {
				t.Errorf("request %d: first attempt %s after %s, want cut by the breaker after %s", i, first.Reason, took[i], want)
			}
		}
	}
	if st := h.targetState("a-cheap"); st.State != routerconfig.BreakerOpen || st.ConsecutiveFailures != 3 {
		t.Errorf("breaker %+v: want open after exactly the 3 timeouts", st)
	}
}

// The streaming twin of TestBreakerOpeningCutsAttemptsInFlight: streams still waiting for their first chunk
// from a hanging target are cut when other streams' timeouts open its breaker, and fail over at that moment.
func TestBreakerOpeningCutsStreamsWaitingForTheirFirstChunk(t *testing.T) {
	h0 := newHarness(t, baseSpec(), harnessOpt{}, cheapDeepSeek, fastGroq) // servers are started outside the bubble
	synctest.Test(t, func(t *testing.T) {
		h := h0
		h.hangOn("a-cheap")
		const n = 7
		outs := make([]*Outcome, n)
		took := make([]time.Duration, n)
		var wg sync.WaitGroup
		for i := range n {
			if i > 0 {
				time.Sleep(100 * time.Millisecond) // the bubble's clock: spacing the requests, not waiting for behaviour
			}
			wg.Go(func() {
				begin := time.Now()
				o := h.eng.Execute(t.Context(), h.snap, &Inbound{RequestID: decision.NewRequestID(), Route: "assistant",
					Req: chat("x", 64), Stream: true})
				took[i] = time.Since(begin)
				if o.Stream != nil {
					var err error
					for err == nil {
						_, err = o.Stream.Next()
					}
					o.Stream.Close()
					o.Finish(o.Stream.Usage(), nil)
				}
				outs[i] = o
			})
		}
		wg.Wait()
		requireCutAfterThreeTimeouts(t, h, outs, took) // as without streaming, waiting for the first chunk
	})
}

// With circuitBreaker.slowCallThreshold, attempts still waiting on a hanging target count as failures when they
// turn slow, so the breaker opens after failureThreshold slow attempts instead of failureThreshold timeouts,
// and cuts every attempt still waiting. The slow attempts are counted once, not again when they are cut.
func TestSlowCallsOpenTheBreakerBeforeTheTimeouts(t *testing.T) {
	spec := baseSpec()
	spec.CircuitBreaker.SlowCallThreshold = dur(150 * time.Millisecond)
	h0 := newHarness(t, spec, harnessOpt{}, cheapDeepSeek, fastGroq) // servers are started outside the bubble
	synctest.Test(t, func(t *testing.T) {
		h := h0
		hanging := h.servers["a-cheap"].Addr()
		var hung atomic.Int64
		h.useTransport(func(req *http.Request) (*http.Response, error) {
			if req.URL.Host == hanging {
				hung.Add(1)
				return hangTransport{}.RoundTrip(req)
			}
			return h.mem.RoundTrip(req)
		})
		outs, took := h.doEvery(t.Context(), 7, 100*time.Millisecond) // a-cheap hangs; slow after 150 ms, timeout 700 ms
		// Requests 0-2 turn slow at 150, 250 and 350 ms; the third opens the breaker at 350 ms, which cuts
		// requests 0-3 there and then. Requests 4-6 find it open and never call a-cheap.
		for i, o := range outs {
			h.requireOneEvent(o)
			if o.Err != nil || o.Target.Name != "c-fast" {
				t.Fatalf("request %d: err %v, target %v", i, o.Err, o.Target)
			}
			switch first := o.Event.Attempts[0]; {
			case i <= 3:
				want := 350*time.Millisecond - time.Duration(i)*100*time.Millisecond
				if first.Target != "a-cheap" || first.Reason != faults.ReasonBreakerOpen || took[i] != want {
					t.Errorf("request %d: first attempt %s:%s after %s, want a-cheap cut by the breaker after %s", i, first.Target, first.Reason, took[i], want)
				}
			default:
				if c := candidate(o.Event, "a-cheap"); c.Excluded != faults.ReasonBreakerOpen || len(o.Event.Attempts) != 1 || took[i] != 0 {
					t.Errorf("request %d: candidate a-cheap %+v, %d attempts, took %s; want skipped as breaker_open at once", i, c, len(o.Event.Attempts), took[i])
				}
			}
		}
		if got := hung.Load(); got != 4 {
			t.Errorf("%d requests reached the hanging target, want 4", got)
		}
		if st := h.targetState("a-cheap"); st.State != routerconfig.BreakerOpen || st.ConsecutiveFailures != 3 || st.LastFailureReason != string(faults.ReasonTimeout) {
			t.Errorf("breaker %+v: want open after exactly the 3 slow attempts, counted once", st)
		}
	})
}

// A slow attempt that then answers counts as a failure when it turns slow and as a success when it answers:
// one at a time, a target slower than the threshold but answering never opens. One that then fails is
// counted once.
func TestSlowButAnsweringTargetStaysClosed(t *testing.T) {
	spec := baseSpec()
	spec.CircuitBreaker.SlowCallThreshold = dur(150 * time.Millisecond)
	h0 := newHarness(t, spec, harnessOpt{}, cheapDeepSeek, fastGroq)
	synctest.Test(t, func(t *testing.T) {
		h := h0
		answerLate(h, "a-cheap", 200*time.Millisecond) // a-cheap answers, but after the 150 ms threshold
		for i := range 5 {
			o := h.do(t.Context(), "x")
			if o.Err != nil || o.Target.Name != "a-cheap" || len(o.Event.Attempts) != 1 {
				t.Fatalf("request %d: err %v, target %v, attempts %s", i, o.Err, o.Target, attemptSummary(o.Event))
			}
		}
		if st := h.targetState("a-cheap"); st.State != routerconfig.BreakerClosed || st.ConsecutiveFailures != 0 {
			t.Errorf("breaker %+v: want closed, the answers reset each slow count", st)
		}

		// Slow and then failing: counted once, when it turned slow, not again for the 503.
		h.servers["a-cheap"].SetFault(fakeprovider.Fault{Status: http.StatusServiceUnavailable})
		for i := range 2 {
			if o := h.do(t.Context(), "x"); o.Err != nil || attemptSummary(o.Event) != "a-cheap:failed:provider_5xx,c-fast:ok" {
				t.Fatalf("failing request %d: err %v, attempts %s", i, o.Err, attemptSummary(o.Event))
			}
		}
		if st := h.targetState("a-cheap"); st.State != routerconfig.BreakerClosed || st.ConsecutiveFailures != 2 {
			t.Errorf("breaker %+v: want closed with 2 failures, one per slow failing attempt", st)
		}
	})
}

// With failureRatio, every call of a slow-but-answering target is one slow failure in the window, not a failure
// and a success: once failureThreshold calls are in the window, the ratio (1.0) opens the breaker even though
// each answer closed its run of consecutive failures.
func TestSlowAnsweringTargetOpensByFailureRatio(t *testing.T) {
	spec := baseSpec()
	spec.CircuitBreaker.SlowCallThreshold = dur(150 * time.Millisecond)
	ratio := 0.7
	spec.CircuitBreaker.FailureRatio = &ratio
	h0 := newHarness(t, spec, harnessOpt{}, cheapDeepSeek, fastGroq)
	synctest.Test(t, func(t *testing.T) {
		h := h0
		answerLate(h, "a-cheap", 200*time.Millisecond) // a-cheap answers, but after the 150 ms threshold
		for i := range 2 {
			if o := h.do(t.Context(), "x"); o.Err != nil || o.Target.Name != "a-cheap" {
				t.Fatalf("request %d: err %v, target %v", i, o.Err, o.Target)
			}
		}
		// failureThreshold 3: the third call turning slow brings the window to 3 of 3 failed, which opens the
		// breaker and cuts that very attempt, so it fails over.
		if o := h.do(t.Context(), "x"); o.Err != nil || attemptSummary(o.Event) != "a-cheap:failed:breaker_open,c-fast:ok" {
			t.Fatalf("third request: err %v, attempts %s", o.Err, attemptSummary(o.Event))
		}
		if st := h.targetState("a-cheap"); st.State != routerconfig.BreakerOpen {
			t.Fatalf("breaker %+v: want open, 3 of 3 calls in the window were slow", st)
		}
		if o := h.do(t.Context(), "x"); o.Err != nil || o.Target.Name != "c-fast" {
			t.Fatalf("after opening: err %v, target %v; want c-fast", o.Err, o.Target)
		}
	})
}

// answerLate makes target answer every request only after delay; the other targets answer at once.
func answerLate(h *harness, target string, delay time.Duration) {
	slow := h.servers[target].Addr()
	h.useTransport(func(req *http.Request) (*http.Response, error) {
		if req.URL.Host == slow {
			time.Sleep(delay) // inside the synctest bubble: the fake clock advances, no real wait
		}
		return h.mem.RoundTrip(req)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
