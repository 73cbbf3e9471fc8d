package providers_test

import (
	"errors"
	"testing"

	"github.com/llmroute/llmroute/internal/providers"
)

// TestGeminiCountTokens: a count goes to models.countTokens as a whole generateContentRequest (model named as
// models/{model}; system instruction, contents and tools as generateContent would get them; no generation
// settings), and the answer is Gemini's totalTokens. An answer that is not a count is malformed, never 0.
func TestGeminiCountTokens(t *testing.T) {
	req, err := providers.DecodeAnthropicCountTokens([]byte(`{"model":"r","system":"be brief",
		"tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"one two"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := providers.For("gemini")
	tc, ok := a.(providers.TokenCounter)
	if !ok {
		t.Fatal("the Gemini adapter does not count tokens")
	}

	u := newUpstream(t, 200, "application/json", `{"totalTokens":17,"promptTokensDetails":[{"modality":"TEXT","tokenCount":17}]}`)
	ep := endpoint(u, "gemini-2.5-flash")
	ep.BaseURL = u.URL + "/v1beta"
	n, err := tc.CountTokens(bg, nil, ep, req)
	if err != nil || n != 17 {
		t.Fatalf("count %d, %v; want 17", n, err)
	}
	if u.path != "/v1beta/models/gemini-2.5-flash:countTokens" || u.header.Get("x-goog-api-key") != canary || u.query != "" {
		t.Errorf("path %q query %q key header %q", u.path, u.query, u.header.Get("x-goog-api-key"))
	}
	jsonEqual(t, "request", u.sent(t), `{"generateContentRequest":{"model":"models/gemini-2.5-flash",
		"systemInstruction":{"parts":[{"text":"be brief"}]},
		"contents":[{"role":"user","parts":[{"text":"one two"}]}],
		"tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object"}}]}]}}`)

	for _, body := range []string{`{}`, `{"totalTokens":-1}`, `{"totalTokens":"17"}`, `not json`} {
		u := newUpstream(t, 200, "application/json", body)
		ep := endpoint(u, "gemini-2.5-flash")
		if n, err := tc.CountTokens(bg, nil, ep, req); !errors.Is(err, providers.ErrMalformedResponse) {
			t.Errorf("answer %s: count %d, error %v; want ErrMalformedResponse", body, n, err)
		}
	}
}

// TestOpenAICountTokens: on an openai target a count goes to POST /v1/responses/input_tokens as Responses input
// items (system and user messages, the assistant's text and function calls, the tool's output), flat function
// tools with parameters and strict present, the tool choice and the JSON schema format, with the target's
// model and key; the answer is OpenAI's input_tokens. Other OpenAI-compatible providers have no counting API
// and refuse without a request. An answer that is not a count is malformed.
func TestOpenAICountTokens(t *testing.T) {
	req, err := providers.DecodeAnthropicCountTokens([]byte(`{"model":"r","system":"be brief",
		"tools":[{"name":"f","description":"d","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"},
		"messages":[
		  {"role":"user","content":[{"type":"text","text":"look"},{"type":"image","source":{"type":"url","url":"https://example.com/a.png"}}]},
		  {"role":"assistant","content":[{"type":"text","text":"calling"},{"type":"tool_use","id":"toolu_1","name":"f","input":{"q":1}}]},
		  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"42"}]}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.ResponseFormat = &providers.ResponseFormat{Type: providers.FormatJSONSchema,
		JSONSchema: &providers.JSONSchema{Name: "answer", Schema: []byte(`{"type":"object"}`)}}
	a, _ := providers.For(providers.ProviderOpenAI)
	if err := providers.CanCountTokens(providers.For, providers.ProviderOpenAI); err != nil {
		t.Fatalf("openai cannot count: %v", err)
	}
	u := newUpstream(t, 200, "application/json", `{"object":"response.input_tokens","input_tokens":23}`)
	n, err := providers.CountTokensWith(bg, a, providers.ProviderOpenAI, nil, endpoint(u, "gpt-5-mini"), req)
	if err != nil || n != 23 {
		t.Fatalf("count %d, %v; want 23", n, err)
	}
	if u.path != "/v1/responses/input_tokens" || u.header.Get("Authorization") != "Bearer "+canary {
		t.Errorf("path %q, Authorization %q", u.path, u.header.Get("Authorization"))
	}
	jsonEqual(t, "request", u.sent(t), `{"model":"gpt-5-mini","input":[
		{"type":"message","role":"system","content":"be brief"},
		{"type":"message","role":"user","content":[{"type":"input_text","text":"look"},
		  {"type":"input_image","image_url":"https://example.com/a.png","detail":"auto"}]},
		{"type":"message","role":"assistant","content":"calling"},
		{"type":"function_call","call_id":"toolu_1","name":"f","arguments":"{\"q\":1}"},
		{"type":"function_call_output","call_id":"toolu_1","output":"42"}],
		"tools":[{"type":"function","name":"f","description":"d","parameters":{"type":"object"},"strict":false}],
		"tool_choice":{"type":"function","name":"f"},
		"text":{"format":{"type":"json_schema","name":"answer","schema":{"type":"object"}}}}`)

	for _, p := range []string{providers.ProviderGroq, providers.ProviderMistral, providers.ProviderDeepSeek,
		providers.ProviderXAI, providers.ProviderOpenAICompatible} {
		u := newUpstream(t, 200, "application/json", `{"input_tokens":1}`)
		ad, _ := providers.For(p)
		if err := providers.CanCountTokens(providers.For, p); !errors.Is(err, providers.ErrUnsupportedRequest) {
			t.Errorf("%s: CanCountTokens %v, want ErrUnsupportedRequest", p, err)
		}
		if _, err := providers.CountTokensWith(bg, ad, p, nil, endpoint(u, "m"), req); !errors.Is(err, providers.ErrUnsupportedRequest) {
			t.Errorf("%s: CountTokensWith %v, want ErrUnsupportedRequest", p, err)
		}
		if _, err := ad.(providers.TokenCounter).CountTokens(bg, nil, endpoint(u, "m"), req); !errors.Is(err, providers.ErrUnsupportedRequest) {
			t.Errorf("%s: CountTokens %v, want ErrUnsupportedRequest", p, err)
		}
		if u.path != "" {
			t.Errorf("%s: a request reached %s", p, u.path)
		}
	}

	for _, body := range []string{`{}`, `{"input_tokens":-1}`, `{"input_tokens":"23"}`, `not json`} {
		u := newUpstream(t, 200, "application/json", body)
		if n, err := providers.CountTokensWith(bg, a, providers.ProviderOpenAI, nil, endpoint(u, "gpt-5-mini"), req); !errors.Is(err, providers.ErrMalformedResponse) {
			t.Errorf("answer %s: count %d, error %v; want ErrMalformedResponse", body, n, err)
		}
	}
}
