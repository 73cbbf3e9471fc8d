package controller

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/llmroute/llmroute/api/v1alpha1"
)

// computeRoutePolicyStatus sets every status field of rp from the resolution, the compile outcome and the
// aggregated health (nil when no router ever reported on the policy).
func computeRoutePolicyStatus(rp *v1alpha1.RoutePolicy, res policyResolution, outcome routeOutcome, health *PolicyHealth, at time.Time) {
	st := &rp.Status
	gen := rp.Generation
	st.ObservedGeneration = gen
	total := len(rp.Spec.Targets)

	refs := metav1.Condition{Type: v1alpha1.ConditionResolvedRefs, Status: metav1.ConditionTrue,
		Reason: res.Reason(), Message: res.Message(total)}
	if !res.OK() {
		refs.Status = metav1.ConditionFalse
	}
	setCondition(&st.Conditions, refs, gen, at)

	ready := metav1.Condition{Type: v1alpha1.ConditionReady}
	switch {
	case res.OK() && outcome == routeCompiled:
		ready.Status, ready.Reason = metav1.ConditionTrue, v1alpha1.ReasonCompiled
		ready.Message = "compiled into Secret llmroute-config"
	default:
		ready.Status, ready.Reason = metav1.ConditionFalse, v1alpha1.ReasonRefsNotResolved
		if res.Reason() == v1alpha1.ReasonProviderMismatch {
			// Not a missing object: the policy itself needs fixing.
			ready.Reason = v1alpha1.ReasonInvalidPolicy
		}
		ready.Message = "not compiled: " + res.Message(total)
		if outcome == routeKeptLastGood {
			ready.Message += "; routers keep serving the last good compiled version of this policy"
		} else {
			ready.Message += "; the policy is not in the router config"
		}
	}
	setCondition(&st.Conditions, ready, gen, at)

	// Providers, in spec order; the health data, when there is any, decides the states.
	st.Providers = make([]v1alpha1.TargetHealth, 0, total)
	healthy := 0
	for _, t := range rp.Spec.Targets {
		th := unknownTarget(string(t.Name))
		if health != nil {
			if h, ok := health.Targets[string(t.Name)]; ok {
				th = h
				th.Name = string(t.Name)
			}
		}
		if th.State == v1alpha1.TargetHealthy {
			healthy++
		}
		st.Providers = append(st.Providers, th)
	}
	st.TotalTargets = int32(total)
	st.HealthyTargets = int32(healthy)
	st.Healthy = fmt.Sprintf("%d/%d", healthy, total)
	st.Primary = primaryTarget(rp.Spec.Targets, st.Providers, health != nil && health.Routers > 0)

	setCondition(&st.Conditions, degradedCondition(st.Providers, health), gen, at)
}

// primaryTarget is the target a request would try first: by ascending priority, ties in list order (the ranking
// "priority" order; other rankings depend on prices and latencies only the router knows). Without fresh reports
// it is the first target in that order; with them, the first Healthy one, else the first that may still be tried
// (Probing or Unknown), else none.
func primaryTarget(targets []v1alpha1.Target, providers []v1alpha1.TargetHealth, reported bool) string {
	order := make([]int, len(targets))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(targets[a].Priority, targets[b].Priority) })
	if len(order) == 0 {
		return ""
	}
	if !reported {
		return string(targets[order[0]].Name)
	}
	for _, want := range [][]v1alpha1.TargetState{{v1alpha1.TargetHealthy}, {v1alpha1.TargetProbing, v1alpha1.TargetUnknown}} {
		for _, i := range order {
			if slices.Contains(want, providers[i].State) {
				return string(targets[i].Name)
			}
		}
	}
	return ""
}

// degradedCondition summarises target health: Unknown without fresh reports, False when every target is
// Healthy, True otherwise (NoHealthyTargets when none is).
func degradedCondition(providers []v1alpha1.TargetHealth, health *PolicyHealth) metav1.Condition {
	c := metav1.Condition{Type: v1alpha1.ConditionDegraded}
	if health == nil || health.Routers == 0 {
		c.Status, c.Reason = metav1.ConditionUnknown, v1alpha1.ReasonNoReports
		c.Message = "no router has reported on this policy recently"
		return c
	}
	var unhealthy []string
	for _, p := range providers {
		if p.State != v1alpha1.TargetHealthy {
			d := fmt.Sprintf("%s %s", p.Name, p.State)
			if p.CooldownUntil != nil {
				d += " until " + metaTime(p.CooldownUntil)
			}
			if p.LastFailureReason != "" {
				d += " (" + p.LastFailureReason + ")"
			}
			unhealthy = append(unhealthy, d)
		}
	}
	switch {
	case len(unhealthy) == 0:
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.ReasonAllTargetsHealthy
		c.Message = fmt.Sprintf("all %d targets healthy on %d reporting router(s)", len(providers), health.Routers)
	case len(unhealthy) == len(providers):
		c.Status, c.Reason = metav1.ConditionTrue, v1alpha1.ReasonNoHealthyTargets
		c.Message = "no healthy target: " + strings.Join(unhealthy, ", ")
	default:
		c.Status, c.Reason = metav1.ConditionTrue, v1alpha1.ReasonTargetsUnhealthy
		c.Message = "unhealthy: " + strings.Join(unhealthy, ", ")
	}
	return c
}
