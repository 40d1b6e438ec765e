package vindex

import (
	"context"
	"strings"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

// tableCursor answers a lookup's queries from an in-memory lookup table
// and records the statements it gets.
type tableCursor struct {
	rows [][2]string // from, to
	sent []string
}

func (c *tableCursor) Execute(_ context.Context, keyspace, sql string, bv map[string]*querypb.BindVariable) (*sqltypes.Result, error) {
	c.sent = append(c.sent, keyspace+": "+sql)
	res := &sqltypes.Result{Fields: []*querypb.Field{{Name: "from", Type: sqltypes.VarChar, Charset: 45}, {Name: "to", Type: sqltypes.VarBinary, Charset: 63}}}
	if list, ok := bv["vals"]; ok {
		for _, v := range list.Values {
			for _, r := range c.rows {
				if strings.EqualFold(r[0], string(v.Value)) {
					res.Rows = append(res.Rows, sqltypes.Row{sqltypes.NewVarChar(r[0]), sqltypes.MakeTrusted(sqltypes.VarBinary, []byte(r[1]))})
				}
			}
		}
	}
	return res, nil
}

func TestLookupMap(t *testing.T) {
	unique, err := Create("lookup_unique", "by_email", map[string]string{"table": "lk.email_idx", "from": "email", "to": "keyspace_id"})
	if err != nil {
		t.Fatal(err)
	}
	cur := &tableCursor{rows: [][2]string{{"a@x", "\x01"}, {"b@x", "\x02"}}}
	dests, err := unique.(SingleColumn).Map(context.Background(), cur, []sqltypes.Value{sqltypes.NewVarChar("A@x"), sqltypes.NewVarChar("nobody"), sqltypes.NULL})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"DestinationKeyspaceID(01)", "DestinationNone()", "DestinationNone()"}
	for i, d := range dests {
		if d.String() != want[i] {
			t.Errorf("value %d maps to %s, want %s (the table compares case-insensitively, NULL maps nowhere)", i, d, want[i])
		}
	}
	if len(cur.sent) != 1 || cur.sent[0] != "lk: select `email`, `keyspace_id` from `lk`.`email_idx` where `email` in ::vals" {
		t.Errorf("sent %q, want one query for all values", cur.sent)
	}

	nonUnique, err := Create("lookup", "by_tag", map[string]string{"table": "tags", "from": "tag", "to": "ksid"})
	if err != nil {
		t.Fatal(err)
	}
	cur = &tableCursor{rows: [][2]string{{"red", "\x01"}, {"red", "\x09"}}}
	dests, err = nonUnique.(SingleColumn).Map(context.Background(), cur, []sqltypes.Value{sqltypes.NewVarChar("red")})
	if err != nil {
		t.Fatal(err)
	}
	if got := dests[0].String(); got != "DestinationKeyspaceIDs(01,09)" {
		t.Errorf("non-unique lookup maps red to %s, want both ids", got)
	}
	if _, err := unique.(SingleColumn).Map(context.Background(), cur, []sqltypes.Value{sqltypes.NewVarChar("red")}); err == nil {
		t.Error("a unique lookup whose table maps a value twice must fail, not pick one")
	}
}

func TestLookupWrites(t *testing.T) {
	for _, tc := range []struct {
		typ, insert string
	}{
		{"lookup_unique", "insert into"},
		{"consistent_lookup_unique", "insert into"},
		{"lookup", "insert ignore into"}, // rows of one keyspace id share a lookup row
		{"consistent_lookup", "insert ignore into"},
	} {
		v, err := Create(tc.typ, "l", map[string]string{"table": "t", "from": "f", "to": "k", "ignore_nulls": "true"})
		if err != nil {
			t.Fatal(err)
		}
		lv := v.(LookupVindex)
		if lv.Consistent() != strings.HasPrefix(tc.typ, "consistent") {
			t.Errorf("%s: Consistent() = %v", tc.typ, lv.Consistent())
		}
		cur := &tableCursor{}
		vals := []sqltypes.Value{sqltypes.NewInt64(1), sqltypes.NULL, sqltypes.NewInt64(3)}
		if err := lv.Create(context.Background(), cur, vals, []KeyspaceID{{1}, {2}, {3}}); err != nil {
			t.Fatal(err)
		}
		want := ": " + tc.insert + " `t` (`f`, `k`) values (:f0, :t0), (:f2, :t2)"
		if len(cur.sent) != 1 || cur.sent[0] != want {
			t.Errorf("%s: Create sent %q, want %q (NULL skipped with ignore_nulls)", tc.typ, cur.sent, want)
		}
	}
}

func TestLookupParams(t *testing.T) {
	for _, bad := range []map[string]string{
		{"from": "a", "to": "b"},
		{"table": "t", "from": "a,b", "to": "k"},
		{"table": "t", "from": "a", "to": "k", "ignore_nulls": "maybe"},
		{"table": "t", "from": "a", "to": "k", "colour": "blue"},
	} {
		if _, err := Create("lookup", "l", bad); err == nil {
			t.Errorf("params %v accepted", bad)
		}
	}
}
