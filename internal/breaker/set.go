package breaker

import "sync"

// Set holds the breakers of every upstream a router knows, keyed by the caller's breaker key (the router uses
// ProviderKey + provider + model + the breaker settings, see policy.Target.BreakerKey). The zero
// value is ready to use with the default clock and jitter; it is safe for concurrent use, and Get on an existing
// target takes no lock.
type Set struct {
	m    sync.Map // string -> *Breaker
	opts []Option
}

// NewSet returns a Set whose breakers are built with opts.
func NewSet(opts ...Option) *Set { return &Set{opts: opts} }

// Get returns the breaker of target id, creating it Closed with cfg on first use. When cfg differs from the
// breaker's (a policy was edited), the breaker takes it and keeps its state.
func (s *Set) Get(id string, cfg Config) *Breaker {
	if v, ok := s.m.Load(id); ok {
		b := v.(*Breaker)
		if *b.raw.Load() != cfg {
			b.SetConfig(cfg)
		}
		return b
	}
	v, _ := s.m.LoadOrStore(id, New(cfg, s.opts...))
	return v.(*Breaker)
}

// Snapshot returns the state of every breaker, by target ID.
func (s *Set) Snapshot() map[string]State {
	out := map[string]State{}
	s.m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*Breaker).Snapshot()
		return true
	})
	return out
}

// Retain drops the breakers whose ID keep rejects, so targets removed from config stop being reported.
func (s *Set) Retain(keep func(id string) bool) {
	s.m.Range(func(k, _ any) bool {
		if !keep(k.(string)) {
			s.m.Delete(k)
		}
		return true
	})
}
