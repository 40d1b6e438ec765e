package topo

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// Errors a Store returns; test them with errors.Is.
var (
	ErrNotFound   = errors.New("not found")
	ErrExists     = errors.New("already exists")
	ErrBadVersion = errors.New("version changed underneath (concurrent update); read it again and retry")
)

// KV is one key and its value at a version. Versions increase with every
// write of the key; 0 means "no version" in calls that take one.
type KV struct {
	Key     string
	Value   []byte
	Version int64
}

// Store is a versioned key-value store. Implementations are safe for
// concurrent use. Keys are absolute ("/shardgate/keyspaces/commerce").
type Store interface {
	// Get returns the value and version of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, int64, error)
	// List returns every key under prefix, sorted by key.
	List(ctx context.Context, prefix string) ([]KV, error)
	// Create writes key only if it does not exist yet (else ErrExists).
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Update writes key if its version is still version (else
	// ErrBadVersion); version 0 writes unconditionally, creating the key if
	// needed.
	Update(ctx context.Context, key string, value []byte, version int64) (int64, error)
	// Delete removes key if its version is still version (0: whatever it
	// is). A missing key is ErrNotFound.
	Delete(ctx context.Context, key string, version int64) error
	// DeletePrefix removes every key under prefix.
	DeletePrefix(ctx context.Context, prefix string) error
	// WatchPrefix sends the full, sorted contents of prefix now and again
	// after every change, until ctx ends; then it closes the channel. A slow
	// reader only ever misses intermediate snapshots, never the latest.
	WatchPrefix(ctx context.Context, prefix string) (<-chan []KV, error)
	// Close releases the store's connections.
	Close() error
}

// LeaseStore is implemented by stores that can keep a key only as long as
// its writer lives (EtcdStore: a lease kept alive; MemoryStore: until the
// context ends). Gates register this way, so that a gate that dies
// unregisters by itself.
type LeaseStore interface {
	// PutWithLease writes key under a lease of about ttl that the store
	// keeps alive until ctx ends; then it revokes the lease and the key
	// goes. The returned channel closes once the key is gone: after the
	// revocation, or when the lease was lost before (the store unreachable
	// for longer than ttl).
	PutWithLease(ctx context.Context, key string, value []byte, ttl time.Duration) (gone <-chan struct{}, err error)
	// CreateWithLease is PutWithLease for a key that must not exist yet:
	// when it does, it returns ErrExists and the value there now (for a
	// lock: who holds it), and writes nothing.
	CreateWithLease(ctx context.Context, key string, value []byte, ttl time.Duration) (gone <-chan struct{}, current []byte, err error)
	// CreateFencedLease is CreateWithLease that also says until when the
	// holder may still trust that it holds the key (Lease.ValidUntil):
	// for a holder that must stop acting before anyone else can take the
	// key (a shard's primary), not merely learn afterwards that it lost
	// it. A key that holds value already is taken over (its holder
	// restarted), so the value must name the holder uniquely.
	CreateFencedLease(ctx context.Context, key string, value []byte, ttl time.Duration) (*Lease, []byte, error)
}

// Lease is a key held under a lease (CreateFencedLease).
type Lease struct {
	gone       <-chan struct{}
	validUntil atomic.Int64 // unix nanoseconds
}

// Gone is closed once the key is gone: revoked, or the lease lost.
func (l *Lease) Gone() <-chan struct{} { return l.gone }

// Valid reports whether the lease is certainly still held at now: it was
// renewed recently enough that the store cannot have expired it yet. A
// holder that froze (a stopped process, a long pause) finds it invalid
// the moment it runs again, before the renewal that would tell it so.
func (l *Lease) Valid(now time.Time) bool { return now.UnixNano() < l.validUntil.Load() }

// ValidUntil is when the lease stops being certainly held, unless renewed
// before.
func (l *Lease) ValidUntil() time.Time { return time.Unix(0, l.validUntil.Load()) }

// renewed records a renewal answered at answered for ttl: the store
// expires the lease no sooner than ttl after it processed the renewal,
// which was before answered; margin covers the clocks' drift and the
// time from processing to answer.
func (l *Lease) renewed(answered time.Time, ttl time.Duration) {
	const margin = 500 * time.Millisecond
	l.validUntil.Store(answered.Add(ttl - margin).UnixNano())
}

// sendLatest delivers snap on a channel of capacity one, replacing any
// snapshot the reader has not taken yet, so a slow reader never blocks the
// watcher and always ends up with the newest state.
func sendLatest(ch chan []KV, snap []KV) {
	for {
		select {
		case ch <- snap:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}
