package topo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shardgate/shardgate/proto/topopb"
)

func (s *Server) gatesPrefix() string { return s.root + "/gates/" }

// RegisterGate records a running gate at gates/<id> for as long as ctx
// lasts and the store keeps the lease (about ttl after the gate stops
// renewing it). The returned channel closes once the registration is gone:
// after ctx ended, or when the lease was lost, in which case the gate
// should register again. The store must be a LeaseStore.
func (s *Server) RegisterGate(ctx context.Context, g *topopb.Gate, ttl time.Duration) (<-chan struct{}, error) {
	ls, ok := s.store.(LeaseStore)
	if !ok {
		return nil, errors.New("the topology store cannot keep registrations (no leases)")
	}
	if g.Id == "" {
		return nil, errors.New("gate id is empty")
	}
	gone, err := ls.PutWithLease(ctx, s.gatesPrefix()+g.Id, marshal(g), ttl)
	if err != nil {
		return nil, fmt.Errorf("register gate %s: %w", g.Id, err)
	}
	return gone, nil
}

// ListGates returns the registered gates, sorted by id.
func (s *Server) ListGates(ctx context.Context) ([]*topopb.Gate, error) {
	kvs, err := s.store.List(ctx, s.gatesPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]*topopb.Gate, 0, len(kvs))
	for _, kv := range kvs {
		g := &topopb.Gate{}
		if err := unmarshalInto(kv, g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}
