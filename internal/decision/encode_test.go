package decision

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func BenchmarkMarshalEvent(b *testing.B) {
	e := fullEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeEvent is what the decision log does per event.
func BenchmarkEncodeEvent(b *testing.B) {
	e := fullEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEncodeEqualsMarshal: the decision log's fast path (segmentio's encoder) writes exactly what json.Marshal
// writes, escapes and number forms included.
func TestEncodeEqualsMarshal(t *testing.T) {
	for _, e := range []*Event{fullEvent(), ev("minimal"), {RequestID: "no-name"},
		tricky("<script>&amp;\u2028\u2029\x00\x1f\"\\\xff\xc3(é😀", 1e-7), tricky("", 123456789012.5), tricky("a", 1e21)} {
		encodeBoth(t, e)
	}
}

// FuzzEncodeEqualsMarshal holds encode to json.Marshal on arbitrary text and costs in the fields an event
// takes from requests, providers and config.
func FuzzEncodeEqualsMarshal(f *testing.F) {
	f.Add("<&>\u2028", 0.0034)
	f.Add("\xff\xfe", 1e-9)
	f.Add("ns/p#a1b2", 5e20)
	f.Fuzz(func(t *testing.T, s string, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return // neither encoder takes them, and no cost is one
		}
		encodeBoth(t, tricky(s, x))
	})
}

// tricky is an event carrying s in its free-text fields and x in its costs.
func tricky(s string, x float64) *Event {
	e := New(s, s, time.Unix(0, 0))
	e.Policy = s
	e.Route = &Route{Target: s, Provider: s, Model: s, Score: x}
	e.Candidates = []Candidate{{Target: s, Eligible: true, Score: x, EstMaxCostUSD: Float(x)}}
	e.Attempts = []Attempt{{N: 1, Target: s, Outcome: OutcomeOK, Key: &KeyRef{ID: s}}}
	e.Final = Final{Outcome: OutcomeFailed, Target: s, BaselineTarget: s, CostUSD: x, CostDeltaUSD: Float(-x)}
	return e
}

func encodeBoth(t *testing.T, e *Event) {
	t.Helper()
	want, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.encode()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("encode:\n%s\nMarshal:\n%s", got, want)
	}
}
