package sqlrouter

import (
	"context"
	"fmt"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/vindex"
)

// Opcode says how a Route picks its shards.
type Opcode int

const (
	// Unsharded: the keyspace's only shard.
	Unsharded Opcode = iota
	// EqualUnique: the one shard the vindex maps a value to.
	EqualUnique
	// Equal: the shards a non-unique vindex (a lookup) maps a value to.
	Equal
	// In: the shards the vindex maps a list of values to.
	In
	// Scatter: every shard.
	Scatter
	// AnyShard: any one shard (the first); for statements whose answer is
	// the same on every shard, like reads of reference or system tables.
	AnyShard
	// AllShards: every shard, for DDL and reference-table writes.
	AllShards
)

var opcodeNames = map[Opcode]string{
	Unsharded: "Unsharded", EqualUnique: "EqualUnique", Equal: "Equal", In: "IN", Scatter: "Scatter", AnyShard: "AnyShard", AllShards: "AllShards",
}

func (o Opcode) String() string { return opcodeNames[o] }

// Route sends one statement to the shards its opcode selects and combines
// their results.
type Route struct {
	Opcode   Opcode
	Keyspace string
	// Vindex and Values select shards for EqualUnique (one value) and In.
	Vindex vindex.Vindex
	Values []sqlparser.Expr
	// Write marks statements that change data.
	Write bool

	// query regenerates the statement with bind variables substituted; nil
	// when the original text is sent as is.
	query    *sqlparser.ParsedQuery
	original string

	// inCmp is the IN comparison an In route was chosen by; inList, once
	// pruneIn ran, the list variable each shard gets its own values in.
	inCmp  *sqlparser.ComparisonExpr
	inList string

	// mergeBlocker names a construct that is only correct on one shard
	// (ORDER BY, GROUP BY, ...): executing on several shards is refused.
	mergeBlocker string

	// merged marks the route beneath a Merge, which resolves its shards
	// and hands them down (shardsBindVar).
	merged bool

	// returning is the RETURNING clause of an INSERT, REPLACE or DELETE,
	// appended to a regenerated statement (the original has it).
	returning string
}

// Inputs implements Primitive: a route is a leaf.
func (r *Route) Inputs() []Primitive { return nil }

// Describe implements Primitive.
func (r *Route) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Route %s keyspace=%s", r.Opcode, r.Keyspace)
	if r.Vindex != nil {
		vals := make([]string, len(r.Values))
		for i, v := range r.Values {
			vals[i] = sqlparser.String(v)
		}
		fmt.Fprintf(&b, " vindex=%s values=[%s]", r.Vindex.String(), strings.Join(vals, ", "))
	}
	if r.mergeBlocker != "" {
		fmt.Fprintf(&b, " multi-shard=refused(%s)", r.mergeBlocker)
	}
	if r.query != nil {
		fmt.Fprintf(&b, " query=%q", r.query.Query)
	} else {
		fmt.Fprintf(&b, " query=%q", r.original)
	}
	return b.String()
}

func (r *Route) sql(bv map[string]*querypb.BindVariable) (string, error) {
	if r.query == nil {
		return r.original, nil
	}
	sql, err := r.query.GenerateQuery(bv, nil)
	return sql + r.returning, err
}

// Execute implements Primitive.
func (r *Route) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	queries, err := r.shardQueries(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	results, err := vc.ExecuteShards(ctx, r.Keyspace, queries, r.Write)
	if err != nil {
		return nil, err
	}
	if r.Opcode == AllShards {
		// Every shard ran the same statement on the same rows (a
		// reference table's, or DDL): one shard's answer is the answer,
		// its rows and counts not multiplied by the shards.
		return results[0], nil
	}
	return combine(results), nil
}

// shardQueries resolves the shards the route runs on and the statement
// each gets.
func (r *Route) shardQueries(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) ([]ShardQuery, error) {
	if r.merged {
		if targets, ok := boundShards(bv); ok {
			return r.queriesOn(ctx, vc, targets, bv)
		}
	}
	shards, err := vc.Shards(r.Keyspace)
	if err != nil {
		return nil, err
	}
	targets, err := r.targets(ctx, vc, shards, bv)
	if err != nil {
		return nil, err
	}
	if len(targets) == 0 {
		// No shard can hold a matching row (WHERE id = NULL), but the
		// client still expects the result's columns: any shard gives them.
		targets = []string{shards[0].Name}
	}
	if len(targets) > 1 && r.mergeBlocker != "" {
		return nil, sqlerr.Unsupported("%s in a statement that spans %d shards of keyspace %s (route it to one shard with an equality on the primary vindex column)",
			r.mergeBlocker, len(targets), r.Keyspace)
	}
	return r.queriesOn(ctx, vc, targets, bv)
}

// inListBindVar carries an IN route's values to each shard.
const inListBindVar = "__sg_in"

// pruneIn makes an In route send each shard only the values of its IN list
// that map to it: the list becomes a list variable (if it is not one
// already), bound per shard at execution. stmt is the routed statement,
// regenerated with the variable.
func (r *Route) pruneIn(stmt sqlparser.Statement) {
	if r.Opcode != In || r.inCmp == nil {
		return
	}
	if list, ok := r.inCmp.Right.(sqlparser.ListArg); ok {
		r.inList = string(list)
	} else {
		r.inCmp.Right = sqlparser.NewListArg(inListBindVar)
		r.inList = inListBindVar
	}
	r.query = sqlparser.NewParsedQuery(stmt)
}

// queriesOn builds the statement each of the named shards runs: with an
// IN route, the list holds only the values that map to the shard.
func (r *Route) queriesOn(ctx context.Context, vc VCursor, targets []string, bv map[string]*querypb.BindVariable) ([]ShardQuery, error) {
	if r.inList != "" {
		return r.inPrunedQueries(ctx, vc, targets, bv)
	}
	sql, err := r.sql(bv)
	if err != nil {
		return nil, sqlerr.Internal("generate query: %v", err)
	}
	queries := make([]ShardQuery, len(targets))
	for i, t := range targets {
		queries[i] = ShardQuery{Shard: t, SQL: sql}
	}
	return queries, nil
}

// inPrunedQueries gives each target shard the statement with the IN list
// bound to the values that map to that shard.
func (r *Route) inPrunedQueries(ctx context.Context, vc VCursor, targets []string, bv map[string]*querypb.BindVariable) ([]ShardQuery, error) {
	shards, err := vc.Shards(r.Keyspace)
	if err != nil {
		return nil, err
	}
	values, err := expandValues(r.Values, bv)
	if err != nil {
		return nil, err
	}
	perShard := map[string][]*querypb.Value{}
	names, err := shardsForValues(ctx, vindexCursor{vc: vc, keyspace: r.Keyspace}, r.Vindex, values, shards)
	if err != nil {
		return nil, err
	}
	for i, v := range values {
		for _, n := range names[i] {
			perShard[n] = append(perShard[n], sqltypes.ValueToProto(v))
		}
	}
	queries := make([]ShardQuery, len(targets))
	for i, t := range targets {
		list := perShard[t]
		if len(list) == 0 {
			// A shard asked only for its columns: IN (NULL) matches nothing.
			list = []*querypb.Value{sqltypes.ValueToProto(sqltypes.NULL)}
		}
		sql, err := r.sql(withBindVar(bv, r.inList, &querypb.BindVariable{Type: querypb.Type_TUPLE, Values: list}))
		if err != nil {
			return nil, sqlerr.Internal("generate query for shard %s: %v", t, err)
		}
		queries[i] = ShardQuery{Shard: t, SQL: sql}
	}
	return queries, nil
}

// targets resolves the shard names the route runs on.
func (r *Route) targets(ctx context.Context, vc VCursor, shards []Shard, bv map[string]*querypb.BindVariable) ([]string, error) {
	switch r.Opcode {
	case Unsharded, AnyShard:
		if len(shards) == 0 {
			return nil, sqlerr.Internal("keyspace %s has no serving shard", r.Keyspace)
		}
		return []string{shards[0].Name}, nil
	case Scatter, AllShards:
		names := make([]string, len(shards))
		for i, s := range shards {
			names[i] = s.Name
		}
		return names, nil
	case EqualUnique, Equal, In:
		values, err := expandValues(r.Values, bv)
		if err != nil {
			return nil, err
		}
		perValue, err := shardsForValues(ctx, vindexCursor{vc: vc, keyspace: r.Keyspace}, r.Vindex, values, shards)
		if err != nil {
			return nil, err
		}
		seen := make(map[string]bool, len(r.Values))
		var out []string
		for _, names := range perValue {
			for _, n := range names {
				if !seen[n] {
					seen[n] = true
					out = append(out, n)
				}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown route opcode %d", r.Opcode)
}

// expandValues evaluates routing values; a list argument (a subquery's
// answer) contributes each of its values.
func expandValues(exprs []sqlparser.Expr, bv map[string]*querypb.BindVariable) ([]sqltypes.Value, error) {
	out := make([]sqltypes.Value, 0, len(exprs))
	for _, e := range exprs {
		if list, ok := e.(sqlparser.ListArg); ok {
			b, found := bv[string(list)]
			if !found {
				return nil, sqlerr.Internal("routing value: no list ::%s", string(list))
			}
			for _, v := range b.Values {
				out = append(out, sqltypes.ProtoToValue(v))
			}
			continue
		}
		v, err := evalValue(e, bv)
		if err != nil {
			return nil, sqlerr.Internal("routing value: %v", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// vindexCursor lets a vindex read (and write) its lookup table through the
// session's VCursor; keyspace is the one of unqualified lookup tables.
type vindexCursor struct {
	vc         VCursor
	keyspace   string
	autocommit bool
}

// Execute implements vindex.Cursor.
func (c vindexCursor) Execute(ctx context.Context, keyspace, sql string, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	if keyspace == "" {
		keyspace = c.keyspace
	}
	return c.vc.ExecuteStatement(ctx, keyspace, sql, bv, c.autocommit)
}

// shardsForValues maps vindex column values to the shards holding them,
// all values in one call of the vindex (one query for a lookup). NULL
// maps to no shard: it equals nothing.
func shardsForValues(ctx context.Context, cur vindex.Cursor, v vindex.Vindex, vals []sqltypes.Value, shards []Shard) ([][]string, error) {
	out := make([][]string, len(vals))
	if h, ok := v.(vindex.Hasher); ok {
		for i, val := range vals {
			if val.IsNull() {
				continue
			}
			id, err := h.Hash(val)
			if err != nil {
				return nil, sqlerr.Internal("vindex %s cannot map %s: %v", v.String(), val.String(), err)
			}
			if out[i], err = shardForID(id, shards); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	sc, ok := v.(vindex.SingleColumn)
	if !ok {
		return nil, sqlerr.Unsupported("routing by multi-column vindex %s", v.String())
	}
	dests, err := sc.Map(ctx, cur, vals)
	if err != nil {
		return nil, sqlerr.From(err)
	}
	for i, d := range dests {
		switch d := d.(type) {
		case vindex.DestinationKeyspaceID:
			if out[i], err = shardForID(vindex.KeyspaceID(d), shards); err != nil {
				return nil, err
			}
		case vindex.DestinationKeyspaceIDs:
			for _, id := range d {
				names, err := shardForID(id, shards)
				if err != nil {
					return nil, err
				}
				out[i] = append(out[i], names...)
			}
		case vindex.DestinationKeyRange:
			for _, s := range shards {
				if s.KeyRange.Intersects(vindex.KeyRange(d)) {
					out[i] = append(out[i], s.Name)
				}
			}
		case vindex.DestinationNone:
		default:
			return nil, sqlerr.Internal("vindex %s returned an unknown destination %T", v.String(), d)
		}
	}
	return out, nil
}

func shardForID(id vindex.KeyspaceID, shards []Shard) ([]string, error) {
	for _, s := range shards {
		if s.KeyRange.Contains(id) {
			return []string{s.Name}, nil
		}
	}
	return nil, sqlerr.Internal("no serving shard holds keyspace id %s: the serving graph does not cover the key space", id.String())
}

// combine merges per-shard results of one statement: rows concatenated,
// counts added (info.go adds up the info texts).
func combine(results []*sqltypes.Result) *sqltypes.Result {
	if len(results) == 1 {
		return results[0]
	}
	out := &sqltypes.Result{}
	for _, r := range results {
		if r == nil {
			continue
		}
		if out.Fields == nil {
			out.Fields = r.Fields
		}
		out.Rows = append(out.Rows, r.Rows...)
		out.RowsAffected += r.RowsAffected
		if out.InsertID == 0 {
			out.InsertID = r.InsertID
		}
	}
	out.Info = combineInfo(results)
	return out
}
