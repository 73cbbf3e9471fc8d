package router

import (
	"errors"
	"fmt"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/internal/catalog"
	"github.com/llmroute/llmroute/internal/keys"
	"github.com/llmroute/llmroute/internal/policy"
	"github.com/llmroute/llmroute/internal/routerconfig"
)

// Snapshot is the immutable compiled view of one router config. A request uses one Snapshot from start to
// end: the server swaps the current Snapshot atomically on reload, and requests in flight keep the one they
// started with, so a rotation or a policy edit never mixes two configs within one request.
type Snapshot struct {
	// Policies holds every compiled route by the name clients send as "model" (the RoutePolicy name), and
	// also by "namespace/name".
	Policies map[string]*policy.Policy
	// Bundle is the config the policies were compiled from; it supplies keys by ProviderKey name.
	Bundle *routerconfig.Bundle
	// Checksum is the bundle's config checksum, which changes with any route or key change.
	Checksum string
}

// NewSnapshot compiles every route of b against its ProviderKeys and cat. Every route that fails to compile
// is reported, joined; a snapshot is returned only when all compile, so a reload either applies a whole
// config or keeps the last good one.
func NewSnapshot(b *routerconfig.Bundle, cat *catalog.Catalog) (*Snapshot, error) {
	if b == nil {
		return nil, errors.New("new snapshot: nil bundle")
	}
	if cat == nil {
		cat = catalog.Default()
	}
	specs := make(map[string]v1alpha1.ProviderKeySpec, len(b.Config.ProviderKeys))
	for _, pk := range b.Config.ProviderKeys {
		specs[pk.Name] = v1alpha1.ProviderKeySpec{Provider: pk.Provider, BaseURL: pk.BaseURL, InCluster: pk.InCluster}
	}
	s := &Snapshot{Policies: make(map[string]*policy.Policy, 2*len(b.Config.Routes)), Bundle: b, Checksum: b.Config.Checksum}
	var errs []error
	for _, r := range b.Config.Routes {
		rp := &v1alpha1.RoutePolicy{Spec: r.Spec}
		rp.Name = r.Name
		rp.Namespace = b.Config.Namespace
		p, err := policy.Compile(b.Config.Namespace, rp, specs, cat)
		if err != nil {
			errs = append(errs, fmt.Errorf("route %q: %w", r.Name, err))
			continue
		}
		s.Policies[r.Name] = p
		if p.Name != r.Name {
			s.Policies[p.Name] = p
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("compile router config %s: %w", b.Config.Checksum, err)
	}
	return s, nil
}

// Policy returns the compiled policy a client selects with route (its "model").
func (s *Snapshot) Policy(route string) (*policy.Policy, bool) {
	if s == nil {
		return nil, false
	}
	p, ok := s.Policies[route]
	return p, ok
}

// keyName is the ProviderKey name the key resolver is asked for: "namespace/name" as keys.ConfigSource
// documents, or the bare name for a config compiled without a namespace (standalone use).
func (s *Snapshot) keyName(ref string) string {
	if s == nil || s.Bundle == nil || s.Bundle.Config.Namespace == "" {
		return ref
	}
	return s.Bundle.Config.Namespace + "/" + ref
}

// Key implements keys.ConfigSource over the snapshot's bundle, accepting "namespace/name" and bare names, so
// that the key a request uses always comes from the same snapshot as its policy.
func (s *Snapshot) Key(name string) (keys.Secret, bool) {
	if s == nil || s.Bundle == nil {
		return keys.Secret{}, false
	}
	if ns := s.Bundle.Config.Namespace; ns != "" && len(name) > len(ns)+1 && name[:len(ns)+1] == ns+"/" {
		name = name[len(ns)+1:]
	}
	return s.Bundle.Key(name)
}
