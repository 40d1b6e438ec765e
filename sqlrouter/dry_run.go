package sqlrouter

import (
	"context"
	"sync"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// SentQuery is a statement a plan would send to a shard.
type SentQuery struct {
	Keyspace string
	ShardQuery
}

// DryRun is a VCursor that records the statements a plan sends instead of
// sending them, and answers each with no rows. VEXPLAIN QUERIES and
// `shardctl explain` use it to show what each shard would run.
type DryRun struct {
	shards func(keyspace string) ([]Shard, error)

	mu   sync.Mutex
	sent []SentQuery
}

// NewDryRun returns a dry run over the shards the function names.
func NewDryRun(shards func(keyspace string) ([]Shard, error)) *DryRun {
	return &DryRun{shards: shards}
}

// Sent returns the recorded statements in the order they were sent.
func (d *DryRun) Sent() []SentQuery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]SentQuery(nil), d.sent...)
}

// Shards implements VCursor.
func (d *DryRun) Shards(keyspace string) ([]Shard, error) { return d.shards(keyspace) }

// ExecuteShards implements VCursor: it records and answers with no rows.
func (d *DryRun) ExecuteShards(_ context.Context, keyspace string, queries []ShardQuery, _ bool) ([]*sqltypes.Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*sqltypes.Result, len(queries))
	for i, q := range queries {
		d.sent = append(d.sent, SentQuery{Keyspace: keyspace, ShardQuery: q})
		out[i] = &sqltypes.Result{}
	}
	return out, nil
}

// StreamExecuteShards implements VCursor: it records the queries and
// streams nothing.
func (d *DryRun) StreamExecuteShards(ctx context.Context, keyspace string, queries []ShardQuery, _ func(*sqltypes.Result) error) error {
	_, err := d.ExecuteShards(ctx, keyspace, queries, false)
	return err
}

// ExecuteStatement implements VCursor: it records the statement (its
// placeholders unsubstituted) and answers no rows.
func (d *DryRun) ExecuteStatement(_ context.Context, keyspace, sql string, _ map[string]*querypb.BindVariable, _ bool) (*sqltypes.Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent = append(d.sent, SentQuery{Keyspace: keyspace, ShardQuery: ShardQuery{Shard: "(routed)", SQL: sql}})
	return &sqltypes.Result{}, nil
}

// DryRun implements DryRunner: primitives that combine rows pass on
// nothing, and still send what they would send.
func (d *DryRun) DryRun() bool { return true }

// Atomically implements VCursor: a dry run has no transaction.
func (d *DryRun) Atomically(_ context.Context, fn func() error) error { return fn() }

// InTransaction implements VCursor.
func (d *DryRun) InTransaction() bool { return false }

// NextSequenceValues implements VCursor with placeholder ids; nothing is
// reserved.
func (d *DryRun) NextSequenceValues(context.Context, string, string, int64) (int64, error) {
	return 1, nil
}
