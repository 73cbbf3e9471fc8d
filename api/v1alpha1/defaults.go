package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults applied by SetDefaults and SetProviderKeyDefaults. Each mirrors a +kubebuilder:default marker on the
// API types; defaults_test.go checks they stay in step.
const (
	// DefaultMaxLatency is constraints.maxLatency.
	DefaultMaxLatency = 30 * time.Second
	// DefaultMaxAttempts is fallback.maxAttempts.
	DefaultMaxAttempts int32 = 3
	// DefaultPerAttemptTimeout is fallback.perAttemptTimeout.
	DefaultPerAttemptTimeout = 10 * time.Second
	// DefaultStreamIdleTimeout is fallback.streamIdleTimeout.
	DefaultStreamIdleTimeout = 5 * time.Minute
	// DefaultFailureThreshold is circuitBreaker.failureThreshold.
	DefaultFailureThreshold int32 = 5
	// DefaultBreakerWindow is circuitBreaker.window.
	DefaultBreakerWindow = 30 * time.Second
	// DefaultCooldownBase is circuitBreaker.cooldownBase.
	DefaultCooldownBase = 5 * time.Second
	// DefaultCooldownMax is circuitBreaker.cooldownMax.
	DefaultCooldownMax = 5 * time.Minute
	// DefaultCooldownMultiplier is circuitBreaker.cooldownMultiplier.
	DefaultCooldownMultiplier = 2.0
	// DefaultJitter is circuitBreaker.jitter.
	DefaultJitter = 0.1
	// DefaultProbeTimeout is circuitBreaker.probeTimeout.
	DefaultProbeTimeout = 5 * time.Second
	// DefaultRetryBudgetRatio is retryBudget.ratio.
	DefaultRetryBudgetRatio = 0.2
	// DefaultRetryBudgetMinPerSecond is retryBudget.minPerSecond.
	DefaultRetryBudgetMinPerSecond int32 = 10
	// DefaultRanking is spec.ranking.
	DefaultRanking = RankingPriority
	// DefaultTargetWeight is targets[].weight.
	DefaultTargetWeight int32 = 1
	// DefaultSecretKey is ProviderKey spec.secretRef.key.
	DefaultSecretKey = "apiKey"
)

// DefaultFailOverOn returns fallback.failOverOn's default, a fresh slice each call so callers may keep it.
func DefaultFailOverOn() []FailureClass { return []FailureClass{"transient", "hard"} }

// SetDefaults fills every field of rp that carries a +kubebuilder:default marker and is unset, so a RoutePolicy
// read from a standalone manifest (one that never went through an API server) means what the same manifest means
// in a cluster. Objects read from an API server already carry their defaults and are left unchanged, except as
// noted below.
//
// A Go zero value cannot be told apart from an omitted field. For fields whose zero is invalid (maxAttempts,
// failureThreshold, cooldownMultiplier, the durations, ranking) that loses nothing. For four fields whose zero is
// a valid, meaningful setting (targets[].weight, circuitBreaker.jitter, retryBudget.ratio and
// retryBudget.minPerSecond) the API types use pointers, so an explicit 0 survives. fallback.failOverOn
// keeps an explicit empty list (it decodes as non-nil) and only a nil list is defaulted.
//
// spec.baseline is deliberately not defaulted: "first target" is resolved when the policy is compiled, so that
// reordering targets moves the baseline with them, as in the cluster.
func SetDefaults(rp *RoutePolicy) {
	if rp == nil {
		return
	}
	s := &rp.Spec
	for i := range s.Targets {
		if s.Targets[i].Weight == nil {
			s.Targets[i].Weight = ptr(DefaultTargetWeight)
		}
	}
	if s.Ranking == "" {
		s.Ranking = DefaultRanking
	}
	if s.Constraints.MaxLatency == nil {
		s.Constraints.MaxLatency = &metav1.Duration{Duration: DefaultMaxLatency}
	}

	f := &s.Fallback
	if f.MaxAttempts == 0 {
		f.MaxAttempts = DefaultMaxAttempts
	}
	if f.PerAttemptTimeout == nil {
		f.PerAttemptTimeout = &metav1.Duration{Duration: DefaultPerAttemptTimeout}
	}
	defaultDuration(&f.StreamIdleTimeout, DefaultStreamIdleTimeout)
	if f.FailOverOn == nil {
		f.FailOverOn = DefaultFailOverOn()
	}

	cb := &s.CircuitBreaker
	if cb.FailureThreshold == 0 {
		cb.FailureThreshold = DefaultFailureThreshold
	}
	defaultDuration(&cb.Window, DefaultBreakerWindow)
	defaultDuration(&cb.CooldownBase, DefaultCooldownBase)
	defaultDuration(&cb.CooldownMax, DefaultCooldownMax)
	defaultDuration(&cb.ProbeTimeout, DefaultProbeTimeout)
	if cb.CooldownMultiplier == 0 {
		cb.CooldownMultiplier = DefaultCooldownMultiplier
	}
	if cb.Jitter == nil {
		cb.Jitter = ptr(float64(DefaultJitter))
	}

	rb := &s.RetryBudget
	if rb.Ratio == nil {
		rb.Ratio = ptr(float64(DefaultRetryBudgetRatio))
	}
	if rb.MinPerSecond == nil {
		rb.MinPerSecond = ptr(DefaultRetryBudgetMinPerSecond)
	}
}

// SetProviderKeyDefaults fills the +kubebuilder:default fields of pk that are unset (secretRef.key; inCluster
// defaults to false, which is already the zero value).
func SetProviderKeyDefaults(pk *ProviderKey) {
	if pk == nil {
		return
	}
	if pk.Spec.SecretRef.Key == "" {
		pk.Spec.SecretRef.Key = DefaultSecretKey
	}
}

func defaultDuration(d **metav1.Duration, def time.Duration) {
	if *d == nil {
		*d = &metav1.Duration{Duration: def}
	}
}

func ptr[T any](v T) *T { return &v }
