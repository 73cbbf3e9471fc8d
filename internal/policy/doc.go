// Package policy is the planner: it compiles a RoutePolicy into a Policy and, for each request, decides which
// targets are eligible and in which order to try them. It is pure: no I/O, no clock reads, no global
// randomness. Time left, money spent, health observations and a seed are parameters, so the same inputs always
// give the same plan, and the router, `llmroute simulate` and `llmroute explain` agree.
//
// # Input-token upper bound
//
// Hard cost caps are checked before any network call, so the planner needs an input-token count that is never
// below the provider's. Byte-level BPE tokenizers (OpenAI, Llama, Mistral's Tekken, DeepSeek, Grok) and
// SentencePiece tokenizers with byte fallback (Gemini, Gemma) emit at most one token per UTF-8 byte of text:
// every token covers at least one byte. Hence, for a request of size s (EstimateInputTokensUpper):
//
//	input_upper = s.TextBytes + 8 x s.Messages + 16 + 4096 x s.Images
//	            + (if tools: 1024 + 32 x s.Tools + s.ToolSchemaBytes)
//
// The text term is sound for such tokenizers. The fixed terms are documented margins, not derivations: chat
// templates add a few tokens per message and per request, providers render tool definitions with boilerplate
// and may add a tool-use system prompt, and image tokens depend on the provider's resizing (ImageTokensUpper
// explains its value and its one known gap). The bound is loose (typical text is 3-4 bytes per token), which
// costs some headroom under a cap but never lets a request through that the cap should stop. When a provider
// reports more than the bound, IsUsageOutlier says so and the router records usage_outlier.
//
// # Output-token bound
//
// The smallest known of: the request's max_tokens, the target's maxTokens, the model's max output tokens
// (OutputBound). The router sends it as the request's max output, so the provider enforces it. When none is
// known the output is unbounded, and under a hard cap the target is excluded as unbounded_output.
//
// Thinking (reasoning) tokens are output tokens, billed at the output price. OpenAI counts reasoning within
// max_completion_tokens and Anthropic thinking within each answer's max_tokens (even when an interleaved-thinking
// budget_tokens, the budget of a whole turn, exceeds it), so the bound holds. Gemini documents thinkingBudget
// beside maxOutputTokens, so when a request asks for thinking the bound priced for a Gemini target
// (OutputCostBound) adds the thinking budget (32,768 when the model decides):
//
//	output_cost_bound = output_bound + (gemini and thinking asked ? thinking_budget : 0)
//
// In practice Gemini is observed to count thoughts against maxOutputTokens, which makes the addition a margin;
// the documented reading is the one the cap must survive. Gemini 2.5 models also think when nothing asks them
// to (dynamic thinking by default); that thinking is not added, and would show as usage_outlier if it were
// ever billed beyond maxOutputTokens.
//
// # Cost
//
// Prices are USD per million tokens. The worst case of an attempt (EstimateCost) is
//
//	est_max_cost = (input_upper x max(input_price, cache_read_price) + output_cost_bound x output_price) / 1e6
//
// at the cap price: the catalog price, or a policy override x (1 + safetyMargin). A target is eligible under a
// hard cap only if its price is known, its output bounded, and est_max_cost + spent <= hard cap, where spent is
// what the request's failed attempts already cost. The cost of a finished attempt (ActualCost) is
//
//	actual = ((input - cached) x input_price + cached x cache_read_price + output x output_price) / 1e6
//
// at the billed price (no margin), with cache_read_price falling back to input_price when unknown. Reasoning
// tokens are part of output tokens, as OpenAI reports them, and are not added again. Whenever usage stays within
// the bounds (IsUsageOutlier false), actual <= est_max_cost.
//
// # Ranking
//
// Eligible targets come first, ordered by penalty tier (healthy and within the soft cap; over the soft cap or
// of unknown cost under one; degraded; both), then by the strategy's key: priority (then list order); cost
// (worst-case cost, unknown last); latency (observed p95, unknown last); weighted (a weighted random order drawn
// from the seed, so first attempts spread in proportion to weight). Ties fall back to priority, then list order.
// Excluded targets follow in list order with their reason.
//
// Scores summarise the order for decision events: the first eligible candidate scores 1 and each next one
//
//	score_r = score_(r-1) - (1 + d_r) / (2n)
//
// where n is the number of eligible candidates and d_r in [0, 1] is how much worse its key is than the previous
// one's relative to the spread of keys (1 when it drops into a worse tier or to an unknown key; 0 under weighted
// ranking, whose keys are draws, not quality). Every step is at least 1/(2n) and the steps sum to less than 1,
// so scores lie in (0, 1] and strictly decrease. Excluded candidates score 0.
package policy
