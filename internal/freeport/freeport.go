// Package freeport hands out local TCP ports for servers a process starts
// itself (test clusters, a restore's scratch mariadbd), which must name
// their port before they bind it.
//
// Asking the kernel for port 0 and closing the listener is not enough:
// that port comes from the ephemeral range, where the kernel also picks the
// local port of every outgoing connection, so between the close and the
// server's bind an unrelated client connection can take it ("address
// already in use"), and a second request may get the same port back. Ports
// here come from outside the ephemeral range and are never handed out twice
// by one process.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Get returns a port on 127.0.0.1 that nothing listens on now, outside the
// kernel's ephemeral range, and not returned before by this process.
func Get() (int, error) {
	lo, hi := candidateRange(ephemeralRange())
	mu.Lock()
	defer mu.Unlock()
	// Random probes rather than a scan: test binaries that run at once
	// then rarely probe the same port.
	for range 1000 {
		port := lo + rand.IntN(hi-lo+1)
		if handed[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = ln.Close()
		handed[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("freeport: no free port in %d-%d after 1000 tries", lo, hi)
}

// ephemeralRange is the kernel's range for outgoing connections' local
// ports; Linux's default where it cannot be read.
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return lo, hi
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l > h {
		return lo, hi
	}
	return l, h
}

// candidateRange is a stretch of ports outside [ephLo, ephHi]: above it
// when at least 1000 ports are there (Linux's default leaves 61000-65535,
// clear of the local cluster's ports, which a test may start beside these),
// else the larger stretch, never below 10000.
func candidateRange(ephLo, ephHi int) (lo, hi int) {
	const floor, ceiling, enough = 10000, 65535, 1000
	above := [2]int{max(ephHi+1, floor), ceiling}
	below := [2]int{floor, min(ephLo-1, ceiling)}
	if above[1]-above[0]+1 >= enough || above[1]-above[0] >= below[1]-below[0] {
		return above[0], above[1]
	}
	return below[0], below[1]
}
