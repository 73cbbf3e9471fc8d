package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
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
}

// Reconcile runs the phases in order: resolve references, compile the namespace, compute status, and patches
// status once if it changed. A deleted policy only recompiles its namespace, dropping its route.
func (r *RoutePolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	kc := newKeyCache(r.Client, r.APIReader, req.Namespace)

	var rp v1alpha1.RoutePolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &rp); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("get RoutePolicy %s: %w", req.NamespacedName, err)
		}
		if _, err := r.compileNamespace(ctx, req.Namespace, kc); err != nil {
			return ctrl.Result{}, fmt.Errorf("recompile %s after deleting %s: %w", req.Namespace, req.Name, err)
		}
		return ctrl.Result{}, nil
	}

	res, err := resolvePolicy(ctx, kc, &rp)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("resolve RoutePolicy %s: %w", req.NamespacedName, err)
	}
	outcomes, err := r.compileNamespace(ctx, req.Namespace, kc)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("compile namespace %s for %s: %w", req.Namespace, req.Name, err)
	}
	if !rp.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}

	var health *PolicyHealth
	if r.Health != nil {
		if h, ok := r.Health.PolicyHealth(req.NamespacedName); ok {
			health = &h
		}
	}
	before := rp.DeepCopy()
	computeRoutePolicyStatus(&rp, res, outcomes[rp.Name], health, now(r.Clock))
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
// secretRef and keyRef indexes, plus llmroute-config itself so an edited or deleted copy is rewritten), and the
// health store's change announcements.
func (r *RoutePolicyReconciler) SetupWithManager(mgr ctrl.Manager, health *HealthStore) error {
	mapper := SecretMapper{Client: mgr.GetClient()}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("routepolicy").
		// One worker: every reconcile rewrites its namespace's llmroute-config, and serialising them keeps the
		// read-modify-write of that Secret free of self-conflicts.
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		For(&v1alpha1.RoutePolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.ProviderKey{}, handler.EnqueueRequestsFromMapFunc(mapper.MapProviderKey)).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(mapper.RoutePoliciesFor),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{}))
	if health != nil {
		b = b.WatchesRawSource(source.Channel(health.Subscribe(), &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}
