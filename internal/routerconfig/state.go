package routerconfig

import "time"

// StatePath is the path of the router's state endpoint on its ops port, which the operator polls.
const StatePath = "/v1/state"

// BreakerState is a target's circuit-breaker state as one router sees it.
type BreakerState string

// Breaker states a router reports.
const (
	// BreakerClosed: requests flow; the target is healthy.
	BreakerClosed BreakerState = "closed"
	// BreakerOpen: the target is cooling down until CooldownUntil.
	BreakerOpen BreakerState = "open"
	// BreakerHalfOpen: the cooldown ended and one probe is in flight.
	BreakerHalfOpen BreakerState = "half_open"
	// BreakerQuarantined: the provider rejected the key; the target stays out until the key rotates.
	BreakerQuarantined BreakerState = "quarantined"
)

// RouterState is the JSON body of GET StatePath: one router's view of every target it routes to. It carries
// nothing secret.
type RouterState struct {
	// Router identifies the reporting router (for example its pod name).
	Router string `json:"router"`
	// Time is when the router produced the report.
	Time time.Time `json:"time"`
	// Targets lists every target of every policy the router serves.
	Targets []TargetState `json:"targets"`
}

// TargetState is one target's breaker state on one router.
type TargetState struct {
	// Policy is the RoutePolicy as "namespace/name".
	Policy string `json:"policy"`
	// Target is the target's name within the policy.
	Target string `json:"target"`
	// State is the breaker state.
	State BreakerState `json:"state"`
	// CooldownUntil is when an open breaker lets a probe through; nil unless open.
	CooldownUntil *time.Time `json:"cooldown_until,omitempty"`
	// ConsecutiveFailures is the current run of failures.
	ConsecutiveFailures int32 `json:"consecutive_failures,omitempty"`
	// LastFailureReason is the reason code of the latest failure (a decision-event reason code).
	LastFailureReason string `json:"last_failure_reason,omitempty"`
}
