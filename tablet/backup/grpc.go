package backup

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shardgate/shardgate/proto/backuppb"
)

// GRPC returns the engine as a gRPC BackupService. Every request names the
// keyspace and shard it is for; a tablet refuses those of other shards.
func (e *Engine) GRPC() backuppb.BackupServiceServer { return grpcService{e: e} }

type grpcService struct {
	backuppb.UnimplementedBackupServiceServer
	e *Engine
}

func (g grpcService) check(keyspace, shard string) error {
	if keyspace != g.e.cfg.Keyspace || shard != g.e.cfg.Shard {
		return status.Errorf(codes.FailedPrecondition, "tablet %s serves %s/%s, not %s/%s",
			g.e.cfg.Alias, g.e.cfg.Keyspace, g.e.cfg.Shard, keyspace, shard)
	}
	return nil
}

// streamer sends progress on a server stream from any goroutine.
type streamer struct {
	mu   sync.Mutex
	send func(*backuppb.Progress) error
}

func (s *streamer) report(p *backuppb.Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.send(p)
}

func (s *streamer) final(p *backuppb.Progress) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.Done = true
	return s.send(p)
}

func opError(alias string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	return status.Error(codes.Unknown, fmt.Sprintf("tablet %s: %v", alias, err))
}

func (g grpcService) Backup(req *backuppb.BackupRequest, stream backuppb.BackupService_BackupServer) error {
	if err := g.check(req.Keyspace, req.Shard); err != nil {
		return err
	}
	s := &streamer{send: stream.Send}
	m, err := g.e.Backup(stream.Context(), req.Engine, s.report)
	if err != nil {
		return opError(g.e.cfg.Alias, err)
	}
	return s.final(&backuppb.Progress{Phase: "done", Manifest: m, BytesDone: m.RawBytes, RowsDone: m.Rows,
		TablesDone: int32(len(m.Tables)), TablesTotal: int32(len(m.Tables))})
}

func (g grpcService) Restore(req *backuppb.RestoreRequest, stream backuppb.BackupService_RestoreServer) error {
	if err := g.check(req.Keyspace, req.Shard); err != nil {
		return err
	}
	s := &streamer{send: stream.Send}
	if err := g.e.Restore(stream.Context(), req, s.report); err != nil {
		return opError(g.e.cfg.Alias, err)
	}
	return s.final(&backuppb.Progress{Phase: "done"})
}

func (g grpcService) Verify(req *backuppb.VerifyRequest, stream backuppb.BackupService_VerifyServer) error {
	if err := g.check(req.Keyspace, req.Shard); err != nil {
		return err
	}
	s := &streamer{send: stream.Send}
	res, err := g.e.Verify(stream.Context(), req.Backup, s.report)
	if res != nil {
		// The result says what differs, also when verification fails.
		if serr := s.final(&backuppb.Progress{Phase: "done", Verify: res}); serr != nil && err == nil {
			return serr
		}
	}
	return opError(g.e.cfg.Alias, err)
}

func (g grpcService) ListBackups(ctx context.Context, req *backuppb.ListBackupsRequest) (*backuppb.ListBackupsResponse, error) {
	if err := g.check(req.Keyspace, req.Shard); err != nil {
		return nil, err
	}
	resp, err := g.e.List(ctx)
	return resp, opError(g.e.cfg.Alias, err)
}

func (g grpcService) Prune(ctx context.Context, req *backuppb.PruneRequest) (*backuppb.PruneResponse, error) {
	if err := g.check(req.Keyspace, req.Shard); err != nil {
		return nil, err
	}
	resp, err := g.e.Prune(ctx, int(req.Keep))
	return resp, opError(g.e.cfg.Alias, err)
}

func (g grpcService) ArchiveBinlogs(ctx context.Context, req *backuppb.ArchiveBinlogsRequest) (*backuppb.ArchiveBinlogsResponse, error) {
	if err := g.check(req.Keyspace, req.Shard); err != nil {
		return nil, err
	}
	archived, pos, err := g.e.ArchiveBinlogs(ctx, req.Flush)
	if err != nil {
		return nil, opError(g.e.cfg.Alias, err)
	}
	return &backuppb.ArchiveBinlogsResponse{Archived: archived, Position: pos}, nil
}
