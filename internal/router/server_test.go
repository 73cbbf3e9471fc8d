package router_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/router"
)

var (
	openaiTarget    = target{name: "oai", provider: v1alpha1.ProviderOpenAI, model: "gpt-4o-mini", key: "sk-test-oai"}
	anthropicTarget = target{name: "claude", provider: v1alpha1.ProviderAnthropic, model: "claude-haiku-4-5", key: "sk-ant-test"}
	geminiTarget    = target{name: "gem", provider: v1alpha1.ProviderGemini, model: "gemini-2.5-flash", key: "gm-test"}
	broken503       = fakeprovider.Fault{Status: http.StatusServiceUnavailable}
)

func withFault(t target, f fakeprovider.Fault) target { t.fault = f; return t }

func renamed(t target, name string) target { t.name = name; return t }

// TestOpenAIClientPerProvider drives each adapter through the official openai-go client, streaming and not,
// with and without a failover from a broken primary, and checks the answer and the routing headers.
func TestOpenAIClientPerProvider(t *testing.T) {
	for _, tg := range []target{openaiTarget, anthropicTarget, geminiTarget} {
		for _, failover := range []bool{false, true} {
			name := string(tg.provider)
			targets := []target{tg}
			if failover {
				name += "/failover"
				targets = []target{withFault(renamed(openaiTarget, "broken"), broken503), tg}
			}
			t.Run(name, func(t *testing.T) {
				r := newRig(t, rigOptions{}, targets...)
				wantAttempts := "1"
				if failover {
					wantAttempts = "2"
				}

				var resp *http.Response
				cc, err := r.client.Chat.Completions.New(context.Background(), userMsg("hello there router"), option.WithResponseInto(&resp))
				if err != nil {
					t.Fatalf("non-streaming: %v", err)
				}
				if got := cc.Choices[0].Message.Content; got != "fake reply to: hello there router" {
					t.Errorf("content %q", got)
				}
				if cc.Usage.CompletionTokens == 0 || cc.Usage.PromptTokens == 0 {
					t.Errorf("usage missing: %+v", cc.Usage)
				}
				checkHeaders(t, resp.Header, tg.name, wantAttempts, failover)
				if resp.Header.Get(router.HeaderCostUSD) == "" {
					t.Error("no cost header")
				}
				ev := r.event(resp.Header.Get(router.HeaderRequestID))
				if ev.Final.Outcome != "ok" || ev.Final.Target != tg.name {
					t.Errorf("decision event final %+v", ev.Final)
				}

				stream := r.client.Chat.Completions.NewStreaming(context.Background(), userMsg("stream this please"),
					option.WithResponseInto(&resp))
				var text strings.Builder
				chunks := 0
				for stream.Next() {
					c := stream.Current()
					chunks++
					if len(c.Choices) > 0 {
						text.WriteString(c.Choices[0].Delta.Content)
					}
					if c.JSON.Usage.Valid() && c.Usage.TotalTokens > 0 {
						t.Errorf("usage chunk sent although the client did not ask for it")
					}
				}
				if err := stream.Err(); err != nil {
					t.Fatalf("stream: %v", err)
				}
				if text.String() != "fake reply to: stream this please" || chunks < 2 {
					t.Errorf("streamed %q in %d chunks", text.String(), chunks)
				}
				checkHeaders(t, resp.Header, tg.name, wantAttempts, failover)
				if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
					t.Errorf("content type %q", ct)
				}
				if failover && r.fakes["broken"].Calls() != 2 {
					t.Errorf("broken primary saw %d calls, want 2", r.fakes["broken"].Calls())
				}
			})
		}
	}
}

func checkHeaders(t *testing.T, h http.Header, target, attempts string, failover bool) {
	t.Helper()
	if h.Get(router.HeaderRequestID) == "" {
		t.Error("no request id header")
	}
	if got := h.Get(router.HeaderTarget); got != target {
		t.Errorf("target header %q, want %q", got, target)
	}
	if got := h.Get(router.HeaderAttempts); got != attempts {
		t.Errorf("attempts header %q, want %s", got, attempts)
	}
	fr := h.Get(router.HeaderFallbackReason)
	if failover && fr != "provider_5xx" {
		t.Errorf("fallback reason %q, want provider_5xx", fr)
	}
	if !failover && fr != "" {
		t.Errorf("fallback reason %q without a fallback", fr)
	}
}

// TestStreamUsageOnlyWhenAsked checks the SSE bytes: the final usage chunk appears only with
// stream_options.include_usage, and the stream ends with [DONE].
func TestStreamUsageOnlyWhenAsked(t *testing.T) {
	r := newRig(t, rigOptions{}, anthropicTarget)
	for _, ask := range []bool{false, true} {
		body := `{"model":"chat","stream":true,"messages":[{"role":"user","content":"count my tokens"}]`
		if ask {
			body += `,"stream_options":{"include_usage":true}`
		}
		resp, sse := r.rawPost("/v1/chat/completions", body+"}", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, sse)
		}
		if !strings.HasSuffix(sse, "data: [DONE]\n\n") {
			t.Errorf("stream does not end with [DONE]: %q", sse)
		}
		hasUsage := strings.Contains(sse, `"usage":{`)
		if hasUsage != ask {
			t.Errorf("include_usage=%v but usage chunk present=%v:\n%s", ask, hasUsage, sse)
		}
		if got := resp.Trailer.Get(router.HeaderCostUSD); got == "" {
			t.Errorf("no cost trailer")
		}
	}

	// The openai-go client reads the usage chunk when it asks for it.
	p := userMsg("count my tokens")
	p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := r.client.Chat.Completions.NewStreaming(context.Background(), p)
	var total int64
	for stream.Next() {
		total += stream.Current().Usage.TotalTokens
	}
	if err := stream.Err(); err != nil || total == 0 {
		t.Fatalf("usage via client: total=%d err=%v", total, err)
	}
}

// TestStreamInterruptedEndsWithErrorEvent cuts the upstream stream after its first events: the client must see
// an explicit stream_interrupted error event and no [DONE], and the decision event must say so.
func TestStreamInterruptedEndsWithErrorEvent(t *testing.T) {
	r := newRig(t, rigOptions{}, withFault(openaiTarget, fakeprovider.Fault{CutStreamAfter: 3}), renamed(anthropicTarget, "backup"))
	resp, sse := r.rawPost("/v1/chat/completions",
		`{"model":"chat","stream":true,"messages":[{"role":"user","content":"a long answer with many words please"}]}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if strings.Contains(sse, "[DONE]") {
		t.Errorf("interrupted stream carries [DONE]:\n%s", sse)
	}
	events := strings.Split(strings.TrimSpace(sse), "\n\n")
	last := events[len(events)-1]
	if !strings.HasPrefix(last, "data: {\"error\":") || !strings.Contains(last, `"code":"stream_interrupted"`) {
		t.Errorf("last event is not a stream_interrupted error: %q", last)
	}
	ev := r.event(resp.Header.Get(router.HeaderRequestID))
	if !ev.Final.StreamInterrupted || ev.Final.Reason != "stream_interrupted" {
		t.Errorf("decision final %+v", ev.Final)
	}
	if r.fakes["backup"].Calls() != 0 {
		t.Errorf("failed over after the first byte reached the client")
	}

	// The official client reports it as an error rather than a complete answer.
	stream := r.client.Chat.Completions.NewStreaming(context.Background(), userMsg("a long answer with many words please"))
	for stream.Next() {
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "stream_interrupted") {
		t.Errorf("client error = %v, want stream_interrupted", err)
	}
}

// TestErrorShapes checks that every failure is an OpenAI error body whose code is the llmroute reason.
func TestErrorShapes(t *testing.T) {
	r := newRig(t, rigOptions{server: func(o *router.ServerOptions) { o.MaxBodyBytes = 4 << 10 }},
		withFault(openaiTarget, fakeprovider.Fault{ContextTooLong: true}))
	cases := []struct {
		name, body string
		status     int
		code       string
	}{
		{"unknown route", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`, 404, "no_eligible_target"},
		{"bad json", `{"model":`, 400, "bad_request"},
		{"no model", `{"messages":[]}`, 400, "bad_request"},
		{"body limit", `{"model":"chat","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`, 413, "bad_request"},
		{"semantic upstream error", `{"model":"chat","messages":[{"role":"user","content":"too long"}]}`, 400, "context_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := r.rawPost("/v1/chat/completions", c.body, nil)
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if resp.Header.Get(router.HeaderRequestID) == "" {
				t.Error("no request id on an error")
			}
			_, code, msg := errorBody(t, body)
			if code != c.code || msg == "" {
				t.Errorf("code %q msg %q, want code %q", code, msg, c.code)
			}
		})
	}

	// The official client sees a typed error with the reason code.
	_, err := r.client.Chat.Completions.New(context.Background(), userMsg("too long"))
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "context_too_large" {
		t.Fatalf("client error %v", err)
	}
}

func TestModelsListsRoutes(t *testing.T) {
	r := newRig(t, rigOptions{routeNames: []string{"batch"}}, openaiTarget)
	page, err := r.client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "batch,chat" {
		t.Errorf("models %v", ids)
	}
}

// TestOpenAICompatiblePassThrough: an OpenAI-compatible target receives the client's own bytes with only the
// model rewritten, and the client receives the provider's body with every field it sent (service_tier here,
// which the router does not model); a translated provider's answer is the router's own encoding.
func TestOpenAICompatiblePassThrough(t *testing.T) {
	r := newRig(t, rigOptions{}, openaiTarget)
	const body = `{"model":"chat",  "seed":7,"messages":[{"role":"user","content":"pass me through","x_vendor":{"a":[1, 2]}}],"metadata":{"k":"v"}}`
	resp, out := r.rawPost("/v1/chat/completions", body, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	sent := string(r.fakes["oai"].LastRequest().Body)
	// The output bound the plan priced becomes an explicit limit, appended.
	want := `{"model":"gpt-4o-mini","seed":7,"messages":[{"role":"user","content":"pass me through","x_vendor":{"a":[1, 2]}}],"metadata":{"k":"v"},"max_completion_tokens":16384}`
	if sent != want {
		t.Errorf("upstream received\n%s\nwant\n%s", sent, want)
	}
	if !strings.Contains(out, `"service_tier":"default"`) || !strings.Contains(out, `"content":"fake reply to: pass me through"`) {
		t.Errorf("client did not get the provider's body: %s", out)
	}

	ra := newRig(t, rigOptions{}, anthropicTarget)
	resp, out = ra.rawPost("/v1/chat/completions", body, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(out, "service_tier") || !strings.Contains(out, `"object":"chat.completion"`) {
		t.Errorf("translated answer %d: %s", resp.StatusCode, out)
	}
}
