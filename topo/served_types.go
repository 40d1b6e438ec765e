package topo

import (
	"context"
	"slices"

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
func (s *Server) RefreshServedTypes(ctx context.Context, keyspace string) error {
	return s.UpdateSrvKeyspaceByCell(ctx, keyspace, func(cell string, srv *topopb.SrvKeyspace) {
		types, err := s.tabletTypesByShard(ctx, cell, keyspace)
		if err != nil {
			return
		}
		srv.Partitions = servedPartitions(srv.Partitions, types)
	})
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
