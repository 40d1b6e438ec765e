package main

import (
	"context"
	"database/sql/driver"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// connsPerSourceAddr bounds the connections opened from one loopback
// address: each needs an ephemeral port of its own (about 28,000 of them
// per address with Linux's default range).
const connsPerSourceAddr = 20000

// memoryRun measures what idle client connections cost the gate: its
// resident memory with o.memoryConns logged-in connections that do
// nothing, per connection, and how long a new connection then takes to
// log in and answer SELECT 1.
func memoryRun(o options, bin string) error {
	n := o.memoryConns
	if err := raiseFileLimit(uint64(n) + 1000); err != nil {
		// Both this process and the gate need a descriptor per
		// connection: measure as many as the hard limit allows.
		var lim syscall.Rlimit
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		if lim.Max < 2000 {
			return fmt.Errorf("memory: %w", err)
		}
		fewer := int(lim.Max) - 1000
		fmt.Printf("\nmemory: %d connections cannot be measured here (%v); measuring %d\n", n, err, fewer)
		n = fewer
		if err := raiseFileLimit(lim.Max); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
	}
	c, err := start(bin, 1)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := c.RestartGate(ctx, "--max-connections="+strconv.Itoa(n+100)); err != nil {
		return err
	}
	gatePID := 0
	for _, p := range c.State().Parts {
		if p.Kind == "gate" {
			gatePID = p.PID
		}
	}
	// A first connection, so that what every connection shares is counted
	// in the baseline.
	probe, err := loginFrom(ctx, c.GateAddr(), "127.0.0.1")
	if err != nil {
		return err
	}
	_ = probe.Close()
	time.Sleep(time.Second)
	before := residentKiB(gatePID)

	began := time.Now()
	conns, err := openIdle(ctx, c.GateAddr(), n)
	defer func() {
		for _, cn := range conns {
			_ = cn.Close()
		}
	}()
	if err != nil {
		return fmt.Errorf("memory: %d connections open: %w", len(conns), err)
	}
	opened := time.Since(began)
	time.Sleep(2 * time.Second)
	after := residentKiB(gatePID)

	// New connections while the others stay open.
	var took []time.Duration
	for range 21 {
		t0 := time.Now()
		cn, err := loginFrom(ctx, c.GateAddr(), "127.0.0.1")
		if err != nil {
			return fmt.Errorf("memory: a new connection beside %d idle ones: %w", n, err)
		}
		if err := selectOne(ctx, cn); err != nil {
			return err
		}
		took = append(took, time.Since(t0))
		_ = cn.Close()
	}
	slices.Sort(took)
	fmt.Printf("\nmemory: gate resident memory %.0f MiB with 1 connection, %.0f MiB with %d idle logged-in connections (opened in %v): %.1f KiB per connection\n",
		float64(before)/1024, float64(after)/1024, n, opened.Round(time.Second), float64(after-before)/float64(n))
	fmt.Printf("memory: a new connection beside them logs in and answers SELECT 1 in %v (median of %d; max %v)\n",
		took[len(took)/2].Round(10*time.Microsecond), len(took), took[len(took)-1].Round(10*time.Microsecond))
	return nil
}

// openIdle opens n logged-in connections to addr, 64 at a time, from as
// many loopback addresses as their ports need.
func openIdle(ctx context.Context, addr string, n int) ([]driver.Conn, error) {
	conns := make([]driver.Conn, n)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan int)
	for range 64 {
		wg.Go(func() {
			for i := range next {
				src := fmt.Sprintf("127.0.%d.%d", 1+i/connsPerSourceAddr/250, 2+(i/connsPerSourceAddr)%250)
				cn, err := loginFrom(ctx, addr, src)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				conns[i] = cn
				mu.Unlock()
			}
		})
	}
	for i := range n {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	open := slices.DeleteFunc(conns, func(c driver.Conn) bool { return c == nil })
	return open, firstErr
}

// loginFrom logs in to the gate at addr as root from the loopback address
// src.
func loginFrom(ctx context.Context, addr, src string) (driver.Conn, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "tcp", addr
	cfg.Timeout = 30 * time.Second
	cfg.Logger = quietLogger{}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 30 * time.Second}
	cfg.DialFunc = func(ctx context.Context, network, address string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, address)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	cn, err := connector.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("log in from %s: %w", src, err)
	}
	return cn, nil
}

func selectOne(ctx context.Context, cn driver.Conn) error {
	q, ok := cn.(driver.QueryerContext)
	if !ok {
		return fmt.Errorf("the driver's connection cannot query")
	}
	rows, err := q.QueryContext(ctx, "SELECT 1", nil)
	if err != nil {
		return err
	}
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		return err
	}
	return rows.Close()
}

// raiseFileLimit lets this process, and the clusters it starts, hold at
// least n descriptors.
func raiseFileLimit(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= n && lim.Max >= n {
		return nil
	}
	lim.Cur, lim.Max = max(lim.Cur, n), max(lim.Max, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise the open-files limit to %d (needs root for above the hard limit): %w", n, err)
	}
	return nil
}

// residentKiB reads VmRSS from /proc/<pid>/status.
func residentKiB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}

// quietLogger silences the driver's own log lines.
type quietLogger struct{}

func (quietLogger) Print(...any) {}
