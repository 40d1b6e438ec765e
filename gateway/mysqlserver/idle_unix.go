//go:build unix

package mysqlserver

import (
	"net"
	"syscall"
)

// idleWaiter waits until a connection has bytes to read (or is closed)
// without reading them, so that an idle connection needs no read buffer.
type idleWaiter struct {
	raw  syscall.RawConn
	peek [1]byte
}

// newIdleWaiter returns nil for connections it cannot wait on (TLS, or
// anything without a file descriptor); those keep their read buffer.
func newIdleWaiter(conn net.Conn) *idleWaiter {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return &idleWaiter{raw: raw}
}

// wait blocks until the socket is readable, honouring its read deadline.
// It peeks rather than relies on the poller alone: readiness that arrived
// before the wait began would otherwise be missed.
func (w *idleWaiter) wait() error {
	return w.raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), w.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return err != syscall.EAGAIN
	})
}
