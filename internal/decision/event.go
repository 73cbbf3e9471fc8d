// Package decision defines the decision event, the one record the router emits per request, and the sinks that
// receive it: a JSON-lines log, an in-memory ring for the explain command and state endpoint, and a fan-out.
//
// The JSON field names are a public contract (dashboards and log queries depend on them): add fields, never
// rename or repurpose one. Zero-valued optional fields are omitted; fields whose zero is meaningful (eligible,
// latency_ms, cost_usd, token counts) are always present.
package decision

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"time"

	segjson "github.com/segmentio/encoding/json"

	"github.com/llmroute/llmroute/internal/faults"
	"github.com/llmroute/llmroute/internal/keys"
)

// EventName is the value of the "event" field of every decision event.
const EventName = "route_decision"

// Outcomes of an attempt or a request.
const (
	// OutcomeOK: the attempt or request succeeded.
	OutcomeOK = "ok"
	// OutcomeFailed: the attempt or request failed; reason says why.
	OutcomeFailed = "failed"
)

// Event is the decision record of one request.
type Event struct {
	// Event is always EventName; MarshalJSON enforces it.
	Event string `json:"event"`
	// RequestID identifies the request (see NewRequestID); it is also returned to the client.
	RequestID string `json:"request_id"`
	// Time is when the request arrived.
	Time time.Time `json:"time"`
	// Policy is the RoutePolicy, as "namespace/name".
	Policy string `json:"policy"`
	// Route is the planner's first choice; absent when no target was eligible.
	Route *Route `json:"route,omitempty"`
	// Candidates are every target considered, eligible or not, in plan order.
	Candidates []Candidate `json:"candidates,omitempty"`
	// Attempts are the calls made, in order.
	Attempts []Attempt `json:"attempts,omitempty"`
	// Final is how the request ended.
	Final Final `json:"final"`
	// Budget is the cost caps that applied and what was spent; absent when the policy sets no cap.
	Budget *Budget `json:"budget,omitempty"`
}

// Route is the target the planner ranked first.
type Route struct {
	// Target is the target name.
	Target string `json:"target"`
	// Provider is the target's provider.
	Provider string `json:"provider"`
	// Model is the provider's model name.
	Model string `json:"model"`
	// Score is the ranking score.
	Score float64 `json:"score"`
}

// Candidate is one target as the planner saw it.
type Candidate struct {
	// Target is the target name.
	Target string `json:"target"`
	// Eligible reports whether the target passed every hard constraint.
	Eligible bool `json:"eligible"`
	// Score is the ranking score of an eligible target.
	Score float64 `json:"score,omitempty"`
	// Excluded is the reason code of an ineligible target.
	Excluded faults.Reason `json:"excluded,omitempty"`
	// EstMaxCostUSD is the worst-case cost of the request on this target; nil when it cannot be computed
	// (unknown price, unbounded output), which is different from a free model's 0.
	EstMaxCostUSD *float64 `json:"est_max_cost_usd,omitempty"`
	// SoftCapExceeded reports whether the worst-case cost exceeds the soft cap.
	SoftCapExceeded bool `json:"soft_cap_exceeded,omitempty"`
}

// KeyRef says which key an attempt used, never the key itself.
type KeyRef struct {
	// Source is where the key came from.
	Source keys.Source `json:"source"`
	// ID is the source-specific name and the key's fingerprint (keys.Resolved.ID).
	ID string `json:"id"`
}

// KeyRefOf returns the traceable part of a resolved key.
func KeyRefOf(r keys.Resolved) *KeyRef { return &KeyRef{Source: r.Source, ID: r.ID} }

// Attempt is one call to a target.
type Attempt struct {
	// N numbers attempts from 1.
	N int `json:"n"`
	// Target is the target name.
	Target string `json:"target"`
	// Outcome is OutcomeOK or OutcomeFailed.
	Outcome string `json:"outcome"`
	// Class is the failure class of a failed attempt.
	Class faults.Class `json:"class,omitempty"`
	// Reason is the reason code of a failed attempt.
	Reason faults.Reason `json:"reason,omitempty"`
	// Status is the HTTP status, absent when there was no response.
	Status int `json:"status,omitempty"`
	// LatencyMS is the attempt's duration in milliseconds.
	LatencyMS int64 `json:"latency_ms"`
	// Latency is the attempt's exact duration, for the router's latency histogram: a fast attempt is 0 in
	// LatencyMS. It is not part of the JSON event.
	Latency time.Duration `json:"-"`
	// Key is the key used, absent when none could be resolved.
	Key *KeyRef `json:"key,omitempty"`
	// RetryAfterMS is the provider's Retry-After in milliseconds, when it gave one.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
	// Probe marks the half-open probe of a breaker.
	Probe bool `json:"probe,omitempty"`
	// ReasoningDropped marks an attempt sent without the reasoning the client asked for as a hint (chat
	// reasoning_effort): the target's API refuses thinking with the request's other parameters, or no budget
	// fits its output limit.
	ReasoningDropped bool `json:"reasoning_dropped,omitempty"`
}

// Usage is the token usage reported by the provider.
type Usage struct {
	// InputTokens counts prompt tokens, cached ones included.
	InputTokens int64 `json:"input_tokens"`
	// OutputTokens counts completion tokens, reasoning ones included.
	OutputTokens int64 `json:"output_tokens"`
	// CachedInputTokens counts prompt tokens served from the provider's cache.
	CachedInputTokens int64 `json:"cached_input_tokens,omitempty"`
	// ReasoningTokens counts hidden reasoning tokens.
	ReasoningTokens int64 `json:"reasoning_tokens,omitempty"`
}

// Final is how the request ended.
type Final struct {
	// Outcome is OutcomeOK or OutcomeFailed.
	Outcome string `json:"outcome"`
	// Target is the target that answered (or the last one tried).
	Target string `json:"target,omitempty"`
	// Reason is ok, fallback_succeeded, or the reason code of the failure returned to the client.
	Reason faults.Reason `json:"reason,omitempty"`
	// CostUSD is what the request cost, failed attempts included.
	CostUSD float64 `json:"cost_usd"`
	// BaselineTarget is the policy's baseline target, against which the cost delta is measured.
	BaselineTarget string `json:"baseline_target,omitempty"`
	// BaselineCostUSD is what the request would have cost on the baseline; nil when unknown.
	BaselineCostUSD *float64 `json:"baseline_cost_usd,omitempty"`
	// CostDeltaUSD is CostUSD - BaselineCostUSD; nil when the baseline cost is unknown.
	CostDeltaUSD *float64 `json:"cost_delta_usd,omitempty"`
	// LatencyMS is the request's total duration in milliseconds.
	LatencyMS int64 `json:"latency_ms"`
	// Usage is the token usage of the answering attempt.
	Usage *Usage `json:"usage,omitempty"`
	// UsageOutlier reports usage implausible for the request.
	UsageOutlier bool `json:"usage_outlier,omitempty"`
	// StreamInterrupted reports a stream that died after its first byte reached the client.
	StreamInterrupted bool `json:"stream_interrupted,omitempty"`
}

// Budget is the cost caps of the policy and what the request spent against them.
type Budget struct {
	// HardCapUSD is the hard cost cap; nil when none.
	HardCapUSD *float64 `json:"hard_cap_usd,omitempty"`
	// SoftCapUSD is the soft cost cap; nil when none.
	SoftCapUSD *float64 `json:"soft_cap_usd,omitempty"`
	// SoftCapExceeded reports whether the chosen target's worst-case cost exceeded the soft cap.
	SoftCapExceeded bool `json:"soft_cap_exceeded,omitempty"`
	// SpentUSD is what all attempts cost, when any attempt was billed.
	SpentUSD float64 `json:"spent_usd,omitempty"`
}

// New returns an event for a request that arrived at t.
func New(requestID, policy string, t time.Time) *Event {
	return &Event{Event: EventName, RequestID: requestID, Time: t.UTC(), Policy: policy}
}

// MarshalJSON writes the event with "event" always set to EventName, so a hand-built Event cannot emit a
// record that log queries would miss.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // drops the method, so Marshal does not recurse
	p := plain(e)
	p.Event = EventName
	return json.Marshal(p)
}

// encode returns json.Marshal(e) without going through MarshalJSON: encoding/json re-scans whatever a
// Marshaler returns, which made encoding an event about 3.5 times as expensive (11.4 µs against 3.3 µs). It
// encodes with github.com/segmentio/encoding, which writes the same bytes as encoding/json, escapes and number
// forms included (TestEncodeEqualsMarshal, FuzzEncodeEqualsMarshal), in 1.8 µs: every request's event is
// encoded, and on a 2-core machine the decision log's goroutine takes that CPU from requests.
func (e *Event) encode() ([]byte, error) {
	if e.Event != EventName {
		return json.Marshal(e) // MarshalJSON sets the event name
	}
	type plain Event
	return segjson.Marshal((*plain)(e))
}

// Float returns a pointer to v, for the optional cost fields.
func Float(v float64) *float64 { return &v }

// NewRequestID returns 12 random hex digits: short enough to read out loud, with 48 bits that make a collision
// among the requests one ring holds negligible. The bits come from math/rand/v2's global generator (ChaCha8,
// seeded from the OS, per-thread state): a request ID names a request, it guards nothing, so it need not cost
// the getrandom system call crypto/rand makes.
func NewRequestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:6])
}
