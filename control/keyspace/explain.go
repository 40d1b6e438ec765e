package keyspace

import (
	"context"
	"fmt"
	"sort"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/sqlrouter"
	"github.com/shardgate/shardgate/sqlrouter/vschema"
	"github.com/shardgate/shardgate/vindex"
)

// ExplainKeyspace is one keyspace of an offline explain: its vschema and
// its shards.
type ExplainKeyspace struct {
	Name    string
	VSchema []byte // Vitess vschema JSON; empty for an unsharded keyspace
	Shards  []string
	// Schema holds CREATE TABLE statements: statements the gate evaluates
	// itself need the tables' columns.
	Schema []byte
}

// Explanation is how a statement would run.
type Explanation struct {
	Plan    string
	Queries []sqlrouter.SentQuery
}

// Explain plans sql in keyspace against the given keyspaces without a
// cluster, and lists the statement each shard would run (a dry run: the
// plan's reads see no rows, so statements that depend on earlier answers,
// like a join's right side, show their shape with no values).
func Explain(keyspaces []ExplainKeyspace, keyspace, sql string) (*Explanation, error) {
	vs := &vschema.VSchema{Keyspaces: map[string]*vschema.Keyspace{}, Version: "explain"}
	shards := map[string][]sqlrouter.Shard{}
	parser, err := sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.40"})
	if err != nil {
		return nil, err
	}
	schema := sqlrouter.StaticSchema{}
	for _, k := range keyspaces {
		if err := schema.AddCreateTables(parser, k.Name, string(k.Schema)); err != nil {
			return nil, err
		}
		if err := CheckShardNames(k.Shards); err != nil {
			return nil, fmt.Errorf("keyspace %s: %w", k.Name, err)
		}
		sharded := len(k.Shards) > 1 || vschemaSharded(k.VSchema)
		ks, _, err := vschema.ParseVSchema(k.Name, sharded, k.VSchema)
		if err != nil {
			return nil, err
		}
		vs.Keyspaces[k.Name] = ks
		for _, name := range k.Shards {
			kr, err := vindex.ParseKeyRange(name)
			if err != nil {
				return nil, err
			}
			shards[k.Name] = append(shards[k.Name], sqlrouter.Shard{Name: name, KeyRange: kr})
		}
		sort.Slice(shards[k.Name], func(i, j int) bool {
			return string(shards[k.Name][i].KeyRange.Start) < string(shards[k.Name][j].KeyRange.Start)
		})
	}
	stmt, err := parser.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	plan, err := sqlrouter.NewPlan(stmt, sqlrouter.PlanContext{VSchema: vs, Keyspace: keyspace, SQL: sql,
		ServerVersion: "explain", VersionComment: "explain", Schema: schema})
	if err != nil {
		return nil, err
	}
	dry := sqlrouter.NewDryRun(func(ks string) ([]sqlrouter.Shard, error) {
		s, ok := shards[ks]
		if !ok {
			return nil, fmt.Errorf("keyspace %s has no shards in this explain", ks)
		}
		return s, nil
	})
	if _, err := plan.Execute(context.Background(), dry, nil); err != nil {
		return nil, err
	}
	return &Explanation{Plan: plan.Primitive.Describe(), Queries: dry.Sent()}, nil
}

// CheckShardNames checks that shard names tile the key space.
func CheckShardNames(shards []string) error {
	if len(shards) == 0 {
		return fmt.Errorf("no shards")
	}
	return vindex.CheckTiling(shards)
}

func vschemaSharded(vschemaJSON []byte) bool {
	vs, _, err := vschema.ParseVSchema("x", true, vschemaJSON)
	return err == nil && vs != nil && vs.Sharded
}
