package queryrpc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"

	"github.com/shardgate/shardgate/internal/sqlerr"
	"github.com/shardgate/shardgate/internal/tlsconfig"
	"github.com/shardgate/shardgate/internal/tlsconfig/tlstest"
	"github.com/shardgate/shardgate/proto/querypb"
)

// echoHandler answers Execute with the SQL as info, fails on "fail", and
// blocks on "slow" until its context ends.
type echoHandler struct{}

func (echoHandler) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	switch string(req.Sql) {
	case "fail":
		return nil, sqlerror.NewSQLError(sqlerror.ERDupEntry, "23000", "Duplicate entry '1' for key 'PRIMARY'")
	case "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if name, ok := strings.CutPrefix(string(req.Sql), "reason "); ok {
		// A tablet's error with a reason, wrapped as the tablet wraps it.
		base := sqlerror.NewSQLError(sqlerror.ERQueryInterrupted, "70100", "statement killed")
		return nil, fmt.Errorf("on shard x: %w", sqlerr.WithReason(querypb.ErrorReason(querypb.ErrorReason_value[name]), base))
	}
	return &querypb.ExecuteResponse{Result: &querypb.QueryResult{Info: req.Sql, RowsAffected: uint64(req.TransactionId)}}, nil
}
func (echoHandler) BeginExecute(context.Context, *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	return &querypb.BeginExecuteResponse{TransactionId: 42}, nil
}
func (echoHandler) Begin(context.Context, *querypb.BeginRequest) (*querypb.BeginResponse, error) {
	return &querypb.BeginResponse{TransactionId: 7}, nil
}
func (echoHandler) Commit(context.Context, *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	return &querypb.CommitResponse{}, nil
}
func (echoHandler) Rollback(context.Context, *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	return &querypb.RollbackResponse{}, nil
}
func (echoHandler) Prepare(context.Context, *querypb.PrepareRequest) (*querypb.PrepareResponse, error) {
	return &querypb.PrepareResponse{}, nil
}

// CommitPrepared reports dtid "gone" as not prepared.
func (echoHandler) CommitPrepared(_ context.Context, req *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error) {
	return &querypb.CommitPreparedResponse{NotPrepared: req.Dtid == "gone"}, nil
}
func (echoHandler) ReserveExecute(context.Context, *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error) {
	return &querypb.ReserveExecuteResponse{ReservedId: 9}, nil
}
func (echoHandler) Release(context.Context, *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error) {
	return &querypb.ReleaseResponse{}, nil
}
func (echoHandler) RollbackPrepared(_ context.Context, req *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	return &querypb.RollbackPreparedResponse{NotPrepared: req.Dtid == "gone"}, nil
}

func startServer(t *testing.T) (*Client, string) {
	return startServerWith(t, echoHandler{}, nil, nil)
}

// startServerWith serves h, with TLS when serverTLS is set, and returns a
// client (with clientTLS) and the address.
func startServerWith(t *testing.T, h Handler, serverTLS, clientTLS *tls.Config) (*Client, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h, zap.NewNop())
	if serverTLS != nil {
		go func() { _ = srv.Serve(tls.NewListener(ln, serverTLS)) }()
	} else {
		go func() { _ = srv.Serve(ln) }()
	}
	var opts []ClientOption
	if clientTLS != nil {
		opts = append(opts, WithTLS(clientTLS))
	}
	c := NewClient(ln.Addr().String(), opts...)
	t.Cleanup(func() {
		c.Close()
		ln.Close()
		srv.Close()
	})
	return c, ln.Addr().String()
}

func TestCallsAndMySQLErrors(t *testing.T) {
	c, _ := startServer(t)
	ctx := context.Background()
	resp, err := c.Execute(ctx, &querypb.ExecuteRequest{Sql: []byte("select 1"), TransactionId: 5})
	if err != nil || string(resp.Result.Info) != "select 1" || resp.Result.RowsAffected != 5 {
		t.Fatalf("Execute = %v, %v", resp, err)
	}
	_, err = c.Execute(ctx, &querypb.ExecuteRequest{Sql: []byte("fail")})
	var se *sqlerror.SQLError
	if !errors.As(err, &se) || se.Num != sqlerror.ERDupEntry || se.State != "23000" {
		t.Fatalf("error = %#v, want MySQL 1062/23000", err)
	}
	// The connection survives a MySQL error and is reused.
	if be, err := c.BeginExecute(ctx, &querypb.BeginExecuteRequest{Sql: []byte("x")}); err != nil || be.TransactionId != 42 {
		t.Fatalf("BeginExecute = %v, %v", be, err)
	}
	if len(c.idle) != 1 {
		t.Fatalf("idle connections = %d, want 1 (reused)", len(c.idle))
	}
	// The two-phase commit calls travel the same way.
	if _, err := c.Prepare(ctx, &querypb.PrepareRequest{TransactionId: 1}); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if cp, err := c.CommitPrepared(ctx, &querypb.CommitPreparedRequest{Dtid: "gone"}); err != nil || !cp.NotPrepared {
		t.Fatalf("CommitPrepared = %v, %v; want not_prepared", cp, err)
	}
	if rp, err := c.RollbackPrepared(ctx, &querypb.RollbackPreparedRequest{Dtid: "x"}); err != nil || rp.NotPrepared {
		t.Fatalf("RollbackPrepared = %v, %v", rp, err)
	}
}

// Every reason reaches the caller with the MySQL error unchanged: the gate
// acts on the reason, the client sees code, SQLSTATE and message.
func TestErrorReasonsCrossTheWire(t *testing.T) {
	c, _ := startServer(t)
	for num, name := range querypb.ErrorReason_name {
		_, err := c.Execute(context.Background(), &querypb.ExecuteRequest{Sql: []byte("reason " + name)})
		if got := sqlerr.ReasonOf(err); got != querypb.ErrorReason(num) {
			t.Errorf("%s: reason after the round trip = %v", name, got)
		}
		var se *sqlerror.SQLError
		if !errors.As(err, &se) || se.Num != sqlerror.ERQueryInterrupted || se.State != "70100" || se.Message != "on shard x: statement killed" {
			t.Errorf("%s: error = %#v, want 1317/70100 with the tablet's message", name, err)
		}
	}
}

func TestConcurrentCallsUseSeparateConnections(t *testing.T) {
	c, _ := startServer(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			sql := strings.Repeat("x", i)
			resp, err := c.Execute(context.Background(), &querypb.ExecuteRequest{Sql: []byte(sql)})
			if err == nil && string(resp.Result.Info) != sql {
				err = errors.New("answer of another call")
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestCancelInterruptsAndDropsConnection(t *testing.T) {
	c, _ := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Execute(ctx, &querypb.ExecuteRequest{Sql: []byte("slow")})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if len(c.idle) != 0 {
		t.Fatal("an interrupted connection must not be reused")
	}
	if _, err := c.Execute(context.Background(), &querypb.ExecuteRequest{Sql: []byte("after")}); err != nil {
		t.Fatalf("call after an interrupted one: %v", err)
	}
}

// waitHandler blocks "wait" calls until release is closed, and reports how
// each "slow" call ended.
type waitHandler struct {
	echoHandler
	release chan struct{}
	ended   chan error
}

func (h waitHandler) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	switch string(req.Sql) {
	case "wait":
		<-h.release
	case "slow":
		<-ctx.Done()
		h.ended <- ctx.Err()
		return nil, ctx.Err()
	}
	return h.echoHandler.Execute(ctx, req)
}

// A caller that gives up closes its connection; the server must notice
// while the call runs and end its context, so the tablet kills the
// statement on MySQL.
func TestCallerGoneCancelsTheCall(t *testing.T) {
	h := waitHandler{release: make(chan struct{}), ended: make(chan error, 1)}
	c, _ := startServerWith(t, h, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Past watchAfter, so that the watch is what notices.
		time.Sleep(3 * watchAfter)
		cancel()
	}()
	if _, err := c.Execute(ctx, &querypb.ExecuteRequest{Sql: []byte("slow")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
	select {
	case err := <-h.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the server's call ended with %v, want canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server's call was not cancelled when its caller went away")
	}
}

// A call that runs long enough to be watched leaves its connection as it
// found it: the next call on it works.
func TestWatchedCallLeavesTheConnectionUsable(t *testing.T) {
	h := waitHandler{release: make(chan struct{}), ended: make(chan error, 1)}
	c, _ := startServerWith(t, h, nil, nil)
	go func() {
		time.Sleep(3 * watchAfter)
		close(h.release)
	}()
	for _, sql := range []string{"wait", "next", "wait", "last"} {
		resp, err := c.Execute(context.Background(), &querypb.ExecuteRequest{Sql: []byte(sql)})
		if err != nil || string(resp.Result.Info) != sql {
			t.Fatalf("%s: %v, %v", sql, resp, err)
		}
		if len(c.idle) != 1 {
			t.Fatalf("after %s: %d idle connections, want the one connection reused", sql, len(c.idle))
		}
	}
}

func TestTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "tablets")
	server := ca.Server("tablet")
	gateCert := ca.Client("gate")
	serverCfg, err := tlsconfig.Server{CertFile: server.CertFile, KeyFile: server.KeyFile, ClientCAFile: ca.File}.Config()
	if err != nil {
		t.Fatal(err)
	}
	withCert, err := tlsconfig.Client{CAFile: ca.File, CertFile: gateCert.CertFile, KeyFile: gateCert.KeyFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	c, addr := startServerWith(t, echoHandler{}, serverCfg, withCert)
	resp, err := c.Execute(context.Background(), &querypb.ExecuteRequest{Sql: []byte("over tls")})
	if err != nil || string(resp.Result.Info) != "over tls" {
		t.Fatalf("Execute over mutual TLS = %v, %v", resp, err)
	}

	// Without a client certificate the server refuses the handshake.
	noCert, err := tlsconfig.Client{CAFile: ca.File}.Config()
	if err != nil {
		t.Fatal(err)
	}
	anon := NewClient(addr, WithTLS(noCert))
	defer anon.Close()
	if _, err := anon.Execute(context.Background(), &querypb.ExecuteRequest{Sql: []byte("x")}); err == nil {
		t.Fatal("a client without a certificate was served by a server that requires one")
	}
	// A client that does not trust the server's CA refuses it.
	other := tlstest.NewCA(t, "other")
	otherCfg, err := tlsconfig.Client{CAFile: other.File, CertFile: gateCert.CertFile, KeyFile: gateCert.KeyFile}.Config()
	if err != nil {
		t.Fatal(err)
	}
	distrust := NewClient(addr, WithTLS(otherCfg))
	defer distrust.Close()
	if _, err := distrust.Execute(context.Background(), &querypb.ExecuteRequest{Sql: []byte("x")}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client that does not trust the server's CA: %v, want a certificate error", err)
	}
}

func TestGarbageEndsOnlyThatConnection(t *testing.T) {
	c, addr := startServer(t)
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_, _ = raw.Write([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	_ = raw.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := raw.Read(make([]byte, 1)); err == nil {
		t.Fatal("the server must close a connection that sends an oversized frame")
	}
	if _, err := c.Execute(context.Background(), &querypb.ExecuteRequest{Sql: []byte("ok")}); err != nil {
		t.Fatalf("other connections must keep working: %v", err)
	}
}

// FuzzReadFrame: any bytes give a frame or an error, never a panic.
func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	_ = writeFrame(w, byte(MethodExecute), &querypb.ExecuteRequest{Sql: []byte("select 1")})
	_ = w.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		tag, payload, _, err := readFrame(r, nil)
		if err != nil {
			return
		}
		s := NewServer(echoHandler{}, zap.NewNop())
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the "slow" call must not block the fuzzer
		_, _ = s.dispatch(ctx, Method(tag), payload)
	})
}

// resultHandler answers Execute with a result of n rows like sysbench's
// (one 120-byte CHAR column), whatever the statement.
type resultHandler struct {
	echoHandler
	res *querypb.QueryResult
}

func (h resultHandler) Execute(context.Context, *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	return &querypb.ExecuteResponse{Result: h.res}, nil
}

func sysbenchResult(rows int) *querypb.QueryResult {
	res := &querypb.QueryResult{Fields: []*querypb.Field{{Name: "c", Type: querypb.Type_CHAR, Table: "sbtest1", OrgTable: "sbtest1", Database: "sbtest", OrgName: "c", ColumnLength: 480, Charset: 45}}}
	for i := range rows {
		v := fmt.Appendf(nil, "%0120d", i)
		res.Rows = append(res.Rows, &querypb.Row{Lengths: []int64{int64(len(v))}, Values: v})
	}
	return res
}

// BenchmarkExecuteRoundTrip is a whole call over loopback TCP: the
// request encoded, sent, decoded, the answer encoded, sent, decoded. One
// row is a point select; 100 rows a range select.
func BenchmarkExecuteRoundTrip(b *testing.B) {
	req := &querypb.ExecuteRequest{
		Target: &querypb.Target{Keyspace: "sbtest", Shard: "-80"},
		Sql:    []byte("select c from sbtest1 where id = 4242"),
	}
	for _, rows := range []int{1, 100} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := NewServer(resultHandler{res: sysbenchResult(rows)}, zap.NewNop())
			go func() { _ = srv.Serve(ln) }()
			defer srv.Close()
			c := NewClient(ln.Addr().String())
			defer c.Close()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Execute(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
