package gateway

import (
	"sort"
	"strings"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
)

// The SHOW statements Vitess answers about the cluster itself, answered
// here from what the gate routes by: the serving graph and the tablets it
// watches. Tools and operators used to Vitess run them to see where a
// keyspace's shards are.

// showVitessShards answers SHOW VITESS_SHARDS [LIKE ...]: every keyspace's
// shards that serve the session's tablet type, as "keyspace/shard".
func (e *Executor) showVitessShards(s *Session, filter *sqlparser.ShowFilter) *sqltypes.Result {
	res := &sqltypes.Result{Fields: []*vquerypb.Field{varcharField("Shards")}}
	matches := showMatcher(filter)
	for _, keyspace := range e.keyspaceNames() {
		shards, err := e.topo.shards(keyspace, s.TabletType)
		if err != nil {
			continue // not serving this tablet type: no shard to list
		}
		for _, shard := range shards {
			name := keyspace + "/" + shard.Name
			if !matches(name) {
				continue
			}
			res.Rows = append(res.Rows, sqltypes.Row{sqltypes.NewVarChar(name)})
		}
	}
	return res
}

// showVitessTablets answers SHOW VITESS_TABLETS [LIKE ...] with the
// tablets this gate knows and whether each serves now; LIKE matches the
// alias or "keyspace/shard".
func (e *Executor) showVitessTablets(filter *sqlparser.ShowFilter) *sqltypes.Result {
	res := &sqltypes.Result{Fields: []*vquerypb.Field{
		varcharField("Cell"), varcharField("Keyspace"), varcharField("Shard"), varcharField("TabletType"),
		varcharField("State"), varcharField("Alias"), varcharField("Hostname"), varcharField("PrimaryTermStartTime"),
	}}
	matches := showMatcher(filter)
	e.tablets.mu.Lock()
	tablets := make([]*tabletConn, 0, len(e.tablets.tablets))
	for _, tc := range e.tablets.tablets {
		tablets = append(tablets, tc)
	}
	e.tablets.mu.Unlock()
	sort.Slice(tablets, func(i, j int) bool { return tablets[i].record.Alias < tablets[j].record.Alias })
	for _, tc := range tablets {
		r := tc.record
		if !matches(r.Alias) && !matches(r.Keyspace+"/"+r.Shard) {
			continue
		}
		state := "NOT_SERVING"
		if tc.serving.Load() {
			state = "SERVING"
		}
		res.Rows = append(res.Rows, sqltypes.Row{
			sqltypes.NewVarChar(r.Cell), sqltypes.NewVarChar(r.Keyspace), sqltypes.NewVarChar(r.Shard),
			sqltypes.NewVarChar(strings.ToUpper(r.Type.String())), sqltypes.NewVarChar(state),
			sqltypes.NewVarChar(r.Alias), sqltypes.NewVarChar(r.Hostname), sqltypes.NewVarChar(""),
		})
	}
	return res
}

func varcharField(name string) *vquerypb.Field {
	return &vquerypb.Field{Name: name, Type: sqltypes.VarChar, Charset: 45, ColumnLength: 256}
}
