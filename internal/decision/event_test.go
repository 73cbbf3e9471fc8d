package decision

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/keys"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fullEvent sets every field, so the golden file pins every name in the contract.
func fullEvent() *Event {
	e := New("0123456789ab", "payments/assistant", time.Date(2026, 11, 24, 11, 0, 0, 0, time.FixedZone("CET", 3600)))
	e.Route = &Route{Target: "a-cheap", Provider: "groq", Model: "llama-3.3-70b-versatile", Score: 0.94}
	e.Candidates = []Candidate{
		{Target: "a-cheap", Eligible: true, Score: 0.94, EstMaxCostUSD: Float(0.0012)},
		{Target: "b-stable", Eligible: true, Score: 0.81, EstMaxCostUSD: Float(0.0036), SoftCapExceeded: true},
		{Target: "big", Eligible: false, Excluded: faults.ReasonOverHardCostCap, EstMaxCostUSD: Float(0.02)},
		{Target: "mystery", Eligible: false, Excluded: faults.ReasonUnknownPrice},
	}
	e.Attempts = []Attempt{
		{N: 1, Target: "a-cheap", Outcome: OutcomeFailed, Class: faults.ClassTransient, Reason: faults.ReasonRateLimited,
			Status: 429, LatencyMS: 120, RetryAfterMS: 2000, Probe: true,
			Key: KeyRefOf(keys.Resolved{Source: keys.SourceConfig, ID: "payments/groq#a1b2c3d4"})},
		{N: 2, Target: "b-stable", Outcome: OutcomeOK, Status: 200, LatencyMS: 180, ReasoningDropped: true,
			Key: &KeyRef{Source: keys.SourceEnv, ID: "ANTHROPIC_API_KEY#9f8e7d6c"}},
	}
	e.Final = Final{Outcome: OutcomeOK, Target: "b-stable", Reason: faults.ReasonFallbackSucceeded, CostUSD: 0.0034,
		BaselineTarget: "a-cheap", BaselineCostUSD: Float(0.0011), CostDeltaUSD: Float(0.0023), LatencyMS: 310,
		Usage:        &Usage{InputTokens: 812, OutputTokens: 240, CachedInputTokens: 512, ReasoningTokens: 64},
		UsageOutlier: true, StreamInterrupted: true}
	e.Budget = &Budget{HardCapUSD: Float(0.004), SoftCapUSD: Float(0.0025), SoftCapExceeded: true, SpentUSD: 0.0034}
	return e
}

func TestGoldenFullEvent(t *testing.T) {
	got, err := json.MarshalIndent(fullEvent(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "full_event.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("decision event JSON changed; field names are a public contract.\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// TestArchitectureExampleRoundTrip decodes the example in the architecture doc and encodes it back: the output
// must carry exactly the same fields and values, so the type neither drops nor invents any.
func TestArchitectureExampleRoundTrip(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "architecture_example.json"))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.DisallowUnknownFields()
	var e Event
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("the documented example does not fit the type: %v", err)
	}
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(in, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("round trip differs:\nin:  %s\nout: %s", bytes.Join(bytes.Fields(in), nil), out)
	}
}

func TestEventNameEnforced(t *testing.T) {
	for _, e := range []any{Event{RequestID: "x"}, &Event{Event: "other"}} {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(`{"event":"route_decision",`)) {
			t.Fatalf("got %s", b)
		}
	}
}

func TestMinimalEventOmitsOptional(t *testing.T) {
	e := New("abc", "ns/p", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	e.Final = Final{Outcome: OutcomeFailed, Reason: faults.ReasonNoEligibleTarget}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event":"route_decision","request_id":"abc","time":"2026-01-02T03:04:05Z","policy":"ns/p",` +
		`"final":{"outcome":"failed","reason":"no_eligible_target","cost_usd":0,"latency_ms":0}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

func TestNewRequestID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewRequestID()
		if !re.MatchString(id) {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}
