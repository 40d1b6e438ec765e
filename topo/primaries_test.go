package topo

import (
	"context"
	"errors"
	"testing"
	"time"
)

// checkPrimaryLease runs the primary lease's contract on a store: one
// holder at a time, the refusal names the holder, watchers see it come and
// go, and the lease is valid while held and invalid once given up.
func checkPrimaryLease(t *testing.T, ts *Server) {
	ctx := context.Background()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	holders, err := ts.WatchPrimaryLease(watchCtx, "ks", "-80")
	if err != nil {
		t.Fatal(err)
	}
	if h := <-holders; h != "" {
		t.Fatalf("holder before anyone took the lease: %q", h)
	}

	held, cancel := context.WithCancel(ctx)
	lease, _, err := ts.TakePrimaryLease(held, "ks", "-80", "zone1-100", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !lease.Valid(time.Now()) {
		t.Fatal("a lease just taken is not valid")
	}
	if h := <-holders; h != "zone1-100" {
		t.Fatalf("watched holder %q, want zone1-100", h)
	}
	if _, holder, err := ts.TakePrimaryLease(ctx, "ks", "-80", "zone1-101", 2*time.Second); !errors.Is(err, ErrExists) || holder != "zone1-100" {
		t.Fatalf("second taker: holder %q, %v; want ErrExists naming zone1-100", holder, err)
	}
	if h, err := ts.PrimaryLeaseHolder(ctx, "ks", "-80"); err != nil || h != "zone1-100" {
		t.Fatalf("PrimaryLeaseHolder = %q, %v", h, err)
	}
	// Another shard's lease is another key.
	other, err2 := context.WithCancel(ctx)
	if _, _, err := ts.TakePrimaryLease(other, "ks", "80-", "zone1-200", 2*time.Second); err != nil {
		t.Fatalf("lease of another shard: %v", err)
	}
	err2()

	// The same tablet, restarted, takes its own lease back at once; the
	// key stays when its previous process's lease ends, and watchers
	// never see the shard without a holder.
	restarted, cancelRestarted := context.WithCancel(ctx)
	again, _, err := ts.TakePrimaryLease(restarted, "ks", "-80", "zone1-100", 2*time.Second)
	if err != nil {
		t.Fatalf("the holder restarted, taking its own lease back: %v", err)
	}
	cancel()
	select {
	case <-lease.Gone():
	case <-time.After(5 * time.Second):
		t.Fatal("the previous process's lease is not gone 5 s after it was given up")
	}
	if h, err := ts.PrimaryLeaseHolder(ctx, "ks", "-80"); err != nil || h != "zone1-100" {
		t.Fatalf("after the previous process's lease ended: holder %q, %v; want zone1-100", h, err)
	}
	if !again.Valid(time.Now()) {
		t.Fatal("the lease taken back is not valid")
	}
	for drained := false; !drained; {
		select {
		case h := <-holders:
			if h != "zone1-100" {
				t.Fatalf("watchers saw holder %q while zone1-100 took its lease back", h)
			}
		default:
			drained = true
		}
	}
	lease, cancel = again, cancelRestarted

	cancel()
	select {
	case <-lease.Gone():
	case <-time.After(5 * time.Second):
		t.Fatal("the lease is not gone 5 s after it was given up")
	}
	if lease.Valid(time.Now()) {
		t.Fatal("a lease given up is still valid")
	}
	for h := range holders {
		if h == "" {
			break
		}
	}
	if _, _, err := ts.TakePrimaryLease(ctx, "ks", "-80", "zone1-101", 2*time.Second); err != nil {
		t.Fatalf("taking the lease after it was given up: %v", err)
	}
}

func TestPrimaryLeaseMemory(t *testing.T) {
	checkPrimaryLease(t, NewServer(NewMemoryStore(), ""))
}

func TestPrimaryLeaseEtcd(t *testing.T) {
	store, err := NewEtcdStore([]string{startEtcd(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	checkPrimaryLease(t, NewServer(store, ""))
}

// A holder that stops running (a frozen host) finds its lease invalid as
// soon as it runs again, before any renewal could tell it so.
func TestLeaseValidityRunsOutWithoutRenewals(t *testing.T) {
	l := &Lease{}
	answered := time.Now()
	l.renewed(answered, 2*time.Second)
	if !l.Valid(answered.Add(time.Second)) {
		t.Fatal("invalid 1 s after a 2 s renewal")
	}
	if l.Valid(answered.Add(1600 * time.Millisecond)) {
		t.Fatal("still valid within the margin before the store may expire it")
	}
}
