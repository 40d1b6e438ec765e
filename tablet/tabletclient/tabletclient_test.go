package tabletclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/internal/queryrpc"
	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/internal/tlsconfig"
	"github.com/shardgate/shardgate/internal/tlsconfig/tlstest"
	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// bigResult is larger than gRPC's default 4 MiB receive limit, which the
// control plane's own dialer used to leave in place.
var bigResult = bytes.Repeat([]byte("x"), 6<<20)

// fakeTablet answers Execute with info naming the transport and a large
// row, and fails "gone" with a reason.
type fakeTablet struct {
	querypb.UnimplementedQueryServiceServer
	transport string
}

func (f *fakeTablet) execute(req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	if string(req.Sql) == "gone" {
		return nil, sqlerr.WithReason(sqlerr.ReasonTransactionNotFound, sqlerr.Internal("transaction 1 is not open"))
	}
	row := &querypb.Row{Lengths: []int64{int64(len(bigResult))}, Values: bigResult}
	return &querypb.ExecuteResponse{Result: &querypb.QueryResult{
		Info:   []byte(f.transport),
		Fields: []*querypb.Field{{Name: "b", Type: querypb.Type_VARBINARY}},
		Rows:   []*querypb.Row{row},
	}}, nil
}

func (f *fakeTablet) Execute(_ context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	resp, err := f.execute(req)
	return resp, queryconv.ErrorToStatus(err)
}

// rpcTablet serves the query port: only Execute matters here.
type rpcTablet struct {
	queryrpc.Handler
	f *fakeTablet
}

func (r rpcTablet) Execute(_ context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	return r.f.execute(req)
}

// startTablet serves a fake tablet on gRPC and, with queryPort, on a query
// port, both with serverTLS, and returns its record.
func startTablet(t *testing.T, serverTLS *tls.Config, queryPort bool) *topopb.Tablet {
	t.Helper()
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)), grpc.MaxRecvMsgSize(MaxMessageBytes))
	querypb.RegisterQueryServiceServer(gs, &fakeTablet{transport: "grpc"})
	go func() { _ = gs.Serve(gln) }()
	t.Cleanup(gs.Stop)
	rec := &topopb.Tablet{Alias: "zone1-100", Hostname: "127.0.0.1", GrpcPort: int32(gln.Addr().(*net.TCPAddr).Port)}
	if queryPort {
		qln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rs := queryrpc.NewServer(rpcTablet{f: &fakeTablet{transport: "query port"}}, zap.NewNop())
		go func() { _ = rs.Serve(tls.NewListener(qln, serverTLS)) }()
		t.Cleanup(func() { qln.Close(); rs.Close() })
		rec.QueryPort = int32(qln.Addr().(*net.TCPAddr).Port)
	}
	return rec
}

func TestBothTransportsShareTLSAndLimits(t *testing.T) {
	ca := tlstest.NewCA(t, "tablets")
	server, client := ca.Server("tablet"), ca.Client("gate")
	serverTLS, err := tlsconfig.Server{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientCAFile: ca.File}.Config()
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := tlsconfig.Client{CAFile: ca.File, CertFile: client.CertFile, KeyFile: client.KeyFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		queryPort bool
		unaryVia  string
	}{{true, "query port"}, {false, "grpc"}} {
		conn, err := Dial(startTablet(t, serverTLS, c.queryPort), WithTLS(clientTLS))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// The gRPC QueryService takes a result above gRPC's 4 MiB default.
		resp, err := conn.QueryService().Execute(ctx, &querypb.ExecuteRequest{Sql: []byte("select")})
		if err != nil || string(resp.Result.Info) != "grpc" || len(resp.Result.Rows[0].Values) != len(bigResult) {
			t.Fatalf("gRPC Execute of a %d-byte result: %v", len(bigResult), err)
		}
		resp, err = conn.Unary().Execute(ctx, &querypb.ExecuteRequest{Sql: []byte("select")})
		if err != nil || string(resp.Result.Info) != c.unaryVia || len(resp.Result.Rows[0].Values) != len(bigResult) {
			t.Fatalf("unary Execute: info %q, err %v; want it over the %s", resp.GetResult().GetInfo(), err, c.unaryVia)
		}
		// The tablet's reason arrives whichever way the call went.
		_, err = conn.Unary().Execute(ctx, &querypb.ExecuteRequest{Sql: []byte("gone")})
		if r := sqlerr.ReasonOf(queryconv.ErrorFromStatus(err)); r != sqlerr.ReasonTransactionNotFound {
			t.Fatalf("reason over the %s = %v (%v), want TRANSACTION_NOT_FOUND", c.unaryVia, r, err)
		}
	}
}

func TestDialRefusesARecordWithoutAddress(t *testing.T) {
	if _, err := Dial(&topopb.Tablet{Alias: "zone1-100"}); err == nil {
		t.Fatal("a record with no hostname or gRPC port must not dial")
	}
}
