package topo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"
)

// SnapshotStore is a Store whose watches outlast an unreachable store.
// Every snapshot a watch gets from the store is kept in a local file
// (WriteSnapshotFile) when it differs from what the file holds; a watch
// that gets no answer from the store within the fallback delay delivers
// what the file kept for its prefix, then the store's own snapshots as
// soon as the store answers. Every other call goes to the store
// unchanged: writes still fail while it is down.
//
// A gate watches the topology it routes by through one, so that it can
// start, or restart, while etcd is down and serve from what it last saw.
// It is safe for concurrent use.
type SnapshotStore struct {
	Store
	path          string
	fallbackAfter time.Duration
	log           *zap.Logger

	mu sync.Mutex
	// kept is what the file holds (or will, once written): the file's
	// contents at start, then each prefix's latest live snapshot.
	kept map[string][]KV
	// loaded is the file as read at start: usable, or why not.
	loaded  Snapshot
	loadErr error
	// confirmed are the prefixes whose live snapshot this process has
	// written, so that the file's age says when the store last answered.
	confirmed map[string]bool
	sources   map[*snapshotWatch]Source
	warned    bool // the fallback was logged
}

// Source is where a watched prefix's snapshots come from now.
type Source int

const (
	// SourceNone: nothing delivered yet (the store does not answer and
	// the file has nothing for the prefix).
	SourceNone Source = iota
	// SourceSnapshot: the file's contents, while the store does not answer.
	SourceSnapshot
	// SourceStore: the store's own, live.
	SourceStore
)

func (s Source) String() string {
	switch s {
	case SourceSnapshot:
		return "snapshot"
	case SourceStore:
		return "store"
	}
	return "none"
}

// DefaultSnapshotFallback is how long a watch waits for the store before
// it serves the file: a live etcd answers in milliseconds, and a snapshot
// served a moment too early is replaced as soon as etcd answers.
const DefaultSnapshotFallback = 2 * time.Second

// NewSnapshotStore wraps store, keeping watched prefixes in the file at
// path. It reads the file now; a missing or refused file means no
// fallback until a live snapshot was kept (the log says which). A
// fallbackAfter of 0 is DefaultSnapshotFallback.
func NewSnapshotStore(store Store, path string, fallbackAfter time.Duration, log *zap.Logger) *SnapshotStore {
	if fallbackAfter <= 0 {
		fallbackAfter = DefaultSnapshotFallback
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &SnapshotStore{Store: store, path: path, fallbackAfter: fallbackAfter, log: log,
		kept: map[string][]KV{}, confirmed: map[string]bool{}, sources: map[*snapshotWatch]Source{}}
	snap, err := ReadSnapshotFile(path)
	switch {
	case err == nil:
		s.loaded = snap
		for prefix, kvs := range snap.Prefixes {
			s.kept[prefix] = kvs
		}
	case errors.Is(err, os.ErrNotExist):
		s.loadErr = errors.New("no topology snapshot yet at " + path)
		log.Info("no topology snapshot yet; one is written once etcd answers", zap.String("path", path))
	default:
		s.loadErr = err
		log.Warn("refusing the topology snapshot; it is replaced once etcd answers", zap.String("path", path), zap.Error(err))
	}
	return s
}

// SnapshotStatus says where the watches' snapshots come from.
type SnapshotStatus struct {
	// Source is SourceNone while any watched prefix has nothing yet (or
	// nothing is watched), SourceSnapshot while any serves the file, and
	// SourceStore once every one is live.
	Source Source
	// Path is the file; WrittenAt, when the file read at start was
	// written (zero: there was none usable, and LoadErr says why).
	Path      string
	WrittenAt time.Time
	LoadErr   error
}

// Status reports where the watches' snapshots come from now.
func (s *SnapshotStore) Status() SnapshotStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SnapshotStatus{Source: s.sourceLocked(), Path: s.path, WrittenAt: s.loaded.WrittenAt, LoadErr: s.loadErr}
}

func (s *SnapshotStore) sourceLocked() Source {
	if len(s.sources) == 0 {
		return SourceNone
	}
	overall := SourceStore
	for _, src := range s.sources {
		overall = min(overall, src)
	}
	return overall
}

// WatchPrefix is the store's watch of prefix, with the file's contents
// in its place while the store has not answered within the fallback delay.
func (s *SnapshotStore) WatchPrefix(ctx context.Context, prefix string) (<-chan []KV, error) {
	w := &snapshotWatch{prefix: prefix}
	s.setSource(w, SourceNone)
	out := make(chan []KV)
	go s.watch(ctx, w, out)
	return out, nil
}

// snapshotWatch is one WatchPrefix call: a prefix may be watched again
// after a watch ended, or twice at once.
type snapshotWatch struct{ prefix string }

func (s *SnapshotStore) watch(ctx context.Context, w *snapshotWatch, out chan<- []KV) {
	prefix := w.prefix
	defer close(out)
	defer s.forget(w)
	live := make(chan (<-chan []KV), 1)
	go func() {
		for ctx.Err() == nil {
			ch, err := s.Store.WatchPrefix(ctx, prefix)
			if err == nil {
				live <- ch
				return
			}
			s.log.Debug("the topology store does not answer a watch yet; retrying", zap.String("prefix", prefix), zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	fallback := time.NewTimer(s.fallbackAfter)
	defer fallback.Stop()
	var snaps <-chan []KV
	for snaps == nil {
		select {
		case <-ctx.Done():
			return
		case snaps = <-live:
		case <-fallback.C:
			kvs, ok := s.fallBack(w)
			if ok && !send(ctx, out, kvs) {
				return
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case kvs, ok := <-snaps:
			if !ok {
				return
			}
			s.keep(w, kvs)
			if !send(ctx, out, kvs) {
				return
			}
		}
	}
}

func send(ctx context.Context, out chan<- []KV, kvs []KV) bool {
	select {
	case out <- kvs:
		return true
	case <-ctx.Done():
		return false
	}
}

// fallBack returns the file's contents for prefix, if it has any, and
// marks the prefix as served from it. The first fallback is logged with
// the snapshot's age.
func (s *SnapshotStore) fallBack(w *snapshotWatch) ([]KV, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kvs, ok := s.kept[w.prefix]
	if !ok {
		if !s.warned {
			s.warned = true
			s.log.Warn("etcd does not answer and there is no usable topology snapshot: waiting for etcd",
				zap.Duration("waited", s.fallbackAfter), zap.String("prefix", w.prefix), zap.NamedError("snapshot", s.loadErr))
		}
		return nil, false
	}
	if !s.warned {
		s.warned = true
		s.log.Warn("etcd does not answer: serving the topology from the local snapshot until it does",
			zap.String("path", s.path), zap.Time("written_at", s.loaded.WrittenAt),
			zap.Duration("age", time.Since(s.loaded.WrittenAt).Round(time.Second)), zap.Duration("waited", s.fallbackAfter))
	}
	s.sources[w] = SourceSnapshot
	return kvs, true
}

// keep records a live snapshot of prefix and rewrites the file when it
// changed, or when this process has not confirmed the prefix yet.
func (s *SnapshotStore) keep(w *snapshotWatch, kvs []KV) {
	prefix := w.prefix
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.sourceLocked()
	s.sources[w] = SourceStore
	if was == SourceSnapshot && s.sourceLocked() == SourceStore {
		s.log.Info("etcd answers again: serving the live topology")
	}
	if s.confirmed[prefix] && sameKVs(s.kept[prefix], kvs) {
		return
	}
	s.kept[prefix] = kvs
	if err := WriteSnapshotFile(s.path, Snapshot{WrittenAt: time.Now(), Prefixes: s.kept}); err != nil {
		// The gate serves on; only a restart while etcd is down would
		// miss the change.
		s.log.Warn("cannot write the topology snapshot", zap.Error(err))
		return
	}
	s.confirmed[prefix] = true
}

func (s *SnapshotStore) setSource(w *snapshotWatch, src Source) {
	s.mu.Lock()
	s.sources[w] = src
	s.mu.Unlock()
}

// forget stops counting a watch that ended.
func (s *SnapshotStore) forget(w *snapshotWatch) {
	s.mu.Lock()
	delete(s.sources, w)
	s.mu.Unlock()
}

func sameKVs(a, b []KV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Version != b[i].Version || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}
