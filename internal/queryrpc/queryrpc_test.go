package queryrpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql/sqlerror"

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
func (echoHandler) RollbackPrepared(_ context.Context, req *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	return &querypb.RollbackPreparedResponse{NotPrepared: req.Dtid == "gone"}, nil
}

func startServer(t *testing.T) (*Client, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(echoHandler{}, zap.NewNop())
	go func() { _ = srv.Serve(ln) }()
	c := NewClient(ln.Addr().String())
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
