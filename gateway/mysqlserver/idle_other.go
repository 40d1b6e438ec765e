//go:build !unix

package mysqlserver

import "net"

// idleWaiter: without unix sockets' MSG_PEEK, connections keep their read
// buffer while idle.
type idleWaiter struct{}

func newIdleWaiter(net.Conn) *idleWaiter { return nil }

func (*idleWaiter) wait() error { return nil }
