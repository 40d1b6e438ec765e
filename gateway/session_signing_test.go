package gateway

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/proto/topopb"
)

func TestSessionsCannotBeForged(t *testing.T) {
	e := testExecutor(t, nil)
	e.signer = &sessionSigner{}
	key := []byte("0123456789abcdef0123456789abcdef")
	e.signer.key.Store(&key)

	s := NewSession(1, "alice")
	s.Keyspace, s.InTransaction = "main", true
	s.shards = []*shardSession{{keyspace: "main", shard: "0", txID: 41, tablet: e.tablets.byAlias("zone1-100", "main", "0")}}
	issued := e.issueSession(s)
	if len(issued.Signature) != 64 {
		t.Fatalf("issued session has a %d-byte signature", len(issued.Signature))
	}
	if _, err := e.sessionFromProto(proto.Clone(issued).(*gatepb.Session), "alice"); err != nil {
		t.Fatalf("the session as issued, back from its user: %v", err)
	}
	refused := func(what string, p *gatepb.Session, user string) {
		t.Helper()
		_, err := e.sessionFromProto(p, user)
		if err == nil || sqlerr.From(err).Num != 1045 {
			t.Errorf("%s: %v, want 1045", what, err)
		}
	}
	refused("another user sending alice's session", proto.Clone(issued).(*gatepb.Session), "mallory")
	guessed := proto.Clone(issued).(*gatepb.Session)
	guessed.ShardSessions[0].TransactionId = 42
	refused("a changed transaction id", guessed, "alice")
	injected := proto.Clone(issued).(*gatepb.Session)
	injected.Variables = []*gatepb.SessionVariable{{Name: "sql_mode", Value: "'' FOR SELECT 1"}}
	refused("settings added to a signed session", injected, "alice")
	unsigned := proto.Clone(issued).(*gatepb.Session)
	unsigned.Signature = nil
	refused("a transaction in an unsigned session", unsigned, "alice")
	savepoint := proto.Clone(issued).(*gatepb.Session)
	savepoint.Savepoints = []string{"sp"}
	refused("a savepoint added", savepoint, "alice")

	// What the client may set: BEGIN's flags, options; and it may drop
	// the transaction whole (a COMMIT whose answer was lost).
	chosen := proto.Clone(issued).(*gatepb.Session)
	chosen.TransactionIsolation, chosen.TransactionReadOnly, chosen.NoScatter = "READ COMMITTED", true, true
	if _, err := e.sessionFromProto(chosen, "alice"); err != nil {
		t.Errorf("options the client chose: %v", err)
	}
	dropped := proto.Clone(issued).(*gatepb.Session)
	dropped.InTransaction, dropped.ShardSessions = false, nil
	if _, err := e.sessionFromProto(dropped, "alice"); err != nil {
		t.Errorf("the transaction dropped: %v", err)
	}

	fresh := &gatepb.Session{Keyspace: "main", TabletType: topopb.TabletType_PRIMARY, Autocommit: true, Workload: "olap"}
	if _, err := e.sessionFromProto(fresh, "alice"); err != nil {
		t.Errorf("a new session a client built: %v", err)
	}
}

func TestSettingValuesAreOneLiteral(t *testing.T) {
	e := testExecutor(t, nil)
	for value, want := range map[string]bool{
		"'STRICT_TRANS_TABLES'": true, "1": true, "'ANSI'": true, "-5": true, "'it\\'s'": true, // as sqlparser writes it
		"'' FOR SELECT 1": false, "1; DROP TABLE t": false, "(select 1)": false, "": false, "@@x": false,
	} {
		if got := e.validSettingValue("sql_mode", value); got != want {
			t.Errorf("validSettingValue(%q) = %v, want %v", value, got, want)
		}
	}
}
