package providers_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/llmroute/llmroute/internal/providers"
)

const geminiOK = `{"candidates":[{"content":{"parts":[{"text":"ok"}],"role":"model"},"finishReason":"STOP","index":0}],
 "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1,"totalTokenCount":6},"modelVersion":"gemini-x","responseId":"r1"}`

func TestGeminiRequestTranslation(t *testing.T) {
	cases := []struct {
		name string
		ep   func(*providers.Endpoint)
		req  string
		want string
	}{{
		name: "system instruction, roles, merge, image, generation config",
		ep:   func(ep *providers.Endpoint) { ep.MaxTokens = 100 },
		req: `{"model":"p","temperature":0.5,"top_p":0.8,"stop":"END","messages":[
		       {"role":"system","content":"be terse"},{"role":"developer","content":"no jokes"},
		       {"role":"user","content":[{"type":"text","text":"what is"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}]},
		       {"role":"user","content":"this"},{"role":"assistant","content":"a cat"},{"role":"user","content":"sure?"}]}`,
		want: `{"systemInstruction":{"parts":[{"text":"be terse"},{"text":"no jokes"}]},
		       "contents":[{"role":"user","parts":[{"text":"what is"},{"inlineData":{"mimeType":"image/jpeg","data":"/9j/4AAQ"}},{"text":"this"}]},
		                   {"role":"model","parts":[{"text":"a cat"}]},{"role":"user","parts":[{"text":"sure?"}]}],
		       "generationConfig":{"temperature":0.5,"topP":0.8,"maxOutputTokens":100,"stopSequences":["END"]}}`,
	}, {
		name: "tools, specific choice, calls and results, json schema",
		req: `{"model":"p","max_tokens":20,"response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object","additionalProperties":false}}},
		       "tools":[{"type":"function","function":{"name":"get_weather","description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
		       "tool_choice":{"type":"function","function":{"name":"get_weather"}},
		       "messages":[{"role":"user","content":"Oslo?"},
		        {"role":"assistant","tool_calls":[{"id":"call_0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]},
		        {"role":"tool","tool_call_id":"call_0","content":"{\"temp\":3}"},
		        {"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
		        {"role":"tool","tool_call_id":"call_1","content":"rainy"}]}`,
		want: `{"contents":[{"role":"user","parts":[{"text":"Oslo?"}]},
		        {"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}}}]},
		        {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp":3}}}]},
		        {"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{}}}]},
		        {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"rainy"}}}]}],
		       "tools":[{"functionDeclarations":[{"name":"get_weather","description":"weather","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}}}}]}],
		       "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}},
		       "generationConfig":{"maxOutputTokens":20,"responseMimeType":"application/json","responseJsonSchema":{"type":"object","additionalProperties":false}}}`,
	}, {
		name: "json object mode and auto choice",
		req: `{"model":"p","response_format":{"type":"json_object"},"tool_choice":"auto",
		       "tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"}]}`,
		want: `{"contents":[{"role":"user","parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],
		       "toolConfig":{"functionCallingConfig":{"mode":"AUTO"}},"generationConfig":{"responseMimeType":"application/json"}}`,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, 200, "application/json", geminiOK)
			ep := endpoint(u, "gemini-2.5-flash")
			ep.BaseURL = u.URL + "/v1beta"
			if tc.ep != nil {
				tc.ep(&ep)
			}
			a, _ := providers.For("gemini")
			if _, _, err := a.Do(bg, nil, ep, mustRequest(t, tc.req)); err != nil {
				t.Fatal(err)
			}
			if u.path != "/v1beta/models/gemini-2.5-flash:generateContent" || u.query != "" {
				t.Errorf("path %q query %q", u.path, u.query)
			}
			if u.header.Get("x-goog-api-key") != canary || strings.Contains(u.query, canary) {
				t.Errorf("key must travel in x-goog-api-key only")
			}
			jsonEqual(t, "request", u.sent(t), tc.want)
		})
	}
}

func TestGeminiRefusesWhatItCannotExpress(t *testing.T) {
	u := newUpstream(t, 200, "application/json", geminiOK)
	a, _ := providers.For("gemini")
	for _, req := range []string{
		`{"model":"p","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}`,
		`{"model":"p","messages":[{"role":"tool","tool_call_id":"nobody","content":"x"}]}`,
	} {
		if _, _, err := a.Do(bg, nil, endpoint(u, "g"), mustRequest(t, req)); !errors.Is(err, providers.ErrUnsupportedRequest) {
			t.Errorf("%s: err = %v", req, err)
		}
	}
	if u.calls != 0 {
		t.Errorf("unsupported requests reached the network")
	}
}

func TestGeminiResponseTranslation(t *testing.T) {
	cases := []struct {
		reason, finish string
		call           bool
	}{{"STOP", "stop", false}, {"STOP", "tool_calls", true}, {"MAX_TOKENS", "length", false}, {"SAFETY", "content_filter", false},
		{"RECITATION", "content_filter", false}, {"PROHIBITED_CONTENT", "content_filter", false}}
	for _, tc := range cases {
		parts := `{"thought":true,"text":"thinking..."},{"text":"It is "},{"text":"3C"}`
		content := `"It is 3C","reasoning_content":"thinking..."`
		calls := ``
		if tc.call {
			parts = `{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}},"thoughtSignature":"c2ln+/w="}`
			content = `null`
			calls = `,"tool_calls":[{"id":"call_0_ts_c2ln-_w","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]`
		}
		body := `{"candidates":[{"content":{"parts":[` + parts + `],"role":"model"},"finishReason":"` + tc.reason + `","index":0}],
		  "usageMetadata":{"promptTokenCount":100,"cachedContentTokenCount":60,"candidatesTokenCount":20,"thoughtsTokenCount":30,"totalTokenCount":150},
		  "modelVersion":"gemini-2.5-flash-001","responseId":"abc"}`
		u := newUpstream(t, 200, "application/json", body)
		a, _ := providers.For("gemini")
		resp, usage, err := a.Do(bg, nil, endpoint(u, "gemini-2.5-flash"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"id":"chatcmpl-abc","object":"chat.completion","created":` + itoa(resp.Created) + `,"model":"gemini-2.5-flash-001",
		  "choices":[{"index":0,"message":{"role":"assistant","content":` + content + calls + `},"finish_reason":"` + tc.finish + `"}],
		  "usage":{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":60},
		           "completion_tokens_details":{"reasoning_tokens":30}}}`
		jsonEqual(t, tc.reason+"/"+tc.finish, resp, want)
		if usage != (providers.Usage{InputTokens: 100, OutputTokens: 50, CachedInputTokens: 60, ReasoningTokens: 30}) {
			t.Errorf("usage %+v", usage)
		}
	}
}

// TestGeminiThoughtSignatureRoundTrip: the signature Gemini attached to a call comes back with the call.
func TestGeminiThoughtSignatureRoundTrip(t *testing.T) {
	u := newUpstream(t, 200, "application/json", geminiOK)
	a, _ := providers.For("gemini")
	req := `{"model":"p","messages":[{"role":"user","content":"x"},
	  {"role":"assistant","tool_calls":[{"id":"call_0_ts_c2ln-_w","type":"function","function":{"name":"f","arguments":"{}"}}]},
	  {"role":"tool","tool_call_id":"call_0_ts_c2ln-_w","content":"ok"}]}`
	if _, _, err := a.Do(bg, nil, endpoint(u, "g"), mustRequest(t, req)); err != nil {
		t.Fatal(err)
	}
	part := u.sent(t)["contents"].([]any)[1].(map[string]any)["parts"].([]any)[0].(map[string]any)
	if part["thoughtSignature"] != "c2ln+/w=" {
		t.Errorf("thoughtSignature = %v", part["thoughtSignature"])
	}
}

func TestGeminiBlockedPrompt(t *testing.T) {
	u := newUpstream(t, 200, "application/json", `{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":7}}`)
	a, _ := providers.For("gemini")
	resp, usage, err := a.Do(bg, nil, endpoint(u, "g"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].FinishReason != "content_filter" || usage.InputTokens != 7 {
		t.Errorf("resp %+v usage %+v", resp.Choices[0], usage)
	}
}

const geminiStreamBody = "data: " + `{"candidates":[{"content":{"parts":[{"text":"It is"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":2},"modelVersion":"gemini-x","responseId":"s1"}` + "\r\n\r\n" +
	"data: " + `{"candidates":[{"content":{"parts":[{"text":" 3C"},{"functionCall":{"name":"log","args":{"t":3}}}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":4}}` + "\r\n\r\n"

func TestGeminiStream(t *testing.T) {
	final := "data: " + `{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":2,"cachedContentTokenCount":4}}` + "\r\n\r\n"
	u := newUpstream(t, 200, "text/event-stream", geminiStreamBody+final)
	a, _ := providers.For("gemini")
	sr, err := a.Stream(bg, nil, endpoint(u, "gemini-x"), mustRequest(t, `{"model":"p","stream":true,"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if u.path != "/v1/models/gemini-x:streamGenerateContent" || u.query != "alt=sse" {
		t.Errorf("path %q query %q", u.path, u.query)
	}
	chunks, err := drain(t, sr)
	if err != nil {
		t.Fatal(err)
	}
	got := assemble(chunks)
	if got.content != "It is 3C" || got.finish != "tool_calls" || got.tools[0].Function.Name != "log" ||
		got.tools[0].Function.Arguments != `{"t":3}` || got.tools[0].ID != "call_0" {
		t.Errorf("assembled %+v %+v", got, got.tools[0])
	}
	want := providers.Usage{InputTokens: 10, OutputTokens: 7, CachedInputTokens: 4, ReasoningTokens: 2}
	if sr.Usage() != want || got.usage.TotalTokens != 17 {
		t.Errorf("usage %+v / %+v", sr.Usage(), got.usage)
	}
	if chunks[0].Choices[0].Delta.Role != "assistant" {
		t.Errorf("first chunk has no role")
	}
}

func TestGeminiStreamWithoutFinishIsInterrupted(t *testing.T) {
	u := newUpstream(t, 200, "text/event-stream", geminiStreamBody)
	a, _ := providers.For("gemini")
	sr, err := a.Stream(bg, nil, endpoint(u, "g"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := drain(t, sr)
	if len(chunks) != 2 || !errors.Is(err, providers.ErrStreamInterrupted) {
		t.Fatalf("chunks %d err %v", len(chunks), err)
	}
}

func TestGeminiUpstreamError(t *testing.T) {
	u := newUpstream(t, 503, "application/json", `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`)
	a, _ := providers.For("gemini")
	_, _, err := a.Do(bg, nil, endpoint(u, "g"), mustRequest(t, `{"model":"p","messages":[{"role":"user","content":"x"}]}`))
	var ue *providers.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 503 || err.Error() != "gemini: upstream status 503: The model is overloaded." {
		t.Fatalf("err = %v", err)
	}
}
