package gateway

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"vitess.io/vitess/go/sqlescape"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// sequences hands out ids of sequence tables (Vitess's format: a row with
// id 0 holding next_id and cache). Each gate reserves a block of cache ids
// at a time with a short transaction on the sequence's shard and serves
// from memory until it runs out, so most inserts cost no extra round trip.
// Ids are unique across gates; blocks a gate does not use up are skipped,
// as with Vitess.
type sequences struct {
	mu     sync.Mutex
	blocks map[string]*idBlock // "keyspace.table"
}

type idBlock struct {
	mu        sync.Mutex
	next, end int64 // [next, end) is reserved and unused
}

func (e *Executor) nextSequenceValues(ctx context.Context, keyspace, table string, count int64) (int64, error) {
	if count <= 0 {
		return 0, sqlerr.Internal("asked for %d ids of sequence %s.%s", count, keyspace, table)
	}
	e.seqs.mu.Lock()
	if e.seqs.blocks == nil {
		e.seqs.blocks = map[string]*idBlock{}
	}
	b, ok := e.seqs.blocks[keyspace+"."+table]
	if !ok {
		b = &idBlock{}
		e.seqs.blocks[keyspace+"."+table] = b
	}
	e.seqs.mu.Unlock()

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.end-b.next < count {
		next, end, err := e.reserve(ctx, keyspace, table, count)
		if err != nil {
			return 0, err
		}
		b.next, b.end = next, end
	}
	first := b.next
	b.next += count
	return first, nil
}

// reserve takes the next block of ids from the sequence row, at least
// count of them.
func (e *Executor) reserve(ctx context.Context, keyspace, table string, count int64) (int64, int64, error) {
	shards, err := e.topo.shards(keyspace, topopb.TabletType_PRIMARY)
	if err != nil {
		return 0, 0, err
	}
	if len(shards) != 1 {
		return 0, 0, sqlerr.Internal("sequence %s.%s must live in an unsharded keyspace (%s has %d shards)", keyspace, table, keyspace, len(shards))
	}
	shard := shards[0].Name
	tc, err := e.tablets.pick(keyspace, shard, topopb.TabletType_PRIMARY)
	if err != nil {
		return 0, 0, err
	}
	tgt := target(keyspace, shard, topopb.TabletType_PRIMARY)
	name := sqlescape.EscapeID(table)
	begun, err := tc.query.BeginExecute(ctx, &querypb.BeginExecuteRequest{Target: tgt,
		Sql: []byte("SELECT next_id, cache FROM " + name + " WHERE id = 0 FOR UPDATE")})
	if err != nil {
		return 0, 0, fmt.Errorf("read sequence %s.%s: %w", keyspace, table, tabletError(tc, err))
	}
	rollback := func() {
		_, _ = tc.query.Rollback(ctx, &querypb.RollbackRequest{Target: tgt, TransactionId: begun.TransactionId})
	}
	res, err := queryconv.ResultFromProto(begun.Result)
	if err != nil || len(res.Rows) != 1 {
		rollback()
		return 0, 0, sqlerr.Internal("sequence table %s.%s has no row with id 0: initialize it with INSERT INTO %s (id, next_id, cache) VALUES (0, 1, 1000)", keyspace, table, table)
	}
	next, err1 := res.Rows[0][0].ToInt64()
	cache, err2 := res.Rows[0][1].ToInt64()
	if err1 != nil || err2 != nil || cache < 1 {
		rollback()
		return 0, 0, sqlerr.Internal("sequence table %s.%s: next_id and cache must be positive integers", keyspace, table)
	}
	size := max(cache, count)
	_, err = tc.query.Execute(ctx, &querypb.ExecuteRequest{Target: tgt, TransactionId: begun.TransactionId,
		Sql: []byte("UPDATE " + name + " SET next_id = " + strconv.FormatInt(next+size, 10) + " WHERE id = 0")})
	if err != nil {
		rollback()
		return 0, 0, fmt.Errorf("advance sequence %s.%s: %w", keyspace, table, tabletError(tc, err))
	}
	if _, err := tc.query.Commit(ctx, &querypb.CommitRequest{Target: tgt, TransactionId: begun.TransactionId}); err != nil {
		return 0, 0, fmt.Errorf("advance sequence %s.%s: %w", keyspace, table, tabletError(tc, err))
	}
	return next, next + size, nil
}
