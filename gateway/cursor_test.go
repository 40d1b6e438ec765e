package gateway

import (
	"testing"

	"vitess.io/vitess/go/sqltypes"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

func TestResultSizeBound(t *testing.T) {
	c := &cursor{e: &Executor{maxResultBytes: 100}}
	small := &sqltypes.Result{Rows: []sqltypes.Row{{sqltypes.NewVarChar("abc")}}}
	if err := c.checkResultSize([]*sqltypes.Result{small, small}); err != nil {
		t.Fatalf("small results refused: %v", err)
	}
	big := &sqltypes.Result{Rows: []sqltypes.Row{{sqltypes.NewVarChar(string(make([]byte, 90)))}, {sqltypes.NewVarChar("x")}}}
	err := c.checkResultSize([]*sqltypes.Result{big})
	if se := sqlerr.From(err); err == nil || se.Num != 1038 || se.State != "HY001" {
		t.Fatalf("over the bound: %v, want error 1038 (HY001)", err)
	}
	c.e.maxResultBytes = 0
	if err := c.checkResultSize([]*sqltypes.Result{big}); err != nil {
		t.Fatalf("no bound: %v", err)
	}
}
