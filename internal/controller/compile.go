package controller

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

const (
	// LabelManagedBy marks objects the operator writes.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is LabelManagedBy's value.
	ManagedByValue = "llmroute"
)

// routeOutcome says what the last compile did with a policy.
type routeOutcome int

const (
	// routeExcluded: the policy is not in the compiled config (it never resolved).
	routeExcluded routeOutcome = iota
	// routeCompiled: the policy's current spec is in the compiled config.
	routeCompiled
	// routeKeptLastGood: the policy does not resolve now; its previous compiled route stays.
	routeKeptLastGood
)

// compileNamespace rebuilds the namespace's llmroute-config from every RoutePolicy in it and writes it when it
// changed. A policy that resolves contributes its current spec. One that does not keeps the route it had in the
// previous llmroute-config, with the previous copy of any key that cannot be read now, so a deleted Secret or a
// broken keyRef never takes a working route away from the routers. The previous config is read uncached.
//
// With no RoutePolicy left the Secret is left alone: its owner references (every policy of the namespace) let
// the garbage collector delete it, so the operator needs no delete permission on Secrets.
func (r *RoutePolicyReconciler) compileNamespace(ctx context.Context, namespace string, kc *keyCache) (map[string]routeOutcome, error) {
	var list v1alpha1.RoutePolicyList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list RoutePolicies: %w", err)
	}
	policies := slices.DeleteFunc(list.Items, func(rp v1alpha1.RoutePolicy) bool { return !rp.DeletionTimestamp.IsZero() })
	if len(policies) == 0 {
		return nil, nil
	}
	slices.SortFunc(policies, func(a, b v1alpha1.RoutePolicy) int { return strings.Compare(a.Name, b.Name) })

	var existing corev1.Secret
	exists := true
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: routerconfig.ConfigSecretName}, &existing); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("read %s: %w", routerconfig.ConfigSecretName, sanitizeReadError(err))
		}
		exists = false
	}
	var previous *routerconfig.Bundle
	if exists {
		p, err := routerconfig.Parse(existing.Data)
		if err != nil {
			// Nothing to keep from an unreadable config (edited by hand, or written by a newer operator).
			log.FromContext(ctx).Info("previous router config unreadable; last good routes cannot be kept", "error", err.Error())
		} else {
			previous = p
		}
	}

	outcomes := make(map[string]routeOutcome, len(policies))
	bundle := &routerconfig.Bundle{Config: routerconfig.Config{Namespace: namespace}, Keys: map[string]keys.Secret{}}
	pkMeta := map[string]routerconfig.ProviderKey{}
	for i := range policies {
		rp := &policies[i]
		res, err := resolvePolicy(ctx, kc, rp)
		if err != nil {
			return nil, err
		}
		if res.OK() {
			spec := defaultedSpec(rp)
			for _, t := range spec.Targets {
				pk, _ := kc.get(ctx, t.KeyRef.Name) // cached by resolvePolicy
				pkMeta[pk.PK.Name] = routerconfig.ProviderKey{Name: pk.PK.Name, Provider: pk.PK.Spec.Provider,
					BaseURL: pk.PK.Spec.BaseURL, InCluster: pk.PK.Spec.InCluster}
				bundle.Keys[pk.PK.Name] = pk.Key.Key
			}
			bundle.Config.Routes = append(bundle.Config.Routes, routerconfig.Route{Name: rp.Name, Spec: spec})
			outcomes[rp.Name] = routeCompiled
			continue
		}
		if kept := keepLastGood(ctx, kc, previous, rp.Name, bundle, pkMeta); kept {
			outcomes[rp.Name] = routeKeptLastGood
		} else {
			outcomes[rp.Name] = routeExcluded
		}
	}
	bundle.Config.ProviderKeys = slices.Collect(maps.Values(pkMeta))
	data, err := routerconfig.Render(bundle)
	if err != nil {
		return nil, fmt.Errorf("render router config: %w", err)
	}

	desired := corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       namespace,
			Name:            routerconfig.ConfigSecretName,
			Labels:          map[string]string{LabelManagedBy: ManagedByValue},
			OwnerReferences: ownerRefs(policies),
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	if !exists {
		if err := r.Client.Create(ctx, &desired); err != nil {
			return nil, fmt.Errorf("create %s: %w", routerconfig.ConfigSecretName, sanitizeReadError(err))
		}
		log.FromContext(ctx).Info("router config created", "namespace", namespace, "checksum", bundle.Config.Checksum,
			"routes", len(bundle.Config.Routes))
		return outcomes, nil
	}
	if sameData(existing.Data, data) && existing.Labels[LabelManagedBy] == ManagedByValue &&
		slices.EqualFunc(existing.OwnerReferences, desired.OwnerReferences, ownerRefEqual) {
		return outcomes, nil
	}
	updated := existing.DeepCopy()
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	updated.Labels[LabelManagedBy] = ManagedByValue
	updated.OwnerReferences = desired.OwnerReferences
	updated.Data = data
	updated.StringData = nil
	// Update carries the resourceVersion just read, so a concurrent writer makes this fail and retry rather
	// than be overwritten.
	if err := r.Client.Update(ctx, updated); err != nil {
		return nil, fmt.Errorf("update %s: %w", routerconfig.ConfigSecretName, sanitizeReadError(err))
	}
	log.FromContext(ctx).Info("router config updated", "namespace", namespace, "checksum", bundle.Config.Checksum,
		"routes", len(bundle.Config.Routes))
	return outcomes, nil
}

// keepLastGood copies policy name's route from the previous config into bundle, with its keys: the current key
// where its ProviderKey resolves now (so a rotation still reaches it), else the previous copy. It reports false
// when there is no previous route or one of its keys is nowhere to be found.
func keepLastGood(ctx context.Context, kc *keyCache, previous *routerconfig.Bundle, name string,
	bundle *routerconfig.Bundle, pkMeta map[string]routerconfig.ProviderKey) bool {
	route, ok := previous.Route(name)
	if !ok {
		return false
	}
	type keyEntry struct {
		meta routerconfig.ProviderKey
		key  keys.Secret
	}
	chosen := map[string]keyEntry{}
	for _, t := range route.Spec.Targets {
		ref := t.KeyRef.Name
		if cur, err := kc.get(ctx, ref); err == nil && cur.PK != nil && cur.PK.DeletionTimestamp.IsZero() &&
			cur.Key.OK() && cur.PK.Spec.Provider == t.Provider {
			chosen[ref] = keyEntry{routerconfig.ProviderKey{Name: ref, Provider: cur.PK.Spec.Provider,
				BaseURL: cur.PK.Spec.BaseURL, InCluster: cur.PK.Spec.InCluster}, cur.Key.Key}
			continue
		}
		if m, ok := pkMeta[ref]; ok {
			chosen[ref] = keyEntry{m, bundle.Keys[ref]}
			continue
		}
		m, okMeta := previous.ProviderKey(ref)
		k, okKey := previous.Key(ref)
		if !okMeta || !okKey {
			return false
		}
		m.Fingerprint, m.KeyFile = "", ""
		chosen[ref] = keyEntry{m, k}
	}
	for ref, e := range chosen {
		if _, taken := pkMeta[ref]; !taken {
			pkMeta[ref] = e.meta
			bundle.Keys[ref] = e.key
		}
	}
	bundle.Config.Routes = append(bundle.Config.Routes, route)
	return true
}

// defaultedSpec returns a copy of rp's spec with SetDefaults applied. The API server has already defaulted it, so
// this is a no-op safety net for objects that skipped admission defaulting (fake clients, old stored objects).
func defaultedSpec(rp *v1alpha1.RoutePolicy) v1alpha1.RoutePolicySpec {
	c := rp.DeepCopy()
	v1alpha1.SetDefaults(c)
	return c.Spec
}

// ownerRefs makes every policy of the namespace an owner, none of them the controller: the Secret belongs to the
// namespace's policies jointly and is garbage collected when the last one goes.
func ownerRefs(policies []v1alpha1.RoutePolicy) []metav1.OwnerReference {
	refs := make([]metav1.OwnerReference, 0, len(policies))
	for _, rp := range policies {
		refs = append(refs, metav1.OwnerReference{
			APIVersion:         v1alpha1.GroupVersion.String(),
			Kind:               "RoutePolicy",
			Name:               rp.Name,
			UID:                rp.UID,
			BlockOwnerDeletion: ptr.To(false),
		})
	}
	return refs
}

func ownerRefEqual(a, b metav1.OwnerReference) bool {
	return a.APIVersion == b.APIVersion && a.Kind == b.Kind && a.Name == b.Name && a.UID == b.UID
}

func sameData(a, b map[string][]byte) bool {
	return maps.EqualFunc(a, b, bytes.Equal)
}
