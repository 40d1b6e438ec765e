package queryservice

import (
	"context"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/querypb"
)

// GRPC returns the service as a gRPC QueryService, with MySQL errors
// carried as status details.
func (s *Service) GRPC() querypb.QueryServiceServer { return grpcService{s: s} }

type grpcService struct {
	querypb.UnimplementedQueryServiceServer
	s *Service
}

func (g grpcService) Execute(ctx context.Context, req *querypb.ExecuteRequest) (*querypb.ExecuteResponse, error) {
	resp, err := g.s.Execute(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) BeginExecute(ctx context.Context, req *querypb.BeginExecuteRequest) (*querypb.BeginExecuteResponse, error) {
	resp, err := g.s.BeginExecute(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) Begin(ctx context.Context, req *querypb.BeginRequest) (*querypb.BeginResponse, error) {
	resp, err := g.s.Begin(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) Commit(ctx context.Context, req *querypb.CommitRequest) (*querypb.CommitResponse, error) {
	resp, err := g.s.Commit(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) Rollback(ctx context.Context, req *querypb.RollbackRequest) (*querypb.RollbackResponse, error) {
	resp, err := g.s.Rollback(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) Prepare(ctx context.Context, req *querypb.PrepareRequest) (*querypb.PrepareResponse, error) {
	resp, err := g.s.Prepare(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) CommitPrepared(ctx context.Context, req *querypb.CommitPreparedRequest) (*querypb.CommitPreparedResponse, error) {
	resp, err := g.s.CommitPrepared(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) RollbackPrepared(ctx context.Context, req *querypb.RollbackPreparedRequest) (*querypb.RollbackPreparedResponse, error) {
	resp, err := g.s.RollbackPrepared(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) ListPrepared(ctx context.Context, req *querypb.ListPreparedRequest) (*querypb.ListPreparedResponse, error) {
	resp, err := g.s.ListPrepared(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) ReserveExecute(ctx context.Context, req *querypb.ReserveExecuteRequest) (*querypb.ReserveExecuteResponse, error) {
	resp, err := g.s.ReserveExecute(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) Release(ctx context.Context, req *querypb.ReleaseRequest) (*querypb.ReleaseResponse, error) {
	resp, err := g.s.Release(ctx, req)
	return resp, queryconv.ErrorToStatus(err)
}

func (g grpcService) StreamExecute(req *querypb.StreamExecuteRequest, stream querypb.QueryService_StreamExecuteServer) error {
	return queryconv.ErrorToStatus(g.s.StreamExecute(stream.Context(), req, stream.Send))
}

func (g grpcService) StreamHealth(_ *querypb.StreamHealthRequest, stream querypb.QueryService_StreamHealthServer) error {
	return g.s.StreamHealth(stream.Context(), stream.Send)
}
