package sqlrouter

import (
	"context"
	"fmt"
	"strings"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
	"vitess.io/vitess/go/vt/vtenv"
)

// evalEnv is the environment the gate evaluates expressions in.
var evalEnv = func() *vtenv.Environment {
	env, err := vtenv.New(vtenv.Options{MySQLServerVersion: "8.0.40"})
	if err != nil {
		panic(fmt.Sprintf("vitess environment: %v", err))
	}
	return env
}()

// collationEnv knows the collation IDs MariaDB and MySQL report in column
// metadata; comparisons and grouping keys of text use the column's own.
var collationEnv = collations.NewEnvironment("8.0.40")

// Merge runs a read that may span shards and answers it the way one MySQL
// server would. Its route's shards are resolved at execution: when they
// are one, that shard runs the statement as the client sent it (single),
// which answers exactly; when several, input combines their answers of a
// rewritten statement (route, the leaf of input): grouping and
// aggregating, removing duplicates, sorting, then OFFSET and LIMIT, each a
// primitive of its own. The rewritten statement may carry trailing
// columns only the gate uses (hidden), which Merge drops.
type Merge struct {
	single *Route
	route  *Route
	input  Primitive
	hidden int
	// limit and offset, when pushLimit, tell each shard to send only its
	// first offset+limit rows (limitBindVar).
	pushLimit     bool
	limit, offset sqlparser.Expr
	// steps name what input does, for Describe.
	steps []string
}

// shardsBindVar carries the shards a Merge resolved to the route beneath
// it, so that a lookup vindex is asked once.
const shardsBindVar = "__sg_shards"

// Inputs implements Primitive.
func (m *Merge) Inputs() []Primitive { return []Primitive{m.single, m.input} }

// Describe implements Primitive.
func (m *Merge) Describe() string {
	line := "Merge " + strings.Join(m.steps, ", ")
	if m.hidden > 0 {
		line += fmt.Sprintf(" (drop %d hidden)", m.hidden)
	}
	return describeTree(line, labeled{label: "one shard", p: m.single}, labeled{label: "shards", p: m.input})
}

// Execute implements Primitive.
func (m *Merge) Execute(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	targets, err := m.targets(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	if len(targets) <= 1 {
		return m.single.Execute(ctx, vc, bv) // one shard answers exactly
	}
	if bv, err = m.bind(bv, targets); err != nil {
		return nil, err
	}
	if isDryRun(vc) {
		// Nothing to combine: record what the shards would get.
		if _, err := m.route.Execute(ctx, vc, bv); err != nil {
			return nil, err
		}
		return &sqltypes.Result{}, nil
	}
	res, err := m.input.Execute(ctx, vc, bv)
	if err != nil {
		return nil, err
	}
	if m.hidden > 0 {
		visible := len(res.Fields) - m.hidden
		res.Fields = res.Fields[:visible]
		for i, r := range res.Rows {
			res.Rows[i] = r[:visible]
		}
	}
	return res, nil
}

func (m *Merge) targets(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) ([]string, error) {
	shards, err := vc.Shards(m.route.Keyspace)
	if err != nil {
		return nil, err
	}
	return m.route.targets(ctx, vc, shards, bv)
}

// bind adds the resolved shards and, when the limit is pushed, each
// shard's row count to bv.
func (m *Merge) bind(bv map[string]*querypb.BindVariable, targets []string) (map[string]*querypb.BindVariable, error) {
	out := make(map[string]*querypb.BindVariable, len(bv)+2)
	for k, v := range bv {
		out[k] = v
	}
	list := &querypb.BindVariable{Type: querypb.Type_TUPLE, Values: make([]*querypb.Value, len(targets))}
	for i, t := range targets {
		list.Values[i] = &querypb.Value{Type: querypb.Type_VARCHAR, Value: []byte(t)}
	}
	out[shardsBindVar] = list
	if m.pushLimit {
		offset, count, err := limitWindow(m.limit, m.offset, bv)
		if err != nil {
			return nil, err
		}
		// Each shard sends the first offset+count rows of its own; the
		// sum saturates, as MariaDB takes counts beyond the range as "all".
		out[limitBindVar] = sqltypes.Uint64BindVariable(saturatingAdd(offset, count))
	}
	return out, nil
}

// shardQueries resolves the shards the read runs on and the statement
// each gets (for EXPLAIN): on one shard the statement as the client sent
// it, on several the rewritten one.
func (m *Merge) shardQueries(ctx context.Context, vc VCursor, bv map[string]*querypb.BindVariable) (*Route, []ShardQuery, error) {
	targets, err := m.targets(ctx, vc, bv)
	if err != nil {
		return nil, nil, err
	}
	if len(targets) <= 1 {
		queries, err := m.single.shardQueries(ctx, vc, bv)
		return m.single, queries, err
	}
	if bv, err = m.bind(bv, targets); err != nil {
		return nil, nil, err
	}
	queries, err := m.route.shardQueries(ctx, vc, bv)
	return m.route, queries, err
}

// boundShards returns the shards a Merge resolved for the route beneath
// it.
func boundShards(bv map[string]*querypb.BindVariable) ([]string, bool) {
	list, ok := bv[shardsBindVar]
	if !ok {
		return nil, false
	}
	out := make([]string, len(list.Values))
	for i, v := range list.Values {
		out[i] = string(v.Value)
	}
	return out, true
}
