package gateway

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/shardgate/shardgate/proto/querypb"
)

// A prepared read in a session aimed at one shard (USE ks:shard) announces
// its columns at prepare time, as in an untargeted session: libmysqlclient
// (sysbench, mysqli) fails the execution with "Commands out of sync" when
// a prepare announced none and the execution returns rows.
func TestPrepareInATargetedSessionAnnouncesItsColumns(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	shard := &scriptedTablet{execute: func(_ context.Context, sql string) (*querypb.QueryResult, error) {
		mu.Lock()
		seen = append(seen, sql)
		mu.Unlock()
		return &querypb.QueryResult{Fields: []*querypb.Field{{Name: "id", Type: querypb.Type_INT64}, {Name: "c", Type: querypb.Type_VARCHAR}}}, nil
	}}
	e := testExecutor(t, map[string]unaryClient{"ks/-80": shard, "ks/80-": rowsTablet(1), "main/0": rowsTablet(1)})
	s := NewSession(1, "app")
	ctx := context.Background()
	if _, err := e.Execute(ctx, s, "use `ks:-80`", nil); err != nil {
		t.Fatal(err)
	}
	fields, params, err := e.Prepare(ctx, s, 1, "select id, c from acct where id = ? and c = 'x'")
	if err != nil {
		t.Fatal(err)
	}
	if params != 1 || len(fields) != 2 || fields[0].Name != "id" || fields[1].Name != "c" {
		t.Fatalf("prepare: %d params, fields %v; want 1 param and columns id, c", params, fields)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || !strings.Contains(seen[0], "1 != 1") || !strings.Contains(seen[0], "from acct") {
		t.Fatalf("shard -80 ran %q; want one impossible query on acct", seen)
	}
}
