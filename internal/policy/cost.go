package policy

import (
	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/catalog"
)

// Fixed terms of the input-token upper bound. They are margins for tokens a provider adds around the content
// (chat-template markers, tool rendering, image encoding), not measurements; see doc.go.
const (
	// RequestOverheadTokens covers per-request template tokens (reply priming, BOS/EOS).
	RequestOverheadTokens = 16
	// MessageOverheadTokens covers each message's role and separator tokens (OpenAI documents 3-4).
	MessageOverheadTokens = 8
	// ImageTokensUpper bounds the tokens of one image. OpenAI's largest is 1,536 patches x 2.46 (gpt-4.1-nano)
	// = 3,779; Anthropic downscales images to about 1,600 tokens; Gemini 3 caps high media resolution at 1,120.
	// Gemini 2.x tiles large images at 258 tokens per 768x768 tile, so an image over about 3,000x3,000 pixels
	// can exceed this bound there: IsUsageOutlier reports it after the fact.
	ImageTokensUpper = 4096
	// ToolOverheadTokens covers the provider's rendering of each tool definition around its schema bytes.
	ToolOverheadTokens = 32
	// ToolsRequestOverheadTokens covers the hidden tool-use system prompt some providers add once when tools are
	// present (Anthropic documents up to 530 tokens).
	ToolsRequestOverheadTokens = 1024
)

// InputSize describes a request's content in the terms the input-token bound needs, so the router can compute
// it while decoding the request and this package never parses HTTP.
type InputSize struct {
	// Messages is the number of messages (system, user, assistant, tool).
	Messages int
	// TextBytes is the total UTF-8 byte length of all text the model reads: message contents, names, tool-call
	// names and arguments, tool results, and the response_format schema.
	TextBytes int
	// Images is the number of image parts.
	Images int
	// Tools is the number of tool definitions.
	Tools int
	// ToolSchemaBytes is the byte length of the tool definitions as JSON.
	ToolSchemaBytes int
}

// EstimateInputTokensUpper returns an upper bound on the input tokens of a request of size in, for tokenizers
// that emit at most one token per UTF-8 byte (byte-level BPE, SentencePiece with byte fallback): the content
// bytes plus the fixed overheads above. Negative fields count as 0; the sum saturates instead of overflowing.
func EstimateInputTokensUpper(in InputSize) int {
	n := satAdd(RequestOverheadTokens, nonNeg(in.TextBytes))
	n = satAdd(n, satMul(nonNeg(in.Messages), MessageOverheadTokens))
	n = satAdd(n, satMul(nonNeg(in.Images), ImageTokensUpper))
	if in.Tools > 0 || in.ToolSchemaBytes > 0 {
		n = satAdd(n, ToolsRequestOverheadTokens)
		n = satAdd(n, satMul(nonNeg(in.Tools), ToolOverheadTokens))
		n = satAdd(n, nonNeg(in.ToolSchemaBytes))
	}
	return n
}

// OutputBound returns the output-token limit the router sends t for req, and false when nothing bounds it. It
// is the smallest of the request's max_tokens, the target's maxTokens and the model's max output, among those
// known. The router must send it to the provider as the request's max output tokens, so the provider enforces
// what the cost check assumed. Reasoning tokens count against it at OpenAI (max_completion_tokens) and
// Anthropic (thinking is within max_tokens, whatever budget_tokens says); see OutputCostBound for Gemini.
func OutputBound(t *Target, req Request) (int, bool) {
	bound := 0
	for _, v := range [3]int{req.MaxTokens, t.MaxTokens, t.ModelMaxOutputTokens} {
		if v > 0 && (bound == 0 || v < bound) {
			bound = v
		}
	}
	return bound, bound > 0
}

// AdaptiveThinking is Request.ThinkingBudget for thinking whose amount the model decides.
const AdaptiveThinking = -1

// MaxDynamicThinkingTokens bounds the thinking of a model that decides how much to think on a provider that
// counts thinking outside its output limit: Gemini's largest thinking budget (2.5 Pro's 32,768).
const MaxDynamicThinkingTokens = 32768

// ThinkingOutsideOutputLimit reports whether a provider's documentation leaves thinking tokens outside the
// request's output limit. Gemini's does (thinkingBudget beside maxOutputTokens), although Gemini is widely
// observed to count thoughts against maxOutputTokens; the bound takes the documented, larger reading.
func ThinkingOutsideOutputLimit(p v1alpha1.Provider) bool { return p == v1alpha1.ProviderGemini }

// OutputCostBound returns the most output tokens t can bill for req, and false when nothing bounds it: the
// OutputBound, plus, when the request asks for thinking and t's provider counts thinking outside the output
// limit (ThinkingOutsideOutputLimit) on a model not known to be unable to think, the thinking budget
// (MaxDynamicThinkingTokens for adaptive thinking and for a Gemini 3 model, which the router sends a
// thinkingLevel rather than a budget), or for fitted thinking (Request.ThinkingFitted) at most half the
// OutputBound. The router never sends a larger budget than the one counted here.
func OutputCostBound(t *Target, req Request) (int, bool) {
	bound, ok := OutputBound(t, req)
	if !ok || req.ThinkingBudget == 0 || !ThinkingOutsideOutputLimit(t.Provider) ||
		(t.Caps.Reasoning != nil && !*t.Caps.Reasoning) {
		return bound, ok
	}
	thinking := req.ThinkingBudget
	if thinking < 0 || catalog.GeminiThinkingLevels(t.Model) {
		// A model that decides, and a Gemini 3 model, which is sent a thinkingLevel: a level bounds nothing.
		thinking = MaxDynamicThinkingTokens
	} else if req.ThinkingFitted {
		thinking = min(thinking, bound/2)
	}
	return satAdd(bound, thinking), true
}

// EstimateCost returns the worst-case cost in USD of inputTokens and outputTokens on t at its cap price
// (Target.Price, safety margin included). Input tokens are priced at the higher of the input and cache-read
// prices, so the estimate holds whatever share of the input a provider serves from cache. known is false when
// t's input or output price is unknown.
func EstimateCost(t *Target, inputTokens, outputTokens int) (usd float64, known bool) {
	if t.Price.Input == nil || t.Price.Output == nil {
		return 0, false
	}
	in := *t.Price.Input
	if cr := t.Price.CacheRead; cr != nil && *cr > in {
		in = *cr
	}
	return (float64(nonNeg(inputTokens))*in + float64(nonNeg(outputTokens))*(*t.Price.Output)) / 1e6, true
}

// Usage is what a provider reported for one attempt, normalised to OpenAI's conventions by the adapter.
type Usage struct {
	// InputTokens counts every input token, cached ones included (OpenAI prompt_tokens; for Anthropic the
	// adapter adds cache_read_input_tokens and cache_creation_input_tokens to input_tokens).
	InputTokens int
	// OutputTokens counts every output token, reasoning included (OpenAI completion_tokens; for Gemini the
	// adapter adds thoughtsTokenCount to candidatesTokenCount).
	OutputTokens int
	// CachedInputTokens is the part of InputTokens served from the provider's cache.
	CachedInputTokens int
	// ReasoningTokens is the part of OutputTokens spent on reasoning. It is informational: already in
	// OutputTokens and billed at the output price, so it is not added again.
	ReasoningTokens int
}

// ActualCost returns the cost in USD of an attempt that used u on t, at the billed price (Target.BilledPrice,
// no safety margin). Cached input tokens are priced at the cache-read price when known, else the input price.
// Cache writes are not priced: the OpenAI-shaped requests llmroute forwards carry no cache-control markers, so
// no provider bills them. known is false when t's input or output price is unknown.
func ActualCost(t *Target, u Usage) (usd float64, known bool) {
	p := t.BilledPrice
	if p.Input == nil || p.Output == nil {
		return 0, false
	}
	input, cached := nonNeg(u.InputTokens), nonNeg(u.CachedInputTokens)
	cached = min(cached, input)
	cachedPrice := *p.Input
	if p.CacheRead != nil {
		cachedPrice = *p.CacheRead
	}
	return (float64(input-cached)*(*p.Input) + float64(cached)*cachedPrice + float64(nonNeg(u.OutputTokens))*(*p.Output)) / 1e6, true
}

// IsUsageOutlier reports whether u breaks a bound the cost check relied on: more input tokens than
// req.InputTokensUpper, more output tokens than OutputCostBound, or an inconsistent report (cached above input,
// reasoning above output, negative counts). The router records such attempts as usage_outlier, because the
// hard cap was checked against bounds the provider did not keep to.
func IsUsageOutlier(t *Target, req Request, u Usage) bool {
	if u.InputTokens < 0 || u.OutputTokens < 0 || u.CachedInputTokens < 0 || u.ReasoningTokens < 0 {
		return true
	}
	if u.CachedInputTokens > u.InputTokens || u.ReasoningTokens > u.OutputTokens {
		return true
	}
	if u.InputTokens > req.InputTokensUpper {
		return true
	}
	if bound, ok := OutputCostBound(t, req); ok && u.OutputTokens > bound {
		return true
	}
	return false
}

const maxInt = int(^uint(0) >> 1)

func nonNeg(v int) int { return max(v, 0) }

func satAdd(a, b int) int {
	if a > maxInt-b {
		return maxInt
	}
	return a + b
}

func satMul(a, b int) int {
	if a != 0 && b > maxInt/a {
		return maxInt
	}
	return a * b
}
