package controller

import (
	"context"
	"maps"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// PolicyHealth is the aggregated health of one RoutePolicy's targets across the routers that report it.
type PolicyHealth struct {
	// Targets maps a target name to its aggregated health.
	Targets map[string]v1alpha1.TargetHealth
	// Routers counts the routers with a fresh report on the policy; 0 means every report went stale.
	Routers int
}

// HealthSource gives the RoutePolicy reconciler the latest aggregated health of a policy.
type HealthSource interface {
	PolicyHealth(policy types.NamespacedName) (PolicyHealth, bool)
}

// HealthStore holds the HealthPoller's aggregates for the RoutePolicy reconciler, which is the only writer of
// RoutePolicy status: sharing one writer keeps the status patch single and avoids two controllers fighting
// over conditions (a merge patch replaces the whole conditions list).
type HealthStore struct {
	mu       sync.RWMutex
	policies map[types.NamespacedName]PolicyHealth
	notify   chan event.GenericEvent
}

// NewHealthStore returns an empty store.
func NewHealthStore() *HealthStore {
	return &HealthStore{policies: map[types.NamespacedName]PolicyHealth{}}
}

// PolicyHealth implements HealthSource.
func (s *HealthStore) PolicyHealth(policy types.NamespacedName) (PolicyHealth, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.policies[policy]
	if !ok {
		return PolicyHealth{}, false
	}
	h.Targets = maps.Clone(h.Targets)
	return h, true
}

// Subscribe returns the channel on which the store announces a policy whose health changed, for
// source.Channel. Call it once, before the poller starts; without a subscriber nothing is sent.
func (s *HealthStore) Subscribe() <-chan event.GenericEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notify == nil {
		s.notify = make(chan event.GenericEvent, 64)
	}
	return s.notify
}

// set records h and announces the policy if it changed. It blocks while the subscriber is behind, so no change
// is lost, until ctx ends.
func (s *HealthStore) set(ctx context.Context, policy types.NamespacedName, h PolicyHealth) {
	s.mu.Lock()
	old, ok := s.policies[policy]
	s.policies[policy] = h
	ch := s.notify
	s.mu.Unlock()
	if ok && equality.Semantic.DeepEqual(old, h) {
		return
	}
	if ch == nil {
		return
	}
	obj := &v1alpha1.RoutePolicy{}
	obj.Namespace, obj.Name = policy.Namespace, policy.Name
	select {
	case ch <- event.GenericEvent{Object: client.Object(obj)}:
	case <-ctx.Done():
	}
}

// stateRank orders target states from best to worst; the worst any router reports wins.
var stateRank = map[v1alpha1.TargetState]int{
	v1alpha1.TargetHealthy:     0,
	v1alpha1.TargetProbing:     1,
	v1alpha1.TargetCoolingDown: 2,
	v1alpha1.TargetQuarantined: 3,
}

// targetStateOf maps a router's breaker state to the API's target state.
func targetStateOf(s routerconfig.BreakerState) (v1alpha1.TargetState, bool) {
	switch s {
	case routerconfig.BreakerClosed:
		return v1alpha1.TargetHealthy, true
	case routerconfig.BreakerHalfOpen:
		return v1alpha1.TargetProbing, true
	case routerconfig.BreakerOpen:
		return v1alpha1.TargetCoolingDown, true
	case routerconfig.BreakerQuarantined:
		return v1alpha1.TargetQuarantined, true
	}
	return "", false
}

// aggregateTarget folds one router's view of a target into agg: worst state wins, its failure reason with it;
// the latest cooldown end and the longest failure run are kept; every report counts as a reporting router.
func aggregateTarget(agg *v1alpha1.TargetHealth, ts routerconfig.TargetState) {
	st, ok := targetStateOf(ts.State)
	if !ok {
		return // a state this operator does not know: ignore rather than guess
	}
	agg.ReportingRouters++
	if agg.State == "" || agg.State == v1alpha1.TargetUnknown || stateRank[st] > stateRank[agg.State] {
		agg.State = st
		agg.LastFailureReason = ts.LastFailureReason
	} else if stateRank[st] == stateRank[agg.State] && agg.LastFailureReason == "" {
		agg.LastFailureReason = ts.LastFailureReason
	}
	if ts.CooldownUntil != nil && st == v1alpha1.TargetCoolingDown {
		if cu := truncTime(*ts.CooldownUntil); agg.CooldownUntil == nil || cu.After(agg.CooldownUntil.Time) {
			agg.CooldownUntil = cu
		}
	}
	agg.ConsecutiveFailures = max(agg.ConsecutiveFailures, ts.ConsecutiveFailures)
}

// unknownTarget is a target no fresh report mentions.
func unknownTarget(name string) v1alpha1.TargetHealth {
	return v1alpha1.TargetHealth{Name: name, State: v1alpha1.TargetUnknown}
}

// stampTransition carries lastTransitionTime over from prev unless the state changed.
func stampTransition(th *v1alpha1.TargetHealth, prev *v1alpha1.TargetHealth, at time.Time) {
	if prev != nil && prev.State == th.State {
		th.LastTransitionTime = prev.LastTransitionTime
		return
	}
	th.LastTransitionTime = truncTime(at)
}

// metaTime converts an optional metav1.Time for messages.
func metaTime(t *metav1.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
