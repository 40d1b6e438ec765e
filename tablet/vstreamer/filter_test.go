package vstreamer

import (
	"testing"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"

	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/vindex"
)

func TestFilterKeepsTheReceiversRange(t *testing.T) {
	kr, err := vindex.ParseKeyRange("-80")
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFilter(&replicationpb.Filter{
		KeyRange: &topopb.KeyRange{Start: kr.Start, End: kr.End},
		Tables: []*topopb.TableSharding{
			{Table: "Customer", Columns: []string{"ID"}, VindexType: "hash"},
			{Table: "country", Reference: true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Has("customer") || f.Has("orders") {
		t.Error("Has does not follow the filter's tables")
	}
	fields := []*vquerypb.Field{{Name: "name", Type: sqltypes.VarChar}, {Name: "id", Type: sqltypes.Int64}}
	rf, err := f.forTable("customer", fields)
	if err != nil {
		t.Fatal(err)
	}
	// The hash vindex puts 1, 2, 3 and 5 in -80, 4 and 6 in 80- (the
	// values Vitess gives).
	for id, want := range map[int64]bool{1: true, 2: true, 3: true, 4: false, 5: true, 6: false} {
		keep, err := rf.keep([]sqltypes.Value{sqltypes.NewVarChar("x"), sqltypes.NewInt64(id)})
		if err != nil {
			t.Fatal(err)
		}
		if keep != want {
			t.Errorf("id %d: keep %v, want %v", id, keep, want)
		}
	}
	ref, err := f.forTable("country", fields[:1])
	if err != nil {
		t.Fatal(err)
	}
	if keep, _ := ref.keep([]sqltypes.Value{sqltypes.NewVarChar("FR")}); !keep {
		t.Error("a reference table's row was filtered out")
	}
	if _, err := f.forTable("customer", fields[:1]); err == nil {
		t.Error("a row without its primary vindex column was accepted")
	}
	if _, err := NewFilter(&replicationpb.Filter{Tables: []*topopb.TableSharding{{Table: "t", Columns: []string{"a"}, VindexType: "lookup_unique",
		VindexParams: map[string]string{"table": "l", "from": "a", "to": "keyspace_id"}}}}); err == nil {
		t.Error("a lookup primary vindex was accepted")
	}
}
