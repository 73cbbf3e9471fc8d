package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/router"
)

// anthropicClient is the official Anthropic SDK pointed at the rig's API listener; the SDK's key is ignored by
// the router, as for the OpenAI SDK.
func (r *rig) anthropicClient() anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(r.api.URL), option.WithAPIKey("client-side-key"),
		option.WithMaxRetries(0), option.WithHTTPClient(r.api.Client()))
}

func userText(text string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{Model: "chat", MaxTokens: 256,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(text))}}
}

// accumulate reads a stream to its end with the SDK's own Accumulate and returns the message, the event
// types in order and the stream's error.
func accumulate(t *testing.T, stream interface {
	Next() bool
	Current() anthropic.MessageStreamEventUnion
	Err() error
	Close() error
}) (anthropic.Message, []string, error) {
	t.Helper()
	defer stream.Close()
	var msg anthropic.Message
	var types []string
	for stream.Next() {
		ev := stream.Current()
		types = append(types, ev.Type)
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("accumulate %s: %v", ev.Type, err)
		}
	}
	return msg, types, stream.Err()
}

func textOf(m anthropic.Message) string {
	var b strings.Builder
	for _, c := range m.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// TestAnthropicClientPerProvider drives each adapter through the official anthropic-sdk-go client on
// POST /v1/messages, streaming and not, with and without a failover from a primary answering 503, and checks
// the answer, the routing headers, the fakes' request counters and the decision event.
func TestAnthropicClientPerProvider(t *testing.T) {
	for _, tg := range []target{openaiTarget, anthropicTarget, geminiTarget} {
		for _, failover := range []bool{false, true} {
			name := string(tg.provider)
			targets := []target{tg}
			wantAttempts := "1"
			if failover {
				name += "/failover"
				targets = []target{withFault(renamed(openaiTarget, "broken"), broken503), tg}
				wantAttempts = "2"
			}
			t.Run(name, func(t *testing.T) {
				r := newRig(t, rigOptions{}, targets...)
				client := r.anthropicClient()
				calls := func(want int64) {
					t.Helper()
					if got := r.fakes[tg.name].Calls(); got != want {
						t.Errorf("%s saw %d calls, want %d", tg.name, got, want)
					}
					if failover {
						if got := r.fakes["broken"].Calls(); got != want {
							t.Errorf("broken primary saw %d calls, want %d", got, want)
						}
					}
				}

				var resp *http.Response
				msg, err := client.Messages.New(context.Background(), userText("hello there router"), option.WithResponseInto(&resp))
				if err != nil {
					t.Fatalf("non-streaming: %v", err)
				}
				if got := textOf(*msg); got != "fake reply to: hello there router" || len(msg.Content) != 1 {
					t.Errorf("content %q in %d blocks", got, len(msg.Content))
				}
				if msg.Type != "message" || msg.Role != "assistant" || msg.StopReason != anthropic.StopReasonEndTurn ||
					!strings.HasPrefix(msg.ID, "msg_") || msg.Model != tg.model {
					t.Errorf("message %s %s %s %s %s", msg.Type, msg.Role, msg.StopReason, msg.ID, msg.Model)
				}
				if msg.Usage.InputTokens == 0 || msg.Usage.OutputTokens == 0 {
					t.Errorf("usage missing: %s", msg.Usage.RawJSON())
				}
				checkHeaders(t, resp.Header, tg.name, wantAttempts, failover)
				if resp.Header.Get(router.HeaderCostUSD) == "" {
					t.Error("no cost header")
				}
				id := resp.Header.Get(router.HeaderRequestID)
				if resp.Header.Get("request-id") != id {
					t.Errorf("request-id %q, want %q", resp.Header.Get("request-id"), id)
				}
				ev := r.event(id)
				if ev.Final.Outcome != "ok" || ev.Final.Target != tg.name || ev.Final.Usage == nil ||
					ev.Final.Usage.OutputTokens != msg.Usage.OutputTokens {
					t.Errorf("decision event final %+v", ev.Final)
				}
				calls(1)

				stream := client.Messages.NewStreaming(context.Background(), userText("stream this please"), option.WithResponseInto(&resp))
				smsg, types, err := accumulate(t, stream)
				if err != nil {
					t.Fatalf("stream: %v", err)
				}
				if got := textOf(smsg); got != "fake reply to: stream this please" {
					t.Errorf("streamed %q", got)
				}
				if smsg.StopReason != anthropic.StopReasonEndTurn || smsg.Usage.InputTokens == 0 || smsg.Usage.OutputTokens == 0 {
					t.Errorf("stream stop %q usage %s", smsg.StopReason, smsg.Usage.RawJSON())
				}
				if len(types) < 6 || types[0] != "message_start" || types[1] != "content_block_start" ||
					types[len(types)-2] != "message_delta" || types[len(types)-1] != "message_stop" {
					t.Errorf("event sequence %v", types)
				}
				checkHeaders(t, resp.Header, tg.name, wantAttempts, failover)
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Errorf("content type %q", ct)
				}
				if resp.Trailer.Get(router.HeaderCostUSD) == "" {
					t.Error("no cost trailer")
				}
				sev := r.event(resp.Header.Get(router.HeaderRequestID))
				if sev.Final.Outcome != "ok" || sev.Final.Target != tg.name || sev.Final.StreamInterrupted ||
					sev.Final.Usage == nil || sev.Final.Usage.OutputTokens != smsg.Usage.OutputTokens {
					t.Errorf("stream decision event final %+v", sev.Final)
				}
				calls(2)

				metrics := r.settledMetrics()
				reason := "ok"
				if failover {
					reason = "fallback_succeeded"
				}
				want := fmt.Sprintf(`llmroute_requests_total{outcome="ok",reason="%s",route="team/chat"} 2`, reason)
				if !strings.Contains(metrics, want) {
					t.Errorf("metrics lack %s", want)
				}
			})
		}
	}
}

// TestAnthropicClientToolRoundTrip forces a tool call through each adapter and sends its result back, as an
// agent loop would, streaming and not: tool_use must come back with a parsed input object and stop_reason
// tool_use, and the tool_result turn must reach the provider as a tool result.
func TestAnthropicClientToolRoundTrip(t *testing.T) {
	weather := anthropic.ToolUnionParam{OfTool: &anthropic.ToolParam{Name: "get_weather", Description: anthropic.String("the weather"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"input": map[string]any{"type": "string"}}}}}
	for _, tg := range []target{openaiTarget, anthropicTarget, geminiTarget} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", tg.provider, stream), func(t *testing.T) {
				r := newRig(t, rigOptions{}, tg)
				client := r.anthropicClient()
				p := userText("weather in Oslo")
				p.Tools = []anthropic.ToolUnionParam{weather}
				p.ToolChoice = anthropic.ToolChoiceUnionParam{OfTool: &anthropic.ToolChoiceToolParam{Name: "get_weather"}}
				var msg anthropic.Message
				if stream {
					m, _, err := accumulate(t, client.Messages.NewStreaming(context.Background(), p))
					if err != nil {
						t.Fatal(err)
					}
					msg = m
				} else {
					m, err := client.Messages.New(context.Background(), p)
					if err != nil {
						t.Fatal(err)
					}
					msg = *m
				}
				if msg.StopReason != anthropic.StopReasonToolUse {
					t.Errorf("stop reason %q", msg.StopReason)
				}
				var use *anthropic.ContentBlockUnion
				for i := range msg.Content {
					if msg.Content[i].Type == "tool_use" {
						use = &msg.Content[i]
					}
				}
				if use == nil || use.Name != "get_weather" || use.ID == "" {
					t.Fatalf("no tool_use block: %s", msg.RawJSON())
				}
				var input map[string]string
				if err := json.Unmarshal(use.Input, &input); err != nil || input["input"] != "weather in Oslo" {
					t.Errorf("tool input %s (%v)", use.Input, err)
				}

				p.Messages = append(p.Messages, msg.ToParam(),
					anthropic.NewUserMessage(anthropic.NewToolResultBlock(use.ID, "3 degrees and rain", false)))
				p.ToolChoice = anthropic.ToolChoiceUnionParam{OfAuto: &anthropic.ToolChoiceAutoParam{}}
				final, err := client.Messages.New(context.Background(), p)
				if err != nil {
					t.Fatalf("tool result turn: %v", err)
				}
				if got := textOf(*final); got != "fake reply after tool result" || final.StopReason != anthropic.StopReasonEndTurn {
					t.Errorf("after the tool result: %q %q", got, final.StopReason)
				}
				if body := string(r.fakes[tg.name].LastRequestBody()); !strings.Contains(body, "3 degrees and rain") {
					t.Errorf("the tool result did not reach the provider: %s", body)
				}
			})
		}
	}
}

// TestMessagesStreamInterruptedEndsWithErrorEvent cuts each provider's stream after its first events: the
// client must get an explicit Anthropic error event (api_error, stream_interrupted) and no message_stop, the
// decision event must say stream_interrupted, and nothing may fail over after the first byte.
func TestMessagesStreamInterruptedEndsWithErrorEvent(t *testing.T) {
	const body = `{"model":"chat","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"a long answer with many words please"}]}`
	for _, tg := range []target{openaiTarget, anthropicTarget, geminiTarget} {
		t.Run(string(tg.provider), func(t *testing.T) {
			r := newRig(t, rigOptions{}, withFault(tg, fakeprovider.Fault{CutStreamAfter: 3}), renamed(anthropicTarget, "backup"))
			resp, sse := r.rawPost("/v1/messages", body, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, sse)
			}
			if strings.Contains(sse, "message_stop") {
				t.Errorf("interrupted stream carries message_stop:\n%s", sse)
			}
			events := strings.Split(strings.TrimSpace(sse), "\n\n")
			if !strings.HasPrefix(events[0], "event: message_start\n") {
				t.Errorf("first event %q", events[0])
			}
			last := events[len(events)-1]
			data, ok := strings.CutPrefix(last, "event: error\ndata: ")
			if !ok {
				t.Fatalf("last event is not an error event: %q", last)
			}
			var e struct {
				Type  string `json:"type"`
				Error struct{ Type, Message, Code string }
			}
			if err := json.Unmarshal([]byte(data), &e); err != nil || e.Type != "error" || e.Error.Type != "api_error" ||
				e.Error.Code != "stream_interrupted" || !strings.HasPrefix(e.Error.Message, "stream_interrupted: ") {
				t.Errorf("error event %s (%v)", data, err)
			}
			ev := r.event(resp.Header.Get(router.HeaderRequestID))
			if !ev.Final.StreamInterrupted || ev.Final.Reason != "stream_interrupted" || ev.Final.Outcome != "failed" {
				t.Errorf("decision final %+v", ev.Final)
			}
			if resp.Trailer.Get(router.HeaderCostUSD) == "" {
				t.Error("no cost trailer on an interrupted stream")
			}

			// The official client reports an API error rather than a complete answer.
			client := r.anthropicClient()
			_, _, err := accumulate(t, client.Messages.NewStreaming(context.Background(), userText("a long answer with many words please")))
			var apiErr *anthropic.Error
			if !errors.As(err, &apiErr) || apiErr.Type() != "api_error" || !strings.Contains(err.Error(), "stream_interrupted") {
				t.Errorf("client error = %v, want an api_error mentioning stream_interrupted", err)
			}
			if n := r.fakes["backup"].Calls(); n != 0 {
				t.Errorf("failed over after the first byte reached the client: backup saw %d calls", n)
			}
			if n := r.fakes[tg.name].Calls(); n != 2 {
				t.Errorf("primary saw %d calls, want 2", n)
			}
		})
	}
}

// anthropicErrorBody decodes an Anthropic error body and checks its shape.
func anthropicErrorBody(t *testing.T, body string) (typ, code, msg, requestID string) {
	t.Helper()
	var e struct {
		Type  string `json:"type"`
		Error *struct {
			Type    *string `json:"type"`
			Message *string `json:"message"`
			Code    *string `json:"code"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	if e.Type != "error" || e.Error == nil || e.Error.Type == nil || e.Error.Message == nil || e.Error.Code == nil {
		t.Fatalf("not an Anthropic error body: %s", body)
	}
	return *e.Error.Type, *e.Error.Code, *e.Error.Message, e.RequestID
}

// TestMessagesErrorShapes checks that every failure on /v1/messages is an Anthropic error body with the status
// chat completions would answer, the llmroute reason in code, and the request id; requests the router refuses
// never reach a provider.
func TestMessagesErrorShapes(t *testing.T) {
	r := newRig(t, rigOptions{server: func(o *router.ServerOptions) { o.MaxBodyBytes = 4 << 10 }},
		withFault(openaiTarget, fakeprovider.Fault{ContextTooLong: true}))
	const msgs = `"messages":[{"role":"user","content":"too long"}]`
	cases := []struct {
		name, body string
		status     int
		typ, code  string
		msg        string
		upstream   bool
	}{
		{"unknown route", `{"model":"nope","max_tokens":10,` + msgs + `}`, 404, "not_found_error", "no_eligible_target", `"nope" is not a route`, false},
		{"malformed JSON", `{"model":`, 400, "invalid_request_error", "bad_request", "invalid JSON body", false},
		{"missing max_tokens", `{"model":"chat",` + msgs + `}`, 400, "invalid_request_error", "bad_request", "max_tokens is required", false},
		{"zero max_tokens", `{"model":"chat","max_tokens":0,` + msgs + `}`, 400, "invalid_request_error", "bad_request", "max_tokens must be at least 1", false},
		{"no model", `{"max_tokens":10,` + msgs + `}`, 400, "invalid_request_error", "bad_request", "model is required", false},
		{"thinking budget", `{"model":"chat","max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024},` + msgs + `}`, 400, "invalid_request_error", "bad_request", "`max_tokens` must be greater than `thinking.budget_tokens`", false},
		{"unknown field", `{"model":"chat","max_tokens":10,"frobnicate":1,` + msgs + `}`, 400, "invalid_request_error", "bad_request", `unknown or unsupported field "frobnicate"`, false},
		{"body limit", `{"model":"chat","max_tokens":10,"messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`, 413, "request_too_large", "bad_request", "exceeds", false},
		{"semantic upstream error", `{"model":"chat","max_tokens":10,` + msgs + `}`, 400, "invalid_request_error", "context_too_large", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := r.fakes["oai"].Requests()
			resp, body := r.rawPost("/v1/messages", c.body, nil)
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			typ, code, msg, rid := anthropicErrorBody(t, body)
			if typ != c.typ || code != c.code || msg == "" || !strings.Contains(msg, c.msg) {
				t.Errorf("type %q code %q msg %q, want %q %q containing %q", typ, code, msg, c.typ, c.code, c.msg)
			}
			if id := resp.Header.Get(router.HeaderRequestID); id == "" || rid != id {
				t.Errorf("request id header %q, body %q", id, rid)
			}
			if reached := r.fakes["oai"].Requests() > before; reached != c.upstream {
				t.Errorf("reached the provider: %v, want %v", reached, c.upstream)
			}
			if c.upstream && (resp.Header.Get(router.HeaderTarget) != "oai" || resp.Header.Get(router.HeaderAttempts) != "1") {
				t.Errorf("routing headers %v", resp.Header)
			}
		})
	}

	// The official client sees typed errors.
	client := r.anthropicClient()
	var apiErr *anthropic.Error
	_, err := client.Messages.New(context.Background(), userText("too long"))
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Type() != "invalid_request_error" {
		t.Errorf("semantic error via client: %v", err)
	}
	p := userText("hi")
	p.Model = "nope"
	_, err = client.Messages.New(context.Background(), p)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Type() != "not_found_error" || apiErr.RequestID == "" {
		t.Errorf("unknown route via client: %v", err)
	}
	p = userText("hi")
	p.MaxTokens = 0
	_, err = client.Messages.New(context.Background(), p)
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(err.Error(), "max_tokens") {
		t.Errorf("max_tokens 0 via client: %v", err)
	}
}

// TestMessagesAllTargetsDown checks the failure after failover: 503 overloaded_error with the last reason,
// the routing headers and the cost, as chat completions answers.
func TestMessagesAllTargetsDown(t *testing.T) {
	r := newRig(t, rigOptions{}, withFault(openaiTarget, broken503), withFault(renamed(geminiTarget, "gem"), broken503))
	resp, body := r.rawPost("/v1/messages", `{"model":"chat","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	typ, code, msg, _ := anthropicErrorBody(t, body)
	if typ != "overloaded_error" || code != "provider_5xx" || !strings.Contains(msg, "all 2 attempts failed") {
		t.Errorf("type %q code %q msg %q", typ, code, msg)
	}
	h := resp.Header
	if h.Get(router.HeaderTarget) != "gem" || h.Get(router.HeaderAttempts) != "2" || h.Get(router.HeaderFallbackReason) != "provider_5xx" ||
		h.Get(router.HeaderCostUSD) == "" {
		t.Errorf("headers %v", h)
	}
	ev := r.event(h.Get(router.HeaderRequestID))
	if ev.Final.Outcome != "failed" || len(ev.Attempts) != 2 {
		t.Errorf("decision event %+v", ev)
	}
}

// TestMessagesKeyOverride sends the client's own key on a route that allows it: the provider receives that
// key; on a route that does not, the request is refused in Anthropic's shape.
func TestMessagesKeyOverride(t *testing.T) {
	const own = "sk-ant-client-own-key-0123456789"
	tg := anthropicTarget
	tg.serverKey = own
	allow := func(s *v1alpha1.RoutePolicySpec) { s.AllowRequestKeyOverride = true }
	r := newRig(t, rigOptions{spec: allow}, tg)
	body := `{"model":"chat","max_tokens":10,"messages":[{"role":"user","content":"x"}]}`
	resp, out := r.rawPost("/v1/messages", body, map[string]string{router.HeaderProviderKey: own})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	if got := r.fakes[tg.name].LastRequest().Header.Get("x-api-key"); got != own {
		t.Errorf("provider received key %q", got)
	}

	strict := newRig(t, rigOptions{}, anthropicTarget)
	resp, out = strict.rawPost("/v1/messages", body, map[string]string{router.HeaderProviderKey: own})
	typ, code, _, _ := anthropicErrorBody(t, out)
	if resp.StatusCode != http.StatusForbidden || typ != "permission_error" || code != "key_unavailable" {
		t.Errorf("override on a strict route: %d %s", resp.StatusCode, out)
	}
	if strings.Contains(out, own) {
		t.Errorf("the refused key was echoed: %s", out)
	}
}

// TestMessagesCanaryKeyNeverLeaks is TestCanaryKeyNeverLeaks for /v1/messages: configured and request keys
// that providers reject and echo back in their 401 bodies must appear in no response body or header, stream
// event, log line or decision event. Routes that do not fail over on hard failures hand the provider's 401
// message (with the echoed key) to the client, which proves the redaction on the path that needs it.
func TestMessagesCanaryKeyNeverLeaks(t *testing.T) {
	const overrideCanary = "sk-llmroute-override-canary-5d2e8a91c3f7"
	rejecting := target{name: "rejects", provider: v1alpha1.ProviderOpenAI, model: "gpt-4o-mini", key: canaryKey,
		serverKey: "sk-the-right-key", echoKey: true}
	anthropicRejecting := target{name: "rejects-too", provider: v1alpha1.ProviderAnthropic, model: "claude-haiku-4-5",
		key: canaryKey, serverKey: "sk-the-right-key", echoKey: true}
	noHardFailover := func(allowOverride bool) func(*v1alpha1.RoutePolicySpec) {
		return func(s *v1alpha1.RoutePolicySpec) {
			s.AllowRequestKeyOverride = allowOverride
			s.Fallback.FailOverOn = []v1alpha1.FailureClass{"transient"}
		}
	}
	geminiRejecting := target{name: "rejects-too", provider: v1alpha1.ProviderGemini, model: "gemini-2.5-flash",
		key: canaryKey, serverKey: "sk-the-right-key", echoKey: true}

	var seen []string
	var rigs []*rig
	echoed := 0
	for _, mode := range []string{"answer", "stream", "count", "gemini count"} {
		second, keyHeader := anthropicRejecting, "x-api-key"
		if mode == "gemini count" {
			second, keyHeader = geminiRejecting, "x-goog-api-key"
		}
		keyless := second
		keyless.key = "" // only the request's key can reach the provider
		counting := strings.HasSuffix(mode, "count")
		// Fresh rigs per mode: a rejected configured key quarantines its target, and the second mode must reach
		// the provider too.
		failover := newRig(t, rigOptions{}, rejecting, second)
		direct := newRig(t, rigOptions{spec: noHardFailover(false)}, second)
		override := newRig(t, rigOptions{spec: noHardFailover(true)}, keyless)
		rigs = append(rigs, failover, direct, override)
		path, body := "/v1/messages", fmt.Sprintf(`{"model":"chat","max_tokens":10,"stream":%v,"messages":[{"role":"user","content":"hi"}]}`, mode == "stream")
		if counting {
			path, body = "/v1/messages/count_tokens", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
		}
		for _, tc := range []struct {
			r      *rig
			header map[string]string
			echo   bool // the provider's 401 message reaches the client
		}{{failover, nil, false}, {failover, map[string]string{router.HeaderProviderKey: overrideCanary}, false},
			{direct, nil, true}, {override, map[string]string{router.HeaderProviderKey: overrideCanary}, true}} {
			resp, out := tc.r.rawPost(path, body, tc.header)
			if resp.StatusCode < 400 {
				t.Fatalf("a rejected key succeeded: %d %s", resp.StatusCode, out)
			}
			_, code, msg, _ := anthropicErrorBody(t, out)
			if tc.echo {
				if code != "invalid_credentials" || !strings.Contains(msg, "[REDACTED]") {
					t.Errorf("expected the provider's redacted 401 message, got %s", out)
				}
				echoed++
			}
			seen = append(seen, out, fmt.Sprint(resp.Header), fmt.Sprint(resp.Trailer))
		}
		// Prove the providers really received (and so could echo) both keys: otherwise this proves nothing.
		// (count_tokens skips the OpenAI target, which cannot count; the counting one gets the canary then.)
		if (!counting && !strings.Contains(failover.fakes["rejects"].LastRequest().Header.Get("Authorization"), canaryKey)) ||
			(counting && failover.fakes["rejects-too"].LastRequest().Header.Get(keyHeader) != canaryKey) ||
			override.fakes["rejects-too"].LastRequest().Header.Get(keyHeader) != overrideCanary {
			t.Fatalf("%s: the fakes did not receive the canary keys", mode)
		}
	}
	if echoed != 8 {
		t.Fatalf("%d answers carried the provider's message, want 8", echoed)
	}
	for _, r := range rigs {
		for _, p := range []string{"/metrics", "/v1/state", "/debug/decisions?n=100"} {
			_, body := r.get(p)
			seen = append(seen, body)
		}
		r.srv.FlushDecisionLog()
		if !strings.Contains(r.decLog.String(), `"event":"route_decision"`) {
			t.Error("the decision log is empty: the canary search would prove nothing there")
		}
		seen = append(seen, r.logs.String(), r.decLog.String())
		for _, ev := range r.srv.Ring().Recent(100) {
			b, _ := json.Marshal(ev)
			seen = append(seen, string(b))
		}
	}
	for _, s := range seen {
		for _, c := range []string{canaryKey, overrideCanary, canaryKey[10:30], overrideCanary[10:30]} {
			if strings.Contains(s, c) {
				t.Fatalf("canary %q leaked in:\n%s", c, s)
			}
		}
	}
}

// TestMessagesUnexpressibleAnswerFailsOver: an answer Anthropic's shape cannot carry (tool arguments that are not
// a JSON object) is a malformed answer from that target: the request fails over, the client gets the next
// target's tool_use, and the decision event and cost say what happened.
func TestMessagesUnexpressibleAnswerFailsOver(t *testing.T) {
	bad := withFault(renamed(openaiTarget, "badargs"), fakeprovider.Fault{BadToolArguments: true})
	r := newRig(t, rigOptions{}, bad, anthropicTarget)
	const body = `{"model":"chat","max_tokens":50,"tool_choice":{"type":"tool","name":"lookup"},
	 "tools":[{"name":"lookup","description":"look up","input_schema":{"type":"object"}}],
	 "messages":[{"role":"user","content":"Oslo"}]}`
	resp, out := r.rawPost("/v1/messages", body, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(out, `"type":"tool_use"`) {
		t.Fatalf("%d %s", resp.StatusCode, out)
	}
	if got := resp.Header.Get(router.HeaderTarget); got != "claude" || resp.Header.Get(router.HeaderFallbackReason) != "malformed_response" {
		t.Errorf("target %q fallback %q", got, resp.Header.Get(router.HeaderFallbackReason))
	}
	if r.fakes["badargs"].Calls() != 1 {
		t.Errorf("the bad target was called %d times, want 1", r.fakes["badargs"].Calls())
	}
	ev := r.event(resp.Header.Get(router.HeaderRequestID))
	if len(ev.Attempts) != 2 || ev.Attempts[0].Reason != "malformed_response" || ev.Final.Outcome != "ok" ||
		ev.Final.Reason != "fallback_succeeded" {
		t.Errorf("event attempts %+v final %+v", ev.Attempts, ev.Final)
	}

	// The same answer is fine for an OpenAI client, whose arguments are a string.
	resp, out = r.rawPost("/v1/chat/completions", `{"model":"chat","max_tokens":50,
	 "tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}],
	 "tool_choice":{"type":"function","function":{"name":"lookup"}},"messages":[{"role":"user","content":"Oslo"}]}`, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get(router.HeaderTarget) != "badargs" || !strings.Contains(out, `unquoted`) {
		t.Errorf("chat completions: %d target %q %s", resp.StatusCode, resp.Header.Get(router.HeaderTarget), out)
	}
}

// anthropic-beta flags from a Messages client reach Anthropic targets as one anthropic-beta header (in order,
// without duplicates), after a failover too, and no other provider; a value that is no flag name is refused
// with 400 before any provider is called.
func TestMessagesForwardsAnthropicBeta(t *testing.T) {
	r := newRig(t, rigOptions{}, withFault(renamed(openaiTarget, "broken"), broken503), anthropicTarget)
	client := r.anthropicClient()
	_, err := client.Messages.New(context.Background(), userText("hi"),
		option.WithHeaderAdd("anthropic-beta", "prompt-caching-2024-07-31, output-128k-2025-02-19"),
		option.WithHeaderAdd("anthropic-beta", "prompt-caching-2024-07-31"))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.fakes["claude"].LastRequest().Header.Values("anthropic-beta"); !slices.Equal(got, []string{"prompt-caching-2024-07-31,output-128k-2025-02-19"}) {
		t.Errorf("anthropic target got anthropic-beta %q", got)
	}
	if got := r.fakes["broken"].LastRequest().Header.Values("anthropic-beta"); len(got) != 0 {
		t.Errorf("openai target got anthropic-beta %q", got)
	}
	if _, err := client.Messages.New(context.Background(), userText("hi")); err != nil {
		t.Fatal(err)
	}
	if got := r.fakes["claude"].LastRequest().Header.Values("anthropic-beta"); len(got) != 0 {
		t.Errorf("a request without flags sent anthropic-beta %q", got)
	}

	before := r.fakes["claude"].Requests()
	var many []string
	for i := range 33 {
		many = append(many, fmt.Sprintf("beta-%d", i))
	}
	for _, bad := range []string{"Prompt-Caching", "a b", strings.Repeat("x", 101), strings.Join(many, ",")} {
		resp, body := r.rawPost("/v1/messages", `{"model":"chat","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			map[string]string{"anthropic-beta": bad})
		typ, code, msg, _ := anthropicErrorBody(t, body)
		if resp.StatusCode != 400 || typ != "invalid_request_error" || code != "bad_request" || !strings.Contains(msg, "anthropic-beta") {
			t.Errorf("anthropic-beta %q: status %d, %s %s %q", bad, resp.StatusCode, typ, code, msg)
		}
	}
	if r.fakes["claude"].Requests() != before {
		t.Error("a request with an invalid anthropic-beta reached the provider")
	}
}
