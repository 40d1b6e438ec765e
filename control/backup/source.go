package backup

import (
	"context"
	"slices"
	"time"

	"github.com/shardgate/shardgate/control"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// MaxBackupSourceLag is the most replication lag a replica may have to
// take a backup in the primary's place: its snapshot is that much older.
const MaxBackupSourceLag = 30 * time.Second

// backupSource picks the tablet that takes a shard's backup when none is
// named: a healthy rdonly tablet, else a healthy replica (the least
// lagging), so that the backup's reads do not load the primary; the
// primary ("") when no replica qualifies. Healthy: serving, applying its
// primary's binlog, lag known and within MaxBackupSourceLag, no errant
// transactions.
func backupSource(ctx context.Context, ts *topo.Server, ref ShardRef, opts []control.Option) string {
	statuses, err := control.ListTablets(ctx, ts, opts...)
	if err != nil {
		return ""
	}
	type candidate struct {
		alias  string
		rdonly bool
		lag    uint32
	}
	var candidates []candidate
	for _, st := range statuses {
		t, stats := st.Tablet, st.Health.GetStats()
		role := st.Role()
		r := stats.GetReplication()
		if t.Keyspace != ref.Keyspace || t.Shard != ref.Shard || st.State != control.Serving ||
			(role != topopb.TabletType_REPLICA && role != topopb.TabletType_RDONLY) ||
			r == nil || !r.SqlRunning || !r.LagKnown || len(r.Errant) > 0 ||
			time.Duration(stats.ReplicationLagSeconds)*time.Second > MaxBackupSourceLag {
			continue
		}
		candidates = append(candidates, candidate{t.Alias, role == topopb.TabletType_RDONLY, stats.ReplicationLagSeconds})
	}
	if len(candidates) == 0 {
		return ""
	}
	slices.SortFunc(candidates, func(a, b candidate) int {
		switch {
		case a.rdonly != b.rdonly:
			if a.rdonly {
				return -1
			}
			return 1
		case a.lag != b.lag:
			return int(a.lag) - int(b.lag)
		}
		return 0
	})
	return candidates[0].alias
}
