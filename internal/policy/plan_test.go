package policy

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/catalog"
)

var allCaps = catalog.Capabilities{Tools: ptr(true), StructuredOutput: ptr(true), Vision: ptr(true), Streaming: ptr(true)}

// mk builds a compiled target priced in USD per million tokens, with a 100k context and 10k max output.
func mk(name string, in, out float64) Target {
	p := catalog.Price{Input: ptr(in), Output: ptr(out)}
	return Target{Name: name, Weight: 1, Price: p, BilledPrice: p, ContextTokens: 100_000, ModelMaxOutputTokens: 10_000, Caps: allCaps}
}

func pol(r v1alpha1.RankingStrategy, ts ...Target) *Policy {
	for i := range ts {
		ts[i].Index = i
		ts[i].ID = "ns/p/" + ts[i].Name
	}
	return &Policy{Name: "ns/p", Targets: ts, MaxLatency: 30 * time.Second, Ranking: r, MaxAttempts: 3}
}

func with(t Target, f func(*Target)) Target { f(&t); return t }

// order returns the names of the candidates, eligible ones plain, excluded ones as name:reason.
func order(pl Plan) []string {
	out := make([]string, len(pl.Candidates))
	for i, c := range pl.Candidates {
		out[i] = c.Target.Name
		if !c.Eligible {
			out[i] += ":" + c.Excluded
		}
	}
	return out
}

func TestPlanExclusions(t *testing.T) {
	// 1000 input + 1000 output tokens at $1/$1 per MTok cost $0.002.
	req := Request{InputTokensUpper: 1000, MaxTokens: 1000}
	tests := []struct {
		name      string
		target    Target
		hardCap   *float64
		minCtx    int
		required  Capabilities
		req       *Request
		obs       Observation
		remaining time.Duration
		spent     float64
		tried     bool
		want      string
	}{
		{name: "eligible", target: mk("t", 1, 1), hardCap: ptr(0.002), want: ""},
		{name: "over hard cap", target: mk("t", 1, 1), hardCap: ptr(0.0019), want: ExcludedOverHardCostCap},
		{name: "spent budget pushes over hard cap", target: mk("t", 1, 1), hardCap: ptr(0.0025), spent: 0.001, want: ExcludedOverHardCostCap},
		{name: "unknown price under hard cap", target: with(mk("t", 1, 1), func(t *Target) { t.Price = catalog.Price{} }), hardCap: ptr(1.0), want: ExcludedUnknownPrice},
		{name: "unknown price without hard cap is fine", target: with(mk("t", 1, 1), func(t *Target) { t.Price = catalog.Price{} }), want: ""},
		{name: "unbounded output under hard cap", target: with(mk("t", 1, 1), func(t *Target) { t.ModelMaxOutputTokens = 0 }),
			hardCap: ptr(1.0), req: &Request{InputTokensUpper: 10}, want: ExcludedUnboundedOutput},
		{name: "unbounded output without hard cap is fine", target: with(mk("t", 1, 1), func(t *Target) { t.ModelMaxOutputTokens = 0 }),
			req: &Request{InputTokensUpper: 10}, want: ""},
		{name: "p95 over sla", target: mk("t", 1, 1), obs: Observation{P95: 31 * time.Second}, want: ExcludedOverLatencySLA},
		{name: "p95 over remaining", target: mk("t", 1, 1), obs: Observation{P95: 2 * time.Second}, remaining: time.Second, want: ExcludedOverLatencySLA},
		{name: "p95 equal to remaining is fine", target: mk("t", 1, 1), obs: Observation{P95: time.Second}, remaining: time.Second, want: ""},
		{name: "no time left", target: mk("t", 1, 1), remaining: -1, want: ExcludedOverLatencySLA},
		{name: "request needs tools, model lacks them", target: with(mk("t", 1, 1), func(t *Target) { t.Caps.Tools = ptr(false) }),
			req: &Request{InputTokensUpper: 10, Tools: true}, want: ExcludedMissingCapability},
		{name: "request needs vision, unknown counts as missing", target: with(mk("t", 1, 1), func(t *Target) { t.Caps.Vision = nil }),
			req: &Request{InputTokensUpper: 10, Vision: true}, want: ExcludedMissingCapability},
		{name: "unknown capability not required is fine", target: with(mk("t", 1, 1), func(t *Target) { t.Caps = catalog.Capabilities{} }), want: ""},
		{name: "stream needs streaming", target: with(mk("t", 1, 1), func(t *Target) { t.Caps.Streaming = nil }),
			req: &Request{InputTokensUpper: 10, Stream: true}, want: ExcludedMissingCapability},
		{name: "policy requires structured output", target: with(mk("t", 1, 1), func(t *Target) { t.Caps.StructuredOutput = ptr(false) }),
			required: Capabilities{StructuredOutput: true}, want: ExcludedMissingCapability},
		{name: "policy min context", target: mk("t", 1, 1), minCtx: 200_000, want: ExcludedMissingCapability},
		{name: "context too large", target: with(mk("t", 1, 1), func(t *Target) { t.ContextTokens = 1999 }), want: ExcludedContextTooLarge},
		{name: "context exactly fits", target: with(mk("t", 1, 1), func(t *Target) { t.ContextTokens = 2000 }), want: ""},
		{name: "breaker open", target: mk("t", 1, 1), obs: Observation{BreakerOpen: true}, want: ExcludedBreakerOpen},
		{name: "quarantined", target: mk("t", 1, 1), obs: Observation{Quarantined: true}, want: ExcludedQuarantined},
		{name: "already tried wins over everything", target: mk("t", 1, 1), hardCap: ptr(0.0001), obs: Observation{BreakerOpen: true}, tried: true, want: ExcludedAlreadyTried},
		{name: "degraded stays eligible", target: mk("t", 1, 1), obs: Observation{Degraded: true}, want: ""},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pol(v1alpha1.RankingPriority, tt.target)
			p.HardCapUSD, p.MinContextTokens, p.Required = tt.hardCap, tt.minCtx, tt.required
			r := req
			if tt.req != nil {
				r = *tt.req
			}
			remaining := tt.remaining
			if remaining == 0 {
				remaining = p.MaxLatency
			}
			pl := p.Plan(r, []Observation{tt.obs}, remaining, tt.spent, []bool{tt.tried}, 1)
			c := pl.Candidates[0]
			if c.Excluded != tt.want || c.Eligible != (tt.want == "") || pl.Eligible != btoi(tt.want == "") {
				t.Fatalf("candidate = %+v, want excluded %q", c, tt.want)
			}
			if c.Eligible && c.Score != 1 || !c.Eligible && c.Score != 0 {
				t.Fatalf("score = %v", c.Score)
			}
		})
		covered[tt.want] = true
	}
	for _, r := range ExclusionReasons() {
		if !covered[r] {
			t.Errorf("no test case for exclusion reason %s", r)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestPlanRanking(t *testing.T) {
	req := Request{InputTokensUpper: 1000, MaxTokens: 1000}
	tests := []struct {
		name    string
		ranking v1alpha1.RankingStrategy
		targets []Target
		obs     []Observation
		soft    *float64
		want    []string
	}{
		{
			name:    "priority, ties in list order",
			ranking: v1alpha1.RankingPriority,
			targets: []Target{
				with(mk("b", 1, 1), func(t *Target) { t.Priority = 2 }),
				with(mk("a", 1, 1), func(t *Target) { t.Priority = 1 }),
				with(mk("c", 1, 1), func(t *Target) { t.Priority = 1 }),
			},
			want: []string{"a", "c", "b"},
		},
		{
			name:    "cost, unknown cost last",
			ranking: v1alpha1.RankingCost,
			targets: []Target{mk("mid", 2, 2), with(mk("unknown", 1, 1), func(t *Target) { t.Price = catalog.Price{} }), mk("cheap", 1, 1), mk("dear", 5, 5)},
			want:    []string{"cheap", "mid", "dear", "unknown"},
		},
		{
			name:    "latency, unknown latency after known",
			ranking: v1alpha1.RankingLatency,
			targets: []Target{mk("nodata", 1, 1), mk("slow", 1, 1), mk("fast", 1, 1)},
			obs:     []Observation{{}, {P95: 2 * time.Second}, {P95: 100 * time.Millisecond}},
			want:    []string{"fast", "slow", "nodata"},
		},
		{
			name:    "weight 0 never first",
			ranking: v1alpha1.RankingWeighted,
			targets: []Target{with(mk("zero", 1, 1), func(t *Target) { t.Weight = 0 }), mk("one", 1, 1)},
			want:    []string{"one", "zero"},
		},
		{
			name:    "degraded after healthy whatever the strategy",
			ranking: v1alpha1.RankingCost,
			targets: []Target{mk("cheap-degraded", 1, 1), mk("dear", 5, 5)},
			obs:     []Observation{{Degraded: true}, {}},
			want:    []string{"dear", "cheap-degraded"},
		},
		{
			name:    "soft cap exceeded after within, degraded after both",
			ranking: v1alpha1.RankingPriority,
			targets: []Target{mk("degraded", 1, 1), mk("over-soft", 5, 5), mk("within", 1, 1), mk("excluded", 1, 1)},
			obs:     []Observation{{Degraded: true}, {}, {}, {BreakerOpen: true}},
			soft:    ptr(0.005),
			want:    []string{"within", "over-soft", "degraded", "excluded:breaker_open"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pol(tt.ranking, tt.targets...)
			p.SoftCapUSD = tt.soft
			pl := p.Plan(req, tt.obs, p.MaxLatency, 0, nil, 42)
			if got := order(pl); !slices.Equal(got, tt.want) {
				t.Fatalf("order = %v, want %v", got, tt.want)
			}
			checkScores(t, pl)
		})
	}
}

// checkScores asserts the Score contract: 1 first, strictly decreasing, in (0, 1], 0 for excluded.
func checkScores(t *testing.T, pl Plan) {
	t.Helper()
	for i, c := range pl.Candidates {
		switch {
		case !c.Eligible && c.Score != 0:
			t.Fatalf("excluded %s has score %v", c.Target.Name, c.Score)
		case c.Eligible && i == 0 && c.Score != 1:
			t.Fatalf("first score = %v, want 1", c.Score)
		case c.Eligible && (c.Score <= 0 || c.Score > 1):
			t.Fatalf("score %v out of (0, 1]", c.Score)
		case c.Eligible && i > 0 && c.Score >= pl.Candidates[i-1].Score:
			t.Fatalf("scores not strictly decreasing: %v then %v", pl.Candidates[i-1].Score, c.Score)
		}
	}
}

func TestPlanCostScoreReflectsGaps(t *testing.T) {
	// Near-equal costs score close together; a far dearer target drops by more.
	p := pol(v1alpha1.RankingCost, mk("a", 1, 1), mk("b", 1.01, 1.01), mk("c", 10, 10))
	pl := p.Plan(Request{InputTokensUpper: 1000, MaxTokens: 1000}, nil, p.MaxLatency, 0, nil, 0)
	s := []float64{pl.Candidates[0].Score, pl.Candidates[1].Score, pl.Candidates[2].Score}
	if !(s[0]-s[1] < s[1]-s[2]) {
		t.Fatalf("scores %v: the cost gap to c should be the larger step", s)
	}
}

func TestPlanWeightedDistribution(t *testing.T) {
	p := pol(v1alpha1.RankingWeighted,
		with(mk("a", 1, 1), func(t *Target) { t.Weight = 1 }),
		with(mk("b", 1, 1), func(t *Target) { t.Weight = 3 }),
		with(mk("c", 1, 1), func(t *Target) { t.Weight = 6 }))
	const n = 20000
	first := map[string]int{}
	for seed := uint64(0); seed < n; seed++ {
		pl := p.Plan(Request{InputTokensUpper: 10, MaxTokens: 10}, nil, p.MaxLatency, 0, nil, seed)
		first[pl.Candidates[0].Target.Name]++
		if seed < 100 {
			checkScores(t, pl)
			if again := p.Plan(Request{InputTokensUpper: 10, MaxTokens: 10}, nil, p.MaxLatency, 0, nil, seed); !slices.Equal(order(again), order(pl)) {
				t.Fatalf("seed %d: plan not deterministic", seed)
			}
		}
	}
	for name, w := range map[string]float64{"a": 0.1, "b": 0.3, "c": 0.6} {
		if got := float64(first[name]) / n; math.Abs(got-w) > 0.02 {
			t.Errorf("target %s first in %.3f of plans, want %.2f +/- 0.02", name, got, w)
		}
	}
}

func TestPlanSoftCapReporting(t *testing.T) {
	// $0.002 worst case each for "one"; $0.01 for "five".
	p := pol(v1alpha1.RankingPriority, mk("five", 5, 5), mk("one", 1, 1))
	p.SoftCapUSD = ptr(0.003)
	tests := []struct {
		name      string
		spent     float64
		wantOrder []string
		wantSoft  map[string]bool
	}{
		{"only the dear one exceeds", 0, []string{"one", "five"}, map[string]bool{"one": false, "five": true}},
		{"spent money counts toward the soft cap; both over, list order decides", 0.0015, []string{"five", "one"}, map[string]bool{"one": true, "five": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := p.Plan(Request{InputTokensUpper: 1000, MaxTokens: 1000}, nil, p.MaxLatency, tt.spent, nil, 0)
			if got := order(pl); !slices.Equal(got, tt.wantOrder) {
				t.Fatalf("order = %v, want %v", got, tt.wantOrder)
			}
			for _, c := range pl.Candidates {
				if !c.Eligible || c.SoftCapExceeded != tt.wantSoft[c.Target.Name] {
					t.Errorf("%s: eligible %v soft %v, want eligible and soft %v", c.Target.Name, c.Eligible, c.SoftCapExceeded, tt.wantSoft[c.Target.Name])
				}
			}
		})
	}
}

func TestPlanSpentBudgetLeavesOnlyCheaperFallback(t *testing.T) {
	// Primary ($0.01 worst case) failed and cost $0.003; the cap is $0.006. The mid target ($0.004) no
	// longer fits, only the cheap one ($0.002) does.
	p := pol(v1alpha1.RankingPriority, mk("primary", 5, 5), mk("mid", 2, 2), mk("cheap", 1, 1))
	p.HardCapUSD = ptr(0.012)
	req := Request{InputTokensUpper: 1000, MaxTokens: 1000}

	first := p.Plan(req, nil, p.MaxLatency, 0, nil, 0)
	if got := order(first); !slices.Equal(got, []string{"primary", "mid", "cheap"}) {
		t.Fatalf("first plan = %v", got)
	}
	p.HardCapUSD = ptr(0.006)
	after := p.Plan(req, nil, 20*time.Second, 0.003, []bool{true}, 0)
	want := []string{"cheap", "primary:already_tried", "mid:over_hard_cost_cap"}
	if got := order(after); !slices.Equal(got, want) || after.Eligible != 1 {
		t.Fatalf("plan after a failed attempt = %v (eligible %d), want %v", got, after.Eligible, want)
	}
	if c := after.Candidates[2]; c.EstMaxCostUSD != 0.004 || !c.CostKnown {
		t.Fatalf("excluded candidate still reports its cost: %+v", c)
	}
}

func TestPlanOutputBoundAndCost(t *testing.T) {
	tests := []struct {
		name        string
		target      Target
		maxTokens   int
		wantBound   int
		wantCost    float64
		wantKnown   bool
		wantBounded bool
	}{
		{"request max_tokens", mk("t", 1, 2), 500, 500, (1000*1 + 500*2) / 1e6, true, true},
		{"request lowered to target cap", with(mk("t", 1, 2), func(t *Target) { t.MaxTokens = 300 }), 500, 300, (1000 + 600) / 1e6, true, true},
		{"request lowered to model max", mk("t", 1, 2), 50_000, 10_000, (1000 + 20_000) / 1e6, true, true},
		{"target cap when request sets none", with(mk("t", 1, 2), func(t *Target) { t.MaxTokens = 300 }), 0, 300, (1000 + 600) / 1e6, true, true},
		{"model max when nothing else", mk("t", 1, 2), 0, 10_000, (1000 + 20_000) / 1e6, true, true},
		{"unbounded", with(mk("t", 1, 2), func(t *Target) { t.ModelMaxOutputTokens = 0 }), 0, 0, 0, false, false},
		{"cache read dearer than input prices input at it", with(mk("t", 1, 2), func(t *Target) { t.Price.CacheRead = ptr(3.0) }), 500, 500, (3000 + 1000) / 1e6, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pol(v1alpha1.RankingPriority, tt.target)
			req := Request{InputTokensUpper: 1000, MaxTokens: tt.maxTokens}
			b, ok := OutputBound(&p.Targets[0], req)
			if b != tt.wantBound || ok != tt.wantBounded {
				t.Fatalf("OutputBound = %d, %v", b, ok)
			}
			c := p.Plan(req, nil, p.MaxLatency, 0, nil, 0).Candidates[0]
			if c.OutputBound != tt.wantBound || c.CostKnown != tt.wantKnown || math.Abs(c.EstMaxCostUSD-tt.wantCost) > 1e-15 {
				t.Fatalf("candidate = %+v, want bound %d cost %v known %v", c, tt.wantBound, tt.wantCost, tt.wantKnown)
			}
		})
	}
}

func TestPlanShortAndNilInputs(t *testing.T) {
	p := pol(v1alpha1.RankingPriority, mk("a", 1, 1), mk("b", 1, 1), mk("c", 1, 1))
	pl := p.Plan(Request{InputTokensUpper: 10}, []Observation{{BreakerOpen: true}}, p.MaxLatency, 0, []bool{false, true}, 0)
	if got := order(pl); !slices.Equal(got, []string{"c", "a:breaker_open", "b:already_tried"}) {
		t.Fatalf("order = %v", got)
	}
}

func TestPlanCompiledPolicyWithCatalog(t *testing.T) {
	// End to end through Compile: a null-priced catalog model is unknown_price under a hard cap, the override
	// target is priced with its margin.
	local := tgt("local", v1alpha1.ProviderOpenAICompatible, "llama-local", "local")
	local.Price = &v1alpha1.PriceOverride{InputUSDPerMTok: 1, OutputUSDPerMTok: 1, SafetyMargin: 1}
	local.MaxTokens = ptr(int32(1000))
	in := rp("p", tgt("gemma", v1alpha1.ProviderGemini, "gemma-4-31b-it", "gemini"), local,
		tgt("haiku", v1alpha1.ProviderAnthropic, "claude-3-haiku-20240307", "anth"))
	in.Spec.Constraints.MaxCostPerRequestUSD = ptr(0.01)
	p, err := Compile("ns", in, testKeys(), catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	pl := p.Plan(Request{InputTokensUpper: 1000}, nil, p.MaxLatency, 0, nil, 0)
	if got := order(pl); !slices.Equal(got, []string{"local", "haiku", "gemma:unknown_price"}) {
		t.Fatalf("order = %v", got)
	}
	// local: (1000 + 1000) x $2/MTok = $0.004; haiku: 1000 x 0.25 + 4096 x 1.25 = $0.00537.
	if c := pl.Candidates[0]; math.Abs(c.EstMaxCostUSD-0.004) > 1e-12 {
		t.Fatalf("local est = %v", c.EstMaxCostUSD)
	}
	if c := pl.Candidates[1]; math.Abs(c.EstMaxCostUSD-0.00537) > 1e-12 {
		t.Fatalf("haiku est = %v", c.EstMaxCostUSD)
	}
	// A tools request shuts out the override target: its capabilities are unknown.
	pl = p.Plan(Request{InputTokensUpper: 1000, Tools: true}, nil, p.MaxLatency, 0, nil, 0)
	if got := order(pl); !slices.Equal(got, []string{"haiku", "gemma:unknown_price", "local:missing_capability"}) {
		t.Fatalf("tools order = %v", got)
	}
}

func benchPolicy(n int) *Policy {
	ts := make([]Target, n)
	for i := range ts {
		ts[i] = mk(fmt.Sprintf("t%d", i), float64(1+i%7), float64(2+i%5))
		ts[i].Priority = i % 4
		ts[i].Weight = 1 + i%3
	}
	p := pol(v1alpha1.RankingWeighted, ts...)
	p.HardCapUSD, p.SoftCapUSD = ptr(0.05), ptr(0.02)
	return p
}

func benchmarkPlan(b *testing.B, n int) {
	p := benchPolicy(n)
	obs := make([]Observation, n)
	for i := range obs {
		obs[i] = Observation{P95: time.Duration(100+i*37) * time.Millisecond, Degraded: i%5 == 4, BreakerOpen: i%9 == 8}
	}
	tried := make([]bool, n)
	req := Request{InputTokensUpper: 2000, MaxTokens: 1000, Stream: true}
	b.ReportAllocs()
	var seed uint64
	for b.Loop() {
		seed++
		pl := p.Plan(req, obs, 20*time.Second, 0.001, tried, seed)
		if pl.Eligible == 0 {
			b.Fatal("no eligible target")
		}
	}
}

// BenchmarkPlan3Targets is the common case: a primary and two fallbacks.
func BenchmarkPlan3Targets(b *testing.B) { benchmarkPlan(b, 3) }

// BenchmarkPlan20Targets is the largest policy the CRD allows.
func BenchmarkPlan20Targets(b *testing.B) { benchmarkPlan(b, 20) }
