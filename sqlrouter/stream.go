package sqlrouter

import (
	"context"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// StreamPrimitive is a Primitive that can hand its rows over as the
// shards send them, holding only a batch at a time: a read of one route
// with nothing to combine at the gate. The callback gets the fields
// first (a Result without rows), then batches of rows; it is called by
// one goroutine at a time.
type StreamPrimitive interface {
	Primitive
	StreamExecute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, callback func(*sqltypes.Result) error) error
}

// Streams reports whether the plan can stream its rows.
func (p *Plan) Streams() bool {
	sp, ok := p.Primitive.(streamable)
	return ok && sp.streams()
}

// streamable is implemented by primitives that stream only in some
// shapes.
type streamable interface {
	StreamPrimitive
	streams() bool
}

// StreamExecute runs the plan, streaming its rows when it can and sending
// its whole result otherwise.
func (p *Plan) StreamExecute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, callback func(*sqltypes.Result) error) error {
	if p.Streams() {
		bv, err := p.BindLimits(bv)
		if err != nil {
			return err
		}
		return p.Primitive.(StreamPrimitive).StreamExecute(ctx, vc, bv, callback)
	}
	res, err := p.Execute(ctx, vc, bv)
	if err != nil {
		return err
	}
	return callback(res)
}

func (r *Route) streams() bool { return !r.Write && r.mergeBlocker == "" }

// StreamExecute implements StreamPrimitive.
func (r *Route) StreamExecute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, callback func(*sqltypes.Result) error) error {
	queries, err := r.shardQueries(ctx, vc, bv)
	if err != nil {
		return err
	}
	return vc.StreamExecuteShards(ctx, r.Keyspace, queries, callback)
}

func (s *Subqueries) streams() bool {
	sp, ok := s.outer.(streamable)
	return ok && sp.streams()
}

// StreamExecute implements StreamPrimitive: the subqueries run first, the
// statement streams.
func (s *Subqueries) StreamExecute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable, callback func(*sqltypes.Result) error) error {
	all, err := s.bind(ctx, vc, bv)
	if err != nil {
		return err
	}
	return s.outer.(StreamPrimitive).StreamExecute(ctx, vc, all, callback)
}
