package gateway

import (
	"context"
	"errors"
	"testing"

	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/proto/topopb"
)

// TestSetTransactionReadOnly: SET TRANSACTION READ ONLY makes the next
// transaction read-only, once; START TRANSACTION READ WRITE overrides it;
// inside a transaction it is refused as MySQL refuses it.
func TestSetTransactionReadOnly(t *testing.T) {
	e := testExecutor(t, nil)
	s := &Session{TabletType: topopb.TabletType_PRIMARY, Autocommit: true, Keyspace: "ks", Workload: workloadOLTP}
	ctx := context.Background()
	run := func(sql string) error {
		t.Helper()
		stmt, err := e.parser.Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = e.run(ctx, s, stmt, sql, nil, nil, nil)
		return err
	}
	must := func(sql string) {
		t.Helper()
		if err := run(sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	must("set transaction read only")
	if s.settingsPrefix != "" {
		t.Fatalf("SET TRANSACTION READ ONLY became a session setting: %q", s.settingsPrefix)
	}
	must("begin")
	if !s.TxReadOnly {
		t.Fatal("the transaction after SET TRANSACTION READ ONLY is not read-only")
	}
	var se *sqlerror.SQLError
	for _, write := range []string{"insert into acct (id, v) values (1, 2)", "update t set v = 1", "create table x (id int primary key)"} {
		if err := run(write); !errors.As(err, &se) || se.Num != 1792 || se.State != "25006" {
			t.Fatalf("%s in a read-only transaction: %v, want error 1792 (25006)", write, err)
		}
	}
	if err := run("set transaction read write"); !errors.As(err, &se) || se.Num != 1568 {
		t.Fatalf("SET TRANSACTION inside a transaction: %v, want error 1568", err)
	}
	must("commit")
	must("begin")
	if s.TxReadOnly {
		t.Fatal("SET TRANSACTION READ ONLY held for a second transaction")
	}
	must("commit")
	must("set transaction read only")
	must("start transaction read write")
	if s.TxReadOnly {
		t.Fatal("START TRANSACTION READ WRITE did not override SET TRANSACTION READ ONLY")
	}
	must("rollback")
}
