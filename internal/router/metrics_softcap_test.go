package router

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/llmroute/llmroute/internal/decision"
)

// The soft-cap alert in the Helm chart reads llmroute_soft_cap_exceeded_total: a request answered by a target
// over the soft cap must count, one within it must not.
func TestSoftCapMetric(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry(), nil)
	over := &decision.Event{Final: decision.Final{Outcome: decision.OutcomeOK, Target: "b-stable"},
		Budget: &decision.Budget{SoftCapExceeded: true}}
	within := &decision.Event{Final: decision.Final{Outcome: decision.OutcomeOK, Target: "a-cheap"},
		Budget: &decision.Budget{}}
	m.observe("assistant", over, 0, false)
	m.observe("assistant", over, 0, false)
	m.observe("assistant", within, 0, false)
	if got := testutil.ToFloat64(m.softCap.WithLabelValues("assistant", "b-stable")); got != 2 {
		t.Errorf("soft cap exceeded for b-stable = %v, want 2", got)
	}
	if got := testutil.CollectAndCount(m.softCap); got != 1 {
		t.Errorf("%d soft-cap series, want only b-stable's", got)
	}
}

func TestFormatCost(t *testing.T) {
	for in, want := range map[float64]string{
		0.0000014000000000000001: "0.0000014",
		0.0034:                   "0.0034",
		0:                        "0",
		1.23456789012345:         "1.23456789",
	} {
		if got := formatCost(in); got != want {
			t.Errorf("formatCost(%v) = %q, want %q", in, got, want)
		}
	}
}
