package topo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/vindex"
)

// DefaultRoot is the prefix all records live under unless configured.
const DefaultRoot = "/shardgate"

// DefaultCell is the cell local clusters and single-cell deployments use.
const DefaultCell = "zone1"

// Server reads and writes typed topology records in a Store. It is safe for
// concurrent use; it holds no state besides the store.
type Server struct {
	store Store
	root  string
}

// NewServer returns a Server keeping records under root (DefaultRoot if
// empty).
func NewServer(store Store, root string) *Server {
	if root == "" {
		root = DefaultRoot
	}
	return &Server{store: store, root: strings.TrimRight(root, "/")}
}

// Store returns the underlying store.
func (s *Server) Store() Store { return s.store }

// Close closes the underlying store.
func (s *Server) Close() error { return s.store.Close() }

func (s *Server) keyspaceKey(ks string) string { return s.root + "/keyspaces/" + ks }
func (s *Server) vschemaKey(ks string) string  { return s.keyspaceKey(ks) + "/vschema" }
func (s *Server) shardsPrefix(ks string) string {
	return s.keyspaceKey(ks) + "/shards/"
}
func (s *Server) shardKey(ks, shard string) string { return s.shardsPrefix(ks) + shard }
func (s *Server) tabletsPrefix() string            { return s.root + "/tablets/" }
func (s *Server) tabletKey(alias string) string    { return s.tabletsPrefix() + alias }
func (s *Server) servingPrefix(cell string) string { return s.root + "/serving/" + cell + "/" }

// ValidateName checks a keyspace name: it becomes a database name and a key
// segment, so only letters, digits, '_' and '-' are allowed.
func ValidateName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty", kind)
	}
	if len(name) > 64 {
		return fmt.Errorf("%s name %q is longer than 64 characters", kind, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Errorf("%s name %q: only letters, digits, '_' and '-' are allowed", kind, name)
		}
	}
	return nil
}

func (s *Server) get(ctx context.Context, key string, msg proto.Message) (int64, error) {
	data, version, err := s.store.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := proto.Unmarshal(data, msg); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return version, nil
}

// unmarshalInto decodes a listed record, naming its key on failure.
func unmarshalInto(kv KV, msg proto.Message) error {
	if err := proto.Unmarshal(kv.Value, msg); err != nil {
		return fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	return nil
}

func marshal(msg proto.Message) []byte {
	// Marshalling a valid generated message cannot fail.
	data, err := proto.Marshal(msg)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", msg, err))
	}
	return data
}

// CreateKeyspace records a new keyspace; ErrExists if it is there already.
func (s *Server) CreateKeyspace(ctx context.Context, ks *topopb.Keyspace) error {
	if err := ValidateName("keyspace", ks.Name); err != nil {
		return err
	}
	if _, err := s.store.Create(ctx, s.keyspaceKey(ks.Name), marshal(ks)); err != nil {
		return fmt.Errorf("create keyspace %s: %w", ks.Name, err)
	}
	return nil
}

// GetKeyspace returns a keyspace record, or ErrNotFound.
func (s *Server) GetKeyspace(ctx context.Context, name string) (*topopb.Keyspace, error) {
	ks := &topopb.Keyspace{}
	if _, err := s.get(ctx, s.keyspaceKey(name), ks); err != nil {
		return nil, fmt.Errorf("keyspace %s: %w", name, err)
	}
	return ks, nil
}

// ListKeyspaces returns every keyspace, sorted by name.
func (s *Server) ListKeyspaces(ctx context.Context) ([]*topopb.Keyspace, error) {
	prefix := s.root + "/keyspaces/"
	kvs, err := s.store.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []*topopb.Keyspace
	for _, kv := range kvs {
		if strings.Contains(strings.TrimPrefix(kv.Key, prefix), "/") {
			continue // a shard or vschema below a keyspace
		}
		ks := &topopb.Keyspace{}
		if err := proto.Unmarshal(kv.Value, ks); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, ks)
	}
	return out, nil
}

// DeleteKeyspace removes a keyspace with its vschema, shards and serving
// graph. Tablets still registered for it make it refuse: stop them first.
func (s *Server) DeleteKeyspace(ctx context.Context, name string) error {
	if _, err := s.GetKeyspace(ctx, name); err != nil {
		return err
	}
	tablets, err := s.ListTablets(ctx)
	if err != nil {
		return err
	}
	for _, t := range tablets {
		if t.Keyspace == name {
			return fmt.Errorf("keyspace %s still has tablet %s registered (shard %s): stop its tablets first", name, t.Alias, t.Shard)
		}
	}
	if err := s.store.DeletePrefix(ctx, s.keyspaceKey(name)+"/"); err != nil {
		return err
	}
	cells, err := s.cells(ctx)
	if err != nil {
		return err
	}
	for _, cell := range cells {
		if err := s.store.Delete(ctx, s.servingPrefix(cell)+name, 0); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return s.store.Delete(ctx, s.keyspaceKey(name), 0)
}

// SaveVSchema stores a keyspace's vschema JSON as given. Callers validate it
// first (vschema.ParseVSchema): the store keeps what the user wrote.
func (s *Server) SaveVSchema(ctx context.Context, ks string, vschemaJSON []byte) error {
	if _, err := s.GetKeyspace(ctx, ks); err != nil {
		return err
	}
	_, err := s.store.Update(ctx, s.vschemaKey(ks), vschemaJSON, 0)
	return err
}

// GetVSchema returns a keyspace's vschema JSON and its version, or
// ErrNotFound when none was applied.
func (s *Server) GetVSchema(ctx context.Context, ks string) ([]byte, int64, error) {
	data, version, err := s.store.Get(ctx, s.vschemaKey(ks))
	if err != nil {
		return nil, 0, fmt.Errorf("vschema of keyspace %s: %w", ks, err)
	}
	return data, version, nil
}

// CreateShard records a shard of an existing keyspace. Its key range is
// derived from its name.
func (s *Server) CreateShard(ctx context.Context, keyspace, name string) (*topopb.Shard, error) {
	return s.CreateShardServing(ctx, keyspace, name, true)
}

// CreateShardServing creates a shard that serves now or (serving false,
// the target of a resharding) only once the serving graph is switched to
// it.
func (s *Server) CreateShardServing(ctx context.Context, keyspace, name string, serving bool) (*topopb.Shard, error) {
	if _, err := s.GetKeyspace(ctx, keyspace); err != nil {
		return nil, err
	}
	kr, err := vindex.ParseKeyRange(name)
	if err != nil {
		return nil, err
	}
	shard := &topopb.Shard{
		Keyspace:       keyspace,
		Name:           name,
		KeyRange:       &topopb.KeyRange{Start: kr.Start, End: kr.End},
		PrimaryServing: serving,
	}
	if _, err := s.store.Create(ctx, s.shardKey(keyspace, name), marshal(shard)); err != nil {
		return nil, fmt.Errorf("create shard %s/%s: %w", keyspace, name, err)
	}
	return shard, nil
}

// GetShard returns a shard record, or ErrNotFound.
func (s *Server) GetShard(ctx context.Context, keyspace, name string) (*topopb.Shard, error) {
	shard := &topopb.Shard{}
	if _, err := s.get(ctx, s.shardKey(keyspace, name), shard); err != nil {
		return nil, fmt.Errorf("shard %s/%s: %w", keyspace, name, err)
	}
	return shard, nil
}

// ListShards returns a keyspace's shards ordered by key range.
func (s *Server) ListShards(ctx context.Context, keyspace string) ([]*topopb.Shard, error) {
	kvs, err := s.store.List(ctx, s.shardsPrefix(keyspace))
	if err != nil {
		return nil, err
	}
	out := make([]*topopb.Shard, 0, len(kvs))
	for _, kv := range kvs {
		shard := &topopb.Shard{}
		if err := proto.Unmarshal(kv.Value, shard); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, shard)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].KeyRange.GetStart()) < string(out[j].KeyRange.GetStart()) })
	return out, nil
}

// UpdateShard applies change to a shard record with compare-and-set,
// retrying when another writer got there first.
func (s *Server) UpdateShard(ctx context.Context, keyspace, name string, change func(*topopb.Shard) error) (*topopb.Shard, error) {
	key := s.shardKey(keyspace, name)
	for {
		shard := &topopb.Shard{}
		version, err := s.get(ctx, key, shard)
		if err != nil {
			return nil, fmt.Errorf("shard %s/%s: %w", keyspace, name, err)
		}
		if err := change(shard); err != nil {
			return nil, err
		}
		_, err = s.store.Update(ctx, key, marshal(shard), version)
		if errors.Is(err, ErrBadVersion) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return shard, nil
	}
}

// DeleteShard removes a shard record (a resharding's source once the
// workflow completes, or its target when it is cancelled). The shard's
// tablets and their data are not touched.
func (s *Server) DeleteShard(ctx context.Context, keyspace, name string) error {
	if err := s.store.Delete(ctx, s.shardKey(keyspace, name), 0); err != nil {
		return fmt.Errorf("delete shard %s/%s: %w", keyspace, name, err)
	}
	return nil
}

// SaveTablet creates or replaces a tablet record.
func (s *Server) SaveTablet(ctx context.Context, t *topopb.Tablet) error {
	if t.Alias == "" {
		return errors.New("tablet alias is empty")
	}
	_, err := s.store.Update(ctx, s.tabletKey(t.Alias), marshal(t), 0)
	return err
}

// GetTablet returns a tablet record, or ErrNotFound.
func (s *Server) GetTablet(ctx context.Context, alias string) (*topopb.Tablet, error) {
	t := &topopb.Tablet{}
	if _, err := s.get(ctx, s.tabletKey(alias), t); err != nil {
		return nil, fmt.Errorf("tablet %s: %w", alias, err)
	}
	return t, nil
}

// DeleteTablet removes a tablet record.
func (s *Server) DeleteTablet(ctx context.Context, alias string) error {
	return s.store.Delete(ctx, s.tabletKey(alias), 0)
}

// ListTablets returns every tablet, sorted by alias.
func (s *Server) ListTablets(ctx context.Context) ([]*topopb.Tablet, error) {
	kvs, err := s.store.List(ctx, s.tabletsPrefix())
	if err != nil {
		return nil, err
	}
	return decodeTablets(kvs)
}

func decodeTablets(kvs []KV) ([]*topopb.Tablet, error) {
	out := make([]*topopb.Tablet, 0, len(kvs))
	for _, kv := range kvs {
		t := &topopb.Tablet{}
		if err := proto.Unmarshal(kv.Value, t); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// WatchTablets sends the full tablet list now and after every change.
func (s *Server) WatchTablets(ctx context.Context) (<-chan []*topopb.Tablet, error) {
	snaps, err := s.store.WatchPrefix(ctx, s.tabletsPrefix())
	if err != nil {
		return nil, err
	}
	return decodeEach(ctx, snaps, decodeTablets), nil
}

// SaveSrvKeyspace replaces the serving graph of a keyspace in a cell.
func (s *Server) SaveSrvKeyspace(ctx context.Context, cell, keyspace string, srv *topopb.SrvKeyspace) error {
	_, err := s.store.Update(ctx, s.servingPrefix(cell)+keyspace, marshal(srv), 0)
	return err
}

// GetSrvKeyspace returns the serving graph of a keyspace in a cell.
func (s *Server) GetSrvKeyspace(ctx context.Context, cell, keyspace string) (*topopb.SrvKeyspace, error) {
	srv := &topopb.SrvKeyspace{}
	if _, err := s.get(ctx, s.servingPrefix(cell)+keyspace, srv); err != nil {
		return nil, fmt.Errorf("serving graph of %s in cell %s: %w", keyspace, cell, err)
	}
	return srv, nil
}

// WatchSrvKeyspaces sends every keyspace's serving graph in a cell, keyed
// by keyspace, now and after every change.
func (s *Server) WatchSrvKeyspaces(ctx context.Context, cell string) (<-chan map[string]*topopb.SrvKeyspace, error) {
	prefix := s.servingPrefix(cell)
	snaps, err := s.store.WatchPrefix(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return decodeEach(ctx, snaps, func(kvs []KV) (map[string]*topopb.SrvKeyspace, error) {
		out := make(map[string]*topopb.SrvKeyspace, len(kvs))
		for _, kv := range kvs {
			srv := &topopb.SrvKeyspace{}
			if err := proto.Unmarshal(kv.Value, srv); err != nil {
				return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
			}
			out[strings.TrimPrefix(kv.Key, prefix)] = srv
		}
		return out, nil
	}), nil
}

// VSchemaRecord is a keyspace's vschema JSON at a version.
type VSchemaRecord struct {
	JSON    []byte
	Version int64
}

// KeyspaceInfo is what a gate needs of every keyspace: whether it is
// sharded and its vschema (nil JSON when none was applied).
type KeyspaceInfo struct {
	Keyspace *topopb.Keyspace
	VSchema  VSchemaRecord
}

// WatchKeyspaces sends every keyspace with its vschema, now and after every
// change to any of them.
func (s *Server) WatchKeyspaces(ctx context.Context) (<-chan map[string]KeyspaceInfo, error) {
	prefix := s.root + "/keyspaces/"
	snaps, err := s.store.WatchPrefix(ctx, prefix)
	if err != nil {
		return nil, err
	}
	return decodeEach(ctx, snaps, func(kvs []KV) (map[string]KeyspaceInfo, error) {
		out := map[string]KeyspaceInfo{}
		vschemas := map[string]VSchemaRecord{}
		for _, kv := range kvs {
			rest := strings.TrimPrefix(kv.Key, prefix)
			name, sub, _ := strings.Cut(rest, "/")
			switch {
			case sub == "":
				ks := &topopb.Keyspace{}
				if err := proto.Unmarshal(kv.Value, ks); err != nil {
					return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
				}
				out[name] = KeyspaceInfo{Keyspace: ks}
			case sub == "vschema":
				vschemas[name] = VSchemaRecord{JSON: kv.Value, Version: kv.Version}
			}
		}
		for name, vs := range vschemas {
			if info, ok := out[name]; ok {
				info.VSchema = vs
				out[name] = info
			}
		}
		return out, nil
	}), nil
}

// decodeEach turns a channel of raw snapshots into decoded ones, dropping
// (and not forwarding) snapshots that fail to decode: a corrupt record must
// not make a gate forget the rest of the topology.
func decodeEach[T any](ctx context.Context, snaps <-chan []KV, decode func([]KV) (T, error)) <-chan T {
	out := make(chan T)
	go func() {
		defer close(out)
		for snap := range snaps {
			v, err := decode(snap)
			if err != nil {
				continue
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// RebuildSrvKeyspace writes the serving graph of a keyspace from its shard
// records: every serving shard serves its primary, and replica and rdonly
// reads where every shard has such tablets (served_types.go). Resharding
// replaces this with explicit per-type partitions while a workflow runs.
func (s *Server) RebuildSrvKeyspace(ctx context.Context, cell, keyspace string) error {
	ks, err := s.GetKeyspace(ctx, keyspace)
	if err != nil {
		return err
	}
	shards, err := s.ListShards(ctx, keyspace)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(shards))
	refs := make([]*topopb.ShardReference, 0, len(shards))
	for _, sh := range shards {
		if !sh.PrimaryServing {
			continue // a resharding's target not switched to yet, or a source switched from
		}
		names = append(names, sh.Name)
		refs = append(refs, &topopb.ShardReference{Name: sh.Name, KeyRange: sh.KeyRange})
	}
	if len(names) > 0 {
		if err := vindex.CheckTiling(names); err != nil {
			return fmt.Errorf("keyspace %s: %w", keyspace, err)
		}
	}
	types, err := s.tabletTypesByShard(ctx, cell, keyspace)
	if err != nil {
		return err
	}
	srv := &topopb.SrvKeyspace{Sharded: ks.Sharded,
		Partitions: servedPartitions([]*topopb.SrvKeyspace_Partition{{TabletType: topopb.TabletType_PRIMARY, Shards: refs}}, types)}
	return s.SaveSrvKeyspace(ctx, cell, keyspace, srv)
}

// cells lists the cells that have a serving graph.
func (s *Server) cells(ctx context.Context) ([]string, error) {
	kvs, err := s.store.List(ctx, s.root+"/serving/")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, kv := range kvs {
		cell, _, _ := strings.Cut(strings.TrimPrefix(kv.Key, s.root+"/serving/"), "/")
		if !seen[cell] {
			seen[cell] = true
			out = append(out, cell)
		}
	}
	return out, nil
}
