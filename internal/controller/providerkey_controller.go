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
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/llmroute/llmroute/api/v1alpha1"
)

// ProviderKeyReconciler reports whether a ProviderKey's key can be read from its Secret, and which key (by
// fingerprint) is in use. It writes only status; compiling keys into router config is the RoutePolicy
// reconciler's job.
type ProviderKeyReconciler struct {
	// Client reads ProviderKeys from the cache and writes their status.
	Client client.Client
	// SecretReader reads Secrets without a cache (the manager's APIReader).
	SecretReader client.Reader
	// Clock stamps condition and rotation times; the real clock when nil.
	Clock clock.PassiveClock
}

// Reconcile reads the key and patches status once, only if it changed.
func (r *ProviderKeyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pk v1alpha1.ProviderKey
	if err := r.Client.Get(ctx, req.NamespacedName, &pk); err != nil {
		// Deleted: RoutePolicies that referenced it are reconciled through the ProviderKey watch.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pk.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	res, err := resolveKey(ctx, r.SecretReader, &pk)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("reconcile ProviderKey %s: %w", req.NamespacedName, err)
	}
	before := pk.DeepCopy()
	computeProviderKeyStatus(&pk, res, now(r.Clock))
	if equality.Semantic.DeepEqual(before.Status, pk.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Patch(ctx, &pk, client.MergeFrom(before)); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("patch ProviderKey %s status: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

// SetupWithManager watches ProviderKeys and, by metadata only, the Secrets they read. The Secret watch filters
// on resourceVersion, never on generation: Secrets have no generation, so a generation predicate would drop
// every rotation (ai-gateway's first rotation bug).
func (r *ProviderKeyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	mapper := SecretMapper{Client: mgr.GetClient()}
	return ctrl.NewControllerManagedBy(mgr).
		Named("providerkey").
		For(&v1alpha1.ProviderKey{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(mapper.ProviderKeysFor),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Complete(r)
}
