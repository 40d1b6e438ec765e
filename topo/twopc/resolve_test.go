package twopc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/shardgate/shardgate/proto/topopb"
	"github.com/shardgate/shardgate/topo"
)

// shards is a fake set of participants: each shard's branch is
// "prepared", "committed" or "rolled back"; a shard in down fails calls.
type shards struct {
	mu     sync.Mutex
	branch map[string]string
	down   map[string]bool
}

func newShards(names ...string) *shards {
	s := &shards{branch: map[string]string{}, down: map[string]bool{}}
	for _, n := range names {
		s.branch[n] = "prepared"
	}
	return s
}

func (s *shards) end(keyspace, shard, to string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := keyspace + "/" + shard
	if s.down[name] {
		return false, errors.New("unreachable")
	}
	if s.branch[name] != "prepared" {
		return true, nil
	}
	s.branch[name] = to
	return false, nil
}

func (s *shards) CommitPrepared(_ context.Context, keyspace, shard, _ string) (bool, error) {
	return s.end(keyspace, shard, "committed")
}

func (s *shards) RollbackPrepared(_ context.Context, keyspace, shard, _ string) (bool, error) {
	return s.end(keyspace, shard, "rolled back")
}

func record(t *testing.T, ts *topo.Server, dtid string) *topo.Transaction {
	t.Helper()
	tx, err := ts.CreateTransaction(context.Background(), &topopb.TransactionRecord{
		Dtid: dtid, State: topopb.TransactionRecord_PREPARE, GateId: "g/1",
		Participants: []*topopb.TransactionParticipant{{Keyspace: "ks", Shard: "-80"}, {Keyspace: "ks", Shard: "80-"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestResolveFollowsTheRecordToTheEnd(t *testing.T) {
	ctx := context.Background()
	ts := topo.NewServer(topo.NewMemoryStore(), "")
	tx := record(t, ts, "d1")
	parts := newShards("ks/-80", "ks/80-")

	// A participant is down: the record stays, decided, for the next try.
	parts.down["ks/80-"] = true
	if _, err := Resolve(ctx, ts, tx, topopb.TransactionRecord_COMMIT, parts); err == nil {
		t.Fatal("an unreachable participant must fail the attempt")
	}
	left, err := ts.GetTransaction(ctx, "d1")
	if err != nil || left.Record.State != topopb.TransactionRecord_COMMIT {
		t.Fatalf("record after a failed attempt: %v, %v; want it kept, decided COMMIT", left, err)
	}
	// The next attempt asks to roll back (say, an operator) but the
	// decision stands; the shard committed before reports not prepared.
	parts.down["ks/80-"] = false
	out, err := Resolve(ctx, ts, left, topopb.TransactionRecord_ROLLBACK, parts)
	if err != nil || out.State != topopb.TransactionRecord_COMMIT || !slices.Equal(out.NotPrepared, []string{"ks/-80"}) {
		t.Fatalf("second attempt = %+v, %v; want COMMIT with ks/-80 already done", out, err)
	}
	if parts.branch["ks/-80"] != "committed" || parts.branch["ks/80-"] != "committed" {
		t.Fatalf("branches = %v, want both committed", parts.branch)
	}
	if _, err := ts.GetTransaction(ctx, "d1"); !errors.Is(err, topo.ErrNotFound) {
		t.Fatalf("the record of a finished transaction: %v, want it deleted", err)
	}
}

func TestConcurrentResolversAgree(t *testing.T) {
	ctx := context.Background()
	ts := topo.NewServer(topo.NewMemoryStore(), "")
	tx := record(t, ts, "d2")
	parts := newShards("ks/-80", "ks/80-")
	var wg sync.WaitGroup
	outcomes := make([]topopb.TransactionRecord_State, 8)
	for i := range outcomes {
		decision := topopb.TransactionRecord_ROLLBACK
		if i%2 == 0 {
			decision = topopb.TransactionRecord_COMMIT
		}
		wg.Go(func() {
			out, err := Resolve(ctx, ts, tx, decision, parts)
			if err != nil && !errors.Is(err, topo.ErrNotFound) {
				t.Error(err)
			}
			if out != nil {
				outcomes[i] = out.State
			}
		})
	}
	wg.Wait()
	if parts.branch["ks/-80"] != parts.branch["ks/80-"] || parts.branch["ks/-80"] == "prepared" {
		t.Fatalf("branches = %v, want both ended the same way", parts.branch)
	}
	for _, o := range outcomes {
		if o != topopb.TransactionRecord_STATE_UNSPECIFIED && (o == topopb.TransactionRecord_COMMIT) != (parts.branch["ks/-80"] == "committed") {
			t.Fatalf("a resolver carried out %v, the branches were %v", o, parts.branch)
		}
	}
}

func TestFinishRefusesAnUndecidedRecord(t *testing.T) {
	ts := topo.NewServer(topo.NewMemoryStore(), "")
	tx := record(t, ts, "d3")
	parts := newShards("ks/-80", "ks/80-")
	if _, err := Finish(context.Background(), ts, tx, parts); err == nil || parts.branch["ks/-80"] != "prepared" {
		t.Fatalf("finishing an undecided record: %v, branches %v; want refused, untouched", err, parts.branch)
	}
}
