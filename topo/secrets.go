package topo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
)

// sessionKeyBytes is the length of the gates' session key.
const sessionKeyBytes = 32

func (s *Server) sessionKeyKey() string { return s.root + "/secrets/session_key" }

// SessionKey returns the key every gate signs and checks the sessions of
// its gRPC clients with, creating it (random) on first use. It lives at
// secrets/session_key: whoever may read the topology may forge sessions,
// as whoever may write it may reroute every statement; etcd's own
// authentication protects both.
func (s *Server) SessionKey(ctx context.Context) ([]byte, error) {
	for attempt := 0; attempt < 3; attempt++ {
		key, _, err := s.store.Get(ctx, s.sessionKeyKey())
		if err == nil {
			if len(key) != sessionKeyBytes {
				return nil, fmt.Errorf("%s holds %d bytes, want %d: delete it and restart the gates to make a new one", s.sessionKeyKey(), len(key), sessionKeyBytes)
			}
			return key, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("read the session key: %w", err)
		}
		fresh := make([]byte, sessionKeyBytes)
		if _, err := rand.Read(fresh); err != nil {
			return nil, err
		}
		if _, err := s.store.Create(ctx, s.sessionKeyKey(), fresh); err == nil {
			return fresh, nil
		} else if !errors.Is(err, ErrExists) {
			return nil, fmt.Errorf("create the session key: %w", err)
		}
		// Another gate created it meanwhile: read theirs.
	}
	return nil, fmt.Errorf("the session key at %s keeps changing", s.sessionKeyKey())
}
