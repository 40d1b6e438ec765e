package gateway

import (
	"fmt"
	"testing"

	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/topopb"
)

// The gate acts on the reason a tablet gave, not on the error's text: a
// statement whose text says "was rolled back" (MariaDB's XA_RBDEADLOCK,
// "Transaction branch was rolled back: deadlock was detected") leaves the
// shard's transaction to the session, one the tablet ended does not.
func TestTransactionGoneByReasonNotText(t *testing.T) {
	tc := &tabletConn{record: &topopb.Tablet{Alias: "zone1-100", Keyspace: "commerce", Shard: "-80"}}
	deadlock := sqlerr.New(1614, "XA102", "Transaction branch was rolled back: deadlock was detected")
	ended := sqlerr.WithReason(sqlerr.ReasonTransactionEnded, sqlerr.New(sqlerror.ERQueryInterrupted, "70100", "transaction 7 on x was rolled back after being idle"))
	notFound := sqlerr.WithReason(sqlerr.ReasonTransactionNotFound, sqlerr.Internal("transaction 7 is not open on x"))
	cases := []struct {
		name string
		sent error
		gone bool
	}{
		{"statement error with rolled-back text", deadlock, false},
		{"transaction ended", ended, true},
		{"transaction not found", notFound, true},
		{"writes switching", sqlerr.WritesSwitching("commerce", "-80"), false},
	}
	for _, c := range cases {
		// As the gRPC path delivers it, and as the query port does.
		for _, received := range []error{queryconv.ErrorToStatus(c.sent), c.sent} {
			err := tabletError(tc, received)
			if got := isTransactionGone(err); got != c.gone {
				t.Errorf("%s: isTransactionGone = %v, want %v", c.name, got, c.gone)
			}
			if want := sqlerr.From(c.sent); sqlerr.From(err).Message != want.Message || sqlerr.From(err).Num != want.Num {
				t.Errorf("%s: client error = %v, want %v", c.name, sqlerr.From(err), want)
			}
		}
	}
	if !sqlerr.IsWritesSwitching(fmt.Errorf("execute: %w", tabletError(tc, queryconv.ErrorToStatus(sqlerr.WritesSwitching("commerce", "-80"))))) {
		t.Error("the writes-switching reason was lost between tablet and executor")
	}
}
