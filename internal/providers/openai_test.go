package providers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/providers"
)

const fullRequest = `{
 "model": "payments/assistant",
 "messages": [
  {"role": "system", "content": "be terse"},
  {"role": "user", "content": [{"type": "text", "text": "what is this"},
                               {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                               {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]},
  {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}]},
  {"role": "tool", "tool_call_id": "call_1", "content": "42"}
 ],
 "tools": [{"type": "function", "function": {"name": "lookup", "description": "look up", "parameters": {"type": "object"}}}],
 "tool_choice": {"type": "function", "function": {"name": "lookup"}},
 "response_format": {"type": "json_object"},
 "max_tokens": 500,
 "temperature": 0.2,
 "stop": "END",
 "user": "u1",
 "n": 1,
 "seed": 7,
 "parallel_tool_calls": false,
 "logit_bias": {"50256": -100}
}`

func TestChatRequestKeepsUnknownFieldsAndForms(t *testing.T) {
	r := mustRequest(t, fullRequest)
	if got := r.Messages[1].Content.Parts; len(got) != 3 || got[1].ImageURL.URL != "https://example.com/a.png" {
		t.Fatalf("parts not decoded: %+v", got)
	}
	if r.Messages[2].Content != nil || r.Messages[2].ToolCalls[0].Function.Name != "lookup" {
		t.Fatalf("assistant tool call not decoded: %+v", r.Messages[2])
	}
	if r.ToolChoice.Mode != providers.ToolChoiceFunction || r.ToolChoice.Function != "lookup" {
		t.Fatalf("tool_choice = %+v", r.ToolChoice)
	}
	if len(r.Stop) != 1 || r.Stop[0] != "END" {
		t.Fatalf("stop = %v", r.Stop)
	}
	if r.EffectiveMaxTokens() != 500 {
		t.Fatalf("EffectiveMaxTokens = %d", r.EffectiveMaxTokens())
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("re-encoded request is not JSON: %v\n%s", err, out)
	}
	// Everything the client sent survives, with stop normalized to its array form.
	want := strings.Replace(fullRequest, `"stop": "END"`, `"stop": ["END"]`, 1)
	want = strings.Replace(want, `"content": null, `, ``, 1) // null content is omitted, which OpenAI treats alike
	jsonEqual(t, "round trip", got, want)
}

func TestToolChoiceStringForms(t *testing.T) {
	for _, mode := range []string{"auto", "none", "required"} {
		r := mustRequest(t, `{"model":"m","messages":[],"tool_choice":"`+mode+`"}`)
		if r.ToolChoice.Mode != mode {
			t.Errorf("tool_choice %q decoded as %+v", mode, r.ToolChoice)
		}
		b, _ := json.Marshal(r.ToolChoice)
		if string(b) != `"`+mode+`"` {
			t.Errorf("tool_choice %q re-encoded as %s", mode, b)
		}
	}
}

func TestOpenAIDoTranslatesAndForwards(t *testing.T) {
	u := newUpstream(t, 200, "application/json", `{"id":"chatcmpl-1","object":"chat.completion","created":1,
	 "model":"gpt-4o-mini-2024","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
	 "usage":{"prompt_tokens":100,"completion_tokens":30,"total_tokens":130,
	  "prompt_tokens_details":{"cached_tokens":60},"completion_tokens_details":{"reasoning_tokens":10}}}`)
	ep := endpoint(u, "gpt-4o-mini")
	ep.MaxTokens = 200
	req := mustRequest(t, fullRequest)
	a, _ := providers.For("groq")
	resp, usage, err := a.Do(bg, nil, ep, req)
	if err != nil {
		t.Fatal(err)
	}
	if u.path != "/v1/chat/completions" || u.header.Get("Authorization") != "Bearer "+canary {
		t.Errorf("path %q auth %q", u.path, u.header.Get("Authorization"))
	}
	sent := u.sent(t)
	if sent["model"] != "gpt-4o-mini" || sent["max_tokens"] != 200.0 || sent["seed"] != 7.0 || sent["parallel_tool_calls"] != false {
		t.Errorf("sent %v", sent)
	}
	if _, ok := sent["stream_options"]; ok {
		t.Errorf("stream_options sent on a non-streaming request")
	}
	if req.Model != "payments/assistant" || *req.MaxTokens != 500 {
		t.Errorf("adapter modified the caller's request: %s %d", req.Model, *req.MaxTokens)
	}
	if *resp.Choices[0].Message.Content != "hi" || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("response %+v", resp)
	}
	want := providers.Usage{InputTokens: 100, OutputTokens: 30, CachedInputTokens: 60, ReasoningTokens: 10}
	if usage != want {
		t.Errorf("usage = %+v, want %+v", usage, want)
	}
}

func TestOpenAIEndpointCapAddsTheRightField(t *testing.T) {
	for _, tc := range []struct{ provider, field string }{{"openai", "max_completion_tokens"}, {"mistral", "max_tokens"}} {
		u := newUpstream(t, 200, "application/json", `{"choices":[]}`)
		ep := endpoint(u, "m")
		ep.MaxTokens = 64
		a, _ := providers.For(tc.provider)
		if _, _, err := a.Do(bg, nil, ep, mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`)); err != nil {
			t.Fatal(err)
		}
		if got := u.sent(t)[tc.field]; got != 64.0 {
			t.Errorf("%s: %s = %v", tc.provider, tc.field, got)
		}
	}
}

func TestOpenAIStreamForcesUsageAndEndsOnDone(t *testing.T) {
	body := "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n" +
		": keep-alive\n\n" +
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n" +
		"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n" +
		"data: [DONE]\n\n"
	u := newUpstream(t, 200, "text/event-stream", body)
	a, _ := providers.For("openai")
	sr, err := a.Stream(bg, nil, endpoint(u, "m"), mustRequest(t, `{"model":"p","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, sr)
	if err != nil {
		t.Fatal(err)
	}
	got := assemble(chunks)
	if got.content != "Hello" || got.finish != "stop" || got.usage.TotalTokens != 11 {
		t.Errorf("assembled %+v", got)
	}
	if sr.Usage() != (providers.Usage{InputTokens: 9, OutputTokens: 2}) {
		t.Errorf("usage %+v", sr.Usage())
	}
	if last := chunks[len(chunks)-1]; last.Choices == nil {
		t.Errorf("usage chunk must keep an empty, non-null choices array")
	}
	sent := u.sent(t)
	if sent["stream"] != true || sent["stream_options"].(map[string]any)["include_usage"] != true {
		t.Errorf("sent %v", sent)
	}
}

func TestOpenAIStreamWithoutDoneIsInterrupted(t *testing.T) {
	body := "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n"
	u := newUpstream(t, 200, "text/event-stream", body)
	a, _ := providers.For("openai")
	sr, err := a.Stream(bg, nil, endpoint(u, "m"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, sr)
	if len(chunks) != 1 || !errors.Is(err, providers.ErrStreamInterrupted) {
		t.Fatalf("chunks %d, err %v; want 1 chunk then ErrStreamInterrupted", len(chunks), err)
	}
}

func TestOpenAIStreamErrorEvent(t *testing.T) {
	u := newUpstream(t, 200, "text/event-stream", "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n")
	a, _ := providers.For("openai")
	sr, err := a.Stream(bg, nil, endpoint(u, "m"), mustRequest(t, `{"model":"p","messages":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = drain(t, sr)
	var se *providers.StreamEventError
	if !errors.As(err, &se) || se.Type != "server_error" || !errors.Is(err, providers.ErrStreamInterrupted) {
		t.Fatalf("err = %v", err)
	}
}

func TestMalformedJSON(t *testing.T) {
	for _, p := range []string{"openai", "anthropic", "gemini"} {
		u := newUpstream(t, 200, "application/json", `{"id": "x", "choi`)
		a, _ := providers.For(p)
		_, _, err := a.Do(bg, nil, endpoint(u, "m"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
		if !errors.Is(err, providers.ErrMalformedResponse) {
			t.Errorf("%s: err = %v, want ErrMalformedResponse", p, err)
		}
		// Valid JSON that is not the provider's answer is just as unusable.
		u = newUpstream(t, 200, "application/json", `{}`)
		_, _, err = a.Do(bg, nil, endpoint(u, "m"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
		if !errors.Is(err, providers.ErrMalformedResponse) {
			t.Errorf("%s: empty object: err = %v, want ErrMalformedResponse", p, err)
		}
	}
}

func TestUpstreamErrorKeepsStatusHeaderBody(t *testing.T) {
	u := newUpstream(t, 429, "application/json", `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`,
		"Retry-After", "7")
	a, _ := providers.For("openai")
	_, _, err := a.Do(bg, nil, endpoint(u, "m"), mustRequest(t, `{"model":"p","messages":[]}`))
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %T %v", err, err)
	}
	if ue.Status != 429 || !strings.Contains(string(ue.Body), "rate_limit_exceeded") {
		t.Errorf("status %d body %s", ue.Status, ue.Body)
	}
	if d, ok := ue.RetryAfter(time.Now()); !ok || d != 7*time.Second {
		t.Errorf("RetryAfter = %v %v", d, ok)
	}
	if err.Error() != "openai: upstream status 429: Rate limit reached" {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestUpstreamErrorBodyCapped(t *testing.T) {
	u := newUpstream(t, 500, "text/plain", strings.Repeat("x", 200<<10))
	a, _ := providers.For("openai")
	_, _, err := a.Do(bg, nil, endpoint(u, "m"), mustRequest(t, `{"model":"p","messages":[]}`))
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || len(ue.Body) != 64<<10 {
		t.Fatalf("body len %d, err %v", len(ue.Body), err)
	}
	if len(err.Error()) > 300 {
		t.Errorf("Error() is %d bytes; it must stay short", len(err.Error()))
	}
}

// TestKeyNeverInErrors checks every adapter against a 401 that echoes the presented key, as some providers do.
func TestKeyNeverInErrors(t *testing.T) {
	bodies := map[string]string{
		"openai":    `{"error":{"message":"Incorrect API key provided: ` + canary + `.","type":"invalid_request_error","code":"invalid_api_key"}}`,
		"anthropic": `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ` + canary + `"}}`,
		"gemini":    `{"error":{"code":400,"message":"API key not valid: ` + canary + `","status":"INVALID_ARGUMENT"}}`,
	}
	for p, body := range bodies {
		u := newUpstream(t, 401, "application/json", body)
		a, _ := providers.For(p)
		_, _, err := a.Do(bg, nil, endpoint(u, "m"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
		var ue *providers.UpstreamError
		if !errors.As(err, &ue) {
			t.Fatalf("%s: err = %v", p, err)
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, ue), string(ue.Body), ue.Message()} {
			if strings.Contains(s, canary) || strings.Contains(s, canary[8:]) {
				t.Errorf("%s: key leaked: %s", p, s)
			}
		}
		if !strings.Contains(err.Error(), "[REDACTED]") {
			t.Errorf("%s: Error() = %q, want the key replaced by [REDACTED]", p, err.Error())
		}
		_, err = a.Stream(bg, nil, endpoint(u, "m"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
		if err == nil || strings.Contains(err.Error(), canary) {
			t.Errorf("%s: stream err = %v", p, err)
		}
	}
}

// TestKeyShapedTokensRedacted covers a provider quoting a key other than the one presented.
func TestKeyShapedTokensRedacted(t *testing.T) {
	e := &providers.UpstreamError{Provider: "openai", Status: 401, Body: []byte(`{"error":{"message":"key sk-proj-AbCdEf0123456789 revoked"}}`)}
	if strings.Contains(e.Error(), "AbCdEf0123456789") {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestTransportErrorsStayVisible(t *testing.T) {
	arrived := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // the server notices a client going away only once the body is consumed
		close(arrived)
		<-r.Context().Done()
	}))
	defer srv.Close()
	a, _ := providers.For("openai")
	ep := providers.Endpoint{BaseURL: srv.URL, Key: keys.NewSecret(canary)}
	ctx, cancel := context.WithCancel(bg)
	go func() { <-arrived; cancel() }()
	_, _, err := a.Do(ctx, nil, ep, mustRequest(t, `{"model":"p","messages":[]}`))
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: err = %v", err)
	}
	past, cancel2 := context.WithDeadline(bg, time.Unix(0, 0))
	defer cancel2()
	_, _, err = a.Do(past, nil, ep, mustRequest(t, `{"model":"p","messages":[]}`))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: err = %v", err)
	}
	// A refused connection surfaces as a *net.OpError.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	_, _, err = a.Do(bg, nil, providers.Endpoint{BaseURL: "http://" + addr}, mustRequest(t, `{"model":"p","messages":[]}`))
	var ne *net.OpError
	if !errors.As(err, &ne) {
		t.Errorf("refused: err = %T %v, want a *net.OpError inside", err, err)
	}
}

func TestNoRedirectWithKey(t *testing.T) {
	elsewhere := newUpstream(t, 200, "application/json", `{"choices":[]}`)
	redirector := newUpstream(t, http.StatusTemporaryRedirect, "text/plain", "", "Location", elsewhere.URL+"/v1/chat/completions")
	hc := providers.NewHTTPClient(providers.HTTPClientOptions{})
	for _, p := range []string{"openai", "anthropic", "gemini"} {
		a, _ := providers.For(p)
		_, _, err := a.Do(bg, hc, endpoint(redirector, "m"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
		var ue *providers.UpstreamError
		if !errors.As(err, &ue) || ue.Status != http.StatusTemporaryRedirect {
			t.Errorf("%s: err = %v, want UpstreamError 307", p, err)
		}
	}
	if elsewhere.calls != 0 {
		t.Errorf("redirect followed: the other host got %d requests", elsewhere.calls)
	}
	tr := hc.Transport.(*http.Transport)
	if tr.MaxIdleConnsPerHost != 256 || tr.IdleConnTimeout != 90*time.Second || !tr.ForceAttemptHTTP2 ||
		tr.TLSHandshakeTimeout != 10*time.Second || tr.ResponseHeaderTimeout != 0 || hc.Timeout != 0 {
		t.Errorf("transport not tuned: %+v", tr)
	}
}

func TestForAndDefaults(t *testing.T) {
	for p, want := range map[string]string{
		"openai": "https://api.openai.com/v1", "groq": "https://api.groq.com/openai/v1", "mistral": "https://api.mistral.ai/v1",
		"deepseek": "https://api.deepseek.com/v1", "xai": "https://api.x.ai/v1", "anthropic": "https://api.anthropic.com/v1",
		"gemini": "https://generativelanguage.googleapis.com/v1beta", "openaiCompatible": "",
	} {
		if got := providers.DefaultBaseURL(p); got != want {
			t.Errorf("DefaultBaseURL(%s) = %q", p, got)
		}
		if _, err := providers.For(p); err != nil {
			t.Errorf("For(%s): %v", p, err)
		}
	}
	if _, err := providers.For("nope"); !errors.Is(err, providers.ErrUnknownProvider) {
		t.Errorf("For(nope) = %v", err)
	}
}
