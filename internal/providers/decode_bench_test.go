package providers_test

import (
	"encoding/json"
	"testing"

	"github.com/llmroute/llmroute/internal/providers"
)

const benchBody = `{"model":"chat","max_tokens":64,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Summarise the benefits of routing requests across providers in one line."}]}`

const benchResponse = `{"id":"chatcmpl-abc123","object":"chat.completion","created":1732500000,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Routing across providers keeps answers flowing when one degrades, at a known cost.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":28,"completion_tokens":16,"total_tokens":44,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"system_fingerprint":"fp_0123456789"}`

func BenchmarkDecodeChatRequest(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var r providers.ChatRequest
		if err := r.UnmarshalJSON([]byte(benchBody)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePlainRequest(b *testing.B) {
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	type req struct {
		Model     string `json:"model"`
		MaxTokens *int   `json:"max_tokens"`
		Messages  []msg  `json:"messages"`
	}
	b.ReportAllocs()
	for b.Loop() {
		var r req
		if err := json.Unmarshal([]byte(benchBody), &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeChatResponse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var r providers.ChatResponse
		if err := json.Unmarshal([]byte(benchResponse), &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponseHead(b *testing.B) {
	type head struct {
		Choices []struct {
			Index        int    `json:"index"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage *providers.ResponseUsage `json:"usage"`
	}
	b.ReportAllocs()
	for b.Loop() {
		var r head
		if err := json.Unmarshal([]byte(benchResponse), &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReasoningDropped is the per-attempt check of a reasoning_effort request sent to Anthropic and
// Gemini targets; it runs on every such attempt, before the attempt's own translation.
func BenchmarkReasoningDropped(b *testing.B) {
	var req providers.ChatRequest
	body := `{"model":"chat","max_tokens":4000,"reasoning_effort":"low","messages":[{"role":"system","content":"You are terse."},` +
		`{"role":"user","content":"Summarise the benefits of routing requests across providers in one line."}]}`
	if err := req.UnmarshalJSON([]byte(body)); err != nil {
		b.Fatal(err)
	}
	if req.Reasoning == nil || !req.Reasoning.BestEffort {
		b.Fatal("reasoning_effort did not decode as best-effort reasoning")
	}
	for _, tc := range []struct{ provider, model string }{
		{providers.ProviderAnthropic, "claude-sonnet-4-5"}, {providers.ProviderGemini, "gemini-2.5-flash"}} {
		b.Run(tc.provider, func(b *testing.B) {
			ep := providers.Endpoint{BaseURL: "http://127.0.0.1:1", Model: tc.model}
			if providers.ReasoningDropped(tc.provider, ep, &req) {
				b.Fatal("a 4000-token limit fits a low effort's budget: nothing is dropped")
			}
			b.ReportAllocs()
			for b.Loop() {
				providers.ReasoningDropped(tc.provider, ep, &req)
			}
		})
	}
}
