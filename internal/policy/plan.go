package policy

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/llmroute/llmroute/api/v1alpha1"
)

// Exclusion reason codes: why a target is not eligible for a request. The set is closed; decision events,
// metrics and `llmroute explain` use these strings. When several apply, the first in this list is reported.
const (
	// ExcludedAlreadyTried: the target was already attempted for this request; no target is tried twice.
	ExcludedAlreadyTried = "already_tried"
	// ExcludedMissingCapability: the request (tools, structured output, vision, streaming) or the policy needs a
	// capability the model lacks or is not known to have, or the policy's minContextTokens exceeds its window.
	ExcludedMissingCapability = "missing_capability"
	// ExcludedContextTooLarge: the input-token upper bound plus the output bound exceed the context window.
	ExcludedContextTooLarge = "context_too_large"
	// ExcludedUnknownPrice: there is a hard cost cap and the model's price is unknown (set a price override).
	ExcludedUnknownPrice = "unknown_price"
	// ExcludedUnboundedOutput: there is a hard cost cap and nothing bounds the output tokens (no max_tokens in
	// the request, no target maxTokens, no known model max output).
	ExcludedUnboundedOutput = "unbounded_output"
	// ExcludedOverHardCostCap: worst-case cost plus what the request already spent exceeds the hard cap.
	ExcludedOverHardCostCap = "over_hard_cost_cap"
	// ExcludedQuarantined: the provider rejected the target's key; it waits for the key to rotate.
	ExcludedQuarantined = "quarantined"
	// ExcludedBreakerOpen: the target's circuit breaker is open.
	ExcludedBreakerOpen = "breaker_open"
	// ExcludedOverLatencySLA: the target's observed p95 latency exceeds maxLatency or the time the request has
	// left, or no time is left at all.
	ExcludedOverLatencySLA = "over_latency_sla"
)

// ExclusionReasons returns every exclusion reason code, in precedence order.
func ExclusionReasons() []string {
	return []string{
		ExcludedAlreadyTried, ExcludedMissingCapability, ExcludedContextTooLarge, ExcludedUnknownPrice,
		ExcludedUnboundedOutput, ExcludedOverHardCostCap, ExcludedQuarantined, ExcludedBreakerOpen,
		ExcludedOverLatencySLA,
	}
}

// Request is what the planner needs to know about a request, computed by the router while decoding it.
type Request struct {
	// InputTokensUpper is an upper bound on the input tokens (EstimateInputTokensUpper).
	InputTokensUpper int
	// MaxTokens is the request's max_tokens / max_completion_tokens; 0 means not set.
	MaxTokens int
	// ThinkingBudget is the thinking the request asks for in tokens (Anthropic budget_tokens, which is within
	// MaxTokens), AdaptiveThinking when the model decides, 0 for none. It raises the output cost bound of
	// providers that count thinking outside the output limit (OutputCostBound).
	ThinkingBudget int
	// ThinkingFitted says the thinking is a hint the adapters fit to at most half the output limit they send
	// (a chat client's reasoning_effort), so the cost bound counts no more than that.
	ThinkingFitted bool
	// Tools, StructuredOutput, Vision and Stream say the request uses tools, a JSON schema response format,
	// image input, or streaming; each makes the matching capability required.
	Tools            bool
	StructuredOutput bool
	Vision           bool
	Stream           bool
}

// Observation is the router's current view of one target's health.
type Observation struct {
	// BreakerOpen: the breaker is open; the target is excluded.
	BreakerOpen bool
	// Quarantined: the key was rejected as invalid; the target is excluded.
	Quarantined bool
	// Degraded: the target is cooling down towards a probe or probing; it stays eligible but ranks after
	// healthy targets.
	Degraded bool
	// P95 is the observed p95 latency; 0 means no data.
	P95 time.Duration
}

// Candidate is one target's standing for a request.
type Candidate struct {
	// Index is the target's index in Policy.Targets.
	Index  int
	Target *Target
	// Eligible says the target may be attempted.
	Eligible bool
	// Excluded is the exclusion reason code; "" when eligible.
	Excluded string
	// Score is in (0, 1] for eligible candidates, 1 for the first and strictly decreasing in rank order; 0 for
	// excluded ones. See doc.go for the formula.
	Score float64
	// EstMaxCostUSD is the worst-case cost of this attempt alone (not counting what was already spent); valid
	// when CostKnown.
	EstMaxCostUSD float64
	// CostKnown is false when the price is unknown or the output is unbounded.
	CostKnown bool
	// SoftCapExceeded says the worst-case cost plus what was already spent exceeds the soft cap.
	SoftCapExceeded bool
	// OutputBound is the output-token bound to send to the provider; 0 when unbounded.
	OutputBound int

	// Sort keys, filled by Plan: excluded after eligible, then penalty tier, then the strategy's key and
	// tie-breaks. Kept in the candidate so the comparison function captures nothing and does not allocate.
	excluded bool
	tier     int
	key      float64
	tie      int
}

// Plan is the planner's answer for one request: every target, eligible ones first in the order to try them.
type Plan struct {
	Candidates []Candidate
	// Eligible is the number of eligible candidates (the first Eligible entries of Candidates).
	Eligible int
}

// Penalty tiers: within the eligible targets, degraded ones go after the others (they risk a failed attempt),
// and targets over the soft cap after those within it.
const (
	tierSoftCap  = 1
	tierDegraded = 2
)

// Plan ranks p's targets for req. obs and tried are indexed like p.Targets (missing entries mean no
// observation and not tried); remaining is the time left before the request's deadline (0 or less: none);
// spentUSD is what earlier attempts of the request cost; seed drives the weighted ranking. Plan reads no clock
// and no global randomness: the same inputs give the same plan.
func (p *Policy) Plan(req Request, obs []Observation, remaining time.Duration, spentUSD float64, tried []bool, seed uint64) Plan {
	n := len(p.Targets)
	out := Plan{Candidates: make([]Candidate, n)}
	need := Capabilities{
		Tools:            p.Required.Tools || req.Tools,
		StructuredOutput: p.Required.StructuredOutput || req.StructuredOutput,
		Vision:           p.Required.Vision || req.Vision,
		Streaming:        p.Required.Streaming || req.Stream,
	}
	latencyLimit := min(p.MaxLatency, remaining)

	for i := range p.Targets {
		t := &p.Targets[i]
		var o Observation
		if i < len(obs) {
			o = obs[i]
		}
		c := &out.Candidates[i]
		c.Index, c.Target = i, t

		bound, bounded := OutputBound(t, req)
		c.OutputBound = bound
		if costBound, ok := OutputCostBound(t, req); ok {
			c.EstMaxCostUSD, c.CostKnown = EstimateCost(t, req.InputTokensUpper, costBound)
		}
		priceKnown := t.Price.Input != nil && t.Price.Output != nil

		switch {
		case i < len(tried) && tried[i]:
			c.Excluded = ExcludedAlreadyTried
		case !hasCapabilities(t, need) || (p.MinContextTokens > 0 && t.ContextTokens < p.MinContextTokens):
			c.Excluded = ExcludedMissingCapability
		case t.ContextTokens > 0 && satAdd(req.InputTokensUpper, bound) > t.ContextTokens:
			c.Excluded = ExcludedContextTooLarge
		case p.HardCapUSD != nil && !priceKnown:
			c.Excluded = ExcludedUnknownPrice
		case p.HardCapUSD != nil && !bounded:
			c.Excluded = ExcludedUnboundedOutput
		case p.HardCapUSD != nil && c.EstMaxCostUSD+spentUSD > *p.HardCapUSD:
			c.Excluded = ExcludedOverHardCostCap
		case o.Quarantined:
			c.Excluded = ExcludedQuarantined
		case o.BreakerOpen:
			c.Excluded = ExcludedBreakerOpen
		case remaining <= 0 || (o.P95 > 0 && o.P95 > latencyLimit):
			c.Excluded = ExcludedOverLatencySLA
		}
		if p.SoftCapUSD != nil && c.CostKnown && c.EstMaxCostUSD+spentUSD > *p.SoftCapUSD {
			c.SoftCapExceeded = true
		}

		if c.Excluded != "" {
			c.excluded, c.tie = true, i
			continue
		}
		c.Eligible = true
		out.Eligible++
		// An unknown cost may be over the soft cap; rank it with those that are, without claiming it exceeded.
		if c.SoftCapExceeded || (p.SoftCapUSD != nil && !c.CostKnown) {
			c.tier += tierSoftCap
		}
		if o.Degraded {
			c.tier += tierDegraded
		}
		c.key, c.tie = rankKey(p.Ranking, t, c, o, seed), t.Priority
	}

	slices.SortFunc(out.Candidates, compareCandidates)
	score(out.Candidates[:out.Eligible], p.Ranking)
	return out
}

// hasCapabilities reports whether t is known to have every capability in need; unknown counts as missing.
func hasCapabilities(t *Target, need Capabilities) bool {
	return (!need.Tools || isTrue(t.Caps.Tools)) &&
		(!need.StructuredOutput || isTrue(t.Caps.StructuredOutput)) &&
		(!need.Vision || isTrue(t.Caps.Vision)) &&
		(!need.Streaming || isTrue(t.Caps.Streaming))
}

func isTrue(b *bool) bool { return b != nil && *b }

// rankKey is the strategy's sort key: lower ranks first, +Inf (unknown) last.
func rankKey(r v1alpha1.RankingStrategy, t *Target, c *Candidate, o Observation, seed uint64) float64 {
	switch r {
	case v1alpha1.RankingCost:
		if !c.CostKnown {
			return math.Inf(1)
		}
		return c.EstMaxCostUSD
	case v1alpha1.RankingLatency:
		if o.P95 <= 0 {
			return math.Inf(1)
		}
		return float64(o.P95)
	case v1alpha1.RankingWeighted:
		// Efraimidis-Spirakis: sorting by -ln(u)/w ascending draws a weighted order without replacement, so
		// the first target is i with probability w_i / sum(w). Weight 0 never goes first.
		if t.Weight <= 0 {
			return math.Inf(1)
		}
		return -math.Log(unitFloat(seed, t.Index)) / float64(t.Weight)
	default:
		return float64(t.Priority)
	}
}

// unitFloat derives a uniform number in (0, 1] from seed and index with splitmix64, so each target gets an
// independent draw from one seed.
func unitFloat(seed uint64, index int) float64 {
	z := seed + uint64(index+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11+1) / (1 << 53)
}

func compareCandidates(a, b Candidate) int {
	if a.excluded != b.excluded {
		if a.excluded {
			return 1
		}
		return -1
	}
	if a.excluded {
		return cmp.Compare(a.Index, b.Index)
	}
	if c := cmp.Compare(a.tier, b.tier); c != 0 {
		return c
	}
	if c := cmp.Compare(a.key, b.key); c != 0 {
		return c
	}
	if c := cmp.Compare(a.tie, b.tie); c != 0 {
		return c
	}
	return cmp.Compare(a.Index, b.Index)
}

// score assigns Score to ranked eligible candidates: 1 for the first, then each one step below the previous,
// step = (1 + d) / (2n), where n is the number of eligible candidates and d in [0, 1] is how much worse its rank
// key is than the previous one's, relative to the spread of keys (1 when it falls into a worse penalty tier or
// has an unknown key after a known one; 0 under weighted ranking, where keys are draws, not quality). Steps are
// at least 1/(2n) and sum to less than 1, so scores stay in (0, 1] and strictly decrease.
func score(cs []Candidate, r v1alpha1.RankingStrategy) {
	n := len(cs)
	if n == 0 {
		return
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range cs {
		if k := cs[i].key; !math.IsInf(k, 0) {
			lo, hi = min(lo, k), max(hi, k)
		}
	}
	spread := hi - lo
	cs[0].Score = 1
	for i := 1; i < n; i++ {
		prev, cur := &cs[i-1], &cs[i]
		d := 0.0
		switch {
		case cur.tier != prev.tier:
			d = 1
		case r == v1alpha1.RankingWeighted:
		case math.IsInf(cur.key, 1) && !math.IsInf(prev.key, 1):
			d = 1
		case !math.IsInf(cur.key, 1) && spread > 0:
			d = min(max((cur.key-prev.key)/spread, 0), 1)
		}
		cur.Score = prev.Score - (1+d)/(2*float64(n))
	}
}
