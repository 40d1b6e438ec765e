package backup

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/shardgate/shardgate/tablet/mysqld"
)

// scratchServer is a temporary mariadbd of the engine's own, for verifying
// backups and for restores that must replay binlogs before copying some
// tables out. It is removed by close.
type scratchServer struct {
	srv  MySQL
	cfg  mysqld.Config
	proc *mysqld.Process
}

// startScratch initializes and starts a scratch server on a free loopback
// port, in a new directory under the system's temporary directory (short,
// for the unix socket).
func (e *Engine) startScratch(ctx context.Context) (*scratchServer, error) {
	dir, err := os.MkdirTemp("", "sgscratch")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg := mysqld.Config{DataDir: dir, Port: port, ServerID: 4000000000 + uint32(port), Log: e.log.Named("scratch")}
	if e.cfg.Mysqld != nil {
		cfg.Binary = e.cfg.Mysqld.Binary
	}
	ictx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := mysqld.Init(ictx, cfg); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("scratch server: %w", err)
	}
	proc, err := mysqld.Start(ictx, cfg)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("scratch server: %w", err)
	}
	return &scratchServer{srv: MySQL{Socket: cfg.SocketPath(), User: "root"}, cfg: cfg, proc: proc}, nil
}

func (s *scratchServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_ = s.proc.Stop(ctx)
	_ = os.RemoveAll(s.cfg.DataDir)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
