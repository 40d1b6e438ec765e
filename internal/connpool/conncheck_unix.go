//go:build linux || darwin || freebsd

package connpool

import (
	"errors"
	"syscall"

	"vitess.io/vitess/go/mysql"
)

// alive reports whether an idle connection is still open at the server's
// end: a server that closed it (it restarted, was killed, or timed the
// connection out) left an end of file, or an error packet, waiting on the
// socket. Without this look the next statement would be written to a dead
// connection and fail with "lost connection" (2013), which the caller
// cannot tell from a statement that ran; with it, the pool dials anew and
// a server that is down answers "connection refused", which says the
// statement never ran. One non-blocking peek, as go-sql-driver's
// checkConnLiveness does.
func alive(c *mysql.Conn) bool {
	sc, ok := c.GetRawConn().(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := true
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			open = false // the server spoke unasked: an error before it closed
		case n == 0 && rerr == nil:
			open = false // end of file
		case rerr != nil && !errors.Is(rerr, syscall.EAGAIN) && !errors.Is(rerr, syscall.EWOULDBLOCK):
			open = false
		}
		return true // never wait for readiness
	})
	return open && err == nil
}
