package router_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/router"
)

// countPromptMessages and countPromptSystem make the prompt both count_tokens tests count and then send: 5 + 2
// words, one user message and the system prompt, which the fake bills as 9 input tokens.
var (
	countPromptMessages = []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("how many tokens is this"))}
	countPromptSystem   = []anthropic.TextBlockParam{{Text: "be brief"}}
)

// countPromptTokens counts that prompt through r's /v1/messages/count_tokens with the official Anthropic client.
func countPromptTokens(t *testing.T, r *rig) int64 {
	t.Helper()
	client := r.anthropicClient()
	count, err := client.Messages.CountTokens(context.Background(), anthropic.MessageCountTokensParams{Model: "chat",
		Messages: countPromptMessages, System: anthropic.MessageCountTokensParamsSystemUnion{OfTextBlockArray: countPromptSystem}})
	if err != nil {
		t.Fatal(err)
	}
	return count.InputTokens
}

// billedPromptTokens sends that prompt to r's /v1/messages and returns the input tokens the answer was billed.
func billedPromptTokens(t *testing.T, r *rig) int64 {
	t.Helper()
	client := r.anthropicClient()
	answer, err := client.Messages.New(context.Background(), anthropic.MessageNewParams{Model: "chat", MaxTokens: 64,
		Messages: countPromptMessages, System: countPromptSystem})
	if err != nil {
		t.Fatal(err)
	}
	return answer.Usage.InputTokens
}

// groqTarget is an OpenAI-compatible target whose provider has no token counting API.
var groqTarget = target{name: "groq", provider: v1alpha1.ProviderGroq, model: "llama-3.1-8b-instant", key: "gsk-test"}

// TestMessagesCountTokens counts tokens with the official Anthropic client through a route whose first target
// (Groq) has no token counting and whose second (an Anthropic target) is down: the Groq target is skipped
// without an attempt, the broken one fails over, and the answer is the provider's own count, the input tokens
// the same request is billed for on /v1/messages.
func TestMessagesCountTokens(t *testing.T) {
	r := newRig(t, rigOptions{}, groqTarget, withFault(renamed(anthropicTarget, "claude-down"), broken503), anthropicTarget)
	count := countPromptTokens(t, r)
	if count != 9 {
		t.Errorf("input_tokens %d, want 9", count)
	}
	// The same count as raw JSON, checked on the wire: the target's model, no generation parameters, the
	// target's key.
	resp, raw := r.rawPost("/v1/messages/count_tokens",
		`{"model":"chat","system":"be brief","messages":[{"role":"user","content":"how many tokens is this"}]}`, nil)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(raw) != `{"input_tokens":9}` {
		t.Fatalf("status %d body %s", resp.StatusCode, raw)
	}
	got := r.fakes["claude"].LastRequest()
	if got.Path != "/v1/messages/count_tokens" || got.Header.Get("x-api-key") != anthropicTarget.key {
		t.Errorf("claude got %s with key %q", got.Path, got.Header.Get("x-api-key"))
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if m := string(body["model"]); m != `"`+anthropicTarget.model+`"` {
		t.Errorf("model %s, want the target's", m)
	}
	for _, f := range []string{"max_tokens", "stream", "temperature"} {
		if _, ok := body[f]; ok {
			t.Errorf("count_tokens body carries %s: %s", f, got.Body)
		}
	}
	h := resp.Header
	if h.Get(router.HeaderTarget) != "claude" || h.Get(router.HeaderAttempts) != "2" ||
		h.Get(router.HeaderFallbackReason) != string(faults.ReasonProvider5xx) || h.Get(router.HeaderCostUSD) != "0" {
		t.Errorf("headers %v", h)
	}
	ev := r.event(h.Get(router.HeaderRequestID))
	if ev.Final.Outcome != "ok" || ev.Final.Target != "claude" || len(ev.Attempts) != 2 || ev.Attempts[0].Target != "claude-down" {
		t.Errorf("decision event final %+v attempts %+v", ev.Final, ev.Attempts)
	}
	skipped := false
	for _, c := range ev.Candidates {
		if c.Target == "groq" && c.Excluded == faults.ReasonMissingCapability {
			skipped = true
		}
	}
	if !skipped {
		t.Errorf("the Groq target is not recorded as skipped for missing_capability: %+v", ev.Candidates)
	}
	if n := r.fakes["groq"].Requests(); n != 0 {
		t.Errorf("the Groq target, which cannot count tokens, got %d requests", n)
	}

	// The count is what the same request is billed for: answered by the Groq target, first in the route.
	if billed := billedPromptTokens(t, r); billed != count {
		t.Errorf("count_tokens said %d, the same request was billed %d input tokens", count, billed)
	}
}

// TestMessagesCountTokensGemini counts through Gemini targets: an Anthropic client's count_tokens goes to
// models.countTokens on the route's Gemini target after a broken one fails over, and the count is Gemini's, the
// input tokens the same request is billed for on /v1/messages when that target answers it.
func TestMessagesCountTokensGemini(t *testing.T) {
	r := newRig(t, rigOptions{}, groqTarget, withFault(renamed(geminiTarget, "gem-down"), broken503), geminiTarget)
	count := countPromptTokens(t, r)
	if count != 9 {
		t.Errorf("input_tokens %d, want 9", count)
	}
	got := r.fakes["gem"].LastRequest()
	if got.Path != "/v1beta/models/"+geminiTarget.model+":countTokens" || got.Header.Get("x-goog-api-key") != geminiTarget.key {
		t.Errorf("gem got %s with key %q", got.Path, got.Header.Get("x-goog-api-key"))
	}
	var body struct {
		GenerateContentRequest map[string]json.RawMessage `json:"generateContentRequest"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if m := string(body.GenerateContentRequest["model"]); m != `"models/`+geminiTarget.model+`"` {
		t.Errorf("generateContentRequest.model %s", m)
	}
	if _, ok := body.GenerateContentRequest["generationConfig"]; ok {
		t.Errorf("countTokens body carries a generationConfig: %s", got.Body)
	}
	if r.fakes["gem-down"].Requests() != 1 || r.fakes["groq"].Requests() != 0 {
		t.Errorf("gem-down got %d requests (want 1), groq %d (want 0)", r.fakes["gem-down"].Requests(), r.fakes["groq"].Requests())
	}

	// Billed on /v1/messages by the same Gemini target, alone in its route.
	if billed := billedPromptTokens(t, newRig(t, rigOptions{}, geminiTarget)); billed != count {
		t.Errorf("count_tokens said %d, Gemini billed the same request %d input tokens", count, billed)
	}
}

// TestMessagesCountTokensRefusals: a route without an Anthropic, Gemini or OpenAI target cannot count (and says why, with no
// request sent), and a count_tokens body that streams or is no object is a 400 before any provider is called.
func TestMessagesCountTokensRefusals(t *testing.T) {
	r := newRig(t, rigOptions{}, groqTarget)
	resp, body := r.rawPost("/v1/messages/count_tokens", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`, nil)
	typ, code, msg, _ := anthropicErrorBody(t, body)
	if resp.StatusCode != http.StatusUnprocessableEntity || code != string(faults.ReasonNoEligibleTarget) || !strings.Contains(msg, "count_tokens needs an Anthropic, Gemini or OpenAI target") {
		t.Errorf("route without a counting target: status %d, %s %s %q", resp.StatusCode, typ, code, msg)
	}
	for _, bad := range []string{
		`{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
		`["model"]`,
		`{"model":"chat","messages":[]}`,
	} {
		resp, body := r.rawPost("/v1/messages/count_tokens", bad, nil)
		typ, code, msg, _ := anthropicErrorBody(t, body)
		if resp.StatusCode != http.StatusBadRequest || typ != "invalid_request_error" || code != string(faults.ReasonBadRequest) {
			t.Errorf("%s: status %d, %s %s %q", bad, resp.StatusCode, typ, code, msg)
		}
	}
	if n := r.fakes["groq"].Requests(); n != 0 {
		t.Errorf("the Groq target got %d requests", n)
	}
}

// TestMessagesCountTokensMalformedAnswerFailsOver: a count_tokens answer that is not JSON is a malformed
// response from that target, failed over like any other, never a count of 0.
func TestMessagesCountTokensMalformedAnswerFailsOver(t *testing.T) {
	r := newRig(t, rigOptions{}, withFault(renamed(anthropicTarget, "garbled"), fakeprovider.Fault{MalformedJSON: true}), anthropicTarget)
	resp, body := r.rawPost("/v1/messages/count_tokens", `{"model":"chat","messages":[{"role":"user","content":"one two"}]}`, nil)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `{"input_tokens":3}` {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get(router.HeaderFallbackReason); got != string(faults.ReasonMalformedResponse) {
		t.Errorf("fallback reason %q, want malformed_response", got)
	}
	if n := r.fakes["garbled"].Requests(); n != 1 {
		t.Errorf("garbled target got %d requests, want 1", n)
	}
}

// TestMessagesCountTokensUnderHardCap: a prompt whose worst-case cost breaks the route's hard cap is refused on
// /v1/messages before any call, but it can still be counted: counting is free.
func TestMessagesCountTokensUnderHardCap(t *testing.T) {
	hardCap := 0.0001 // far below the prompt's worst case, above one output token (what a count is planned as)
	r := newRig(t, rigOptions{spec: func(s *v1alpha1.RoutePolicySpec) { s.Constraints.MaxCostPerRequestUSD = &hardCap }}, anthropicTarget)
	prompt := strings.Repeat("word ", 2000)
	msg := `"messages":[{"role":"user","content":"` + prompt + `"}]`
	resp, body := r.rawPost("/v1/messages", `{"model":"chat","max_tokens":10,`+msg+`}`, nil)
	if _, code, _, _ := anthropicErrorBody(t, body); code != string(faults.ReasonOverHardCostCap) && code != string(faults.ReasonNoEligibleTarget) {
		t.Fatalf("messages under the cap: status %d %s", resp.StatusCode, body)
	}
	if r.fakes["claude"].Requests() != 0 {
		t.Fatal("the capped request reached the provider")
	}
	resp, body = r.rawPost("/v1/messages/count_tokens", `{"model":"chat",`+msg+`}`, nil)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(body) != `{"input_tokens":2001}` {
		t.Fatalf("count under the cap: status %d %s", resp.StatusCode, body)
	}
}

// TestMessagesCountTokensOpenAI counts through an OpenAI target: the Anthropic client's count_tokens skips the
// Groq target (no counting API), fails over from a broken OpenAI target, and goes to POST
// /v1/responses/input_tokens on the healthy one with its model and key, as Responses input items. The count is
// OpenAI's, the input tokens the same request is billed for on /v1/messages when that target answers it.
func TestMessagesCountTokensOpenAI(t *testing.T) {
	r := newRig(t, rigOptions{}, groqTarget, withFault(renamed(openaiTarget, "oai-down"), broken503), openaiTarget)
	count := countPromptTokens(t, r)
	if count != 9 {
		t.Errorf("input_tokens %d, want 9", count)
	}
	got := r.fakes["oai"].LastRequest()
	if got.Path != "/v1/responses/input_tokens" || got.Header.Get("Authorization") != "Bearer "+openaiTarget.key {
		t.Errorf("oai got %s with Authorization %q", got.Path, got.Header.Get("Authorization"))
	}
	var body struct {
		Model string            `json:"model"`
		Input []json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Model != openaiTarget.model || len(body.Input) != 2 ||
		string(body.Input[0]) != `{"type":"message","role":"system","content":"be brief"}` {
		t.Errorf("input_tokens body %s", got.Body)
	}
	if r.fakes["oai-down"].Requests() != 1 || r.fakes["groq"].Requests() != 0 {
		t.Errorf("oai-down got %d requests (want 1), groq %d (want 0)", r.fakes["oai-down"].Requests(), r.fakes["groq"].Requests())
	}

	// Billed on /v1/messages by the same OpenAI target, alone in its route.
	if billed := billedPromptTokens(t, newRig(t, rigOptions{}, openaiTarget)); billed != count {
		t.Errorf("count_tokens said %d, OpenAI billed the same request %d input tokens", count, billed)
	}
}
