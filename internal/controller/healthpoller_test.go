package controller_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/controller"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// fakeRouter serves a settable RouterState on loopback, as a router's ops port would.
type fakeRouter struct {
	mu    sync.Mutex
	state routerconfig.RouterState
	srv   *httptest.Server
}

func newFakeRouter(t *testing.T, id string) *fakeRouter {
	t.Helper()
	fr := &fakeRouter{state: routerconfig.RouterState{Router: id}}
	fr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != routerconfig.StatePath {
			http.NotFound(w, r)
			return
		}
		fr.mu.Lock()
		defer fr.mu.Unlock()
		_ = json.NewEncoder(w).Encode(fr.state)
	}))
	t.Cleanup(fr.srv.Close)
	return fr
}

func (fr *fakeRouter) set(targets ...routerconfig.TargetState) {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	fr.state.Time = time.Now()
	fr.state.Targets = targets
}

func (fr *fakeRouter) addr() string { return strings.TrimPrefix(fr.srv.URL, "http://") }

func (fr *fakeRouter) port(t *testing.T) string {
	t.Helper()
	_, p, err := net.SplitHostPort(fr.addr())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ts(policy, target string, state routerconfig.BreakerState, failures int32, reason string, until *time.Time) routerconfig.TargetState {
	return routerconfig.TargetState{Policy: policy, Target: target, State: state, ConsecutiveFailures: failures,
		LastFailureReason: reason, CooldownUntil: until}
}

func drain(ch chan string) []string {
	var out []string
	for {
		select {
		case e := <-ch:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestHealthPollerAggregatesAndGoesStale(t *testing.T) {
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(start)
	policy := rp("pay", "chat", target("a", v1alpha1.ProviderGroq, "groq", 0), target("b", v1alpha1.ProviderOpenAI, "openai", 1))
	c := fakeClient(t, policy)
	r1, r2 := newFakeRouter(t, "r1"), newFakeRouter(t, "r2")
	store := controller.NewHealthStore()
	rec := events.NewFakeRecorder(100)
	p := &controller.HealthPoller{Client: c, Store: store, Recorder: rec, Clock: clk, StaleAfter: 30 * time.Second,
		StaticRouters: []string{r1.addr(), r2.addr()}, DisablePodDiscovery: true}
	ctx := t.Context()
	key := types.NamespacedName{Namespace: "pay", Name: "chat"}
	poll := func() controller.PolicyHealth {
		t.Helper()
		if err := p.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		h, ok := store.PolicyHealth(key)
		if !ok {
			t.Fatalf("no health for %s", key)
		}
		return h
	}

	r1.set(ts("pay/chat", "a", "closed", 0, "", nil), ts("pay/chat", "b", "closed", 0, "", nil))
	r2.set(ts("pay/chat", "a", "closed", 0, "", nil), ts("pay/chat", "b", "closed", 0, "", nil))
	h := poll()
	if h.Routers != 2 || h.Targets["a"].State != v1alpha1.TargetHealthy || h.Targets["b"].ReportingRouters != 2 {
		t.Fatalf("all healthy: %+v", h)
	}
	if evs := drain(rec.Events); len(evs) != 0 {
		t.Errorf("events on first report: %v", evs)
	}

	// b opens on r1 and probes on r2: the worst state (CoolingDown) wins, with r1's cooldown and reason.
	until := start.Add(45 * time.Second)
	clk.Step(time.Second)
	r1.set(ts("pay/chat", "a", "closed", 0, "", nil), ts("pay/chat", "b", "open", 5, "timeout", &until))
	r2.set(ts("pay/chat", "a", "closed", 0, "", nil), ts("pay/chat", "b", "half_open", 2, "provider_5xx", nil))
	h = poll()
	b := h.Targets["b"]
	if b.State != v1alpha1.TargetCoolingDown || b.ConsecutiveFailures != 5 || b.LastFailureReason != "timeout" ||
		b.CooldownUntil == nil || !b.CooldownUntil.Time.Equal(until) || b.ReportingRouters != 2 ||
		b.LastTransitionTime == nil || !b.LastTransitionTime.Time.Equal(clk.Now()) {
		t.Errorf("aggregated b = %+v", b)
	}
	evs := drain(rec.Events)
	if len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning TargetCoolingDown") || !strings.Contains(evs[0], "timeout") {
		t.Errorf("events on cooldown: %v", evs)
	}

	// Status through the reconciler: 1/2 healthy, primary a, Degraded TargetsUnhealthy.
	rpr := &controller.RoutePolicyReconciler{Client: c, APIReader: c, Health: store, Clock: clk}
	if _, err := rpr.Reconcile(ctx, req("pay", "chat")); err != nil {
		t.Fatal(err)
	}
	var got v1alpha1.RoutePolicy
	_ = c.Get(ctx, key, &got)
	if got.Status.Healthy != "1/2" || got.Status.HealthyTargets != 1 || got.Status.Primary != "a" ||
		got.Status.Providers[1].State != v1alpha1.TargetCoolingDown {
		t.Errorf("status %+v", got.Status)
	}
	if d := cond(t, got.Status.Conditions, v1alpha1.ConditionDegraded); d.Status != metav1.ConditionTrue ||
		d.Reason != v1alpha1.ReasonTargetsUnhealthy || !strings.Contains(d.Message, "b CoolingDown") {
		t.Errorf("Degraded = %+v", d)
	}

	// Quarantine of a, then a flaps back and forth: one event per target per minute at most.
	clk.Step(time.Second)
	r1.set(ts("pay/chat", "a", "quarantined", 1, "invalid_credentials", nil), ts("pay/chat", "b", "open", 5, "timeout", &until))
	h = poll()
	if h.Targets["a"].State != v1alpha1.TargetQuarantined {
		t.Errorf("a = %+v", h.Targets["a"])
	}
	if evs := drain(rec.Events); len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning TargetQuarantined") {
		t.Errorf("events on quarantine: %v", evs)
	}
	clk.Step(time.Second)
	r1.set(ts("pay/chat", "a", "closed", 0, "", nil), ts("pay/chat", "b", "open", 5, "timeout", &until))
	poll()
	if evs := drain(rec.Events); len(evs) != 0 {
		t.Errorf("a recovered 1 s after its last event, within the rate limit, yet: %v", evs)
	}
	clk.Step(59 * time.Second) // 60 s after a's quarantine event: its bucket has a token again
	r1.set(ts("pay/chat", "a", "quarantined", 1, "invalid_credentials", nil), ts("pay/chat", "b", "open", 5, "timeout", &until))
	poll()
	if evs := drain(rec.Events); len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning TargetQuarantined") {
		t.Errorf("events 60 s later: %v", evs)
	}

	// Both routers stop answering: reports still count at exactly StaleAfter, and are Unknown just after.
	lastReport := clk.Now()
	r1.srv.Close()
	r2.srv.Close()
	clk.SetTime(lastReport.Add(30 * time.Second))
	if h := poll(); h.Routers != 2 || h.Targets["a"].State != v1alpha1.TargetQuarantined {
		t.Errorf("at the staleness bound: %+v", h)
	}
	clk.SetTime(lastReport.Add(30*time.Second + time.Millisecond))
	h = poll()
	if h.Routers != 0 || h.Targets["a"].State != v1alpha1.TargetUnknown || h.Targets["b"].State != v1alpha1.TargetUnknown {
		t.Errorf("past the staleness bound: %+v", h)
	}
	if _, err := rpr.Reconcile(ctx, req("pay", "chat")); err != nil {
		t.Fatal(err)
	}
	_ = c.Get(ctx, key, &got)
	if d := cond(t, got.Status.Conditions, v1alpha1.ConditionDegraded); d.Status != metav1.ConditionUnknown || d.Reason != v1alpha1.ReasonNoReports {
		t.Errorf("Degraded after routers stopped = %+v", d)
	}
	if got.Status.Healthy != "0/2" || got.Status.Providers[0].State != v1alpha1.TargetUnknown {
		t.Errorf("status after routers stopped %+v", got.Status)
	}
}

func TestHealthPollerPodDiscoveryAndNamespaceScope(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	own, other := newFakeRouter(t, "own"), newFakeRouter(t, "other")
	pod := func(ns, name string, fr *fakeRouter, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels,
				Annotations: map[string]string{controller.AnnotationAdminPort: fr.port(t)}},
			Status: corev1.PodStatus{PodIP: "127.0.0.1", Phase: corev1.PodRunning},
		}
	}
	inject := map[string]string{controller.LabelInject: "true"}
	c := fakeClient(t,
		rp("pay", "chat", target("a", v1alpha1.ProviderGroq, "groq", 0)),
		pod("pay", "app-1", own, inject),
		pod("evil", "app-2", other, inject),
		pod("pay", "not-injected", other, nil),
	)
	own.set(ts("pay/chat", "a", "closed", 0, "", nil))
	// A router in another namespace claims the policy is broken: it does not mount pay's config, so it is ignored.
	other.set(ts("pay/chat", "a", "quarantined", 3, "invalid_credentials", nil))
	store := controller.NewHealthStore()
	p := &controller.HealthPoller{Client: c, Store: store, Clock: clk}
	if err := p.PollOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	h, _ := store.PolicyHealth(types.NamespacedName{Namespace: "pay", Name: "chat"})
	if a := h.Targets["a"]; a.State != v1alpha1.TargetHealthy || a.ReportingRouters != 1 || h.Routers != 1 {
		t.Errorf("health %+v", h)
	}
	if strconv.Itoa(controller.DefaultAdminPort) != "9901" {
		t.Errorf("default admin port changed: %d", controller.DefaultAdminPort)
	}
}
