package providers

import (
	"encoding/json"
	"maps"
)

// Thinking display modes (Anthropic's thinking.display).
const (
	ThinkingDisplaySummarized = "summarized"
	ThinkingDisplayOmitted    = "omitted"
)

// Reasoning asks the model to think before it answers. It carries Anthropic's extended-thinking request, the
// richest of the three providers' forms, and each adapter translates it for targets that can think:
//
//   - Anthropic: thinking {type: enabled, budget_tokens} or {type: adaptive}, with display; the budget is
//     lowered below a target's output cap when the cap is smaller, and thinking is left out when that leaves
//     less than Anthropic's minimum of 1024 tokens.
//   - OpenAI: reasoning_effort low/medium/high by budget (OpenAIReasoningEffort), only for provider openai and
//     models the catalog says reason; other OpenAI-compatible providers get nothing, because their models
//     reject or reinterpret the field.
//   - Gemini: generationConfig.thinkingConfig {thinkingBudget, includeThoughts}.
//
// A target whose model the catalog says does not reason gets none of it and answers without thinking: a route
// may mix thinking and non-thinking models, and failing over to one must not fail the request.
type Reasoning struct {
	// BudgetTokens is the most tokens the model should spend thinking (Anthropic budget_tokens), counted within
	// the request's output limit; 0 when Adaptive.
	BudgetTokens int
	// Adaptive leaves how much to think to the model (Anthropic's {"type":"adaptive"}, Gemini's dynamic
	// thinking budget).
	Adaptive bool
	// Display is ThinkingDisplaySummarized, ThinkingDisplayOmitted or "" (the provider's default).
	Display string
	// BestEffort marks reasoning a chat-completions client asked for with reasoning_effort (ReasoningFromEffort)
	// rather than an Anthropic thinking parameter validated as Anthropic does. It is a hint, fitted to the
	// request: the budget is lowered to half the output limit, leaving the other half for the answer, and
	// thinking is left out where the provider would refuse it together with the request's other parameters
	// (Anthropic: temperature other than 1, top_p below 0.95, a forced tool_choice), never failing the request.
	BestEffort bool
	// Interleaved marks thinking asked with Anthropic's interleaved-thinking beta flag
	// (AnthropicBetaInterleavedThinking), which lets Claude think between tool calls. BudgetTokens is then the
	// budget of the whole assistant turn, across its tool calls, and may exceed max_tokens (Anthropic allows
	// it with the flag); each answer's output, thinking included, stays within its max_tokens. Anthropic
	// targets get the budget as asked; Gemini and OpenAI targets take it as they take any budget.
	Interleaved bool
}

// AnthropicBetaInterleavedThinking is the anthropic-beta flag of interleaved thinking.
const AnthropicBetaInterleavedThinking = "interleaved-thinking-2025-05-14"

// Thinking budgets of ReasoningFromEffort: Google's published mapping of reasoning_effort onto Gemini's
// thinking budget in its OpenAI-compatible API (low 1K, medium 8K, high 24K), with minimal at Anthropic's
// smallest budget and xhigh and max above high. OpenAIReasoningEffort maps low, medium and high back to
// themselves.
var effortBudgets = map[string]int{
	"minimal": 1024, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768,
}

// ReasoningFromEffort returns the reasoning a chat-completions request's reasoning_effort asks of targets that
// take a thinking budget instead (Anthropic, Gemini): BestEffort, with the tier's budget. It returns nil for no
// field, null, "none" (the provider's default: Gemini 2.5 Pro cannot stop thinking, so "none" is not sent as a
// budget of 0), and for a value it does not know, which only OpenAI-compatible targets, receiving the field as
// the client sent it, can judge.
func ReasoningFromEffort(raw json.RawMessage) *Reasoning {
	if len(raw) < 2 || raw[0] != '"' {
		return nil
	}
	var effort string
	if json.Unmarshal(raw, &effort) != nil {
		return nil
	}
	budget, ok := effortBudgets[effort]
	if !ok {
		return nil
	}
	return &Reasoning{BudgetTokens: budget, BestEffort: true}
}

// fitBestEffort returns r's budget lowered to half of maxTokens when r is BestEffort and maxTokens is set,
// else r's budget.
func fitBestEffort(r *Reasoning, maxTokens int) int {
	if r.BestEffort && maxTokens > 0 {
		return min(r.BudgetTokens, maxTokens/2)
	}
	return r.BudgetTokens
}

// ThinkingBlock is one block of an assistant turn's reasoning. Anthropic requires the thinking of a tool-use
// turn back, unmodified and with its signature, and rejects a block whose signature it did not issue, so a
// block keeps its signature and only signed blocks (and redacted ones) ever go to an Anthropic target.
type ThinkingBlock struct {
	// Text is the reasoning as shown; empty for a redacted block or when display was omitted.
	Text string
	// Signature is Anthropic's signature of the block. It is empty for reasoning from providers that sign
	// nothing (Gemini thought summaries, an OpenAI-compatible provider's reasoning_content): no Anthropic target
	// accepts such a block, so it is dropped on the way there.
	Signature string
	// RedactedData is the encrypted content of an Anthropic redacted_thinking block; Text and Signature are
	// empty then.
	RedactedData string
}

// anthropicSigned reports whether b can go back to an Anthropic target: a signed thinking block or a redacted
// one.
func (b ThinkingBlock) anthropicSigned() bool { return b.Signature != "" || b.RedactedData != "" }

// Budget thresholds of OpenAIReasoningEffort. They match the tiers clients commonly ask Claude for (Claude
// Code's "think" is 4,000 tokens, "think hard" 10,000, "ultrathink" 31,999).
const (
	reasoningMediumFrom = 4096
	reasoningHighFrom   = 16384
)

// OpenAIReasoningEffort maps a thinking budget onto OpenAI's reasoning_effort: below 4,096 tokens low, below
// 16,384 medium, else high. Adaptive thinking (the model decides) maps to "", the model's default effort.
func OpenAIReasoningEffort(r *Reasoning) string {
	switch {
	case r == nil || r.Adaptive || r.BudgetTokens <= 0:
		return ""
	case r.BudgetTokens < reasoningMediumFrom:
		return "low"
	case r.BudgetTokens < reasoningHighFrom:
		return "medium"
	}
	return "high"
}

// reasoningExtra returns the Extra fields to send an OpenAI-compatible provider: req.Extra, plus
// reasoning_effort when the request asks for reasoning, the provider is OpenAI and the catalog says the model
// reasons. Other compatible providers get nothing: DeepSeek ignores the field, Groq and xAI accept other values
// on some models and reject it on others, so sending it could only turn a good request into a 400. A client's
// own OpenAI body (Raw), or reasoning that came from the client's reasoning_effort (BestEffort: Extra holds it
// as sent), is left alone.
func reasoningExtra(provider string, ep Endpoint, req *ChatRequest) map[string]json.RawMessage {
	effort := OpenAIReasoningEffort(req.Reasoning)
	if effort == "" || req.Raw != nil || req.Reasoning.BestEffort || provider != ProviderOpenAI ||
		ep.Reasoning == nil || !*ep.Reasoning {
		return req.Extra
	}
	extra := maps.Clone(req.Extra) // req is shared between attempts: never write to its map
	if extra == nil {
		extra = make(map[string]json.RawMessage, 1)
	}
	extra["reasoning_effort"] = jsonString(effort)
	return extra
}

// thinkingFor returns the reasoning to send a target: nil when the request asks for none or the catalog says
// the model does not reason. An unknown model gets it: Anthropic and Gemini serve thinking on every current
// model, and OpenAI's adapter asks for a known reasoning model itself.
func thinkingFor(ep Endpoint, req *ChatRequest) *Reasoning {
	if req.Reasoning == nil || (ep.Reasoning != nil && !*ep.Reasoning) {
		return nil
	}
	return req.Reasoning
}

// ReasoningDropped reports whether req asks for best-effort reasoning (a chat client's reasoning_effort) that
// the provider's adapter sends no thinking for on ep: on Anthropic because the request's temperature, top_p or
// tool_choice cannot go with thinking, or because no budget fits its output limit; on Gemini because the fitted
// budget is below the model's minimum. It asks the same functions the adapters' translation sends the thinking
// parameter from (without translating the rest of the request), so the answer is what was sent. A request the
// adapter cannot translate at all is never sent, so its answer does not matter. OpenAI-compatible targets are
// sent the client's value and never drop it.
func ReasoningDropped(provider string, ep Endpoint, req *ChatRequest) bool {
	if req == nil || req.Reasoning == nil || !req.Reasoning.BestEffort || req.CountTokens {
		return false
	}
	switch provider {
	case ProviderAnthropic:
		return anthropicThinkingFor(ep, req) == nil
	case ProviderGemini:
		return geminiThinkingFor(ep, req) == nil
	}
	return false
}
