package control

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/shardgate/shardgate/topo"
)

// topoCheckTimeout bounds how long OpenTopo tries to reach etcd.
const topoCheckTimeout = 3 * time.Second

// OpenTopo connects to the topology in etcd at endpoints under root and
// checks that it answers, so that a command fails at once with an error
// saying what to do instead of timing out on its first read.
func OpenTopo(ctx context.Context, endpoints []string, root string, log *zap.Logger, opts ...topo.EtcdOption) (*topo.Server, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("no topology endpoint given (--topo)")
	}
	if root == "" {
		root = topo.DefaultRoot
	}
	unreachable := func(cause error) error {
		return fmt.Errorf("cannot reach the topology at %s: is a cluster running? (`shardctl local up`): %w",
			strings.Join(endpoints, ","), cause)
	}
	// A refused TCP connection is answered at once, while the etcd client
	// would keep retrying until its deadline.
	var dialErr error
	reachable := false
	for _, ep := range endpoints {
		d := net.Dialer{Timeout: topoCheckTimeout}
		c, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(strings.TrimPrefix(ep, "http://"), "https://"))
		if err == nil {
			c.Close()
			reachable = true
			break
		}
		dialErr = err
	}
	if !reachable {
		return nil, unreachable(dialErr)
	}
	store, err := topo.NewEtcdStore(endpoints, log, append([]topo.EtcdOption{topo.WithDialTimeout(topoCheckTimeout)}, opts...)...)
	if err != nil {
		return nil, unreachable(err)
	}
	cctx, cancel := context.WithTimeout(ctx, topoCheckTimeout)
	defer cancel()
	if _, _, err := store.Get(cctx, strings.TrimRight(root, "/")+"/"); err != nil && !errors.Is(err, topo.ErrNotFound) {
		store.Close()
		return nil, unreachable(err)
	}
	return topo.NewServer(store, root), nil
}
