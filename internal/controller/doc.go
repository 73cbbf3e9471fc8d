// Package controller holds llmroute's reconcilers: one per kind (ProviderKey, RoutePolicy), a Secret mapper that
// only finds dependents, the field indexes they share, and the HealthPoller that aggregates routers' breaker
// state into RoutePolicy status.
//
// The RoutePolicy reconciler also compiles the namespace: after any change it rebuilds the namespace's
// llmroute-config Secret (see package routerconfig) from every resolvable policy, keeping the last good route of
// a policy that stopped resolving, so a deleted Secret or a typo in a keyRef degrades status without taking a
// working route away from the routers.
//
// Secret data is read with an uncached reader (the manager's APIReader), never from the informer cache: the
// operator only watches Secret metadata, so it never holds every Secret of the cluster in memory, and a read
// right after its own write of llmroute-config cannot see a stale copy. See docs/operator.md.
package controller
