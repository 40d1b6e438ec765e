package gateway

import (
	"context"
	"errors"
	"io"
	"sync"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/sqlrouter"
)

// StreamExecuteShards implements sqlrouter.VCursor: each shard streams its
// rows over its tablet's StreamExecute, and batches reach the callback as
// they arrive, so the gate holds a few batches at a time however large
// the result. Cancelling ctx (the client went away, the statement timed
// out) ends every shard's query: the tablets kill them on MySQL.
//
// Inside a transaction the shards' parts must run on the transaction's
// connections, which serve one statement at a time: the rows are read
// whole then.
func (c *cursor) StreamExecuteShards(ctx context.Context, keyspace string, queries []sqlrouter.ShardQuery, callback func(*sqltypes.Result) error) error {
	if c.s.InTransaction {
		results, err := c.ExecuteShards(ctx, keyspace, queries, false)
		if err != nil {
			return err
		}
		for i, r := range results {
			if i == 0 {
				if err := callback(&sqltypes.Result{Fields: r.Fields}); err != nil {
					return err
				}
			}
			if len(r.Rows) > 0 {
				if err := callback(&sqltypes.Result{Rows: r.Rows}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	queries, err := c.sessionQueries(keyspace, queries)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type batch struct {
		res *sqltypes.Result
		err error
	}
	ch := make(chan batch)
	var wg sync.WaitGroup
	for _, q := range queries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			send := func(b batch) bool {
				select {
				case ch <- b:
					return true
				case <-ctx.Done():
					return false
				}
			}
			if err := c.streamShard(ctx, keyspace, q, func(r *sqltypes.Result) bool { return send(batch{res: r}) }); err != nil {
				send(batch{err: err})
			}
		}()
	}
	go func() {
		wg.Wait()
		close(ch)
	}()
	sentFields := false
	for b := range ch {
		if b.err != nil {
			return b.err // the deferred cancel ends the other shards' queries
		}
		if len(b.res.Fields) > 0 {
			if !sentFields {
				sentFields = true
				if err := callback(&sqltypes.Result{Fields: b.res.Fields}); err != nil {
					return err
				}
			}
			continue
		}
		if err := callback(b.res); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// streamShard streams one shard's rows to send, which reports whether the
// consumer still wants them.
func (c *cursor) streamShard(ctx context.Context, keyspace string, q sqlrouter.ShardQuery, send func(*sqltypes.Result) bool) error {
	tc, err := c.e.tablets.pick(keyspace, q.Shard, c.s.TabletType)
	if err != nil {
		return err
	}
	stream, err := tc.client.StreamExecute(ctx, &querypb.StreamExecuteRequest{Target: target(keyspace, q.Shard, c.s.TabletType), Sql: []byte(q.SQL)})
	if err != nil {
		return tabletError(tc, err)
	}
	// The first message has the fields; the rows that follow are read
	// against them.
	var fields []*vquerypb.Field
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return tabletError(tc, err)
		}
		res := &sqltypes.Result{}
		if len(resp.Result.GetFields()) > 0 {
			fields = queryconv.FieldsFromProto(resp.Result.Fields)
			res.Fields = fields
		}
		if res.Rows, err = queryconv.RowsFromProto(fields, resp.Result.GetRows()); err != nil {
			return sqlerr.Internal("%s: %v", tc.where(), err)
		}
		if !send(res) {
			return ctx.Err()
		}
	}
}
