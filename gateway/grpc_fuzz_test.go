package gateway

import (
	"context"
	"net"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/shardgate/shardgate/proto/gatepb"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// FuzzGRPCExecute sends the gate's gRPC handler whatever ExecuteRequest a
// client could: any session (targets, shard sessions naming unknown
// tablets, modes, variables), any SQL and any typed bind variables. The
// call must answer, with a MySQL error in the response at worst, and
// never panic; the tablets behind it are fakes.
func FuzzGRPCExecute(f *testing.F) {
	seeds := []*gatepb.ExecuteRequest{
		{Query: &gatepb.Query{Sql: []byte("select * from acct where id = :id"),
			BindVariables: map[string]*gatepb.BindVariable{"id": {Type: querypb.Type_INT64, Value: []byte("7")}}}},
		{Session: &gatepb.Session{Keyspace: "ks", Autocommit: true}, Query: &gatepb.Query{Sql: []byte("insert into acct (id, v) values (?, ?)")}},
		{Session: &gatepb.Session{Keyspace: "ks", InTransaction: true, TransactionReadOnly: true,
			ShardSessions: []*gatepb.ShardSession{{Keyspace: "ks", Shard: "-80", TransactionId: 3, TabletAlias: "zone1-101"}}},
			Query: &gatepb.Query{Sql: []byte("commit")}},
		{Session: &gatepb.Session{Keyspace: "ks", Shard: "80-", TabletType: topopb.TabletType_REPLICA,
			Variables: []*gatepb.SessionVariable{{Name: "sql_mode", Value: "'ANSI'"}}},
			Query: &gatepb.Query{Sql: []byte("select 1 from dual where 1 in ::list"),
				BindVariables: map[string]*gatepb.BindVariable{"list": {Type: querypb.Type_TUPLE, Values: []*gatepb.Value{{Type: querypb.Type_VARBINARY, Value: []byte{0xff}}}}}}},
		{Session: &gatepb.Session{TransactionMode: gatepb.TransactionMode_TWOPC, Dtid: "x"}, Query: &gatepb.Query{Sql: []byte("begin; select 1")}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	e := testExecutor(f, nil)
	auth, err := NewAuthenticator(DefaultUsers())
	if err != nil {
		f.Fatal(err)
	}
	h := &grpcHandler{executor: e, auth: auth, log: zap.NewNop(), metrics: e.metrics}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(MetadataUser, "root", MetadataPassword, ""))
	ctx = peer.NewContext(ctx, &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req gatepb.ExecuteRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		resp, err := h.Execute(ctx, &req)
		if err == nil && (resp == nil || resp.Session == nil) {
			t.Fatalf("no session in the answer to %v", &req)
		}
	})
}
