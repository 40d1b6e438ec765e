package transactions

import (
	"context"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

func TestResolveRefusesTheOtherOutcomeOfADecidedTransaction(t *testing.T) {
	ctx := context.Background()
	ts := topo.NewServer(topo.NewMemoryStore(), "")
	for dtid, state := range map[string]topopb.TransactionRecord_State{"c": topopb.TransactionRecord_COMMIT, "r": topopb.TransactionRecord_ROLLBACK} {
		_, err := ts.CreateTransaction(ctx, &topopb.TransactionRecord{Dtid: dtid, State: state, GateId: "g/1",
			Participants: []*topopb.TransactionParticipant{{Keyspace: "ks", Shard: "-80"}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ResolveTransaction(ctx, ts, "c", false); err == nil || !strings.Contains(err.Error(), "decided COMMIT already") {
		t.Fatalf("rolling back a committed transaction: %v, want refused", err)
	}
	if _, err := ResolveTransaction(ctx, ts, "r", true); err == nil || !strings.Contains(err.Error(), "decided ROLLBACK already") {
		t.Fatalf("committing a rolled back transaction: %v, want refused", err)
	}
	if _, err := ResolveTransaction(ctx, ts, "none", true); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("an unknown dtid: %v, want not found", err)
	}
	txs, err := ListTransactions(ctx, ts)
	if err != nil || len(txs) != 2 || txs[0].GateRegistered {
		t.Fatalf("ListTransactions = %v, %v; want both records, their gate not registered", txs, err)
	}
}
