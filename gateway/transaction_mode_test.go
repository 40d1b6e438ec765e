package gateway

import (
	"context"
	"strings"
	"testing"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/sqlrouter"
)

func TestSetTransactionMode(t *testing.T) {
	e := &Executor{}
	s := NewSession(1, "root")
	set := func(sql string) error {
		t.Helper()
		stmt, err := sqlparser.NewTestParser().Parse(sql)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.set(context.Background(), s, stmt.(*sqlparser.Set))
		return err
	}
	if s.TransactionMode != TransactionModeMulti {
		t.Fatalf("default mode = %v, want multi", s.TransactionMode)
	}
	for sql, want := range map[string]TransactionMode{
		"SET transaction_mode = 'twopc'":           TransactionModeTwoPC,
		"SET @@transaction_mode = 'SINGLE'":        TransactionModeSingle,
		"SET SESSION transaction_mode = \"multi\"": TransactionModeMulti,
		"SET @@session.transaction_mode = twopc":   TransactionModeTwoPC,
		"SET transaction_mode = DEFAULT":           TransactionModeMulti,
	} {
		if err := set(sql); err != nil || s.TransactionMode != want {
			t.Errorf("%s: mode %v, %v; want %v", sql, s.TransactionMode, err, want)
		}
	}
	err := set("SET transaction_mode = 'xa'")
	if se := sqlerr.From(err); err == nil || se.Num != 1231 || !strings.Contains(se.Message, "'xa'") {
		t.Fatalf("unknown mode: %v, want error 1231 naming the value", err)
	}
	s.TransactionMode = TransactionModeMulti
	s.InTransaction = true
	err = set("SET transaction_mode = 'twopc'")
	if se := sqlerr.From(err); err == nil || se.Num != sqlerr.ERCantChangeTxCharacteristics || se.State != "25001" {
		t.Fatalf("change inside a transaction: %v, want error 1568 (25001)", err)
	}
	if err := set("SET transaction_mode = 'multi'"); err != nil {
		t.Fatalf("setting the mode it already has inside a transaction: %v", err)
	}
}

func TestSingleModeRefusesASecondShard(t *testing.T) {
	s := NewSession(1, "root")
	one := []sqlrouter.ShardQuery{{Shard: "-80"}}
	if err := s.checkSingleShard("ks", one); err != nil {
		t.Fatalf("first shard: %v", err)
	}
	two := []sqlrouter.ShardQuery{{Shard: "-80"}, {Shard: "80-"}}
	err := s.checkSingleShard("ks", two)
	if se := sqlerr.From(err); err == nil || se.Num != 1235 || !strings.Contains(se.Message, "ks/-80, ks/80-") {
		t.Fatalf("a statement on two shards: %v, want 1235 naming both", err)
	}
	s.addShard(&shardSession{keyspace: "ks", shard: "-80"})
	if err := s.checkSingleShard("ks", one); err != nil {
		t.Fatalf("the shard already in the transaction: %v", err)
	}
	err = s.checkSingleShard("ks", []sqlrouter.ShardQuery{{Shard: "80-"}})
	if se := sqlerr.From(err); err == nil || se.Num != 1235 || !strings.Contains(se.Message, "adding shard ks/80- to a transaction on ks/-80") {
		t.Fatalf("a second shard: %v, want 1235 naming both", err)
	}
}
