package vstreamer

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"

	"go.uber.org/zap"
	"vitess.io/vitess/go/mysql"
)

// Streamer serves one tablet's rows and binlog. It is safe for concurrent
// use: each stream uses connections of its own.
type Streamer struct {
	params   mysql.ConnParams // the tablet's MySQL, in the keyspace's database
	keyspace string
	log      *zap.Logger
}

// New returns a streamer over the MySQL server params reach; its database
// is named after the keyspace.
func New(params mysql.ConnParams, keyspace string, log *zap.Logger) *Streamer {
	p := params
	p.DbName = keyspace
	return &Streamer{params: p, keyspace: keyspace, log: log}
}

func (s *Streamer) checkKeyspace(ks string) error {
	if ks != s.keyspace {
		return fmt.Errorf("this tablet serves keyspace %s, not %s", s.keyspace, ks)
	}
	return nil
}

// replicaServerID is the server id a binlog stream presents to MySQL: it
// must differ from every server's and from other streams'.
func replicaServerID() uint32 { return 1_000_000_000 + rand.Uint32N(1_000_000_000) }

// slogDiscard silences the binlog client's own logging: the stream's
// errors come back to the caller.
var slogDiscard = slog.New(slog.NewTextHandler(io.Discard, nil))
