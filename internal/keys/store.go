package keys

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// MemoryStore holds keys set at run time through the router's localhost admin API (PUT /admin/keys/{name}), by
// ProviderKey name. It outranks config so an operator can swap a key during an incident without touching the
// cluster. It is safe for concurrent use, and prints as a summary without keys.
type MemoryStore struct {
	mu sync.RWMutex
	m  map[string]Secret
}

// NewMemoryStore returns an empty store. The zero MemoryStore is ready to use too.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Set stores or replaces the key of a ProviderKey name.
func (s *MemoryStore) Set(name string, key Secret) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]Secret{}
	}
	s.m[name] = key
}

// Delete removes the key of a name, so that lower-precedence sources apply again.
func (s *MemoryStore) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, name)
}

// Get returns the key of a name.
func (s *MemoryStore) Get(name string) (Secret, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.m[name]
	return k, ok
}

// Names returns the names that have a key, sorted, for the admin API's listing.
func (s *MemoryStore) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.m))
	for n := range s.m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Format prints a summary: fmt would otherwise reach the keys through the unexported map by reflection, where
// Secret's own methods are not called.
func (s *MemoryStore) Format(f fmt.State, _ rune) {
	_, _ = fmt.Fprintf(f, "MemoryStore(%d keys)", len(s.Names()))
}

// LogValue implements slog.LogValuer with the same summary.
func (s *MemoryStore) LogValue() slog.Value { return slog.StringValue(fmt.Sprint(s)) }
