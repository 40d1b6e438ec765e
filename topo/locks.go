package topo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/shardgate/shardgate/proto/topopb"
)

// A keyspace lock is a key at locks/keyspaces/<keyspace> holding a
// KeyspaceLock record (who, doing what, since when), written only if
// absent and kept under a lease: the holder keeps the lease alive while it
// works and revokes it when done; a holder that dies (a shardctl killed
// mid-cutover) loses it about DefaultLockTTL later, and the key goes with
// it. Taking a held lock does not wait: it fails at once with a
// *LockedError naming the holder, so that an operator learns who is at
// work instead of queueing behind them.
//
// etcd's concurrency.Mutex was the other candidate: it queues waiters
// (TryLock aside) and keeps no record of who holds it, so the holder's
// name would need a key of its own; and it would reach past the Store
// interface to the etcd client, which MemoryStore (the unit tests') has
// not. A create-if-absent under a lease is both in one key.

// DefaultLockTTL is how long a keyspace lock outlives a holder that died.
const DefaultLockTTL = 15 * time.Second

// ErrLocked is what LockKeyspace returns (as a *LockedError) when another
// holder has the lock; test it with errors.Is.
var ErrLocked = errors.New("keyspace is locked")

// LockedError says who holds the lock that was refused.
type LockedError struct {
	Keyspace string
	// Holder is the record the holder wrote; nil if it could not be read.
	Holder *topopb.KeyspaceLock
}

func (e *LockedError) Error() string {
	if e.Holder == nil {
		return fmt.Sprintf("keyspace %s is locked by another operation (its record is unreadable); try again later", e.Keyspace)
	}
	since := time.UnixMilli(e.Holder.LockedUnixMs)
	return fmt.Sprintf("keyspace %s is locked by %s for %s since %s (%v ago): wait for it to finish; if that process died, its lock expires within %v",
		e.Keyspace, e.Holder.Holder, e.Holder.Operation, since.Format(time.DateTime), time.Since(since).Round(time.Second), DefaultLockTTL)
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// KeyspaceLock is a held lock. Release it once; Lost tells when it is
// gone before that.
type KeyspaceLock struct {
	keyspace string
	cancel   context.CancelFunc
	gone     <-chan struct{}
}

func (s *Server) keyspaceLockKey(keyspace string) string {
	return s.root + "/locks/keyspaces/" + keyspace
}

// LockKeyspace takes the keyspace's lock for holder ("user@host (pid
// N)") doing operation, or fails at once: with a *LockedError when someone
// holds it. The lock lasts until Release, and at most DefaultLockTTL after
// this process stops keeping it alive. The store must be a LeaseStore.
// ctx bounds only the taking of the lock.
func (s *Server) LockKeyspace(ctx context.Context, keyspace, holder, operation string) (*KeyspaceLock, error) {
	return s.lockKeyspace(ctx, keyspace, holder, operation, DefaultLockTTL)
}

func (s *Server) lockKeyspace(ctx context.Context, keyspace, holder, operation string, ttl time.Duration) (*KeyspaceLock, error) {
	return s.lock(ctx, s.keyspaceLockKey(keyspace), keyspace, holder, operation, ttl)
}

// lock takes the lock at key; what names what is locked in errors.
func (s *Server) lock(ctx context.Context, key, what, holder, operation string, ttl time.Duration) (*KeyspaceLock, error) {
	ls, ok := s.store.(LeaseStore)
	if !ok {
		return nil, errors.New("the topology store cannot hold locks (no leases)")
	}
	rec := &topopb.KeyspaceLock{Holder: holder, Operation: operation, LockedUnixMs: time.Now().UnixMilli()}
	// The lease lives until Release, not until ctx ends.
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel) // ctx ending while we take it
	gone, current, err := ls.CreateWithLease(lctx, key, marshal(rec), ttl)
	if !stop() || err != nil {
		cancel()
		if errors.Is(err, ErrExists) {
			held := &topopb.KeyspaceLock{}
			if proto.Unmarshal(current, held) != nil || held.Holder == "" {
				held = nil
			}
			return nil, &LockedError{Keyspace: what, Holder: held}
		}
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	return &KeyspaceLock{keyspace: what, cancel: cancel, gone: gone}, nil
}

// Lost is closed once the lock is gone: after Release, or before it when
// the store lost the lease (etcd unreachable for longer than the TTL), in
// which case another operator may take the lock.
func (l *KeyspaceLock) Lost() <-chan struct{} { return l.gone }

// Release gives the lock up and waits (a few seconds at most) until it is
// gone from the store.
func (l *KeyspaceLock) Release() {
	l.cancel()
	select {
	case <-l.gone:
	case <-time.After(5 * time.Second):
	}
}

// KeyspaceLockHolder returns who holds the keyspace's lock, or nil.
func (s *Server) KeyspaceLockHolder(ctx context.Context, keyspace string) (*topopb.KeyspaceLock, error) {
	rec := &topopb.KeyspaceLock{}
	if _, err := s.get(ctx, s.keyspaceLockKey(keyspace), rec); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return rec, nil
}
