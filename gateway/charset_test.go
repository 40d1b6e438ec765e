package gateway

import (
	"testing"

	querypb "vitess.io/vitess/go/vt/proto/query"
)

func TestFieldsForClient(t *testing.T) {
	fields := []*querypb.Field{
		{Name: "ch", Charset: 45, ColumnLength: 40},         // CHAR(10)
		{Name: "tx", Charset: 45, ColumnLength: 262140},     // TEXT
		{Name: "js", Charset: 45, ColumnLength: 4294967295}, // JSON
		{Name: "id", Charset: 63, ColumnLength: 20},
	}
	got := fieldsForClient(fields, 33) // utf8mb3_general_ci
	want := []struct {
		charset, length uint32
	}{{33, 30}, {33, 196605}, {33, 4294967295}, {63, 20}}
	for i, w := range want {
		if got[i].Charset != w.charset || got[i].ColumnLength != w.length {
			t.Errorf("%s: charset %d length %d, want %d %d", got[i].Name, got[i].Charset, got[i].ColumnLength, w.charset, w.length)
		}
	}
	if fields[0].Charset != 45 {
		t.Error("the shared fields were changed")
	}
	if got := fieldsForClient(fields, 224); got[0].Charset != 224 || got[0].ColumnLength != 40 {
		t.Errorf("utf8mb4_unicode_ci: %v", got[0])
	}
	if got := fieldsForClient(fields, 45); &got[0] != &fields[0] {
		t.Error("a utf8mb4_general_ci client got a copy")
	}
}
