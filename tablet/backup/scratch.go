package backup

import (
	"context"
	"fmt"
	"time"

	"github.com/shardgate/shardgate/internal/freeport"

	"github.com/shardgate/shardgate/tablet/mysqld"
)

// scratchServer is a temporary mariadbd of the engine's own, for verifying
// backups and for restores that must replay binlogs before copying some
// tables out. It is removed by close; one a dead tablet left is removed
// when the next engine starts (removeLeftovers).
type scratchServer struct {
	srv    MySQL
	cfg    mysqld.Config
	proc   *mysqld.Process
	remove func()
}

// scratchArgs let the replay apply row events of any size a server
// wrote (mariadb-binlog prints them base64-encoded, a third larger).
var scratchArgs = []string{"--max-allowed-packet=1G"}

// startScratch initializes and starts a scratch server on a free loopback
// port, in a new directory under the state directory's scratch/.
func (e *Engine) startScratch(ctx context.Context) (*scratchServer, error) {
	dir, remove, err := e.newScratchDir()
	if err != nil {
		return nil, fmt.Errorf("scratch server: %w", err)
	}
	port, err := freeport.Get()
	if err != nil {
		remove()
		return nil, err
	}
	cfg := mysqld.Config{DataDir: dir, Port: port, ServerID: 4000000000 + uint32(port), Log: e.log.Named("scratch"), ExtraArgs: scratchArgs}
	if e.cfg.Mysqld != nil {
		cfg.Binary = e.cfg.Mysqld.Binary
	}
	ictx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := mysqld.Init(ictx, cfg); err != nil {
		remove()
		return nil, fmt.Errorf("scratch server: %w", err)
	}
	proc, err := mysqld.Start(ictx, cfg)
	if err != nil {
		remove()
		return nil, fmt.Errorf("scratch server: %w", err)
	}
	return &scratchServer{srv: MySQL{Socket: cfg.SocketPath(), User: "root"}, cfg: cfg, proc: proc, remove: remove}, nil
}

func (s *scratchServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = s.proc.Stop(ctx)
	s.remove()
}
