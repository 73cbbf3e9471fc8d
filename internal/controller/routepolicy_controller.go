package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/llmroute/llmroute/api/v1alpha1"
)

// RoutePolicyReconciler resolves a RoutePolicy's references, recompiles its namespace's llmroute-config Secret
// and writes the policy's status, health included.
type RoutePolicyReconciler struct {
	// Client reads RoutePolicies and ProviderKeys from the cache and writes status and llmroute-config.
	Client client.Client
	// APIReader reads Secrets without a cache: ProviderKey Secrets (never cached, see doc.go) and llmroute-config,
	// whose read-modify-write must not see a stale copy of our own last write (ai-gateway #2603).
	APIReader client.Reader
	// Health gives the HealthPoller's aggregates; nil means no health data.
	Health HealthSource
	// Clock stamps condition times; the real clock when nil.
	Clock clock.PassiveClock

	// compiles coalesces namespace compiles and keeps the latest outcomes per namespace.
	compiles compileTracker
	// outcomeChanged, set by SetupWithManager, queues the policies whose outcome a compile changed.
	outcomeChanged chan event.GenericEvent
}

// compile compiles namespace, records the outcomes and queues the other policies whose outcome changed, so their
// status follows (for example a kept last good route that is gone after llmroute-config was deleted by hand).
func (r *RoutePolicyReconciler) compile(ctx context.Context, namespace string, kc *keyCache) (map[string]routeOutcome, error) {
	seq := r.compiles.begin(namespace)
	outcomes, err := r.compileNamespace(ctx, namespace, kc)
	if err != nil {
		return nil, err
	}
	changed := r.compiles.done(namespace, seq, outcomes)
	if r.outcomeChanged != nil {
		for _, name := range changed {
			ev := event.GenericEvent{Object: &v1alpha1.RoutePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}}
			select {
			case r.outcomeChanged <- ev:
			case <-ctx.Done():
				return outcomes, nil
			}
		}
	}
	return outcomes, nil
}

// Reconcile runs the phases in order: resolve references, compile the namespace, compute status, and patches
// status once if it changed. A deleted policy only recompiles its namespace, dropping its route. The compile is
// skipped when one that began after this policy's latest event already succeeded (see compileTracker) and its
// outcome for the policy agrees with how the policy resolves now; the status then uses that compile's outcome.
func (r *RoutePolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	kc := newKeyCache(r.Client, r.APIReader, req.Namespace)

	var rp v1alpha1.RoutePolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &rp); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("get RoutePolicy %s: %w", req.NamespacedName, err)
		}
		if _, ok := r.compiles.covered(req.NamespacedName); !ok {
			if _, err := r.compile(ctx, req.Namespace, kc); err != nil {
				return ctrl.Result{}, fmt.Errorf("recompile %s after deleting %s: %w", req.Namespace, req.Name, err)
			}
		}
		r.compiles.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	res, err := resolvePolicy(ctx, kc, &rp)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("resolve RoutePolicy %s: %w", req.NamespacedName, err)
	}
	outcomes, covered := r.compiles.covered(req.NamespacedName)
	if !rp.DeletionTimestamp.IsZero() {
		if !covered {
			if _, err := r.compile(ctx, req.Namespace, kc); err != nil {
				return ctrl.Result{}, fmt.Errorf("compile namespace %s for %s: %w", req.Namespace, req.Name, err)
			}
		}
		return ctrl.Result{}, nil
	}
	outcome, known := outcomes[rp.Name]
	if !covered || !known || res.OK() != (outcome == routeCompiled) {
		// Not covered, or something the policy reads changed since the covering compile (its own event will
		// follow): compile now, with the same reads as the resolution above.
		outcomes, err = r.compile(ctx, req.Namespace, kc)
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("compile namespace %s for %s: %w", req.Namespace, req.Name, err)
		}
		outcome = outcomes[rp.Name]
	}

	var health *PolicyHealth
	if r.Health != nil {
		if h, ok := r.Health.PolicyHealth(req.NamespacedName); ok {
			health = &h
		}
	}
	before := rp.DeepCopy()
	computeRoutePolicyStatus(&rp, res, outcome, health, now(r.Clock))
	if equality.Semantic.DeepEqual(before.Status, rp.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Patch(ctx, &rp, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("patch RoutePolicy %s status: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager wires the watches: RoutePolicies (spec changes only: our own status writes must not
// requeue), ProviderKeys (through the keyRef index), Secret metadata (resource-version predicate; through the
// secretRef and keyRef indexes, plus llmroute-config itself so an edited or deleted copy is rewritten), the
// health store's change announcements and the compile's outcome-change announcements. The first three change
// what a compile reads, so their requests are noted in the compile tracker; the last two only change status.
func (r *RoutePolicyReconciler) SetupWithManager(mgr ctrl.Manager, health *HealthStore) error {
	mapper := SecretMapper{Client: mgr.GetClient()}
	r.outcomeChanged = make(chan event.GenericEvent, 1024)
	note := r.compiles.noteEvents
	b := ctrl.NewControllerManagedBy(mgr).
		Named("routepolicy").
		// One worker: a compile rewrites the namespace's llmroute-config, and serialising them keeps the
		// read-modify-write of that Secret free of self-conflicts.
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		// Watches rather than For, so the policy's own events are noted too.
		Watches(&v1alpha1.RoutePolicy{}, handler.EnqueueRequestsFromMapFunc(note(self)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.ProviderKey{}, handler.EnqueueRequestsFromMapFunc(note(mapper.MapProviderKey))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(note(mapper.RoutePoliciesFor)),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		WatchesRawSource(source.Channel(r.outcomeChanged, &handler.EnqueueRequestForObject{}))
	if health != nil {
		b = b.WatchesRawSource(source.Channel(health.Subscribe(), &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}
