package rowkey

import (
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

func TestCompare(t *testing.T) {
	fields := []*querypb.Field{
		{Name: "id", Type: sqltypes.Int64},
		{Name: "name", Type: sqltypes.VarChar, Charset: 45}, // utf8mb4_general_ci
		{Name: "v", Type: sqltypes.Int64},
	}
	k := New(fields, []int{1, 0})
	row := func(id int64, name string) []sqltypes.Value {
		return []sqltypes.Value{sqltypes.NewInt64(id), sqltypes.NewVarChar(name), sqltypes.NewInt64(0)}
	}
	cases := []struct {
		a, b []sqltypes.Value
		want int
	}{
		{row(1, "a"), row(1, "b"), -1},
		{row(2, "a"), row(1, "A"), 1}, // same name case-insensitively: id decides
		{row(1, "a"), row(1, "A"), 0},
		{row(10, "x"), row(9, "x"), 1}, // numbers, not strings
	}
	for _, c := range cases {
		got, err := k.Compare(c.a, c.b)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("Compare(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	got, err := k.CompareKey(row(3, "m"), []sqltypes.Value{sqltypes.NewVarChar("M"), sqltypes.NewInt64(4)})
	if err != nil || got != -1 {
		t.Errorf("CompareKey = %d, %v; want -1", got, err)
	}
}
