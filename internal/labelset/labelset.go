// Package labelset bounds the values a metric label takes where they come
// from clients (table names): Prometheus keeps a series per value, and a
// client naming endless tables that do not exist must not grow it
// without bound.
package labelset

import "sync"

// Other is the value that stands for every value past the bound.
const Other = "other"

// Set admits at most a fixed number of distinct values. It is safe for
// concurrent use.
type Set struct {
	max  int
	mu   sync.RWMutex
	seen map[string]struct{}
}

// New returns a set admitting max values.
func New(max int) *Set { return &Set{max: max, seen: map[string]struct{}{}} }

// Admit returns v when it was admitted before or there is room for it,
// Other otherwise.
func (s *Set) Admit(v string) string {
	s.mu.RLock()
	_, ok := s.seen[v]
	s.mu.RUnlock()
	if ok {
		return v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[v]; ok {
		return v
	}
	if len(s.seen) >= s.max {
		return Other
	}
	s.seen[v] = struct{}{}
	return v
}
