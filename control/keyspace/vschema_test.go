package keyspace

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/control/schema"
	"github.com/shardgate/shardgate/examples/commerce"
	"github.com/shardgate/shardgate/topo"
)

const goodVSchema = `{
  "sharded": true,
  "vindexes": {"hash": {"type": "hash"}},
  "tables": {
    "customer": {"column_vindexes": [{"column": "customer_id", "name": "hash"}]},
    "product": {"type": "reference"}
  }
}`

func TestApplyVSchema(t *testing.T) {
	ctx := context.Background()
	ts := newTopo(t)
	if err := CreateKeyspace(ctx, ts, "commerce", []string{"-80", "80-"}, true); err != nil {
		t.Fatal(err)
	}
	if err := ApplyVSchema(ctx, ts, "commerce", []byte(goodVSchema)); err != nil {
		t.Fatal(err)
	}
	got, _, err := ts.GetVSchema(ctx, "commerce")
	if err != nil || string(got) != goodVSchema {
		t.Errorf("stored vschema = %q, %v; want it as given", got, err)
	}
}

func TestApplyVSchemaRejected(t *testing.T) {
	tests := []struct {
		name    string
		sharded bool
		vschema string
		want    []string
	}{
		{
			name:    "unknown vindex type",
			sharded: true,
			vschema: `{"sharded": true, "vindexes": {"h": {"type": "no_such_type"}},
			           "tables": {"t": {"column_vindexes": [{"column": "id", "name": "h"}]}}}`,
			want: []string{`vindex "h"`, "no_such_type"},
		},
		{
			name:    "sharded table without primary vindex",
			sharded: true,
			vschema: `{"sharded": true, "vindexes": {"hash": {"type": "hash"}}, "tables": {"orders": {}}}`,
			want:    []string{`"orders"`, "no primary vindex"},
		},
		{
			name:    "undeclared vindex",
			sharded: true,
			vschema: `{"sharded": true, "tables": {"orders": {"column_vindexes": [{"column": "id", "name": "hash"}]}}}`,
			want:    []string{`"orders"`, `"hash"`, "not declared"},
		},
		{
			name:    "sharded flag disagrees with the keyspace",
			sharded: false,
			vschema: `{"sharded": true}`,
			want:    []string{"unsharded", `"sharded": true`},
		},
		{
			name:    "unknown field",
			sharded: true,
			vschema: `{"sharded": true, "tabels": {}}`,
			want:    []string{"tabels"},
		},
		{
			name:    "not JSON",
			sharded: true,
			vschema: `{"sharded": true,`,
			want:    []string{"vschema of keyspace ks"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ts := newTopo(t)
			shards := []string{"0"}
			if tt.sharded {
				shards = []string{"-80", "80-"}
			}
			if err := CreateKeyspace(ctx, ts, "ks", shards, tt.sharded); err != nil {
				t.Fatal(err)
			}
			err := ApplyVSchema(ctx, ts, "ks", []byte(tt.vschema))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if _, _, err := ts.GetVSchema(ctx, "ks"); !errors.Is(err, topo.ErrNotFound) {
				t.Errorf("a rejected vschema was stored (GetVSchema error = %v)", err)
			}
		})
	}
}

func TestApplyVSchemaUnknownKeyspace(t *testing.T) {
	err := ApplyVSchema(context.Background(), newTopo(t), "nope", []byte(goodVSchema))
	if !errors.Is(err, topo.ErrNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("error = %v, want not found naming the keyspace", err)
	}
}

func TestApplyExampleVSchema(t *testing.T) {
	ctx := context.Background()
	ts := newTopo(t)
	shards, err := ParseShards(strconv.Itoa(commerce.Shards))
	if err != nil {
		t.Fatal(err)
	}
	if err := CreateKeyspace(ctx, ts, commerce.Keyspace, shards, true); err != nil {
		t.Fatal(err)
	}
	if err := ApplyVSchema(ctx, ts, commerce.Keyspace, commerce.VSchema); err != nil {
		t.Fatalf("examples/commerce/vschema.json: %v", err)
	}
	stmts, err := schema.SplitSQL(string(commerce.Schema))
	if err != nil || len(stmts) != 3 {
		t.Errorf("examples/commerce/schema.sql splits into %d statements (%v), want 3", len(stmts), err)
	}
}
