package controller_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/controller"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func req(ns, name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
}

func cond(t *testing.T, conds []metav1.Condition, typ string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		t.Fatalf("no %s condition in %+v", typ, conds)
	}
	return *c
}

func loadConfig(t *testing.T, c client.Reader, ns string) *routerconfig.Bundle {
	t.Helper()
	var s corev1.Secret
	if err := c.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: routerconfig.ConfigSecretName}, &s); err != nil {
		t.Fatalf("get llmroute-config: %v", err)
	}
	b, err := routerconfig.Parse(s.Data)
	if err != nil {
		t.Fatalf("llmroute-config does not parse: %v", err)
	}
	return b
}

// TestReconcileWithFakeClient walks one policy through the states the envtest suite covers against a real API
// server, here fast and with an exact clock.
func TestReconcileWithFakeClient(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	c := fakeClient(t,
		secret("a", "llm-keys", map[string]string{"groq": "gsk-one\n", "anthropic": "sk-ant-one"}),
		pk("a", "groq", v1alpha1.ProviderGroq, "llm-keys", "groq"),
		pk("a", "anthropic", v1alpha1.ProviderAnthropic, "llm-keys", "anthropic"),
		rp("a", "chat", target("cheap", v1alpha1.ProviderGroq, "groq", 1), target("stable", v1alpha1.ProviderAnthropic, "anthropic", 0)),
	)
	pkr := &controller.ProviderKeyReconciler{Client: c, SecretReader: c, Clock: clk}
	rpr := &controller.RoutePolicyReconciler{Client: c, APIReader: c, Clock: clk}
	ctx := t.Context()
	reconcileAll := func() {
		t.Helper()
		for _, r := range []reconcile.Request{req("a", "groq"), req("a", "anthropic")} {
			if _, err := pkr.Reconcile(ctx, r); err != nil {
				t.Fatalf("ProviderKey %s: %v", r, err)
			}
		}
		if _, err := rpr.Reconcile(ctx, req("a", "chat")); err != nil {
			t.Fatalf("RoutePolicy: %v", err)
		}
	}
	getRP := func() *v1alpha1.RoutePolicy {
		var p v1alpha1.RoutePolicy
		if err := c.Get(ctx, types.NamespacedName{Namespace: "a", Name: "chat"}, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	getPK := func(name string) *v1alpha1.ProviderKey {
		var p v1alpha1.ProviderKey
		if err := c.Get(ctx, types.NamespacedName{Namespace: "a", Name: name}, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}

	reconcileAll()
	p := getRP()
	if r := cond(t, p.Status.Conditions, v1alpha1.ConditionReady); r.Status != metav1.ConditionTrue || r.Reason != v1alpha1.ReasonCompiled {
		t.Fatalf("Ready = %+v", r)
	}
	if p.Status.Healthy != "0/2" || p.Status.TotalTargets != 2 || p.Status.Primary != "stable" {
		t.Errorf("healthy %q total %d primary %q; want 0/2, 2, stable (lowest priority, no health data)",
			p.Status.Healthy, p.Status.TotalTargets, p.Status.Primary)
	}
	if d := cond(t, p.Status.Conditions, v1alpha1.ConditionDegraded); d.Status != metav1.ConditionUnknown || d.Reason != v1alpha1.ReasonNoReports {
		t.Errorf("Degraded = %+v", d)
	}
	b := loadConfig(t, c, "a")
	if k, _ := b.Key("groq"); k.Fingerprint() != keys.Fingerprint("gsk-one") {
		t.Errorf("compiled groq key fingerprint %s", k.Fingerprint())
	}
	var cfg corev1.Secret
	_ = c.Get(ctx, types.NamespacedName{Namespace: "a", Name: routerconfig.ConfigSecretName}, &cfg)
	if cfg.Labels[controller.LabelManagedBy] != controller.ManagedByValue || len(cfg.OwnerReferences) != 1 ||
		cfg.OwnerReferences[0].Name != "chat" || cfg.OwnerReferences[0].Controller != nil {
		t.Errorf("llmroute-config labels %v owners %+v", cfg.Labels, cfg.OwnerReferences)
	}
	if pkg := getPK("groq"); pkg.Status.KeyFingerprint != keys.Fingerprint("gsk-one") || pkg.Status.LastRotationTime != nil {
		t.Errorf("ProviderKey status %+v", pkg.Status)
	}
	readyAt := cond(t, p.Status.Conditions, v1alpha1.ConditionReady).LastTransitionTime

	// A second pass changes nothing: no status write, same transition times.
	rv := p.ResourceVersion
	clk.SetTime(clk.Now().Add(time.Minute))
	reconcileAll()
	p2 := getRP()
	if p2.ResourceVersion != rv {
		t.Errorf("idempotent reconcile wrote status (rv %s -> %s)", rv, p2.ResourceVersion)
	}
	if at := cond(t, p2.Status.Conditions, v1alpha1.ConditionReady).LastTransitionTime; !at.Equal(&readyAt) {
		t.Errorf("Ready lastTransitionTime moved from %v to %v without a status flip", readyAt, at)
	}

	// Rotation: new fingerprint in config and status, rotation time stamped.
	var s corev1.Secret
	_ = c.Get(ctx, types.NamespacedName{Namespace: "a", Name: "llm-keys"}, &s)
	s.Data["groq"] = []byte("gsk-two")
	if err := c.Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	reconcileAll()
	if k, _ := loadConfig(t, c, "a").Key("groq"); k.Fingerprint() != keys.Fingerprint("gsk-two") {
		t.Errorf("rotation did not reach llmroute-config")
	}
	if pkg := getPK("groq"); pkg.Status.KeyFingerprint != keys.Fingerprint("gsk-two") || pkg.Status.LastRotationTime == nil ||
		!pkg.Status.LastRotationTime.Time.Equal(clk.Now().Truncate(time.Second)) {
		t.Errorf("ProviderKey status after rotation %+v", pkg.Status)
	}

	// Key missing, then empty, then Secret gone: status says why, the config keeps the last good key.
	for _, tc := range []struct {
		name   string
		mutate func()
		reason string
		msg    string
	}{
		{"key missing", func() {
			_ = c.Get(ctx, types.NamespacedName{Namespace: "a", Name: "llm-keys"}, &s)
			delete(s.Data, "groq")
			_ = c.Update(ctx, &s)
		}, v1alpha1.ReasonKeyMissing, `has no entry "groq"`},
		{"key empty", func() {
			_ = c.Get(ctx, types.NamespacedName{Namespace: "a", Name: "llm-keys"}, &s)
			s.Data["groq"] = []byte("  \n")
			_ = c.Update(ctx, &s)
		}, v1alpha1.ReasonKeyEmpty, `entry "groq" is empty`},
		{"Secret deleted", func() { _ = c.Delete(ctx, &s) }, v1alpha1.ReasonSecretNotFound, `Secret "llm-keys" not found`},
	} {
		tc.mutate()
		reconcileAll()
		p := getRP()
		refs := cond(t, p.Status.Conditions, v1alpha1.ConditionResolvedRefs)
		if refs.Status != metav1.ConditionFalse || refs.Reason != tc.reason || !strings.Contains(refs.Message, `target "cheap"`) ||
			!strings.Contains(refs.Message, tc.msg) {
			t.Errorf("%s: ResolvedRefs = %+v", tc.name, refs)
		}
		ready := cond(t, p.Status.Conditions, v1alpha1.ConditionReady)
		if ready.Status != metav1.ConditionFalse || ready.Reason != v1alpha1.ReasonRefsNotResolved ||
			!strings.Contains(ready.Message, "last good") || ready.ObservedGeneration != p.Generation {
			t.Errorf("%s: Ready = %+v", tc.name, ready)
		}
		if pr := cond(t, getPK("groq").Status.Conditions, v1alpha1.ConditionReady); pr.Reason != tc.reason || pr.Status != metav1.ConditionFalse {
			t.Errorf("%s: ProviderKey Ready = %+v", tc.name, pr)
		}
		b := loadConfig(t, c, "a")
		if _, ok := b.Route("chat"); !ok {
			t.Errorf("%s: last good route dropped", tc.name)
		}
		if k, _ := b.Key("groq"); k.Fingerprint() != keys.Fingerprint("gsk-two") {
			t.Errorf("%s: last good key not kept (fingerprint %s)", tc.name, k.Fingerprint())
		}
	}

	// Provider mismatch is an invalid policy; a new policy that never resolved is not in the config.
	bad := rp("a", "bad", target("t", v1alpha1.ProviderOpenAI, "anthropic", 0))
	if err := c.Create(ctx, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := rpr.Reconcile(ctx, req("a", "bad")); err != nil {
		t.Fatal(err)
	}
	var gotBad v1alpha1.RoutePolicy
	_ = c.Get(ctx, client.ObjectKeyFromObject(bad), &gotBad)
	if r := cond(t, gotBad.Status.Conditions, v1alpha1.ConditionResolvedRefs); r.Reason != v1alpha1.ReasonProviderMismatch {
		t.Errorf("mismatch ResolvedRefs = %+v", r)
	}
	if r := cond(t, gotBad.Status.Conditions, v1alpha1.ConditionReady); r.Reason != v1alpha1.ReasonInvalidPolicy ||
		!strings.Contains(r.Message, "not in the router config") {
		t.Errorf("mismatch Ready = %+v", r)
	}
	if _, ok := loadConfig(t, c, "a").Route("bad"); ok {
		t.Errorf("unresolvable new policy compiled")
	}

	// Deleting a policy drops its route and its owner reference.
	if err := c.Delete(ctx, getRP()); err != nil {
		t.Fatal(err)
	}
	if _, err := rpr.Reconcile(ctx, req("a", "chat")); err != nil {
		t.Fatal(err)
	}
	b = loadConfig(t, c, "a")
	if len(b.Config.Routes) != 0 {
		t.Errorf("routes after delete: %+v", b.Config.Routes)
	}
	_ = c.Get(ctx, types.NamespacedName{Namespace: "a", Name: routerconfig.ConfigSecretName}, &cfg)
	if len(cfg.OwnerReferences) != 1 || cfg.OwnerReferences[0].Name != "bad" {
		t.Errorf("owners after delete: %+v", cfg.OwnerReferences)
	}
}
