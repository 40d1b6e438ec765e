package vindex

import (
	"context"
	"testing"

	"vitess.io/vitess/go/sqltypes"
)

func TestXXHashVectors(t *testing.T) { runVectorFile(t, "xxhash.txt") }

func TestXXHashProperties(t *testing.T) {
	checkProperties(t, "xxhash", 1)
}

func TestXXHashMapFailsOnExpression(t *testing.T) {
	v := mustCreate(t, "xxhash", nil).(SingleColumn)
	_, err := v.Map(context.Background(), nil, []sqltypes.Value{sqltypes.NewInt64(1), sqltypes.MakeTrusted(sqltypes.Expression, []byte("1"))})
	if err == nil {
		t.Error("Map of an expression succeeded; want an error, as in Vitess")
	}
}
