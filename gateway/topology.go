package gateway

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/sqlrouter"
	"github.com/shardgate/shardgate/sqlrouter/vschema"
	"github.com/shardgate/shardgate/topo"
	"github.com/shardgate/shardgate/vindex"
)

// servingGraph is, per keyspace and tablet type, the shards serving now.
type servingGraph map[string]map[topopb.TabletType][]sqlrouter.Shard

// topology follows the topology in etcd and hands out immutable snapshots.
type topology struct {
	ts   *topo.Server
	cell string
	log  *zap.Logger

	vschema atomic.Pointer[vschema.VSchema]
	// unread is the empty VSchema the topology starts with: while vschema
	// still points at it, nothing was read, from etcd or a snapshot.
	unread  *vschema.VSchema
	serving atomic.Pointer[servingGraph]
	// buffers says, per keyspace whose writes a resharding is switching,
	// until when gates hold them (see write_buffer.go).
	buffers atomic.Pointer[map[string]time.Time]
	// onBuffering is told of each keyspace whose writes become buffered.
	onBuffering func(keyspace string, until time.Time)

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on each serving graph update

	vschemaReady chan struct{}
	servingReady chan struct{}
}

func newTopology(ts *topo.Server, cell string, log *zap.Logger) *topology {
	t := &topology{ts: ts, cell: cell, log: log, vschemaReady: make(chan struct{}), servingReady: make(chan struct{})}
	t.unread = &vschema.VSchema{Keyspaces: map[string]*vschema.Keyspace{}}
	t.vschema.Store(t.unread)
	t.serving.Store(&servingGraph{})
	t.buffers.Store(&map[string]time.Time{})
	t.changed = make(chan struct{})
	return t
}

// run follows the topology until ctx ends. Each watch retries until etcd
// answers, so a gate can start before etcd does.
func (t *topology) run(ctx context.Context) {
	go retryWatch(ctx, t.log, "keyspaces", func() error {
		ch, err := t.ts.WatchKeyspaces(ctx)
		if err != nil {
			return err
		}
		for snap := range ch {
			t.applyKeyspaces(snap)
		}
		return nil
	})
	go retryWatch(ctx, t.log, "serving graph", func() error {
		ch, err := t.ts.WatchSrvKeyspaces(ctx, t.cell)
		if err != nil {
			return err
		}
		for snap := range ch {
			t.applyServing(snap)
		}
		return nil
	})
}

func retryWatch(ctx context.Context, log *zap.Logger, what string, watch func() error) {
	for ctx.Err() == nil {
		if err := watch(); err != nil {
			log.Warn("cannot watch the topology; retrying", zap.String("what", what), zap.Error(err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// waitReady waits until both the vschemas and the serving graph were read
// once, or ctx ends.
func (t *topology) waitReady(ctx context.Context) error {
	for _, ch := range []chan struct{}{t.vschemaReady, t.servingReady} {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the topology: %w", ctx.Err())
		}
	}
	return nil
}

// ready reports whether the vschemas and the serving graph were read
// once, from etcd or a snapshot.
func (t *topology) ready() bool {
	for _, ch := range []chan struct{}{t.vschemaReady, t.servingReady} {
		select {
		case <-ch:
		default:
			return false
		}
	}
	return true
}

// notReadError is the error of a statement that needs the topology before
// the gate has read any: without it every keyspace would be unknown, and
// a client told 1049 "Unknown database" for a keyspace that exists might
// act on it.
func (t *topology) notReadError() error {
	if t.vschema.Load() != t.unread {
		return nil
	}
	return sqlerr.Internal("the gate has not read the topology yet: etcd does not answer and there is no usable topology snapshot " +
		"(--topo-snapshot-file; see the gate's log); statements run once etcd answers")
}

func markReady(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// applyKeyspaces builds a new VSchema. A keyspace whose stored vschema no
// longer validates keeps its previous one: an operator's mistake must not
// take a serving keyspace down.
func (t *topology) applyKeyspaces(snap map[string]topo.KeyspaceInfo) {
	prev := t.vschema.Load()
	next := &vschema.VSchema{Keyspaces: make(map[string]*vschema.Keyspace, len(snap))}
	versions := make([]string, 0, len(snap))
	for name, info := range snap {
		ks, _, err := vschema.ParseVSchema(name, info.Keyspace.Sharded, info.VSchema.JSON)
		if err != nil {
			t.log.Error("invalid vschema in topology; keeping the previous one", zap.String("keyspace", name), zap.Error(err))
			if old, ok := prev.Keyspaces[name]; ok {
				next.Keyspaces[name] = old
			}
			continue
		}
		next.Keyspaces[name] = ks
		versions = append(versions, fmt.Sprintf("%s@%d", name, info.VSchema.Version))
	}
	sort.Strings(versions)
	next.Version = strings.Join(versions, ",")
	t.vschema.Store(next)
	t.log.Info("vschema updated", zap.String("version", next.Version))
	markReady(t.vschemaReady)
}

func (t *topology) applyServing(snap map[string]*topopb.SrvKeyspace) {
	next := servingGraph{}
	buffers := map[string]time.Time{}
	for ks, srv := range snap {
		if ms := srv.WritesBufferedUntilUnixMs; ms > 0 {
			buffers[ks] = time.UnixMilli(ms)
		}
		byType := map[topopb.TabletType][]sqlrouter.Shard{}
		for _, p := range srv.Partitions {
			shards := make([]sqlrouter.Shard, 0, len(p.Shards))
			for _, ref := range p.Shards {
				shards = append(shards, sqlrouter.Shard{
					Name:     ref.Name,
					KeyRange: vindex.KeyRange{Start: ref.KeyRange.GetStart(), End: ref.KeyRange.GetEnd()},
				})
			}
			sort.Slice(shards, func(i, j int) bool { return string(shards[i].KeyRange.Start) < string(shards[j].KeyRange.Start) })
			byType[p.TabletType] = shards
		}
		next[ks] = byType
	}
	t.serving.Store(&next)
	t.buffers.Store(&buffers)
	t.mu.Lock()
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	markReady(t.servingReady)
	if t.onBuffering != nil {
		for ks, until := range buffers {
			t.onBuffering(ks, until)
		}
	}
}

// bufferedUntil is until when the keyspace's writes are held (zero: they
// are not).
func (t *topology) bufferedUntil(keyspace string) time.Time {
	return (*t.buffers.Load())[keyspace]
}

// servingChanged returns a channel closed at the next update of the
// serving graph.
func (t *topology) servingChanged() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.changed
}

// shards returns the keyspace's shards serving tabletType.
func (t *topology) shards(keyspace string, tabletType topopb.TabletType) ([]sqlrouter.Shard, error) {
	graph := *t.serving.Load()
	byType, ok := graph[keyspace]
	if !ok {
		return nil, sqlerr.Internal("keyspace %s has no serving graph in cell %s: create its shards with `shardctl keyspace create`", keyspace, t.cell)
	}
	shards, ok := byType[tabletType]
	if !ok || len(shards) == 0 {
		return nil, sqlerr.Internal("keyspace %s has no shard serving %s tablets in cell %s", keyspace, strings.ToLower(tabletType.String()), t.cell)
	}
	return shards, nil
}
