package queryservice

import (
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/sqlerr"
)

// The errors after which the gate must forget a transaction or a reserved
// connection carry the reason it acts on.
func TestGoneErrorsCarryTheirReason(t *testing.T) {
	txs := newTransactions()
	if _, err := txs.use(12345, "shard x"); sqlerr.ReasonOf(err) != sqlerr.ReasonTransactionNotFound {
		t.Errorf("unknown transaction: reason %v, want TRANSACTION_NOT_FOUND (%v)", sqlerr.ReasonOf(err), err)
	}
	tx := txs.add(nil, nil)
	txs.release(tx)
	if idle := txs.takeIdle(time.Now().Add(time.Hour), "was rolled back after being idle"); len(idle) != 1 {
		t.Fatalf("takeIdle took %d transactions, want 1", len(idle))
	}
	if _, err := txs.use(tx.id, "shard x"); sqlerr.ReasonOf(err) != sqlerr.ReasonTransactionEnded {
		t.Errorf("transaction rolled back when idle: reason %v, want TRANSACTION_ENDED (%v)", sqlerr.ReasonOf(err), err)
	}
	if _, err := newReservations().use(99, "shard x"); sqlerr.ReasonOf(err) != sqlerr.ReasonReservedConnectionGone {
		t.Errorf("unknown reserved connection: reason %v, want RESERVED_CONNECTION_GONE (%v)", sqlerr.ReasonOf(err), err)
	}
	s := &Service{cfg: Config{Keyspace: "commerce", Shard: "-80"}}
	if !sqlerr.IsWritesSwitching(s.errWritesStopped()) {
		t.Error("a tablet's refusal of writes does not carry WRITES_SWITCHING")
	}
}
