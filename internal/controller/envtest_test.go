package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/controller"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/routerconfig"
	"github.com/llmroute/llmroute/internal/testenv"
)

// lockedBuffer collects the operator's logs so the test can check no key ever reaches them.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls fn until it returns nil or the deadline passes, then fails with fn's last error.
func waitFor(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval of the check
	}
}

type envFixture struct {
	env  *testenv.Env
	c    client.Client
	ctx  context.Context
	logs *lockedBuffer
}

// TestAgainstAPIServer runs the controllers in a manager against a real kube-apiserver and etcd with the CRDs,
// one namespace per subtest. testenv builds the binaries with hack/k8s-binaries.sh on first use (or takes
// KUBEBUILDER_ASSETS).
func TestAgainstAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("envtest: skipped with -short")
	}
	env := testenv.Start(t)

	logs := &lockedBuffer{}
	var logOut io.Writer = logs
	if os.Getenv("LLMROUTE_TEST_LOG") != "" {
		logOut = io.MultiWriter(logs, os.Stderr)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logOut), zap.UseDevMode(true)))

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  controller.CacheOptions(),
		Client:                 controller.ClientOptions(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := controller.Setup(ctx, mgr, controller.Options{
		PollInterval: 100 * time.Millisecond,
		StaleAfter:   time.Second,
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	f := &envFixture{env: env, c: env.Client, ctx: ctx, logs: logs}
	t.Run("create, update and delete", f.testLifecycle)
	t.Run("rotation reaches the compiled config", f.testRotation)
	t.Run("broken key keeps the last good config", f.testBrokenKey)
	t.Run("health from two routers", f.testHealth)
	t.Run("1000 policies in one namespace", f.testScale)
}

func (f *envFixture) namespace(t *testing.T, name string) string {
	t.Helper()
	if err := f.c.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

func (f *envFixture) create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := f.c.Create(f.ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// config reads and parses the namespace's llmroute-config straight from the API server.
func (f *envFixture) config(ns string) (*routerconfig.Bundle, *corev1.Secret, error) {
	var s corev1.Secret
	if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: ns, Name: routerconfig.ConfigSecretName}, &s); err != nil {
		return nil, nil, err
	}
	b, err := routerconfig.Parse(s.Data)
	return b, &s, err
}

func (f *envFixture) policy(t *testing.T, ns, name string) *v1alpha1.RoutePolicy {
	t.Helper()
	var p v1alpha1.RoutePolicy
	if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: ns, Name: name}, &p); err != nil {
		t.Fatal(err)
	}
	return &p
}

func condIs(conds []metav1.Condition, typ string, status metav1.ConditionStatus, reason string, gen int64) error {
	c := meta.FindStatusCondition(conds, typ)
	switch {
	case c == nil:
		return fmt.Errorf("no %s condition", typ)
	case c.Status != status || c.Reason != reason:
		return fmt.Errorf("%s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	case gen != 0 && c.ObservedGeneration != gen:
		return fmt.Errorf("%s observedGeneration %d, want %d", typ, c.ObservedGeneration, gen)
	}
	return nil
}

func (f *envFixture) testLifecycle(t *testing.T) {
	ns := f.namespace(t, "lifecycle")
	f.create(t,
		secret(ns, "llm-keys", map[string]string{"groq": "gsk-life-1", "openai": "sk-life-1"}),
		pk(ns, "groq", v1alpha1.ProviderGroq, "llm-keys", "groq"),
		pk(ns, "openai", v1alpha1.ProviderOpenAI, "llm-keys", "openai"),
		rp(ns, "chat", target("cheap", v1alpha1.ProviderGroq, "groq", 0), target("big", v1alpha1.ProviderOpenAI, "openai", 1)),
		rp(ns, "other", target("only", v1alpha1.ProviderOpenAI, "openai", 0)),
	)
	waitFor(t, 10*time.Second, "both policies Ready and compiled", func() error {
		for _, name := range []string{"chat", "other"} {
			p := f.policy(t, ns, name)
			if err := condIs(p.Status.Conditions, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonCompiled, p.Generation); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		b, _, err := f.config(ns)
		if err != nil {
			return err
		}
		if len(b.Config.Routes) != 2 {
			return fmt.Errorf("%d routes", len(b.Config.Routes))
		}
		return nil
	})
	p := f.policy(t, ns, "chat")
	if p.Status.TotalTargets != 2 || p.Status.Healthy != "0/2" || p.Status.Primary != "cheap" {
		t.Errorf("status %+v", p.Status)
	}
	b, s, _ := f.config(ns)
	route, _ := b.Route("chat")
	if w := route.Spec.Targets[0].Weight; w == nil || *w != 1 {
		t.Errorf("compiled route lacks API server defaults: weight %v", w)
	}
	if s.Labels[controller.LabelManagedBy] != controller.ManagedByValue || len(s.OwnerReferences) != 2 {
		t.Errorf("llmroute-config labels %v owners %v", s.Labels, s.OwnerReferences)
	}
	var pkGroq v1alpha1.ProviderKey
	_ = f.c.Get(f.ctx, types.NamespacedName{Namespace: ns, Name: "groq"}, &pkGroq)
	if err := condIs(pkGroq.Status.Conditions, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonKeyLoaded, pkGroq.Generation); err != nil ||
		pkGroq.Status.KeyFingerprint != keys.Fingerprint("gsk-life-1") || pkGroq.Status.SecretResourceVersion == "" {
		t.Errorf("ProviderKey status %+v (%v)", pkGroq.Status, err)
	}

	// Update: a spec change reaches the config and observedGeneration follows.
	p.Spec.Fallback.MaxAttempts = 2
	if err := f.c.Update(f.ctx, p); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "updated spec compiled", func() error {
		p := f.policy(t, ns, "chat")
		if p.Status.ObservedGeneration != p.Generation {
			return fmt.Errorf("observedGeneration %d, generation %d", p.Status.ObservedGeneration, p.Generation)
		}
		b, _, err := f.config(ns)
		if err != nil {
			return err
		}
		if r, _ := b.Route("chat"); r.Spec.Fallback.MaxAttempts != 2 {
			return fmt.Errorf("compiled maxAttempts %d", r.Spec.Fallback.MaxAttempts)
		}
		return nil
	})

	// Deleting a ProviderKey: the policy names the target, and its last good route stays.
	if err := f.c.Delete(f.ctx, pk(ns, "groq", "", "", "")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "ProviderKeyNotFound", func() error {
		p := f.policy(t, ns, "chat")
		if err := condIs(p.Status.Conditions, v1alpha1.ConditionResolvedRefs, metav1.ConditionFalse, v1alpha1.ReasonProviderKeyNotFound, 0); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionResolvedRefs); !strings.Contains(c.Message, `target "cheap"`) {
			return fmt.Errorf("message does not name the target: %s", c.Message)
		}
		return condIs(p.Status.Conditions, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonRefsNotResolved, 0)
	})
	b, _, err := f.config(ns)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := b.Route("chat"); !ok || r.Spec.Fallback.MaxAttempts != 2 {
		t.Errorf("last good route not kept: %v %+v", ok, r)
	}
	if k, _ := b.Key("groq"); k.Fingerprint() != keys.Fingerprint("gsk-life-1") {
		t.Errorf("last good key not kept")
	}
	f.create(t, pk(ns, "groq", v1alpha1.ProviderGroq, "llm-keys", "groq"))
	waitFor(t, 10*time.Second, "Ready again after the ProviderKey returns", func() error {
		p := f.policy(t, ns, "chat")
		return condIs(p.Status.Conditions, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonCompiled, 0)
	})

	// Deleting a policy removes its route and its owner reference.
	if err := f.c.Delete(f.ctx, f.policy(t, ns, "other")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "route of the deleted policy gone", func() error {
		b, s, err := f.config(ns)
		if err != nil {
			return err
		}
		if _, ok := b.Route("other"); ok || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Name != "chat" {
			return fmt.Errorf("routes %d owners %v", len(b.Config.Routes), s.OwnerReferences)
		}
		return nil
	})

	// Someone deletes llmroute-config: it is written again.
	_, s, _ = f.config(ns)
	if err := f.c.Delete(f.ctx, s); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "llmroute-config restored", func() error {
		_, _, err := f.config(ns)
		return err
	})
}

func (f *envFixture) testRotation(t *testing.T) {
	ns := f.namespace(t, "rotation")
	f.create(t,
		secret(ns, "llm-keys", map[string]string{"apiKey": "sk-rot-0"}),
		pk(ns, "openai", v1alpha1.ProviderOpenAI, "llm-keys", ""), // key defaults to apiKey
		rp(ns, "chat", target("mini", v1alpha1.ProviderOpenAI, "openai", 0)),
	)
	fingerprintIs := func(want string) func() error {
		return func() error {
			b, _, err := f.config(ns)
			if err != nil {
				return err
			}
			if k, _ := b.Key("openai"); k.Fingerprint() != want {
				return fmt.Errorf("compiled fingerprint %s, want %s", k.Fingerprint(), want)
			}
			return nil
		}
	}
	waitFor(t, 10*time.Second, "first compile", fingerprintIs(keys.Fingerprint("sk-rot-0")))

	const rotations = 20
	var took []time.Duration
	for i := 1; i <= rotations; i++ {
		var s corev1.Secret
		if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: ns, Name: "llm-keys"}, &s); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("sk-rot-%d", i)
		s.Data["apiKey"] = []byte(key)
		start := time.Now()
		if err := f.c.Update(f.ctx, &s); err != nil {
			t.Fatal(err)
		}
		// Tight polling so the measurement is the operator's latency, not ours.
		deadline := start.Add(10 * time.Second)
		for fingerprintIs(keys.Fingerprint(key))() != nil {
			if time.Now().After(deadline) {
				t.Fatalf("rotation %d did not reach llmroute-config in 10s", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	t.Logf("Secret update -> llmroute-config carries the new fingerprint, %d rotations: median %s, max %s",
		rotations, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))

	last := keys.Fingerprint(fmt.Sprintf("sk-rot-%d", rotations))
	waitFor(t, 10*time.Second, "ProviderKey status shows the rotated key", func() error {
		var p v1alpha1.ProviderKey
		if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: ns, Name: "openai"}, &p); err != nil {
			return err
		}
		if p.Status.KeyFingerprint != last || p.Status.LastRotationTime == nil {
			return fmt.Errorf("status %+v", p.Status)
		}
		return nil
	})
}

func (f *envFixture) testBrokenKey(t *testing.T) {
	ns := f.namespace(t, "broken")
	f.create(t,
		secret(ns, "llm-keys", map[string]string{"groq": "gsk-good"}),
		pk(ns, "groq", v1alpha1.ProviderGroq, "llm-keys", "groq"),
		rp(ns, "chat", target("cheap", v1alpha1.ProviderGroq, "groq", 0)),
	)
	waitFor(t, 10*time.Second, "compiled", func() error {
		return condIs(f.policy(t, ns, "chat").Status.Conditions, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonCompiled, 0)
	})
	_, good, _ := f.config(ns)
	goodSum := string(good.Data[routerconfig.ConfigFile])

	setSecret := func(data map[string]string) {
		var s corev1.Secret
		if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: ns, Name: "llm-keys"}, &s); err != nil {
			t.Fatal(err)
		}
		s.Data = map[string][]byte{}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		if err := f.c.Update(f.ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		breakIt func()
		reason  string
	}{
		{"key missing", func() { setSecret(map[string]string{"other": "x"}) }, v1alpha1.ReasonKeyMissing},
		{"key empty", func() { setSecret(map[string]string{"groq": " \n"}) }, v1alpha1.ReasonKeyEmpty},
		{"Secret missing", func() {
			if err := f.c.Delete(f.ctx, secret(ns, "llm-keys", nil)); err != nil {
				t.Fatal(err)
			}
		}, v1alpha1.ReasonSecretNotFound},
	} {
		tc.breakIt()
		waitFor(t, 10*time.Second, tc.name+" in status", func() error {
			var p v1alpha1.ProviderKey
			if err := f.c.Get(f.ctx, types.NamespacedName{Namespace: ns, Name: "groq"}, &p); err != nil {
				return err
			}
			if err := condIs(p.Status.Conditions, v1alpha1.ConditionReady, metav1.ConditionFalse, tc.reason, 0); err != nil {
				return fmt.Errorf("ProviderKey: %w", err)
			}
			if p.Status.KeyFingerprint != keys.Fingerprint("gsk-good") {
				return fmt.Errorf("ProviderKey fingerprint %q, want the last good one", p.Status.KeyFingerprint)
			}
			rp := f.policy(t, ns, "chat")
			if err := condIs(rp.Status.Conditions, v1alpha1.ConditionResolvedRefs, metav1.ConditionFalse, tc.reason, 0); err != nil {
				return fmt.Errorf("RoutePolicy: %w", err)
			}
			return condIs(rp.Status.Conditions, v1alpha1.ConditionReady, metav1.ConditionFalse, v1alpha1.ReasonRefsNotResolved, 0)
		})
		_, s, err := f.config(ns)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(s.Data[routerconfig.ConfigFile]) != goodSum {
			t.Errorf("%s: compiled config changed:\n%s", tc.name, s.Data[routerconfig.ConfigFile])
		}
	}
	// Fixing the Secret heals everything.
	f.create(t, secret(ns, "llm-keys", map[string]string{"groq": "gsk-fixed"}))
	waitFor(t, 10*time.Second, "healed", func() error {
		b, _, err := f.config(ns)
		if err != nil {
			return err
		}
		if k, _ := b.Key("groq"); k.Fingerprint() != keys.Fingerprint("gsk-fixed") {
			return fmt.Errorf("fingerprint %s", k.Fingerprint())
		}
		return condIs(f.policy(t, ns, "chat").Status.Conditions, v1alpha1.ConditionReady, metav1.ConditionTrue, v1alpha1.ReasonCompiled, 0)
	})

	// No key ever reached a log line, a status or an Event.
	for _, k := range []string{"gsk-good", "gsk-fixed"} {
		if strings.Contains(f.logs.String(), k) {
			t.Errorf("operator logs contain a key")
		}
	}
}

func (f *envFixture) testHealth(t *testing.T) {
	ns := f.namespace(t, "health")
	f.create(t,
		secret(ns, "llm-keys", map[string]string{"groq": "gsk-h", "openai": "sk-h"}),
		pk(ns, "groq", v1alpha1.ProviderGroq, "llm-keys", "groq"),
		pk(ns, "openai", v1alpha1.ProviderOpenAI, "llm-keys", "openai"),
		rp(ns, "chat", target("cheap", v1alpha1.ProviderGroq, "groq", 0), target("big", v1alpha1.ProviderOpenAI, "openai", 1)),
	)
	r1, r2 := newFakeRouter(t, "r1"), newFakeRouter(t, "r2")
	policy := ns + "/chat"
	r1.set(ts(policy, "cheap", "closed", 0, "", nil), ts(policy, "big", "closed", 0, "", nil))
	r2.set(ts(policy, "cheap", "closed", 0, "", nil), ts(policy, "big", "closed", 0, "", nil))
	for i, fr := range []*fakeRouter{r1, r2} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app-%d", i),
				Labels:      map[string]string{controller.LabelInject: "true"},
				Annotations: map[string]string{controller.AnnotationAdminPort: fr.port(t)}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}},
		}
		f.create(t, pod)
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", PodIPs: []corev1.PodIP{{IP: "127.0.0.1"}}}
		if err := f.c.Status().Update(f.ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "all healthy from 2 routers", func() error {
		p := f.policy(t, ns, "chat")
		if err := condIs(p.Status.Conditions, v1alpha1.ConditionDegraded, metav1.ConditionFalse, v1alpha1.ReasonAllTargetsHealthy, 0); err != nil {
			return err
		}
		if p.Status.Healthy != "2/2" || p.Status.Providers[0].ReportingRouters != 2 {
			return fmt.Errorf("status %+v", p.Status)
		}
		return nil
	})

	until := time.Now().Add(time.Minute).Truncate(time.Second)
	r1.set(ts(policy, "cheap", "open", 5, "timeout", &until), ts(policy, "big", "closed", 0, "", nil))
	waitFor(t, 10*time.Second, "cheap cooling down, big primary", func() error {
		p := f.policy(t, ns, "chat")
		if err := condIs(p.Status.Conditions, v1alpha1.ConditionDegraded, metav1.ConditionTrue, v1alpha1.ReasonTargetsUnhealthy, 0); err != nil {
			return err
		}
		c := p.Status.Providers[0]
		if p.Status.Healthy != "1/2" || p.Status.Primary != "big" || c.State != v1alpha1.TargetCoolingDown ||
			c.LastFailureReason != "timeout" || c.CooldownUntil == nil || !c.CooldownUntil.Time.Equal(until) || c.ConsecutiveFailures != 5 {
			return fmt.Errorf("status %+v", p.Status)
		}
		return nil
	})
	f.wantKubectlRow(t, ns, "chat", "1/2", "big", "cheap=CoolingDown,big=Healthy")
	waitFor(t, 10*time.Second, "a TargetCoolingDown Event", func() error {
		var evs eventsv1.EventList
		if err := f.c.List(f.ctx, &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == controller.EventTargetCoolingDown && e.Regarding.Name == "chat" && strings.Contains(e.Note, "cheap") {
				return nil
			}
		}
		return fmt.Errorf("%d events, none about cheap cooling down", len(evs.Items))
	})

	// r1 stops: r2 still reports, so targets are Healthy on the one router left.
	r1.srv.Close()
	waitFor(t, 10*time.Second, "only r2 reporting", func() error {
		p := f.policy(t, ns, "chat")
		if p.Status.Providers[0].ReportingRouters != 1 || p.Status.Providers[0].State != v1alpha1.TargetHealthy {
			return fmt.Errorf("providers %+v", p.Status.Providers)
		}
		return nil
	})
	// r2 stops too: after StaleAfter everything is Unknown.
	r2.srv.Close()
	waitFor(t, 10*time.Second, "Unknown after both routers stopped", func() error {
		p := f.policy(t, ns, "chat")
		if err := condIs(p.Status.Conditions, v1alpha1.ConditionDegraded, metav1.ConditionUnknown, v1alpha1.ReasonNoReports, 0); err != nil {
			return err
		}
		for _, pr := range p.Status.Providers {
			if pr.State != v1alpha1.TargetUnknown {
				return fmt.Errorf("providers %+v", p.Status.Providers)
			}
		}
		if p.Status.Healthy != "0/2" {
			return fmt.Errorf("healthy %s", p.Status.Healthy)
		}
		return nil
	})
	// With no reports, PRIMARY falls back to priority order.
	f.wantKubectlRow(t, ns, "chat", "0/2", "cheap", "cheap=Unknown,big=Unknown")
}

// wantKubectlRow reads the policy through the real kubectl: the HEALTHY and PRIMARY columns of `kubectl get rp`
// and each target's state, as a person on call would see them.
func (f *envFixture) wantKubectlRow(t *testing.T, ns, name, healthy, primary, states string) {
	t.Helper()
	out, stderr, err := f.env.Kubectl(t, nil, "get", "rp", name, "-n", ns, "--no-headers", "-o",
		`custom-columns=HEALTHY:.status.healthy,PRIMARY:.status.primary,STATES:.status.providers[*].state`)
	if err != nil {
		t.Fatalf("kubectl get rp: %v: %s", err, stderr)
	}
	table, _, err := f.env.Kubectl(t, nil, "get", "rp", name, "-n", ns)
	if err != nil || !strings.Contains(table, healthy) {
		t.Errorf("kubectl get rp lacks HEALTHY %s:\n%s", healthy, table)
	}
	wantStates := ""
	for _, kv := range strings.Split(states, ",") {
		_, st, _ := strings.Cut(kv, "=")
		wantStates += st + ","
	}
	want := strings.Join([]string{healthy, primary, strings.TrimSuffix(wantStates, ",")}, " ")
	if got := strings.Join(strings.Fields(out), " "); got != want {
		t.Errorf("kubectl get rp %s: got %q, want %q", name, got, want)
	}
}
