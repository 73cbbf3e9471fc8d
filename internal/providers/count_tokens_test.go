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
		"tools":[{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"one two"}]}`))
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
