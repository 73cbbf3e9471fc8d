package simulate

import (
	"io"
	"testing"

	"github.com/llmroute/llmroute/internal/decision"
	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/policy"
)

func run(t *testing.T, name string) *Result {
	t.Helper()
	res, err := Run(t.Context(), name, io.Discard, Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func TestGoldenPath(t *testing.T) {
	res := run(t, "golden_path")
	if len(res.Events) != 1 || res.Events[0].Final.Outcome != decision.OutcomeOK || res.Counters["a-cheap"] != 1 {
		t.Fatalf("events %+v counters %v", res.Events, res.Counters)
	}
}

func TestPermanentOutage(t *testing.T) {
	res := run(t, "permanent_outage")
	if res.Counters["a-cheap"] != 3 {
		t.Fatalf("broken target saw %d calls, want the threshold 3", res.Counters["a-cheap"])
	}
	for i, e := range res.Events {
		if e.Final.Outcome != decision.OutcomeOK {
			t.Fatalf("request %d failed: %+v", i, e.Final)
		}
		if i >= 3 && (len(e.Attempts) != 1 || e.Candidates[len(e.Candidates)-1].Excluded != faults.ReasonBreakerOpen) {
			t.Fatalf("request %d did not skip the open breaker: %+v", i, e.Candidates)
		}
	}
}

func TestFlappingRecovery(t *testing.T) {
	res := run(t, "flapping_recovery")
	last := res.Events[len(res.Events)-1]
	if len(last.Attempts) != 1 || !last.Attempts[0].Probe || last.Attempts[0].Target != "a-cheap" || last.Final.Outcome != decision.OutcomeOK {
		t.Fatalf("probe event %+v", last.Attempts)
	}
	if res.Events[3].Attempts[0].Target == "a-cheap" {
		t.Fatal("target used during its cooldown")
	}
}

func TestBudgetGuard(t *testing.T) {
	res := run(t, "budget_guard")
	e := res.Events[0]
	excluded := false
	for _, c := range e.Candidates {
		excluded = excluded || c.Target == "b-stable" && c.Excluded == faults.ReasonOverHardCostCap
	}
	if !excluded || res.Counters["b-stable"] != 0 || e.Final.CostUSD > 0.004 {
		t.Fatalf("candidates %+v counters %v", e.Candidates, res.Counters)
	}
}

func TestInvalidKeyRotation(t *testing.T) {
	res := run(t, "invalid_key_rotation")
	if r := res.Events[0].Attempts[0].Reason; r != faults.ReasonInvalidCredentials {
		t.Fatalf("first attempt %s", r)
	}
	if res.Events[1].Attempts[0].Target == "a-cheap" {
		t.Fatal("quarantined target used")
	}
	if a := res.Events[2].Attempts[0]; a.Target != "a-cheap" || a.Outcome != decision.OutcomeOK {
		t.Fatalf("after rotation %+v", a)
	}
}

func TestSemanticError(t *testing.T) {
	res := run(t, "semantic_error")
	o := res.Outcomes[0]
	if o.Err == nil || o.Err.HTTPStatus != 400 || o.Attempts != 1 || res.Counters["b-stable"]+res.Counters["c-fast"] != 0 {
		t.Fatalf("err %+v counters %v", o.Err, res.Counters)
	}
}

func TestAllDown(t *testing.T) {
	res := run(t, "all_down")
	o := res.Outcomes[0]
	if o.Err == nil || o.Err.HTTPStatus != 503 || o.Attempts != 3 {
		t.Fatalf("err %+v attempts %d", o.Err, o.Attempts)
	}
}

func TestThunderingHerd(t *testing.T) {
	res := run(t, "thundering_herd")
	fallbacks := 0
	for _, e := range res.Events {
		if len(e.Attempts) > 1 {
			fallbacks++
		}
	}
	// The retry budget allows max(0.2 x 50, 5 x 10) = 50 here, so the breaker is what bounds the damage:
	// a-cheap sees at most its threshold plus the requests that were already admitted when it opened.
	if res.Counters["a-cheap"] > 50 || len(res.Events) != 50 {
		t.Fatalf("a-cheap calls %d, events %d", res.Counters["a-cheap"], len(res.Events))
	}
	_ = fallbacks
}

func TestPaymentWorkflowRanking(t *testing.T) {
	res := run(t, "payment_workflow")
	order := func(p policy.Plan) []string {
		var s []string
		for _, c := range p.Candidates {
			s = append(s, c.Target.Name+":"+c.Excluded)
		}
		return s
	}
	if got := order(res.Rankings["short_prompt"]); got[0] != "a-cheap:" || got[1] != "c-fast:" || got[2] != "b-stable:" {
		t.Fatalf("short %v", got)
	}
	if got := order(res.Rankings["long_prompt"]); got[2] != "b-stable:over_hard_cost_cap" {
		t.Fatalf("long %v", got)
	}
	if got := order(res.Rankings["short_prompt_a_degraded"]); got[0] != "c-fast:" || got[2] != "a-cheap:" {
		t.Fatalf("degraded %v", got)
	}
}
