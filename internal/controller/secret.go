package controller

import (
	"context"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// SecretMapper finds the objects that depend on a Secret, through the field indexes, and nothing else: it never
// reads Secret data, so it works on the metadata-only watch.
type SecretMapper struct {
	// Client lists ProviderKeys and RoutePolicies from the cache; it must have ApplyIndexing's indexes.
	Client client.Reader
}

// ProviderKeysFor returns a request for every ProviderKey whose secretRef names the Secret.
func (m SecretMapper) ProviderKeysFor(ctx context.Context, secret client.Object) []reconcile.Request {
	var pks v1alpha1.ProviderKeyList
	if err := m.Client.List(ctx, &pks, client.InNamespace(secret.GetNamespace()),
		client.MatchingFields{IndexProviderKeySecret: secret.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "list ProviderKeys for Secret", "secret", client.ObjectKeyFromObject(secret))
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(pks.Items))
	for _, pk := range pks.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: pk.Namespace, Name: pk.Name}})
	}
	return reqs
}

// RoutePoliciesFor returns a request for every RoutePolicy that uses a ProviderKey reading the Secret. For the
// namespace's llmroute-config Secret it returns one policy of the namespace, because a RoutePolicy reconcile
// recompiles the whole namespace (the watch notes the request, so that reconcile does not skip the compile):
// that restores the Secret if someone edits or deletes it.
func (m SecretMapper) RoutePoliciesFor(ctx context.Context, secret client.Object) []reconcile.Request {
	if secret.GetName() == routerconfig.ConfigSecretName {
		return m.anyPolicyIn(ctx, secret.GetNamespace())
	}
	var out []reconcile.Request
	for _, pk := range m.ProviderKeysFor(ctx, secret) {
		out = append(out, m.RoutePoliciesForProviderKey(ctx, pk.Namespace, pk.Name)...)
	}
	slices.SortFunc(out, func(a, b reconcile.Request) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out)
}

// RoutePoliciesForProviderKey returns a request for every RoutePolicy with a target whose keyRef names the
// ProviderKey.
func (m SecretMapper) RoutePoliciesForProviderKey(ctx context.Context, namespace, name string) []reconcile.Request {
	var rps v1alpha1.RoutePolicyList
	if err := m.Client.List(ctx, &rps, client.InNamespace(namespace),
		client.MatchingFields{IndexRoutePolicyProviderKey: name}); err != nil {
		log.FromContext(ctx).Error(err, "list RoutePolicies for ProviderKey", "providerKey", namespace+"/"+name)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(rps.Items))
	for _, rp := range rps.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: rp.Namespace, Name: rp.Name}})
	}
	return reqs
}

// MapProviderKey adapts RoutePoliciesForProviderKey to handler.MapFunc.
func (m SecretMapper) MapProviderKey(ctx context.Context, pk client.Object) []reconcile.Request {
	return m.RoutePoliciesForProviderKey(ctx, pk.GetNamespace(), pk.GetName())
}

func (m SecretMapper) anyPolicyIn(ctx context.Context, namespace string) []reconcile.Request {
	var rps v1alpha1.RoutePolicyList
	if err := m.Client.List(ctx, &rps, client.InNamespace(namespace)); err != nil {
		log.FromContext(ctx).Error(err, "list RoutePolicies", "namespace", namespace)
		return nil
	}
	if len(rps.Items) == 0 {
		return nil
	}
	first := slices.MinFunc(rps.Items, func(a, b v1alpha1.RoutePolicy) int { return strings.Compare(a.Name, b.Name) })
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: namespace, Name: first.Name}}}
}
