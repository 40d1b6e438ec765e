package vreplication

import (
	"encoding/json"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	vquerypb "vitess.io/vitess/go/vt/proto/query"
)

func testTable(t *testing.T) *tableInfo {
	t.Helper()
	fields := []*vquerypb.Field{
		{Name: "name", Type: sqltypes.VarChar, Charset: 45},
		{Name: "id", Type: sqltypes.Int64},
		{Name: "note", Type: sqltypes.Blob, Charset: 63},
	}
	info, err := newTableInfo("ks", "t`x", fields, []string{"ID", "name"})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestStatementsOfChanges(t *testing.T) {
	info := testTable(t)
	row := []sqltypes.Value{sqltypes.NewVarChar("o'k"), sqltypes.NewInt64(7), sqltypes.NULL}
	next := []sqltypes.Value{sqltypes.NewVarChar("o'k"), sqltypes.NewInt64(7), sqltypes.MakeTrusted(sqltypes.Blob, []byte("\x00\xff"))}
	for got, want := range map[string]string{
		info.insert([][]sqltypes.Value{row, next}): "INSERT INTO `ks`.`t``x` (`name`, `id`, `note`) VALUES ('o\\'k', 7, null), ('o\\'k', 7, _binary'\\0\xff')",
		info.update(row, next):                     "UPDATE `ks`.`t``x` SET `name` = 'o\\'k', `id` = 7, `note` = _binary'\\0\xff' WHERE `id` = 7 AND `name` = 'o\\'k'",
		info.delete(row):                           "DELETE FROM `ks`.`t``x` WHERE `id` = 7 AND `name` = 'o\\'k'",
	} {
		if got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	}
	if _, err := newTableInfo("ks", "t", info.fields, []string{"missing"}); err == nil {
		t.Error("a primary key column that is not sent was accepted")
	}
}

// The saved copy state brings a primary key back with its type, so that
// a restarted copy compares keys as the server orders them.
func TestCopiedRowAfterRestart(t *testing.T) {
	info := testTable(t)
	saved, err := json.Marshal(copyState{Tables: []*tableCopy{{Name: "t`x", LastPK: encodePK([]sqltypes.Value{sqltypes.NewInt64(10), sqltypes.NewVarChar("M")})}}})
	if err != nil {
		t.Fatal(err)
	}
	var st copyState
	if err := json.Unmarshal(saved, &st); err != nil {
		t.Fatal(err)
	}
	tc := st.table("T`X")
	if tc == nil {
		t.Fatal("table not found by its name in another case")
	}
	row := func(id int64, name string) []sqltypes.Value {
		return []sqltypes.Value{sqltypes.NewVarChar(name), sqltypes.NewInt64(id), sqltypes.NULL}
	}
	for _, c := range []struct {
		row  []sqltypes.Value
		want bool
	}{
		{row(9, "z"), true},   // 9 < 10 as numbers (not as strings)
		{row(10, "m"), true},  // equal under the case-insensitive collation
		{row(10, "n"), false}, // after the last copied key
		{row(11, "a"), false},
	} {
		if got := copiedRow(tc, info, c.row); got != c.want {
			t.Errorf("copiedRow(%v) = %v, want %v", c.row, got, c.want)
		}
	}
	if st.done() {
		t.Error("a copy under way reported done")
	}
	tc.Done = true
	if !copiedRow(tc, info, row(99, "z")) {
		t.Error("a row of a table copied in full counts as not copied")
	}
	if !st.done() {
		t.Error("a copy of every table reported not done")
	}
}
