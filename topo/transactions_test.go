package topo

import (
	"context"
	"errors"
	"testing"

	"github.com/shardgate/shardgate/proto/topopb"
)

func newRecord(dtid string) *topopb.TransactionRecord {
	return &topopb.TransactionRecord{
		Dtid: dtid, State: topopb.TransactionRecord_PREPARE, GateId: "gate/1",
		Participants: []*topopb.TransactionParticipant{{Keyspace: "ks", Shard: "-80"}, {Keyspace: "ks", Shard: "80-"}},
	}
}

func TestTheFirstDecisionStands(t *testing.T) {
	ctx := context.Background()
	ts := NewServer(NewMemoryStore(), "")
	created, err := ts.CreateTransaction(ctx, newRecord("d1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.CreateTransaction(ctx, newRecord("d1")); !errors.Is(err, ErrExists) {
		t.Fatalf("a second record with the same dtid: %v, want ErrExists", err)
	}
	// Recovery decides first, from its own read of the record.
	read, err := ts.GetTransaction(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	rolledBack, err := ts.DecideTransaction(ctx, read, topopb.TransactionRecord_ROLLBACK)
	if err != nil || rolledBack.Record.State != topopb.TransactionRecord_ROLLBACK || rolledBack.Record.DecidedUnixNanos == 0 {
		t.Fatalf("rollback decision = %v, %v", rolledBack, err)
	}
	// The coordinator, holding the version it created, loses and is told.
	got, err := ts.DecideTransaction(ctx, created, topopb.TransactionRecord_COMMIT)
	if err != nil || got.Record.State != topopb.TransactionRecord_ROLLBACK {
		t.Fatalf("late commit decision = %v, %v; want the rollback to stand", got, err)
	}
	if created.Record.State != topopb.TransactionRecord_PREPARE {
		t.Fatal("DecideTransaction modified the caller's record")
	}
	if err := ts.DeleteTransaction(ctx, created); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("deleting with a stale version: %v, want ErrBadVersion", err)
	}
	if err := ts.DeleteTransaction(ctx, got); err != nil {
		t.Fatal(err)
	}
	if err := ts.DeleteTransaction(ctx, got); err != nil {
		t.Fatalf("deleting a record already gone: %v, want no error", err)
	}
	if _, err := ts.DecideTransaction(ctx, created, topopb.TransactionRecord_COMMIT); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deciding a deleted record: %v, want ErrNotFound", err)
	}
	if _, err := ts.DecideTransaction(ctx, created, topopb.TransactionRecord_PREPARE); err == nil {
		t.Fatal("PREPARE is not a decision")
	}
}

func TestListTransactionsAndGates(t *testing.T) {
	ctx := context.Background()
	ts := NewServer(NewMemoryStore(), "")
	for _, dtid := range []string{"b", "a"} {
		if _, err := ts.CreateTransaction(ctx, newRecord(dtid)); err != nil {
			t.Fatal(err)
		}
	}
	txs, err := ts.ListTransactions(ctx)
	if err != nil || len(txs) != 2 || txs[0].Record.Dtid != "a" || txs[0].Version == 0 {
		t.Fatalf("ListTransactions = %v, %v", txs, err)
	}

	gctx, cancel := context.WithCancel(ctx)
	gone, err := ts.RegisterGate(gctx, &topopb.Gate{Id: "host:15306/x", Name: "host:15306"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	gates, err := ts.ListGates(ctx)
	if err != nil || len(gates) != 1 || gates[0].Name != "host:15306" {
		t.Fatalf("ListGates = %v, %v", gates, err)
	}
	cancel()
	<-gone
	if gates, err := ts.ListGates(ctx); err != nil || len(gates) != 0 {
		t.Fatalf("after the registration ended: %v, %v; want no gate", gates, err)
	}
}
