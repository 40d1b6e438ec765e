package queryservice

import (
	"context"
	"testing"
	"time"

	"github.com/shardgate/shardgate/proto/querypb"
)

// TestStreamHealthHeartbeat: with no new measurement (the health loop is
// not running here, as when a slow mysqld holds it up), the stream still
// sends the last report once per health interval, so that gates can tell
// a quiet tablet from a hung one.
func TestStreamHealthHeartbeat(t *testing.T) {
	cfg := Defaults()
	cfg.Alias, cfg.Keyspace, cfg.Shard = "zone1-100", "ks", "-80"
	cfg.HealthInterval = 20 * time.Millisecond
	s, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sent := make(chan time.Time, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.StreamHealth(ctx, func(*querypb.StreamHealthResponse) error {
			sent <- time.Now()
			return nil
		})
	}()
	start := time.Now()
	for i := range 5 {
		select {
		case <-sent:
		case <-time.After(5 * time.Second):
			t.Fatalf("message %d did not come: the stream is silent without new measurements", i+1)
		}
	}
	// Five messages (the first at once, then four heartbeats) take at least
	// four intervals: heartbeats do not come faster than the interval.
	if took := time.Since(start); took < 4*cfg.HealthInterval {
		t.Errorf("5 messages in %v, want at least 4 intervals (%v)", took, 4*cfg.HealthInterval)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("StreamHealth: %v", err)
	}
}
