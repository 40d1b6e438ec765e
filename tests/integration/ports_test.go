package integration

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/shardgate/shardgate/gateway/client"
	"github.com/shardgate/shardgate/localcluster"
)

// TestEveryPortIsClosedOrDocumented lists every TCP port the processes of
// a local cluster listen on (from /proc) and shows that each is one the
// README's port table names, bound to loopback, and that each refuses an
// unauthenticated request or serves only what the table says: the gate's
// MySQL and gRPC ports want a password, the /debug pages and the query
// statistics of gates and tablets want the debug token, /metrics and
// /healthz are open, and a tablet's pprof command line shows no password.
func TestEveryPortIsClosedOrDocumented(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "debug-token")
	if err := os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	usersFile := filepath.Join(dir, "users.json")
	if err := os.WriteFile(usersFile, []byte(`{"users": [{"user": "root", "password": "", "from": "loopback"}, {"user": "app", "password": "s3cret"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startClusterWith(t, func(cfg *localcluster.Config) {
		cfg.TabletArgs = append(cfg.TabletArgs, "--debug-token-file="+tokenFile)
	})
	if err := c.RestartGate(context.Background(), "--users-file="+usersFile, "--debug-token-file="+tokenFile); err != nil {
		t.Fatal(err)
	}

	// What the README's table documents, by port.
	documented := map[int]string{}
	ports := c.Ports()
	documented[ports.GateMySQL] = "gate mysql"
	documented[ports.GateGRPC] = "gate grpc"
	documented[ports.GateHTTP] = "gate http"
	for _, tab := range c.Tablets() {
		documented[portOf(t, tab.GRPCAddr)] = "tablet grpc"
		documented[portOf(t, tab.HTTPAddr)] = "tablet http"
		documented[tab.MySQLPort()] = "mysqld"
	}
	st := c.State()
	for _, p := range st.Parts {
		if p.Kind == localcluster.KindEtcd {
			continue // etcd runs inside this test process
		}
		for _, l := range listening(t, p.PID) {
			what, ok := documented[l.port]
			switch {
			case strings.HasPrefix(p.Kind, "tablet") && ok == false && l.port >= ports.TabletQueryBase && l.port < ports.TabletQueryBase+100:
				what, ok = "tablet query", true
			}
			if !ok {
				t.Errorf("%s listens on %s:%d, a port the README does not document", p.Name, l.ip, l.port)
				continue
			}
			if !l.ip.IsLoopback() {
				t.Errorf("%s (%s) listens on %s:%d: every port of a local cluster must be on loopback", p.Name, what, l.ip, l.port)
			}
		}
	}

	// The gate's MySQL and gRPC ports: a password (root has none from
	// loopback only, as a fresh MariaDB; the README says so).
	for _, user := range []string{"app", "nobody"} {
		cfg := mysql.NewConfig()
		cfg.User, cfg.Net, cfg.Addr = user, "tcp", c.GateAddr()
		if err := openDB(t, cfg.FormatDSN()).Ping(); err == nil || !strings.Contains(err.Error(), "1045") {
			t.Errorf("gate MySQL as %s without the password: %v, want 1045", user, err)
		}
	}
	cl, err := client.New(client.Config{Address: c.GateGRPCAddr(), Target: "ks", User: "app"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.NewSession().Execute(context.Background(), "select 1", nil); err == nil || !strings.Contains(err.Error(), "Access denied") {
		t.Errorf("gate gRPC without the password: %v, want access denied", err)
	}

	// HTTP: open metrics and health, the rest behind the token.
	tablet := c.Tablets()[0]
	for _, check := range []struct {
		url  string
		want int
	}{
		{fmt.Sprintf("http://127.0.0.1:%d/metrics", ports.GateHTTP), 200},
		{fmt.Sprintf("http://127.0.0.1:%d/healthz", ports.GateHTTP), 200},
		{fmt.Sprintf("http://127.0.0.1:%d/debug/status", ports.GateHTTP), 401},
		{fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", ports.GateHTTP), 401},
		{fmt.Sprintf("http://127.0.0.1:%d/api/query-stats", ports.GateHTTP), 401},
		{"http://" + tablet.HTTPAddr + "/metrics", 200},
		{"http://" + tablet.HTTPAddr + "/debug/status", 401},
		{"http://" + tablet.HTTPAddr + "/debug/pprof/cmdline", 401},
		{"http://" + tablet.HTTPAddr + "/debug/pprof/cmdline?token=t0ken", 200},
	} {
		resp, err := http.Get(check.url)
		if err != nil {
			t.Errorf("GET %s: %v", check.url, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != check.want {
			t.Errorf("GET %s: %d, want %d", check.url, resp.StatusCode, check.want)
		}
		if strings.Contains(check.url, "cmdline") && resp.StatusCode == 200 && strings.Contains(string(body), "t0ken") {
			t.Errorf("the tablet's command line shows a secret: %q", body)
		}
	}
}

type listener struct {
	ip   net.IP
	port int
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// listening returns the TCP sockets process pid listens on, read from
// /proc: its descriptors' socket inodes, matched against the kernel's
// table of listening sockets.
func listening(t *testing.T, pid int) []listener {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var out []listener
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			addr, port, _ := strings.Cut(fields[1], ":")
			raw, _ := hex.DecodeString(addr)
			// The kernel writes each 32-bit word of the address in host
			// (little-endian) order.
			for i := 0; i+4 <= len(raw); i += 4 {
				raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
			}
			n, _ := strconv.ParseInt(port, 16, 32)
			out = append(out, listener{ip: net.IP(raw), port: int(n)})
		}
		f.Close()
	}
	return out
}
