package reshard

import (
	"context"
	"fmt"
	"os"
	"os/user"

	"github.com/shardgate/shardgate/topo"
)

// Every operation that changes a workflow or the keyspace's serving graph
// (create, diff, switch-reads, switch-writes, reverse, complete, cancel)
// holds the keyspace's lock in the topology while it runs, so that two
// operators, or two shardctl invocations, never interleave their steps on
// one keyspace: the second is refused at once, told who holds the lock
// and since when (topo.LockedError). Status reads take no lock.

// lockKeyspace takes the keyspace's lock for operation. The returned
// context ends, with the loss as its cause, if the lock is lost before
// unlock (etcd unreachable longer than the lock's lease): the operation
// then stops and, for a cutover, puts back what it did.
func lockKeyspace(ctx context.Context, ts *topo.Server, keyspace, operation string) (context.Context, func(), error) {
	l, err := ts.LockKeyspace(ctx, keyspace, lockHolder(), operation)
	if err != nil {
		return nil, nil, err
	}
	lctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-l.Lost():
			cancel(fmt.Errorf("lost the lock of keyspace %s (etcd unreachable for longer than %v)", keyspace, topo.DefaultLockTTL))
		case <-lctx.Done():
		}
	}()
	return lctx, func() {
		cancel(nil)
		l.Release()
	}, nil
}

// lockHolder names this process for a lock's record: "user@host (pid N)".
func lockHolder() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s (pid %d)", name, host, os.Getpid())
}
