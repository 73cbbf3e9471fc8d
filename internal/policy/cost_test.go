package policy

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/catalog"
)

func TestEstimateInputTokensUpper(t *testing.T) {
	tests := []struct {
		name string
		in   InputSize
		want int
	}{
		{"empty request still has template tokens", InputSize{}, 16},
		{"one message", InputSize{Messages: 1, TextBytes: 100}, 16 + 8 + 100},
		{"images", InputSize{Messages: 1, TextBytes: 10, Images: 2}, 16 + 8 + 10 + 2*4096},
		{"tools", InputSize{Messages: 2, TextBytes: 10, Tools: 3, ToolSchemaBytes: 500}, 16 + 16 + 10 + 1024 + 3*32 + 500},
		{"negative counts are zero", InputSize{Messages: -1, TextBytes: -5, Images: -1}, 16},
		{"saturates instead of overflowing", InputSize{TextBytes: math.MaxInt, Messages: math.MaxInt}, math.MaxInt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EstimateInputTokensUpper(tt.in); got != tt.want {
				t.Fatalf("EstimateInputTokensUpper(%+v) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestActualCost(t *testing.T) {
	base := mk("t", 2, 8)
	withCache := with(base, func(t *Target) { t.BilledPrice.CacheRead = ptr(0.5) })
	override := with(base, func(t *Target) {
		t.Price = catalog.Price{Input: ptr(4.0), Output: ptr(16.0)}
		t.BilledPrice = catalog.Price{Input: ptr(2.0), Output: ptr(8.0)}
	})
	tests := []struct {
		name      string
		target    Target
		usage     Usage
		want      float64
		wantKnown bool
	}{
		{"plain", base, Usage{InputTokens: 1000, OutputTokens: 500}, (2000 + 4000) / 1e6, true},
		{"cached at cache read price", withCache, Usage{InputTokens: 1000, CachedInputTokens: 400, OutputTokens: 500}, (600*2 + 400*0.5 + 500*8) / 1e6, true},
		{"cached at input price when cache price unknown", base, Usage{InputTokens: 1000, CachedInputTokens: 400, OutputTokens: 500}, (2000 + 4000) / 1e6, true},
		{"reasoning is inside output, not added", base, Usage{InputTokens: 1000, OutputTokens: 500, ReasoningTokens: 300}, (2000 + 4000) / 1e6, true},
		{"billed price has no safety margin", override, Usage{InputTokens: 1000, OutputTokens: 500}, (2000 + 4000) / 1e6, true},
		{"unknown price", with(base, func(t *Target) { t.BilledPrice = catalog.Price{} }), Usage{InputTokens: 1}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := ActualCost(&tt.target, tt.usage)
			if known != tt.wantKnown || math.Abs(got-tt.want) > 1e-15 {
				t.Fatalf("ActualCost = %v, %v; want %v, %v", got, known, tt.want, tt.wantKnown)
			}
		})
	}
}

func TestIsUsageOutlier(t *testing.T) {
	tg := with(mk("t", 1, 1), func(t *Target) { t.MaxTokens = 500 })
	req := Request{InputTokensUpper: 1000, MaxTokens: 800} // output bound: 500
	tests := []struct {
		name  string
		usage Usage
		want  bool
	}{
		{"within bounds", Usage{InputTokens: 1000, OutputTokens: 500, CachedInputTokens: 10, ReasoningTokens: 100}, false},
		{"input over upper bound", Usage{InputTokens: 1001, OutputTokens: 1}, true},
		{"output over bound", Usage{InputTokens: 10, OutputTokens: 501}, true},
		{"cached over input", Usage{InputTokens: 10, CachedInputTokens: 11}, true},
		{"reasoning over output", Usage{InputTokens: 10, OutputTokens: 5, ReasoningTokens: 6}, true},
		{"negative", Usage{InputTokens: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsUsageOutlier(&tg, req, tt.usage); got != tt.want {
				t.Fatalf("IsUsageOutlier(%+v) = %v, want %v", tt.usage, got, tt.want)
			}
		})
	}
}

// byteTokenize models a tokenizer that emits at most one token per UTF-8 byte (byte-level BPE): it cuts the
// text into random pieces of 1 to 6 bytes and counts them.
func byteTokenize(r *rand.Rand, s string) int {
	n := 0
	for i := 0; i < len(s); i += 1 + r.IntN(6) {
		n++
	}
	return n
}

var alphabet = []rune("abcdefghij ,.{}\"\n0123456789éßж中文😀🚀")

func randText(r *rand.Rand, maxRunes int) string {
	var b strings.Builder
	for range r.IntN(maxRunes + 1) {
		b.WriteRune(alphabet[r.IntN(len(alphabet))])
	}
	return b.String()
}

func randPrice(r *rand.Rand) *float64 { return ptr(math.Round(r.Float64()*3000) / 100) }

// TestCostBoundProperty: for random request contents tokenized by any tokenizer with tokens <= bytes, and any
// response within the request's output bound, the actual cost never exceeds the planner's worst case; a
// response beyond a bound is an outlier.
func TestCostBoundProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const cases = 20000
	for i := range cases {
		// Request content and the size the router would measure.
		var size InputSize
		tokens := r.IntN(RequestOverheadTokens + 1)
		size.Messages = 1 + r.IntN(6)
		for range size.Messages {
			text := randText(r, 200)
			if !utf8.ValidString(text) {
				t.Fatal("bad test text")
			}
			size.TextBytes += len(text)
			tokens += byteTokenize(r, text) + r.IntN(MessageOverheadTokens+1)
		}
		size.Images = r.IntN(3)
		for range size.Images {
			tokens += r.IntN(ImageTokensUpper + 1)
		}
		if size.Tools = r.IntN(3); size.Tools > 0 {
			tokens += r.IntN(ToolsRequestOverheadTokens + 1)
			for range size.Tools {
				schema := `{"type":"function","function":{"name":"` + randText(r, 20) + `","parameters":{}}}`
				size.ToolSchemaBytes += len(schema)
				tokens += byteTokenize(r, schema) + r.IntN(ToolOverheadTokens+1)
			}
		}
		req := Request{InputTokensUpper: EstimateInputTokensUpper(size), MaxTokens: r.IntN(3) * r.IntN(5000),
			ThinkingBudget: []int{0, AdaptiveThinking, 1024 + r.IntN(30000)}[r.IntN(3)]}

		// A target with random prices, caps and an optional override margin.
		tg := Target{Price: catalog.Price{Input: randPrice(r), Output: randPrice(r)}, ModelMaxOutputTokens: 1 + r.IntN(20000),
			Provider: []v1alpha1.Provider{v1alpha1.ProviderOpenAI, v1alpha1.ProviderAnthropic, v1alpha1.ProviderGemini}[r.IntN(3)]}
		if r.IntN(2) == 0 {
			tg.Price.CacheRead = randPrice(r)
		}
		if r.IntN(2) == 0 {
			tg.MaxTokens = 1 + r.IntN(8000)
		}
		tg.BilledPrice = tg.Price
		if r.IntN(3) == 0 {
			// As Compile does for an override: stated prices billed, margin-inflated prices capped, no cache price.
			margin := r.Float64() * 2
			tg.BilledPrice.CacheRead = nil
			tg.Price = catalog.Price{Input: ptr(*tg.BilledPrice.Input * (1 + margin)), Output: ptr(*tg.BilledPrice.Output * (1 + margin))}
		}
		// Thinking output included: the bound the provider can bill, beyond the limit sent where it documents so.
		bound, ok := OutputCostBound(&tg, req)
		if !ok {
			t.Fatalf("case %d: target with a model max output is unbounded", i)
		}
		est, known := EstimateCost(&tg, req.InputTokensUpper, bound)
		if !known {
			t.Fatalf("case %d: priced target has unknown cost", i)
		}

		// A response within the bound.
		u := Usage{InputTokens: tokens, OutputTokens: r.IntN(bound + 1)}
		u.CachedInputTokens = r.IntN(u.InputTokens + 1)
		u.ReasoningTokens = r.IntN(u.OutputTokens + 1)
		if IsUsageOutlier(&tg, req, u) {
			t.Fatalf("case %d: usage %+v within bounds (input upper %d, output bound %d) flagged as outlier", i, u, req.InputTokensUpper, bound)
		}
		actual, _ := ActualCost(&tg, u)
		// The relative slack only absorbs float rounding (a few ulps), not a modelling error.
		if actual > est*(1+1e-12) {
			t.Fatalf("case %d: actual cost %v > worst case %v (usage %+v, req %+v, target %+v)", i, actual, est, u, req, tg)
		}

		// A response beyond a bound is detected.
		over := u
		if r.IntN(2) == 0 {
			over.OutputTokens = bound + 1 + r.IntN(100)
		} else {
			over.InputTokens = req.InputTokensUpper + 1 + r.IntN(100)
		}
		if !IsUsageOutlier(&tg, req, over) {
			t.Fatalf("case %d: usage %+v beyond bounds (input upper %d, output bound %d) not flagged", i, over, req.InputTokensUpper, bound)
		}
	}
}

// TestOutputCostBoundThinking: thinking is within the output limit at OpenAI and Anthropic, so their cost bound
// is the limit sent; Gemini documents thinkingBudget beside maxOutputTokens, so a request that asks for thinking
// is priced for the limit plus the budget there, and the limit sent stays the same.
func TestOutputCostBoundThinking(t *testing.T) {
	base := with(mk("t", 1, 10), func(t *Target) { t.ModelMaxOutputTokens = 65_536 })
	of := func(p v1alpha1.Provider) Target { return with(base, func(t *Target) { t.Provider = p }) }
	noReasoning := with(of(v1alpha1.ProviderGemini), func(t *Target) { t.Caps.Reasoning = ptr(false) })
	tests := []struct {
		name     string
		target   Target
		thinking int
		want     int
	}{
		{"anthropic: budget within max_tokens", of(v1alpha1.ProviderAnthropic), 3000, 4000},
		{"openai: reasoning within max_completion_tokens", of(v1alpha1.ProviderOpenAI), 3000, 4000},
		{"gemini without thinking", of(v1alpha1.ProviderGemini), 0, 4000},
		{"gemini: budget beside maxOutputTokens", of(v1alpha1.ProviderGemini), 3000, 7000},
		{"gemini: adaptive thinking up to the largest budget", of(v1alpha1.ProviderGemini), AdaptiveThinking, 4000 + MaxDynamicThinkingTokens},
		{"gemini model that cannot think gets none", noReasoning, 3000, 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := Request{InputTokensUpper: 100, MaxTokens: 4000, ThinkingBudget: tt.thinking}
			if got, ok := OutputCostBound(&tt.target, req); got != tt.want || !ok {
				t.Fatalf("OutputCostBound = %d, %v; want %d", got, ok, tt.want)
			}
			p := pol(v1alpha1.RankingPriority, tt.target)
			c := p.Plan(req, nil, p.MaxLatency, 0, nil, 0).Candidates[0]
			if c.OutputBound != 4000 {
				t.Errorf("limit sent = %d, want the request's 4000", c.OutputBound)
			}
			if wantCost := float64(100*1+tt.want*10) / 1e6; math.Abs(c.EstMaxCostUSD-wantCost) > 1e-15 {
				t.Errorf("worst case %v, want %v", c.EstMaxCostUSD, wantCost)
			}
			if IsUsageOutlier(&tt.target, req, Usage{InputTokens: 100, OutputTokens: tt.want, ReasoningTokens: tt.want - 1}) ||
				!IsUsageOutlier(&tt.target, req, Usage{InputTokens: 100, OutputTokens: tt.want + 1}) {
				t.Errorf("outlier check does not use the cost bound %d", tt.want)
			}
		})
	}

	// Under a hard cap, the thinking budget can make the difference.
	gem := of(v1alpha1.ProviderGemini)
	p := pol(v1alpha1.RankingPriority, gem)
	p.HardCapUSD = ptr(0.05) // 4,000 output tokens at $10/M = $0.04: within; plus 3,000 thinking: $0.07
	req := Request{InputTokensUpper: 100, MaxTokens: 4000}
	if c := p.Plan(req, nil, p.MaxLatency, 0, nil, 0).Candidates[0]; !c.Eligible {
		t.Fatalf("without thinking: %+v", c)
	}
	req.ThinkingBudget = 3000
	if c := p.Plan(req, nil, p.MaxLatency, 0, nil, 0).Candidates[0]; c.Excluded != ExcludedOverHardCostCap {
		t.Fatalf("with thinking: %+v", c)
	}
	// Fitted thinking (a chat client's reasoning_effort) is sent at most half the limit, and priced so.
	req = Request{InputTokensUpper: 100, MaxTokens: 4000, ThinkingBudget: 24576, ThinkingFitted: true}
	if got, _ := OutputCostBound(&gem, req); got != 4000+2000 {
		t.Errorf("fitted thinking: bound %d, want 6000", got)
	}
	if c := p.Plan(req, nil, p.MaxLatency, 0, nil, 0).Candidates[0]; c.Excluded != ExcludedOverHardCostCap {
		t.Fatalf("fitted thinking over the cap: %+v", c)
	}
	req.MaxTokens = 3000 // 3,000 + 1,500 tokens at $10/M = $0.045: within
	if c := p.Plan(req, nil, p.MaxLatency, 0, nil, 0).Candidates[0]; !c.Eligible {
		t.Fatalf("fitted thinking within the cap: %+v", c)
	}
	if got, _ := OutputCostBound(&gem, Request{MaxTokens: 4000, ThinkingBudget: 1024, ThinkingFitted: true}); got != 4000+1024 {
		t.Errorf("a fitted budget below half the limit is counted whole: %d", got)
	}
	// A Gemini 3 model is sent a thinkingLevel, which bounds nothing: whatever the budget, fitted or not, it is
	// counted as thinking the model decides. Without thinking asked, nothing is added.
	gem3 := with(gem, func(t *Target) { t.Model = "gemini-3-pro-preview" })
	for _, r := range []Request{{MaxTokens: 4000, ThinkingBudget: 1024, ThinkingFitted: true},
		{MaxTokens: 4000, ThinkingBudget: 3000}, {MaxTokens: 4000, ThinkingBudget: AdaptiveThinking}} {
		if got, _ := OutputCostBound(&gem3, r); got != 4000+MaxDynamicThinkingTokens {
			t.Errorf("gemini 3, %+v: bound %d, want %d", r, got, 4000+MaxDynamicThinkingTokens)
		}
	}
	if got, _ := OutputCostBound(&gem3, Request{MaxTokens: 4000}); got != 4000 {
		t.Errorf("gemini 3 without thinking: bound %d", got)
	}
	// Saturates rather than overflowing.
	req = Request{MaxTokens: math.MaxInt, ThinkingBudget: 1}
	if got, _ := OutputCostBound(&gem, req); got != 65_536+1 {
		t.Errorf("bound %d", got)
	}
	huge := with(gem, func(t *Target) { t.ModelMaxOutputTokens = math.MaxInt })
	if got, _ := OutputCostBound(&huge, Request{ThinkingBudget: 5}); got != math.MaxInt {
		t.Errorf("saturated bound %d", got)
	}
}
