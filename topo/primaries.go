package topo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shardgate/shardgate/proto/topopb"
)

// A shard's primary holds primaries/<keyspace>/<shard> under a lease for
// as long as it takes writes: the key holds its alias. The lease is the
// shard's fence. A primary takes writes only while its lease is certainly
// valid (Lease.Valid), and a failover starts only once the key is gone,
// so two primaries never take writes at once: a primary whose host froze
// or lost etcd stops before its lease expires, and one whose MySQL died
// gives the key up at once so that a replica takes over without waiting
// for the lease to run out.

// DefaultPrimaryLeaseTTL is how long a primary that stopped renewing its
// lease (a killed or frozen tablet) keeps its shard from failing over.
const DefaultPrimaryLeaseTTL = 4 * time.Second

func (s *Server) primaryLeaseKey(keyspace, shard string) string {
	return s.root + "/primaries/" + keyspace + "/" + shard
}

// TakePrimaryLease makes alias the holder of the shard's primary lease
// until ctx ends or the lease is lost. When another tablet holds it, it
// returns ErrExists and that tablet's alias.
func (s *Server) TakePrimaryLease(ctx context.Context, keyspace, shard, alias string, ttl time.Duration) (*Lease, string, error) {
	ls, ok := s.store.(LeaseStore)
	if !ok {
		return nil, "", errors.New("the topology store cannot hold leases")
	}
	lease, current, err := ls.CreateFencedLease(ctx, s.primaryLeaseKey(keyspace, shard), []byte(alias), ttl)
	if err != nil {
		return nil, string(current), fmt.Errorf("take the primary lease of %s/%s: %w", keyspace, shard, err)
	}
	return lease, "", nil
}

// PrimaryLeaseHolder returns the alias holding the shard's primary lease,
// or "" when none does.
func (s *Server) PrimaryLeaseHolder(ctx context.Context, keyspace, shard string) (string, error) {
	data, _, err := s.store.Get(ctx, s.primaryLeaseKey(keyspace, shard))
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// WatchPrimaryLease sends the holder of the shard's primary lease ("" for
// none) now and after every change.
func (s *Server) WatchPrimaryLease(ctx context.Context, keyspace, shard string) (<-chan string, error) {
	key := s.primaryLeaseKey(keyspace, shard)
	snaps, err := s.store.WatchPrefix(ctx, key)
	if err != nil {
		return nil, err
	}
	return decodeEach(ctx, snaps, func(kvs []KV) (string, error) {
		for _, kv := range kvs {
			if kv.Key == key {
				return string(kv.Value), nil
			}
		}
		return "", nil
	}), nil
}

// WatchShard sends the shard's record now and after every change; nil
// when it does not exist.
func (s *Server) WatchShard(ctx context.Context, keyspace, shard string) (<-chan *topopb.Shard, error) {
	key := s.shardKey(keyspace, shard)
	snaps, err := s.store.WatchPrefix(ctx, key)
	if err != nil {
		return nil, err
	}
	return decodeEach(ctx, snaps, func(kvs []KV) (*topopb.Shard, error) {
		for _, kv := range kvs {
			if kv.Key == key {
				sh := &topopb.Shard{}
				if err := proto.Unmarshal(kv.Value, sh); err != nil {
					return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
				}
				return sh, nil
			}
		}
		return nil, nil
	}), nil
}

// LockShard takes the lock of one shard, for a reparent (planned or a
// failover), or fails at once with a *LockedError naming the holder. It
// behaves as LockKeyspace (see there) on its own key, so that reparents of
// different shards run at once.
func (s *Server) LockShard(ctx context.Context, keyspace, shard, holder, operation string) (*KeyspaceLock, error) {
	return s.lock(ctx, s.root+"/locks/shards/"+keyspace+"/"+shard, keyspace+" shard "+shard, holder, operation, DefaultLockTTL)
}
