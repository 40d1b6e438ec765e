package tablet

import (
	"context"
	"time"

	"github.com/shardgate/shardgate/topo"
)

// followsAnotherPrimary reports whether the shard's record names a primary
// other than alias, so that this tablet's server, if it crashed, restarts
// to follow it (mysqld.Config.RecoverAsReplica: its unacknowledged tail is
// rolled back rather than left as errant transactions). When the record
// names this tablet, names none, or cannot be read, the server keeps every
// transaction it holds: dropping a commit a client saw succeed is worse
// than a former primary that must be rebuilt.
func followsAnotherPrimary(ctx context.Context, ts *topo.Server, keyspace, shard, alias string) bool {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	sh, err := ts.GetShard(ctx, keyspace, shard)
	if err != nil {
		return false
	}
	return sh.PrimaryAlias != "" && sh.PrimaryAlias != alias
}
