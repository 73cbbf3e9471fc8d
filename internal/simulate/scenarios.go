package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/fakeprovider"
	"github.com/llmroute/llmroute/internal/policy"
	"github.com/llmroute/llmroute/internal/router"
)

// Result is what a scenario produced: every decision event in order, and the fake providers' call counts.
type Result struct {
	Scenario string
	Events   []*decision.Event
	Outcomes []*router.Outcome
	Counters map[string]int64
	// Rankings holds the payment_workflow rankings by case name.
	Rankings map[string]policy.Plan
}

// Scenario is one named simulation.
type Scenario struct {
	Name        string
	Description string
	run         func(ctx context.Context, s *session) error
}

// Options controls how a scenario prints.
type Options struct {
	// JSON prints only the events, one indented JSON document each.
	JSON bool
}

type session struct {
	f   *Fixture
	w   io.Writer
	opt Options
	res *Result
}

// Scenarios lists every scenario, sorted by name.
func Scenarios() []Scenario {
	s := []Scenario{
		{"golden_path", "one request answered by the first-ranked target", runGolden},
		{"permanent_outage", "a-cheap answers 500 forever: the breaker opens after 3 failures, later requests skip it", runOutage},
		{"flapping_recovery", "a-cheap fails, cools down, its probe succeeds and the breaker closes", runFlapping},
		{"budget_guard", "a long prompt excludes b-stable over the hard cap before any call", runBudget},
		{"invalid_key_rotation", "a-cheap rejects its key (401): quarantined until the key rotates", runKeyRotation},
		{"semantic_error", "a 400 is returned at once, with no failover", runSemantic},
		{"thundering_herd", "50 concurrent requests during an outage: breaker and retry budget cap the damage", runHerd},
		{"all_down", "every target fails: bounded attempts, 503 with the reasons", runAllDown},
		{"payment_workflow", "ranking of the payments policy for a short and a long prompt, and with a-cheap degraded", runPayment},
	}
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	return s
}

// Run runs the named scenario, printing its trail to w.
func Run(ctx context.Context, name string, w io.Writer, opt Options) (*Result, error) {
	for _, sc := range Scenarios() {
		if sc.Name != name {
			continue
		}
		f, err := NewFixture(nil)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		s := &session{f: f, w: w, opt: opt, res: &Result{Scenario: name, Rankings: map[string]policy.Plan{}}}
		if err := sc.run(ctx, s); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", name, err)
		}
		s.res.Counters = f.Counters()
		if !opt.JSON {
			fmt.Fprintf(w, "provider_calls %s\n", counters(s.res.Counters))
		}
		return s.res, nil
	}
	return nil, fmt.Errorf("unknown scenario %q (see --list)", name)
}

func counters(m map[string]int64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", n, m[n])
	}
	return b.String()
}

func (s *session) say(format string, a ...any) {
	if !s.opt.JSON {
		fmt.Fprintf(s.w, format+"\n", a...)
	}
}

// request sends one request and prints its trail.
func (s *session) request(ctx context.Context, text string, maxTokens int) *router.Outcome {
	o := s.f.Do(ctx, text, maxTokens)
	s.record(o)
	return o
}

func (s *session) record(o *router.Outcome) {
	s.res.Events = append(s.res.Events, o.Event)
	s.res.Outcomes = append(s.res.Outcomes, o)
	if s.opt.JSON {
		b, _ := json.MarshalIndent(o.Event, "", "  ")
		fmt.Fprintln(s.w, string(b))
		return
	}
	Trail(s.w, o.Event, s.f.Snap)
}

// Trail prints the readable decision trail of one event, then the event as indented JSON.
func Trail(w io.Writer, e *decision.Event, snap *router.Snapshot) {
	p, _ := snap.Policy(e.Policy)
	target := func(name string) string {
		if p != nil {
			if t := p.TargetByName(name); t != nil {
				return string(t.Provider) + ":" + t.Model
			}
		}
		return name
	}
	line := "request_id=" + e.RequestID
	if e.Route != nil {
		line += fmt.Sprintf(" policy_route=provider=%s:%s provider_score=%.2f", e.Route.Provider, e.Route.Model, e.Route.Score)
	} else {
		line += " policy_route=none"
	}
	if e.Budget != nil && e.Budget.HardCapUSD != nil {
		line += fmt.Sprintf(" budget_usd=%.4f", *e.Budget.HardCapUSD)
	}
	fmt.Fprintln(w, line)
	for _, c := range e.Candidates {
		if !c.Eligible {
			est := "unknown"
			if c.EstMaxCostUSD != nil {
				est = fmt.Sprintf("%.4f", *c.EstMaxCostUSD)
			}
			fmt.Fprintf(w, "skipped target=%s excluded=%s est_max_cost_usd=%s\n", c.Target, c.Excluded, est)
		}
	}
	for i, a := range e.Attempts {
		if a.Outcome == decision.OutcomeOK {
			if i > 0 {
				fmt.Fprintf(w, "fallback=%s selected\n", target(a.Target))
			}
			fmt.Fprintf(w, "attempt_%d target=%s ok status=%d latency_ms=%d probe=%t\n", a.N, a.Target, a.Status, a.LatencyMS, a.Probe)
			continue
		}
		fmt.Fprintf(w, "attempt_%d target=%s failed=%s reason=%s class=%s latency_ms=%d\n", a.N, a.Target, a.Reason, a.Reason, a.Class, a.LatencyMS)
	}
	f := e.Final
	line = fmt.Sprintf("final outcome=%s reason=%s cost=%.6f latency_ms=%d", f.Outcome, f.Reason, f.CostUSD, f.LatencyMS)
	if f.CostDeltaUSD != nil {
		line += fmt.Sprintf(" cost_delta_usd=%+.6f", *f.CostDeltaUSD)
	}
	fmt.Fprintln(w, line)
	fmt.Fprintln(w, "explainability_event=recorded")
	b, _ := json.MarshalIndent(e, "", "  ")
	fmt.Fprintln(w, string(b))
}

func (s *session) fault(target string, f fakeprovider.Fault) {
	for _, t := range paymentTargets {
		if t.name == target && f.Latency == 0 && !f.Hang {
			f.Latency = t.latency
		}
	}
	s.f.Servers[target].SetFault(f)
}

func (s *session) breakers() {
	var parts []string
	for _, ts := range s.f.Engine.State().Targets {
		parts = append(parts, ts.Target+"="+string(ts.State))
	}
	s.say("breakers %s", strings.Join(parts, " "))
}

const shortPrompt = "What is the status of invoice 4711?"

func runGolden(ctx context.Context, s *session) error {
	s.request(ctx, shortPrompt, 128)
	return nil
}

func runOutage(ctx context.Context, s *session) error {
	s.fault("a-cheap", fakeprovider.Fault{Status: 500})
	for i := 1; i <= 5; i++ {
		s.say("--- request %d", i)
		s.request(ctx, shortPrompt, 128)
		s.breakers()
	}
	return nil
}

func runFlapping(ctx context.Context, s *session) error {
	s.fault("a-cheap", fakeprovider.Fault{Status: 503})
	for i := 1; i <= 3; i++ {
		s.say("--- request %d (a-cheap failing)", i)
		s.request(ctx, shortPrompt, 128)
	}
	s.breakers()
	s.fault("a-cheap", fakeprovider.Fault{})
	s.say("--- a-cheap recovers; 2 s later its breaker is still cooling down")
	s.f.Clock.Advance(2 * time.Second)
	s.request(ctx, shortPrompt, 128)
	s.say("--- 6 s after opening (cooldown 5 s, jitter centred): the next request is the probe")
	s.f.Clock.Advance(4 * time.Second)
	s.request(ctx, shortPrompt, 128)
	s.breakers()
	return nil
}

func runBudget(ctx context.Context, s *session) error {
	s.say("--- a long prompt (3,000 bytes): b-stable's worst case exceeds 0.004 USD, so it is never called")
	s.request(ctx, strings.Repeat("ledger ", 430), 0)
	return nil
}

func runKeyRotation(ctx context.Context, s *session) error {
	good := s.f.keys["a-cheap"]
	if err := s.f.SetConfigKey("a-cheap", "sk-sim-revoked-key-0000000000000000"); err != nil {
		return err
	}
	s.say("--- the config holds a revoked key for a-cheap")
	s.request(ctx, shortPrompt, 128)
	s.breakers()
	s.request(ctx, shortPrompt, 128)
	s.say("--- the ProviderKey Secret is rotated: a new snapshot with a new fingerprint")
	if err := s.f.SetConfigKey("a-cheap", good); err != nil {
		return err
	}
	s.request(ctx, shortPrompt, 128)
	s.breakers()
	return nil
}

func runSemantic(ctx context.Context, s *session) error {
	s.fault("a-cheap", fakeprovider.Fault{BadRequest: true})
	o := s.request(ctx, shortPrompt, 128)
	if o.Err != nil {
		s.say("client_error status=%d type=%s reason=%s", o.Err.HTTPStatus, o.Err.Type, o.Err.Reason)
	}
	return nil
}

func runAllDown(ctx context.Context, s *session) error {
	for _, t := range paymentTargets {
		s.fault(t.name, fakeprovider.Fault{Status: 503})
	}
	o := s.request(ctx, shortPrompt, 128)
	if o.Err != nil {
		s.say("client_error status=%d reason=%s message=%q", o.Err.HTTPStatus, o.Err.Reason, o.Err.Message)
	}
	return nil
}

func runHerd(ctx context.Context, s *session) error {
	s.fault("a-cheap", fakeprovider.Fault{Status: 503})
	const n = 50
	outs := make([]*router.Outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { outs[i] = s.f.Do(ctx, shortPrompt, 128) })
	}
	wg.Wait()
	status := map[int]int{}
	for _, o := range outs {
		s.res.Events = append(s.res.Events, o.Event)
		s.res.Outcomes = append(s.res.Outcomes, o)
		if o.Err != nil {
			status[o.Err.HTTPStatus]++
		} else {
			status[200]++
		}
	}
	if s.opt.JSON {
		for _, e := range s.res.Events {
			b, _ := json.MarshalIndent(e, "", "  ")
			fmt.Fprintln(s.w, string(b))
		}
		return nil
	}
	s.say("requests=%d answered=%d refused_retry_budget=%d other=%v", n, status[200], status[429], status)
	s.say("a-cheap saw %d calls: the breaker threshold plus requests already in flight when it opened", s.f.Servers["a-cheap"].Calls())
	s.breakers()
	s.say("--- first event of the herd")
	Trail(s.w, outs[0].Event, s.f.Snap)
	return nil
}

// RankRequest is the planner's view of a one-message prompt of textBytes bytes with no max_tokens.
func RankRequest(textBytes int) policy.Request {
	return policy.Request{InputTokensUpper: policy.EstimateInputTokensUpper(policy.InputSize{Messages: 1, TextBytes: textBytes})}
}

func runPayment(ctx context.Context, s *session) error {
	p, _ := s.f.Snap.Policy("assistant")
	long := strings.Repeat("ledger ", 430)
	cases := []struct {
		name string
		text string
		obs  []policy.Observation
	}{
		{"short_prompt", shortPrompt, nil},
		{"long_prompt", long, nil},
		{"short_prompt_a_degraded", shortPrompt, []policy.Observation{{Degraded: true}}},
	}
	for _, c := range cases {
		req := RankRequest(len(c.text))
		plan := p.Plan(req, c.obs, p.MaxLatency, 0, nil, 42)
		s.res.Rankings[c.name] = plan
		s.say("=== ranking %s input_tokens_upper=%d hard_cap_usd=0.0040 soft_cap_usd=0.0025", c.name, req.InputTokensUpper)
		for i, cand := range plan.Candidates {
			est := "unknown"
			if cand.CostKnown {
				est = fmt.Sprintf("%.6f", cand.EstMaxCostUSD)
			}
			why := "eligible"
			if !cand.Eligible {
				why = "excluded=" + cand.Excluded
			} else if cand.SoftCapExceeded {
				why = "eligible soft_cap_exceeded"
			}
			if len(c.obs) > cand.Index && c.obs[cand.Index].Degraded {
				why += " degraded"
			}
			s.say("rank=%d target=%s provider=%s:%s score=%.3f est_max_cost_usd=%s output_bound=%d %s", i+1, cand.Target.Name,
				cand.Target.Provider, cand.Target.Model, cand.Score, est, cand.OutputBound, why)
		}
	}
	s.say("=== one request per prompt through the engine")
	s.request(ctx, shortPrompt, 0)
	s.request(ctx, long, 0)
	return nil
}

var _ = v1alpha1.RankingPriority
