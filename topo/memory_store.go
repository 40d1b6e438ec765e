package topo

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// MemoryStore is a Store held in memory, for unit tests. It behaves like
// EtcdStore: versions increase per write, watches send snapshots.
type MemoryStore struct {
	mu       sync.Mutex
	data     map[string]KV
	revision int64
	watchers map[*memoryWatcher]struct{}
}

type memoryWatcher struct {
	prefix string
	ch     chan []KV
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{data: map[string]KV{}, watchers: map[*memoryWatcher]struct{}{}}
}

func (m *MemoryStore) Get(_ context.Context, key string) ([]byte, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kv, ok := m.data[key]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return kv.Value, kv.Version, nil
}

func (m *MemoryStore) List(_ context.Context, prefix string) ([]KV, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.listLocked(prefix), nil
}

func (m *MemoryStore) listLocked(prefix string) []KV {
	var out []KV
	for k, kv := range m.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (m *MemoryStore) Create(_ context.Context, key string, value []byte) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.data[key]; ok {
		return 0, fmt.Errorf("%s: %w", key, ErrExists)
	}
	return m.putLocked(key, value), nil
}

func (m *MemoryStore) Update(_ context.Context, key string, value []byte, version int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version != 0 {
		kv, ok := m.data[key]
		if !ok || kv.Version != version {
			return 0, fmt.Errorf("%s: %w", key, ErrBadVersion)
		}
	}
	return m.putLocked(key, value), nil
}

func (m *MemoryStore) putLocked(key string, value []byte) int64 {
	m.revision++
	m.data[key] = KV{Key: key, Value: append([]byte(nil), value...), Version: m.revision}
	m.notifyLocked(key)
	return m.revision
}

func (m *MemoryStore) Delete(_ context.Context, key string, version int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	kv, ok := m.data[key]
	if !ok {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	if version != 0 && kv.Version != version {
		return fmt.Errorf("%s: %w", key, ErrBadVersion)
	}
	delete(m.data, key)
	m.revision++
	m.notifyLocked(key)
	return nil
}

func (m *MemoryStore) DeletePrefix(_ context.Context, prefix string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.data {
		if strings.HasPrefix(k, prefix) {
			delete(m.data, k)
			m.notifyLocked(k)
		}
	}
	m.revision++
	return nil
}

func (m *MemoryStore) notifyLocked(key string) {
	for w := range m.watchers {
		if strings.HasPrefix(key, w.prefix) {
			sendLatest(w.ch, m.listLocked(w.prefix))
		}
	}
}

func (m *MemoryStore) WatchPrefix(ctx context.Context, prefix string) (<-chan []KV, error) {
	w := &memoryWatcher{prefix: prefix, ch: make(chan []KV, 1)}
	m.mu.Lock()
	m.watchers[w] = struct{}{}
	w.ch <- m.listLocked(prefix)
	m.mu.Unlock()

	out := make(chan []KV)
	go func() {
		defer close(out)
		defer func() {
			m.mu.Lock()
			delete(m.watchers, w)
			m.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case snap := <-w.ch:
				select {
				case out <- snap:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// PutWithLease writes key until ctx ends. The lease is never lost.
func (m *MemoryStore) PutWithLease(ctx context.Context, key string, value []byte, _ time.Duration) (<-chan struct{}, error) {
	m.mu.Lock()
	version := m.putLocked(key, value)
	m.mu.Unlock()
	return m.releaseAtEnd(ctx, key, version), nil
}

// CreateWithLease writes key, if it does not exist, until ctx ends. The
// lease is never lost.
func (m *MemoryStore) CreateWithLease(ctx context.Context, key string, value []byte, _ time.Duration) (<-chan struct{}, []byte, error) {
	m.mu.Lock()
	if kv, ok := m.data[key]; ok {
		m.mu.Unlock()
		return nil, kv.Value, fmt.Errorf("%s: %w", key, ErrExists)
	}
	version := m.putLocked(key, value)
	m.mu.Unlock()
	return m.releaseAtEnd(ctx, key, version), nil, nil
}

// CreateFencedLease is CreateWithLease whose lease stays valid until ctx
// ends; like the etcd store's, it takes back a key that holds value
// already.
func (m *MemoryStore) CreateFencedLease(ctx context.Context, key string, value []byte, _ time.Duration) (*Lease, []byte, error) {
	m.mu.Lock()
	if kv, ok := m.data[key]; ok && !bytes.Equal(kv.Value, value) {
		m.mu.Unlock()
		return nil, kv.Value, fmt.Errorf("%s: %w", key, ErrExists)
	}
	version := m.putLocked(key, value)
	m.mu.Unlock()
	gone := make(chan struct{})
	l := &Lease{gone: gone}
	l.validUntil.Store(time.Now().Add(100 * 365 * 24 * time.Hour).UnixNano())
	go func() {
		<-ctx.Done()
		l.validUntil.Store(0) // invalid before the key goes
		_ = m.Delete(context.Background(), key, version)
		close(gone)
	}()
	return l, nil, nil
}

// releaseAtEnd deletes the value written at version once ctx ends, and
// then closes the returned channel.
func (m *MemoryStore) releaseAtEnd(ctx context.Context, key string, version int64) <-chan struct{} {
	gone := make(chan struct{})
	go func() {
		<-ctx.Done()
		// Delete only the value this lease wrote.
		_ = m.Delete(context.Background(), key, version)
		close(gone)
	}()
	return gone
}

func (m *MemoryStore) Close() error { return nil }
