package tablet

import (
	"context"
	"time"

	"github.com/shardgate/shardgate/internal/queryconv"
	"github.com/shardgate/shardgate/proto/replicationpb"
	"github.com/shardgate/shardgate/tablet/queryservice"
	"github.com/shardgate/shardgate/tablet/vstreamer"
)

// replicationServer serves the tablet's Replication calls: its rows and
// binlog for the tablets receiving them, and the stop of its writes at a
// switch.
type replicationServer struct {
	replicationpb.UnimplementedReplicationServer
	qs       *queryservice.Service
	streamer *vstreamer.Streamer
	roles    *roleManager
}

func (r *replicationServer) StreamRows(req *replicationpb.StreamRowsRequest, stream replicationpb.Replication_StreamRowsServer) error {
	return queryconv.ErrorToStatus(r.streamer.StreamRows(stream.Context(), req, stream.Send))
}

func (r *replicationServer) StreamBinlog(req *replicationpb.StreamBinlogRequest, stream replicationpb.Replication_StreamBinlogServer) error {
	return queryconv.ErrorToStatus(r.streamer.StreamBinlog(stream.Context(), req, stream.Send))
}

func (r *replicationServer) StopWrites(ctx context.Context, req *replicationpb.StopWritesRequest) (*replicationpb.StopWritesResponse, error) {
	timeout := time.Duration(req.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	pos, err := r.qs.StopWrites(ctx, timeout)
	if err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	return &replicationpb.StopWritesResponse{Position: pos}, nil
}

func (r *replicationServer) ResumeWrites(ctx context.Context, _ *replicationpb.ResumeWritesRequest) (*replicationpb.ResumeWritesResponse, error) {
	if err := r.qs.ResumeWrites(ctx); err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	return &replicationpb.ResumeWritesResponse{}, nil
}

func (r *replicationServer) Position(ctx context.Context, _ *replicationpb.PositionRequest) (*replicationpb.PositionResponse, error) {
	pos, err := r.qs.Position(ctx)
	if err != nil {
		return nil, queryconv.ErrorToStatus(err)
	}
	return &replicationpb.PositionResponse{Position: pos}, nil
}
