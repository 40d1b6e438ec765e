package vindex

import (
	"context"
	"testing"

	"vitess.io/vitess/go/sqltypes"
)

func TestNullVectors(t *testing.T) { runVectorFile(t, "null.txt") }

func TestNullProperties(t *testing.T) {
	checkProperties(t, "null", 100)
	if _, ok := mustCreate(t, "null", nil).(Hasher); ok {
		t.Error("null is a Hasher; Vitess's is not, so multicol must not accept it")
	}
}

func TestNullVerify(t *testing.T) {
	n := mustCreate(t, "null", nil).(SingleColumn)
	values := []sqltypes.Value{sqltypes.NewInt64(1), sqltypes.NULL, sqltypes.NewInt64(2)}
	got, err := n.Verify(context.Background(), nil, values, []KeyspaceID{{0}, {0}, {1}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false}; !equalBools(got, want) {
		t.Errorf("Verify = %v; want %v", got, want)
	}
}
