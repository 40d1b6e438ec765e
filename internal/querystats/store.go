// Package querystats keeps statistics per normalized statement, as a
// gate sees them: how often each statement runs, how long it takes
// (a latency histogram, from which p50/p95/p99 are read), how many rows
// it returns to the client against how many the shards sent, how many
// shard calls it makes, and which errors it ends with.
//
// A statement is its normalized text (literals replaced by bind
// variables, as the gate's plan cache keys plans) within a keyspace; its
// digest is a stable hash of that text, the same on every gate and after
// a restart, so that the statistics of several gates merge (Merge).
//
// The store is bounded: past its maximum number of statements, adding
// one evicts the one with the least total time among a few sampled at
// random. Statements that carry the load therefore stay, and one-off
// statements come and go; evictions are counted so that a reader knows
// the table is not complete.
//
// Recording is cheap and lock-free (atomic adds on the statement's
// counters); callers keep the *Stats of a statement they will see again
// (the gate keeps it beside the cached plan) and look it up only when it
// is new or was evicted (Evicted).
package querystats

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"
)

// Info describes a statement. It is taken once, when the statement is
// first seen.
type Info struct {
	// Plan is how the gate runs it (the plan label of the gate's
	// metrics: select_equal, insert, begin, ...).
	Plan string
	// Tables are the tables it names, as keyspace-less names.
	Tables []string
}

// Execution is one run of a statement.
type Execution struct {
	Duration time.Duration
	// RowsReturned are the rows sent to the client (rows affected for a
	// write).
	RowsReturned uint64
	// RowsRead are the rows the shards sent to the gate (rows affected,
	// summed over shards, for a write).
	RowsRead uint64
	// ShardCalls are the statements sent to shards for it.
	ShardCalls uint64
	// ErrorCode is the MySQL error it ended with; 0: it succeeded.
	ErrorCode uint16
}

// Stats are one statement's counters. Methods are safe for concurrent
// use.
type Stats struct {
	keyspace, query, digest string
	info                    Info
	firstSeen               time.Time

	lastSeen     atomic.Int64 // Unix nanoseconds
	calls        atomic.Uint64
	errors       atomic.Uint64
	totalNanos   atomic.Uint64
	maxNanos     atomic.Uint64
	rowsReturned atomic.Uint64
	rowsRead     atomic.Uint64
	shardCalls   atomic.Uint64
	latency      histogram
	evicted      atomic.Bool

	mu         sync.Mutex
	errorCodes map[uint16]uint64
}

// Record adds one execution that ended at now.
func (st *Stats) Record(now time.Time, e Execution) {
	st.lastSeen.Store(now.UnixNano())
	st.calls.Add(1)
	nanos := uint64(max(e.Duration, 0))
	st.totalNanos.Add(nanos)
	for {
		m := st.maxNanos.Load()
		if nanos <= m || st.maxNanos.CompareAndSwap(m, nanos) {
			break
		}
	}
	st.latency.record(e.Duration)
	if e.RowsReturned > 0 {
		st.rowsReturned.Add(e.RowsReturned)
	}
	if e.RowsRead > 0 {
		st.rowsRead.Add(e.RowsRead)
	}
	if e.ShardCalls > 0 {
		st.shardCalls.Add(e.ShardCalls)
	}
	if e.ErrorCode != 0 {
		st.errors.Add(1)
		st.mu.Lock()
		if st.errorCodes == nil {
			st.errorCodes = map[uint16]uint64{}
		}
		st.errorCodes[e.ErrorCode]++
		st.mu.Unlock()
	}
}

// Evicted reports whether the store dropped this statement: a caller
// holding it should look the statement up again.
func (st *Stats) Evicted() bool { return st.evicted.Load() }

// Digest is the statement's digest.
func (st *Stats) Digest() string { return st.digest }

// Query is the statement's normalized text.
func (st *Stats) Query() string { return st.query }

// Info is what was known of the statement when it was first seen.
func (st *Stats) Info() Info { return st.info }

// Digest returns the digest of a normalized statement: the first 128 bits
// of its SHA-256, in hex.
func Digest(query string) string {
	sum := sha256.Sum256([]byte(query))
	return hex.EncodeToString(sum[:16])
}

// Store keeps the statistics of at most a fixed number of statements. It
// is safe for concurrent use.
type Store struct {
	max       int
	mu        sync.RWMutex
	entries   map[key]*Stats
	evictions atomic.Uint64
}

type key struct{ keyspace, query string }

// evictionSample is how many statements are compared to choose the one
// evicted.
const evictionSample = 8

// NewStore returns a store of at most maxStatements statements (at least
// one).
func NewStore(maxStatements int) *Store {
	return &Store{max: max(maxStatements, 1), entries: map[key]*Stats{}}
}

// Lookup returns the statistics of a statement, adding them (with the
// Info that info returns) when the statement is new.
func (s *Store) Lookup(keyspace, query string, info func() Info) *Stats {
	k := key{keyspace, query}
	s.mu.RLock()
	st := s.entries[k]
	s.mu.RUnlock()
	if st != nil {
		return st
	}
	fresh := &Stats{keyspace: keyspace, query: query, digest: Digest(query), info: info(), firstSeen: time.Now()}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.entries[k]; st != nil {
		return st
	}
	if len(s.entries) >= s.max {
		s.evictOne()
	}
	s.entries[k] = fresh
	return fresh
}

// evictOne drops the statement with the least total time among a sample
// (Go's map iteration starts at a random place). s.mu is held.
func (s *Store) evictOne() {
	var victim key
	var least *Stats
	n := 0
	for k, st := range s.entries {
		if least == nil || st.totalNanos.Load() < least.totalNanos.Load() {
			victim, least = k, st
		}
		if n++; n == evictionSample {
			break
		}
	}
	if least != nil {
		least.evicted.Store(true)
		delete(s.entries, victim)
		s.evictions.Add(1)
	}
}

// Len is the number of statements kept.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.entries)
}

// Evictions counts the statements dropped to stay within the bound.
func (s *Store) Evictions() uint64 { return s.evictions.Load() }

// Reset forgets every statement.
func (s *Store) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.entries {
		st.evicted.Store(true)
	}
	s.entries = map[key]*Stats{}
}

// Snapshot copies every statement's statistics.
func (s *Store) Snapshot() []Statement {
	s.mu.RLock()
	all := make([]*Stats, 0, len(s.entries))
	for _, st := range s.entries {
		all = append(all, st)
	}
	s.mu.RUnlock()
	out := make([]Statement, len(all))
	for i, st := range all {
		out[i] = st.snapshot()
	}
	return out
}

func (st *Stats) snapshot() Statement {
	out := Statement{
		Digest: st.digest, Keyspace: st.keyspace, Query: st.query, Plan: st.info.Plan, Tables: st.info.Tables,
		Calls: st.calls.Load(), Errors: st.errors.Load(),
		TotalSeconds: float64(st.totalNanos.Load()) / 1e9, MaxSeconds: float64(st.maxNanos.Load()) / 1e9,
		RowsReturned: st.rowsReturned.Load(), RowsRead: st.rowsRead.Load(), ShardCalls: st.shardCalls.Load(),
		FirstSeen: st.firstSeen.UTC(), LastSeen: time.Unix(0, st.lastSeen.Load()).UTC(),
		Latency: st.latency.buckets(),
	}
	st.mu.Lock()
	if len(st.errorCodes) > 0 {
		out.ErrorCodes = make(map[uint16]uint64, len(st.errorCodes))
		for c, n := range st.errorCodes {
			out.ErrorCodes[c] = n
		}
	}
	st.mu.Unlock()
	return out
}
