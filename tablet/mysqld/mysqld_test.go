package mysqld

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/freeport"

	_ "github.com/go-sql-driver/mysql"
	"go.uber.org/zap/zaptest"
)

// These tests run a real mariadbd. They fail, never skip, when it is missing.

// newTestConfig returns a Config on a fresh short directory and a free port,
// and makes sure, through t.Cleanup, that no server is left running for it
// however the test ends.
func newTestConfig(t *testing.T, serverID uint32) Config {
	t.Helper()
	if _, err := FindBinary(); err != nil {
		t.Fatal(err)
	}
	dir := shortTempDir(t)
	t.Cleanup(func() { // runs before the directory is removed
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := StopDataDir(ctx, dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if pids := serverPids(t, dir); len(pids) > 0 {
			t.Errorf("cleanup: mariadbd %v still running for %s", pids, dir)
		}
	})
	return Config{DataDir: dir, Port: freePort(t), ServerID: serverID, Log: zaptest.NewLogger(t)}
}

// shortTempDir is t.TempDir unless that is too deep for a unix socket path.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if len(filepath.Join(dir, socketName)) <= maxSocketPath {
		return dir
	}
	dir, err := os.MkdirTemp("", "sg")
	if err == nil && len(filepath.Join(dir, socketName)) > maxSocketPath {
		os.RemoveAll(dir)
		dir, err = os.MkdirTemp("/tmp", "sg")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// freePort is a port for a server the test starts (see internal/freeport:
// not one the kernel may give an outgoing connection meanwhile).
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// serverPids lists the processes whose command line names dataDir's datadir,
// found by scanning /proc, independently of pid files.
func serverPids(t *testing.T, dataDir string) []int {
	t.Helper()
	want := []byte("--datadir=" + filepath.Join(dataDir, dataName) + "\x00")
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(cmdline, want) && serves(pid, filepath.Join(dataDir, dataName)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func queryString(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	var s string
	if err := db.QueryRow(query).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func TestServerLifecycle(t *testing.T) {
	cfg := newTestConfig(t, 4242)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	began := time.Now()
	if err := Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	initTook := time.Since(began)

	// Init on an initialized dir keeps it as it is.
	marker := filepath.Join(cfg.ServerDataDir(), "marker")
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	if err := Init(ctx, cfg); err != nil {
		t.Fatalf("second Init: %v", err)
	}
	reinitTook := time.Since(began)
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("second Init replaced the data directory: %v", err)
	}

	// ctx bounds only the start: cancelling it later must not stop the server.
	startCtx, cancelStart := context.WithTimeout(ctx, time.Minute)
	began = time.Now()
	p, err := Start(startCtx, cfg)
	startTook := time.Since(began)
	cancelStart()
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := Running(cfg.DataDir); !ok || pid != p.Pid() {
		t.Errorf("Running() = %d, %v; want %d, true", pid, ok, p.Pid())
	}
	if sid := sessionID(t, p.Pid()); sid != p.Pid() {
		t.Errorf("server runs in session %d, want its own session %d (detached)", sid, p.Pid())
	}
	if _, err := Start(ctx, cfg); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Start: error %v, want ErrAlreadyRunning", err)
	}

	tcp := openDB(t, cfg.TCPDSN(""))
	if got := queryString(t, tcp, "SELECT CURRENT_USER()"); got != "root@127.0.0.1" {
		t.Errorf("over TCP CURRENT_USER() = %q, want root@127.0.0.1", got)
	}
	for query, want := range map[string]string{
		"SELECT @@log_bin":              "1",
		"SELECT @@binlog_format":        "ROW",
		"SELECT @@binlog_row_image":     "FULL",
		"SELECT @@log_slave_updates":    "1",
		"SELECT @@gtid_strict_mode":     "1",
		"SELECT @@gtid_domain_id":       "0",
		"SELECT @@character_set_server": "utf8mb4",
		"SELECT @@collation_server":     "utf8mb4_general_ci",
		"SELECT @@server_id":            "4242",
		"SELECT @@port":                 strconv.Itoa(cfg.Port),
		"SELECT @@bind_address":         "127.0.0.1",
		"SELECT @@skip_name_resolve":    "1",
		"SELECT @@max_connections":      "500",
		"SELECT @@log_bin_basename":     filepath.Join(cfg.DataDir, "binlog", "mysql-bin"),
		"SELECT @@socket":               cfg.SocketPath(),
		"SELECT @@pid_file":             cfg.PidFile(),
		"SELECT @@log_error":            cfg.ErrorLog(),
		"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'test'": "0",
	} {
		if got := queryString(t, tcp, query); got != want {
			t.Errorf("%s = %q, want %q", query, got, want)
		}
	}

	sock := openDB(t, cfg.DSN(""))
	if got := queryString(t, sock, "SELECT CURRENT_USER()"); got != "root@localhost" {
		t.Errorf("over the socket CURRENT_USER() = %q, want root@localhost", got)
	}
	for _, stmt := range []string{
		"CREATE DATABASE sg",
		"CREATE TABLE sg.t (id BIGINT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO sg.t VALUES (1, 'kept')",
	} {
		if _, err := sock.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if got := queryString(t, sock, "SELECT @@gtid_binlog_pos"); !strings.HasPrefix(got, "0-4242-") {
		t.Errorf("@@gtid_binlog_pos = %q, want a GTID of domain 0, server 4242", got)
	}
	tcp.Close()
	sock.Close()

	began = time.Now()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopTook := time.Since(began)
	if _, ok := Running(cfg.DataDir); ok {
		t.Error("Running() after Stop = true")
	}
	if pids := serverPids(t, cfg.DataDir); len(pids) > 0 {
		t.Errorf("after Stop mariadbd %v still runs for %s", pids, cfg.DataDir)
	}
	if _, err := os.Stat(cfg.PidFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file after Stop: %v, want it removed", err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	// Restart on the same dir: the data is still there.
	began = time.Now()
	p, err = Start(ctx, cfg)
	restartTook := time.Since(began)
	if err != nil {
		t.Fatal(err)
	}
	sock = openDB(t, cfg.DSN("sg"))
	if got := queryString(t, sock, "SELECT name FROM t WHERE id = 1"); got != "kept" {
		t.Errorf("after restart the row reads %q, want kept", got)
	}
	sock.Close()

	// Stop through the pid file, as `shardctl local down` does from another process.
	began = time.Now()
	if err := StopDataDir(ctx, cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	stopDirTook := time.Since(began)
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("StopDataDir returned but the process has not exited")
	}
	if pids := serverPids(t, cfg.DataDir); len(pids) > 0 {
		t.Errorf("after StopDataDir mariadbd %v still runs for %s", pids, cfg.DataDir)
	}
	if err := StopDataDir(ctx, cfg.DataDir); err != nil {
		t.Errorf("StopDataDir with nothing running: %v", err)
	}
	if err := p.Stop(ctx); err != nil {
		t.Errorf("Stop after StopDataDir: %v", err)
	}

	t.Logf("timings: Init %v, Init again %v, Start %v, Stop %v, restart %v, StopDataDir %v",
		initTook.Round(time.Millisecond), reinitTook.Round(time.Microsecond), startTook.Round(time.Millisecond),
		stopTook.Round(time.Millisecond), restartTook.Round(time.Millisecond), stopDirTook.Round(time.Millisecond))
}

// sessionID reads the session id of pid from /proc/<pid>/stat.
func sessionID(t *testing.T, pid int) int {
	t.Helper()
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// After "pid (comm) ": state ppid pgrp session ...
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	sid, err := strconv.Atoi(fields[3])
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func TestStartPortTaken(t *testing.T) {
	cfg := newTestConfig(t, 7)
	l, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	p, err := Start(ctx, cfg)
	if err == nil {
		p.Stop(ctx)
		t.Fatal("Start succeeded on a port another process listens on")
	}
	t.Logf("Start failed after %v as expected: %v", time.Since(began).Round(time.Millisecond), err)
	if !strings.Contains(err.Error(), "last lines of "+cfg.ErrorLog()) || !strings.Contains(err.Error(), "[ERROR]") {
		t.Errorf("error does not carry the end of error.log: %v", err)
	}
	if pids := serverPids(t, cfg.DataDir); len(pids) > 0 {
		t.Errorf("failed Start left mariadbd %v running", pids)
	}
}

func TestStartTimeoutKillsServer(t *testing.T) {
	cfg := newTestConfig(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, time.Millisecond)
	defer cancelShort()
	p, err := Start(short, cfg)
	if err == nil {
		p.Stop(ctx)
		t.Fatal("Start succeeded within 1ms")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Start error %v, want one wrapping context.DeadlineExceeded", err)
	}
	if pids := serverPids(t, cfg.DataDir); len(pids) > 0 {
		t.Errorf("timed-out Start left mariadbd %v running", pids)
	}
}

func TestStartWithoutInit(t *testing.T) {
	cfg := newTestConfig(t, 9)
	_, err := Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "call Init first") {
		t.Fatalf("Start on an empty dir: %v, want an error asking for Init", err)
	}
}

func TestInitRefusesForeignDir(t *testing.T) {
	cfg := newTestConfig(t, 10)
	if err := os.MkdirAll(cfg.ServerDataDir(), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.ServerDataDir(), "precious"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Init(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "holds no MariaDB data directory") {
		t.Fatalf("Init over a foreign directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.ServerDataDir(), "precious")); err != nil {
		t.Fatalf("Init touched a foreign directory: %v", err)
	}
}

// A data dir reached through a symbolic link is the same data dir:
// `shardctl local down` may name it by either path.
func TestSymlinkedDataDir(t *testing.T) {
	cfg := newTestConfig(t, 11)
	real, link := filepath.Join(cfg.DataDir, "real"), filepath.Join(cfg.DataDir, "link")
	if err := os.Mkdir(real, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	cfg.DataDir = link
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := StopDataDir(ctx, link); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Init(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	p, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pid, ok := Running(real); !ok || pid != p.Pid() {
		t.Errorf("Running(real path) = %d, %v; want %d, true", pid, ok, p.Pid())
	}
	if err := StopDataDir(ctx, real); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("StopDataDir through the real path returned but the server still runs")
	}
}
