package controller

import (
	"context"
	"fmt"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/llmroute/llmroute/api/v1alpha1"
)

// Field index names. Both reconcilers and the Secret mapper list through them, and unit tests register them on
// the fake client with ApplyIndexing, so a reference path missing from an index (ai-gateway #1313) shows up as
// a failing test rather than a rotation that silently never reaches a policy.
const (
	// IndexProviderKeySecret indexes ProviderKeys by spec.secretRef.name: which ProviderKeys read a Secret.
	IndexProviderKeySecret = "spec.secretRef.name"
	// IndexRoutePolicyProviderKey indexes RoutePolicies by every spec.targets[].keyRef.name: which policies use a
	// ProviderKey.
	IndexRoutePolicyProviderKey = "spec.targets.keyRef.name"
)

// ApplyIndexing registers every field index the controllers rely on.
func ApplyIndexing(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &v1alpha1.ProviderKey{}, IndexProviderKeySecret, providerKeySecretName); err != nil {
		return fmt.Errorf("index ProviderKeys by %s: %w", IndexProviderKeySecret, err)
	}
	if err := indexer.IndexField(ctx, &v1alpha1.RoutePolicy{}, IndexRoutePolicyProviderKey, routePolicyKeyRefs); err != nil {
		return fmt.Errorf("index RoutePolicies by %s: %w", IndexRoutePolicyProviderKey, err)
	}
	return nil
}

func providerKeySecretName(o client.Object) []string {
	pk, ok := o.(*v1alpha1.ProviderKey)
	if !ok || pk.Spec.SecretRef.Name == "" {
		return nil
	}
	return []string{pk.Spec.SecretRef.Name}
}

func routePolicyKeyRefs(o client.Object) []string {
	rp, ok := o.(*v1alpha1.RoutePolicy)
	if !ok {
		return nil
	}
	var out []string
	for _, t := range rp.Spec.Targets {
		if t.KeyRef.Name != "" && !slices.Contains(out, t.KeyRef.Name) {
			out = append(out, t.KeyRef.Name)
		}
	}
	return out
}
