package topo

import (
	"context"
	"errors"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// checkKeyspaceLock runs the lock's contract on a store: a second locker
// is refused and told who holds the lock, a released lock can be taken,
// and locks of different keyspaces are independent.
func checkKeyspaceLock(t *testing.T, ts *Server) {
	ctx := context.Background()
	first, err := ts.LockKeyspace(ctx, "commerce", "alice@host1 (pid 10)", "switch-writes")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.LockKeyspace(ctx, "commerce", "bob@host2 (pid 20)", "reverse")
	var locked *LockedError
	if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want a *LockedError", err)
	}
	if locked.Holder.GetHolder() != "alice@host1 (pid 10)" || locked.Holder.GetOperation() != "switch-writes" {
		t.Errorf("refusal names holder %+v, want alice's switch-writes", locked.Holder)
	}
	for _, want := range []string{"keyspace commerce is locked by alice@host1 (pid 10) for switch-writes since ", "ago"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	if h, err := ts.KeyspaceLockHolder(ctx, "commerce"); err != nil || h.GetHolder() != "alice@host1 (pid 10)" {
		t.Errorf("holder %v, %v", h, err)
	}

	// Another keyspace is another lock.
	other, err := ts.LockKeyspace(ctx, "customer", "bob@host2 (pid 20)", "create")
	if err != nil {
		t.Fatalf("lock of another keyspace: %v", err)
	}
	other.Release()

	first.Release()
	select {
	case <-first.Lost():
	default:
		t.Error("Lost is not closed after Release")
	}
	if h, err := ts.KeyspaceLockHolder(ctx, "commerce"); err != nil || h != nil {
		t.Errorf("after release: holder %v, %v; want none", h, err)
	}
	second, err := ts.LockKeyspace(ctx, "commerce", "bob@host2 (pid 20)", "reverse")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	second.Release()
}

func TestKeyspaceLockMemory(t *testing.T) {
	checkKeyspaceLock(t, NewServer(NewMemoryStore(), ""))
}

func TestKeyspaceLockEndsWithTheTakingContextOnlyWhileTaking(t *testing.T) {
	ts := NewServer(NewMemoryStore(), "")
	ctx, cancel := context.WithCancel(context.Background())
	l, err := ts.LockKeyspace(ctx, "ks", "a", "cancel")
	if err != nil {
		t.Fatal(err)
	}
	cancel() // ctx bounds the taking, not the holding
	time.Sleep(10 * time.Millisecond)
	if _, err := ts.LockKeyspace(context.Background(), "ks", "b", "cancel"); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock taken while held: %v", err)
	}
	l.Release()
	if _, err := ts.LockKeyspace(ctx, "ks", "b", "cancel"); err == nil || errors.Is(err, ErrLocked) {
		t.Fatalf("lock with an ended context: %v, want the context's error", err)
	}
}

// startEtcd runs a single-member etcd in the test process on free
// loopback ports.
func startEtcd(t *testing.T, change ...func(*embed.Config, *url.URL)) string {
	t.Helper()
	port := func() url.URL {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return url.URL{Scheme: "http", Host: l.Addr().String()}
	}
	cfg := embed.NewConfig()
	cfg.Name = "locktest"
	cfg.Dir = t.TempDir()
	client, peer := port(), port()
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(cfg.Dir, "etcd.log")} // its shutdown is noisy
	for _, c := range change {
		c(cfg, &client)
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("embedded etcd: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("embedded etcd did not start")
	}
	return client.Host
}

func TestKeyspaceLockEtcd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded etcd")
	}
	addr := startEtcd(t)
	store, err := NewEtcdStore([]string{addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ts := NewServer(store, "/locktest")
	checkKeyspaceLock(t, ts)

	// A holder that dies (its client gone without releasing) loses the
	// lock when its lease runs out.
	dying, err := NewEtcdStore([]string{addr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewServer(dying, "/locktest").lockKeyspace(context.Background(), "commerce", "crashed", "switch-writes", time.Second); err != nil {
		t.Fatal(err)
	}
	dying.Close() // no revoke: as if the process were killed
	if _, err := ts.LockKeyspace(context.Background(), "commerce", "next", "switch-writes"); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock of a holder that just died: %v, want refused until its lease expires", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := ts.LockKeyspace(context.Background(), "commerce", "next", "switch-writes")
		if err == nil {
			l.Release()
			break
		}
		if !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("the dead holder's lock did not expire: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
