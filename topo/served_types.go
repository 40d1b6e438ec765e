package topo

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/shardgate/shardgate/proto/topopb"
)

// The serving graph lists the primary for every serving shard, and a
// replica or rdonly partition only where every shard of it has a tablet
// of that type in the cell: a gate then answers ks@replica with "no
// replica tablets" at once, and a shard that gains or loses its last
// replica changes the graph (RefreshServedTypes, which tablets call when
// their type changes).

// readTypes are the tablet types that serve reads only.
var readTypes = []topopb.TabletType{topopb.TabletType_REPLICA, topopb.TabletType_RDONLY}

// tabletTypesByShard returns, per shard of keyspace, the tablet types
// registered in cell.
func (s *Server) tabletTypesByShard(ctx context.Context, cell, keyspace string) (map[string][]topopb.TabletType, error) {
	tablets, err := s.ListTablets(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]topopb.TabletType{}
	for _, t := range tablets {
		if t.Keyspace == keyspace && (t.Cell == cell || t.Cell == "") {
			out[t.Shard] = append(out[t.Shard], t.Type)
		}
	}
	return out, nil
}

// covered reports whether every shard has a tablet of type tt.
func covered(shards []*topopb.ShardReference, types map[string][]topopb.TabletType, tt topopb.TabletType) bool {
	for _, sh := range shards {
		if !slices.Contains(types[sh.Name], tt) {
			return false
		}
	}
	return len(shards) > 0
}

// RefreshServedTypes adds the keyspace's replica and rdonly partitions
// where every shard of them now has a tablet of that type, and removes
// them where one no longer has; the shards a partition lists stay as they
// are (a resharding may have switched them), and a new partition takes
// the primary's.
//
// It writes only what changes, with compare-and-set: a resharding that
// switches the graph meanwhile is never undone.
func (s *Server) RefreshServedTypes(ctx context.Context, keyspace string) error {
	cells, err := s.cells(ctx)
	if err != nil {
		return err
	}
	for _, cell := range cells {
		if err := s.refreshServedTypes(ctx, cell, keyspace); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) refreshServedTypes(ctx context.Context, cell, keyspace string) error {
	key := s.servingPrefix(cell) + keyspace
	for {
		srv := &topopb.SrvKeyspace{}
		version, err := s.get(ctx, key, srv)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		types, err := s.tabletTypesByShard(ctx, cell, keyspace)
		if err != nil {
			return err
		}
		next := proto.Clone(srv).(*topopb.SrvKeyspace)
		next.Partitions = servedPartitions(next.Partitions, types)
		if proto.Equal(srv, next) {
			return nil
		}
		_, err = s.store.Update(ctx, key, marshal(next), version)
		if errors.Is(err, ErrBadVersion) {
			continue // changed underneath: decide again on what is there now
		}
		return err
	}
}

func servedPartitions(partitions []*topopb.SrvKeyspace_Partition, types map[string][]topopb.TabletType) []*topopb.SrvKeyspace_Partition {
	var primary []*topopb.ShardReference
	for _, p := range partitions {
		if p.TabletType == topopb.TabletType_PRIMARY {
			primary = p.Shards
		}
	}
	for _, tt := range readTypes {
		i := slices.IndexFunc(partitions, func(p *topopb.SrvKeyspace_Partition) bool { return p.TabletType == tt })
		switch {
		case i < 0 && covered(primary, types, tt):
			partitions = append(partitions, &topopb.SrvKeyspace_Partition{TabletType: tt, Shards: primary})
		case i >= 0 && !covered(partitions[i].Shards, types, tt):
			partitions = slices.Delete(partitions, i, i+1)
		}
	}
	return partitions
}
