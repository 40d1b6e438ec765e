package keyspace

import (
	"strings"
	"testing"
)

func TestExplainWithoutACluster(t *testing.T) {
	keyspaces := []ExplainKeyspace{{
		Name:    "commerce",
		VSchema: []byte(`{"sharded": true, "vindexes": {"hash": {"type": "hash"}}, "tables": {"customer": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}`),
		Shards:  []string{"-40", "40-80", "80-c0", "c0-"},
	}}
	ex, err := Explain(keyspaces, "commerce", "insert into customer (id, name) values (1, 'a'), (4, 'd')")
	if err != nil {
		t.Fatal(err)
	}
	// The hash vindex puts 1 on -40 and 4 on c0-.
	got := map[string]string{}
	for _, q := range ex.Queries {
		got[q.Shard] = q.SQL
	}
	if len(got) != 2 || !strings.Contains(got["-40"], "(1, 'a')") || !strings.Contains(got["c0-"], "(4, 'd')") {
		t.Fatalf("queries = %v", got)
	}
	ex, err = Explain(keyspaces, "commerce", "select count(*) from customer")
	if err != nil || !strings.Contains(ex.Plan, "Merge aggregate") || len(ex.Queries) != 4 {
		t.Fatalf("plan %q, %d queries, %v", ex.Plan, len(ex.Queries), err)
	}
	if _, err := Explain(keyspaces, "commerce", "select * from nope"); err == nil {
		t.Fatal("a table outside the vschema must be an error")
	}
}

func TestExplainJoinAcrossShards(t *testing.T) {
	keyspaces := []ExplainKeyspace{{
		Name: "ks",
		VSchema: []byte(`{"sharded": true, "vindexes": {"hash": {"type": "hash"}}, "tables": {
			"a": {"column_vindexes": [{"column": "id", "name": "hash"}]},
			"b": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}`),
		Shards: []string{"-80", "80-"},
		Schema: []byte("create table a (id bigint primary key, x int); create table b (id bigint primary key, y int);"),
	}}
	// The result's columns from one shard, a's row from its shard, then
	// b's rows from every shard (b.y is not its vindex column).
	ex, err := Explain(keyspaces, "ks", "select a.x, b.y from a join b on a.x = b.y where a.id = 1")
	if err != nil || !strings.HasPrefix(ex.Plan, "GateSelect") || len(ex.Queries) != 4 {
		t.Fatalf("plan %q, queries %v, %v", ex.Plan, ex.Queries, err)
	}
	keyspaces[0].Schema = nil
	if _, err := Explain(keyspaces, "ks", "select a.x, b.y from a join b on a.x = b.y"); err == nil || !strings.Contains(err.Error(), "doesn't exist") {
		t.Fatalf("without a schema, a join the gate evaluates must name the missing table, got %v", err)
	}
}

func TestExplainPrunesInListsPerShard(t *testing.T) {
	keyspaces := []ExplainKeyspace{{
		Name:    "ks",
		VSchema: []byte(`{"sharded": true, "vindexes": {"hash": {"type": "hash"}}, "tables": {"t": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}`),
		Shards:  []string{"-40", "40-80", "80-c0", "c0-"},
	}}
	ex, err := Explain(keyspaces, "ks", "select * from t where id in (1, 2, 3, 4, 5, 6)")
	if err != nil {
		t.Fatal(err)
	}
	// hash puts 1, 2 on -40; 3, 5 on 40-80; 4, 6 on c0-.
	want := map[string]string{"-40": "(1, 2)", "40-80": "(3, 5)", "c0-": "(4, 6)"}
	if len(ex.Queries) != len(want) {
		t.Fatalf("queries = %v", ex.Queries)
	}
	for _, q := range ex.Queries {
		if !strings.HasSuffix(q.SQL, want[q.Shard]) {
			t.Errorf("shard %s got %q, want its own values %s", q.Shard, q.SQL, want[q.Shard])
		}
	}
}
