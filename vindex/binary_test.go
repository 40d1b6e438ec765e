package vindex

import (
	"testing"

	"vitess.io/vitess/go/sqltypes"
)

func TestBinaryVectors(t *testing.T) { runVectorFile(t, "binary.txt") }

func TestBinaryProperties(t *testing.T) {
	checkProperties(t, "binary", 0)
}

func TestBinaryHashDoesNotAlias(t *testing.T) {
	raw := []byte("abc")
	v := sqltypes.MakeTrusted(sqltypes.VarBinary, raw)
	id, err := mustCreate(t, "binary", nil).(Hasher).Hash(v)
	if err != nil {
		t.Fatal(err)
	}
	id[0] = 'X'
	if string(raw) != "abc" {
		t.Errorf("changing the keyspace id changed the value: %q", raw)
	}
}

func TestBinaryReverseMap(t *testing.T) {
	b := mustCreate(t, "binary", nil).(Reversible)
	got, err := b.ReverseMap(nil, []KeyspaceID{KeyspaceID("\x01\x02"), {}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].String() != `VARBINARY("\x01\x02")` || got[1].String() != `VARBINARY("")` {
		t.Errorf("ReverseMap = %v", got)
	}
	if _, err := b.ReverseMap(nil, []KeyspaceID{nil}); err == nil {
		t.Error("ReverseMap(nil id) succeeded; want an error, as in Vitess")
	}
}
