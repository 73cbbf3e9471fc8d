package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RankingStrategy orders the eligible targets of a request.
// +kubebuilder:validation:Enum=priority;cost;latency;weighted
type RankingStrategy string

// Ranking strategies. Whatever the strategy, a target whose breaker is open (cooling down) or quarantined is
// never tried, a target whose worst case exceeds the soft cap ranks after those within it, and one whose single
// probe is in flight ranks last.
const (
	// RankingPriority tries targets by ascending priority, ties in list order.
	RankingPriority RankingStrategy = "priority"
	// RankingCost tries the target with the lowest worst-case cost first.
	RankingCost RankingStrategy = "cost"
	// RankingLatency tries the target with the lowest observed p95 latency first.
	RankingLatency RankingStrategy = "latency"
	// RankingWeighted spreads first attempts across targets in proportion to their weight.
	RankingWeighted RankingStrategy = "weighted"
)

// FailureClass names a class of failure, or a single reason code within a class, that may fail over to the
// next target. Semantic failures (the request itself is wrong) never fail over and cannot be listed.
// +kubebuilder:validation:Enum=transient;hard;semantic;timeout;connect_error;connection_reset;provider_5xx;rate_limited;invalid_credentials;permission_denied;model_not_found;bad_request;schema_mismatch;content_filtered;context_too_large
type FailureClass string

// TargetName is the name of a target, unique within its RoutePolicy.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type TargetName string

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the object, in the same namespace as the RoutePolicy.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// PriceOverride replaces the catalog price of a target's model. It is required to put a model with no
// published price under a hard cost cap, and it must state its safety margin explicitly.
type PriceOverride struct {
	// inputUSDPerMTok is the price of one million input tokens in USD.
	// +required
	// +kubebuilder:validation:Minimum=0
	InputUSDPerMTok float64 `json:"inputUSDPerMTok"`

	// outputUSDPerMTok is the price of one million output tokens in USD.
	// +required
	// +kubebuilder:validation:Minimum=0
	OutputUSDPerMTok float64 `json:"outputUSDPerMTok"`

	// safetyMargin is added on top of both prices when checking caps, as a fraction: 0.2 means prices are taken
	// as 20% higher than stated. It must be given, even as 0, so that a guessed price is a visible decision.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	SafetyMargin float64 `json:"safetyMargin"`
}

// Target is one provider + model + key combination a request may be routed to.
type Target struct {
	// name identifies the target in status, decision events and metrics.
	// +required
	Name TargetName `json:"name"`

	// provider is the wire protocol to speak. It must match the provider of the referenced ProviderKey.
	// +required
	Provider Provider `json:"provider"`

	// model is the provider's model name, as the provider spells it (for example gpt-4o-mini).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Model string `json:"model"`

	// keyRef names the ProviderKey, in the same namespace, whose key authenticates requests to this target.
	// +required
	KeyRef LocalObjectReference `json:"keyRef"`

	// maxTokens caps the output tokens of a request sent to this target. A request asking for more is lowered
	// to it; the worst-case cost uses it when the request sets no max_tokens.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000000
	MaxTokens *int32 `json:"maxTokens,omitempty"`

	// priority orders targets under ranking "priority": lower numbers are tried first, ties in list order.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Priority int32 `json:"priority,omitempty"`

	// weight is the target's share of first attempts under ranking "weighted"; 0 means never first. Other
	// rankings ignore it.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Weight *int32 `json:"weight,omitempty"`

	// price overrides the catalog price of the model. Give it for models whose price is unknown to the catalog
	// (they are otherwise ineligible under a hard cost cap) or when you pay a negotiated price.
	// +optional
	Price *PriceOverride `json:"price,omitempty"`
}

// RequiredCapabilities lists what every eligible target's model must support.
type RequiredCapabilities struct {
	// tools: the model must support tool (function) calls.
	// +optional
	Tools bool `json:"tools,omitempty"`

	// structuredOutput: the model must support JSON schema output.
	// +optional
	StructuredOutput bool `json:"structuredOutput,omitempty"`

	// vision: the model must accept image input.
	// +optional
	Vision bool `json:"vision,omitempty"`

	// streaming: the model must support streamed responses.
	// +optional
	Streaming bool `json:"streaming,omitempty"`

	// minContextTokens: the model's context window must hold at least this many tokens.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MinContextTokens *int32 `json:"minContextTokens,omitempty"`
}

// Constraints are the caps a route must respect. Hard caps exclude a target before any network call; soft caps
// only lower its rank and are reported in the decision event.
// +kubebuilder:validation:XValidation:rule="!has(self.softCostPerRequestUSD) || !has(self.maxCostPerRequestUSD) || self.softCostPerRequestUSD <= self.maxCostPerRequestUSD",message="softCostPerRequestUSD must not be greater than maxCostPerRequestUSD: the soft cap warns before the hard cap blocks"
type Constraints struct {
	// maxCostPerRequestUSD is the hard cost cap: a target whose worst-case cost for the request (input-token upper
	// bound x input price + output-token bound x output price, plus what failed attempts already cost) exceeds it
	// is never called.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:ExclusiveMinimum=true
	MaxCostPerRequestUSD *float64 `json:"maxCostPerRequestUSD,omitempty"`

	// softCostPerRequestUSD is the soft cost cap: targets whose worst-case cost exceeds it rank lower and the
	// decision event records soft_cap_exceeded, but they are not excluded.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:ExclusiveMinimum=true
	SoftCostPerRequestUSD *float64 `json:"softCostPerRequestUSD,omitempty"`

	// maxLatency is the latency SLA and the overall deadline of a request, covering every attempt. A target
	// whose observed p95 latency exceeds it, or the time left, is skipped.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || duration(self) > duration('0s')",message="maxLatency must be greater than 0"
	MaxLatency *metav1.Duration `json:"maxLatency,omitempty"`

	// requiredCapabilities lists what every eligible target's model must support.
	// +optional
	RequiredCapabilities RequiredCapabilities `json:"requiredCapabilities,omitempty"`
}

// Fallback bounds what happens when an attempt fails.
// +kubebuilder:validation:XValidation:rule="!has(self.failOverOn) || self.failOverOn.all(c, !(c in ['semantic', 'bad_request', 'schema_mismatch', 'content_filtered', 'context_too_large']))",message="semantic failures (semantic, bad_request, schema_mismatch, content_filtered, context_too_large) mean the request itself is wrong: they never fail over and cannot be listed in fallback.failOverOn"
type Fallback struct {
	// maxAttempts bounds the attempts of one request, the first included. Each target is tried at most once.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// perAttemptTimeout bounds one attempt; the overall deadline (constraints.maxLatency) still applies.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || duration(self) > duration('0s')",message="perAttemptTimeout must be greater than 0"
	PerAttemptTimeout *metav1.Duration `json:"perAttemptTimeout,omitempty"`

	// streamIdleTimeout bounds the wait for each next chunk of a stream once its first chunk has reached the
	// client (perAttemptTimeout bounds the wait for the first). A provider that stops sending mid-stream while
	// keeping the connection open is then cut, and the client gets the stream_interrupted error event instead
	// of waiting until it gives up. Keep it above the longest silence a model may keep while it reasons.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || duration(self) > duration('0s')",message="streamIdleTimeout must be greater than 0"
	StreamIdleTimeout *metav1.Duration `json:"streamIdleTimeout,omitempty"`

	// failOverOn lists the failure classes (transient, hard) or single reason codes that fail over to the next target.
	// Anything not listed ends the request with the provider's error.
	// +optional
	// +kubebuilder:default={transient,hard}
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	FailOverOn []FailureClass `json:"failOverOn,omitempty"`
}

// CircuitBreaker configures the per-target breaker (one per provider + model + key).
// +kubebuilder:validation:XValidation:rule="!has(self.cooldownBase) || !has(self.cooldownMax) || duration(self.cooldownBase) <= duration(self.cooldownMax)",message="cooldownBase must not be longer than cooldownMax"
type CircuitBreaker struct {
	// failureThreshold is the number of consecutive transport failures that opens the breaker.
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	FailureThreshold int32 `json:"failureThreshold,omitempty"`

	// failureRatio also opens the breaker when this fraction of the attempts in the window failed (with at least
	// failureThreshold attempts seen). Unset means only consecutive failures count.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:ExclusiveMinimum=true
	// +kubebuilder:validation:Maximum=1
	FailureRatio *float64 `json:"failureRatio,omitempty"`

	// window is the period over which failureRatio is measured.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || duration(self) > duration('0s')",message="window must be greater than 0"
	Window *metav1.Duration `json:"window,omitempty"`

	// cooldownBase is the first cooldown after the breaker opens. The k-th consecutive opening cools down for
	// min(cooldownBase x cooldownMultiplier^(k-1), cooldownMax), with jitter.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || duration(self) > duration('0s')",message="cooldownBase must be greater than 0"
	CooldownBase *metav1.Duration `json:"cooldownBase,omitempty"`

	// cooldownMax caps the cooldown.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || duration(self) > duration('0s')",message="cooldownMax must be greater than 0"
	CooldownMax *metav1.Duration `json:"cooldownMax,omitempty"`

	// cooldownMultiplier is the growth factor of consecutive cooldowns.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	CooldownMultiplier float64 `json:"cooldownMultiplier,omitempty"`

	// jitter spreads cooldowns by up to this fraction (0.1 = +/-10%) so routers do not probe in lockstep.
	// +optional
	// +kubebuilder:default=0.1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	Jitter *float64 `json:"jitter,omitempty"`

	// probeTimeout bounds the single half-open probe sent when a cooldown ends.
	// +optional
	// +kubebuilder:default="5s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || duration(self) > duration('0s')",message="probeTimeout must be greater than 0"
	ProbeTimeout *metav1.Duration `json:"probeTimeout,omitempty"`

	// slowCallThreshold counts an attempt still waiting for its answer (the first chunk, for a stream) after
	// this long as a failure at that moment, toward failureThreshold and failureRatio. A target that accepts
	// connections and then hangs is opened after failureThreshold slow attempts, and the attempts still
	// waiting on it are cut and fail over at once, instead of every request running out perAttemptTimeout
	// first. Set it well above the target's normal time to answer (long generations are slow legitimately).
	// Unset means only finished attempts count. It must be shorter than fallback.perAttemptTimeout.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || duration(self) > duration('0s')",message="slowCallThreshold must be greater than 0"
	SlowCallThreshold *metav1.Duration `json:"slowCallThreshold,omitempty"`
}

// RetryBudget caps fallback attempts to a share of traffic, so an incident cannot turn into a thundering herd.
type RetryBudget struct {
	// ratio is the largest share of fallback attempts relative to first attempts over the last 10 seconds.
	// +optional
	// +kubebuilder:default=0.2
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	Ratio *float64 `json:"ratio,omitempty"`

	// minPerSecond is the number of fallback attempts per second allowed whatever the ratio, so low traffic can
	// still fail over.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	MinPerSecond *int32 `json:"minPerSecond,omitempty"`
}

// RoutePolicySpec is what a route may use and what it must respect.
// +kubebuilder:validation:XValidation:rule="self.targets.all(t, self.targets.exists_one(u, u.name == t.name))",message="target names must be unique within a RoutePolicy"
// +kubebuilder:validation:XValidation:rule="!has(self.baseline) || self.targets.exists(t, t.name == self.baseline)",message="baseline must name one of the targets"
// +kubebuilder:validation:XValidation:rule="!has(self.circuitBreaker) || !has(self.circuitBreaker.slowCallThreshold) || !has(self.fallback) || !has(self.fallback.perAttemptTimeout) || !self.circuitBreaker.slowCallThreshold.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || !self.fallback.perAttemptTimeout.matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$') || duration(self.circuitBreaker.slowCallThreshold) < duration(self.fallback.perAttemptTimeout)",message="circuitBreaker.slowCallThreshold must be shorter than fallback.perAttemptTimeout: an attempt is cut at its timeout before it could count as slow"
type RoutePolicySpec struct {
	// targets are the provider + model + key combinations requests may be routed to.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	Targets []Target `json:"targets"`

	// constraints are the hard and soft caps every route must respect.
	// +optional
	// +kubebuilder:default={}
	Constraints Constraints `json:"constraints,omitempty"`

	// ranking orders the eligible targets: priority, cost, latency or weighted.
	// +optional
	// +kubebuilder:default=priority
	Ranking RankingStrategy `json:"ranking,omitempty"`

	// baseline names the target that cost deltas in decision events are measured against. Defaults to the first
	// target.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Baseline string `json:"baseline,omitempty"`

	// fallback bounds attempts and says which failures move on to the next target.
	// +optional
	// +kubebuilder:default={}
	Fallback Fallback `json:"fallback,omitempty"`

	// circuitBreaker configures the breaker kept per target.
	// +optional
	// +kubebuilder:default={}
	CircuitBreaker CircuitBreaker `json:"circuitBreaker,omitempty"`

	// retryBudget caps fallback attempts to a share of traffic.
	// +optional
	// +kubebuilder:default={}
	RetryBudget RetryBudget `json:"retryBudget,omitempty"`

	// allowRequestKeyOverride lets a request carry its own provider key (header x-llmroute-provider-key). Off by
	// default: keys then come only from ProviderKeys, the router's key store, or its environment.
	// +optional
	// +kubebuilder:default=false
	AllowRequestKeyOverride bool `json:"allowRequestKeyOverride,omitempty"`
}

// TargetState is a target's health as routers see it.
// +kubebuilder:validation:Enum=Healthy;CoolingDown;Probing;Quarantined;Unknown
type TargetState string

// Target states.
const (
	// TargetHealthy: the breaker is closed on every reporting router.
	TargetHealthy TargetState = "Healthy"
	// TargetCoolingDown: the breaker is open; no request goes to the target until cooldownUntil.
	TargetCoolingDown TargetState = "CoolingDown"
	// TargetProbing: the cooldown ended and one probe request is testing the target.
	TargetProbing TargetState = "Probing"
	// TargetQuarantined: the provider rejected the key as invalid; the target stays out until the key's
	// fingerprint changes (rotate the Secret).
	TargetQuarantined TargetState = "Quarantined"
	// TargetUnknown: no router has reported on the target recently.
	TargetUnknown TargetState = "Unknown"
)

// TargetHealth is the aggregated health of one target across the routers that use the policy.
type TargetHealth struct {
	// name of the target.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// state is the worst state any reporting router sees for the target.
	// +required
	State TargetState `json:"state"`

	// cooldownUntil is when the latest cooldown ends.
	// +optional
	CooldownUntil *metav1.Time `json:"cooldownUntil,omitempty"`

	// consecutiveFailures is the largest run of consecutive failures a router reports.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`

	// lastFailureReason is the reason code of the latest failure (for example timeout or provider_5xx).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	LastFailureReason string `json:"lastFailureReason,omitempty"`

	// lastTransitionTime is when state last changed.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`

	// reportingRouters is how many routers reported on the target in the last reporting period.
	// +optional
	ReportingRouters int32 `json:"reportingRouters,omitempty"`
}

// RoutePolicyStatus reports whether the policy is compiled into router config and how its targets are doing.
type RoutePolicyStatus struct {
	// observedGeneration is the generation of the spec this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, ResolvedRefs and Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// providers is the health of each target, aggregated over the routers that report it.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=20
	Providers []TargetHealth `json:"providers,omitempty"`

	// healthyTargets counts targets in state Healthy.
	// +optional
	HealthyTargets int32 `json:"healthyTargets"`

	// totalTargets counts the policy's targets.
	// +optional
	TotalTargets int32 `json:"totalTargets"`

	// healthy is healthyTargets/totalTargets, for kubectl get.
	// +optional
	// +kubebuilder:validation:MaxLength=16
	Healthy string `json:"healthy,omitempty"`

	// primary is the target a request would try first right now.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Primary string `json:"primary,omitempty"`
}

// RoutePolicy routes OpenAI-compatible requests whose model is the policy's name across LLM provider targets,
// within hard cost and latency caps, with bounded fallback and per-target circuit breakers.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rp,categories=llmroute
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Healthy",type=string,JSONPath=`.status.healthy`
// +kubebuilder:printcolumn:name="Primary",type=string,JSONPath=`.status.primary`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Ranking",type=string,JSONPath=`.spec.ranking`,priority=1
// +kubebuilder:printcolumn:name="Max-Cost",type=number,JSONPath=`.spec.constraints.maxCostPerRequestUSD`,priority=1
// +kubebuilder:printcolumn:name="Max-Latency",type=string,JSONPath=`.spec.constraints.maxLatency`,priority=1
// +kubebuilder:printcolumn:name="Degraded",type=string,JSONPath=`.status.conditions[?(@.type=="Degraded")].status`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
type RoutePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is what the route may use and what it must respect.
	// +required
	Spec RoutePolicySpec `json:"spec"`

	// status reports compilation and target health.
	// +optional
	Status RoutePolicyStatus `json:"status,omitempty"`
}

// RoutePolicyList is a list of RoutePolicies.
//
// +kubebuilder:object:root=true
type RoutePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RoutePolicy `json:"items"`
}
