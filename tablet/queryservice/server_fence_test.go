package queryservice

import (
	"testing"
	"time"

	"github.com/shardgate/shardgate/proto/querypb"
	"github.com/shardgate/shardgate/proto/topopb"
)

// A report advertises the writes' validity as it is sent, from the live
// fence: the same report sent again later advertises less, a stopped or
// non-serving primary advertises none, and what was advertised is
// remembered until it passes.
func TestAdvertisedWriteValidityIsComputedAtSend(t *testing.T) {
	s := roleService(topopb.TabletType_PRIMARY)
	s.cfg.HealthInterval = time.Second
	s.primaryServing.Store(true)
	until := time.Now().Add(1500 * time.Millisecond)
	s.SetFence(func() time.Time { return until })
	report := &querypb.StreamHealthResponse{DirectRead: &querypb.DirectReadOffer{Transactions: true}}

	first := s.withWriteValidity(report)
	if ms := first.DirectRead.WritesValidMs; ms < 1300 || ms > 1500 {
		t.Errorf("advertised %d ms, want about 1500 (the lease's validity)", ms)
	}
	if report.DirectRead.WritesValidMs != 0 {
		t.Error("the stored report was changed: a later send would repeat the figure")
	}
	if got := s.WritesAdvertisedUntil(); got.Before(until.Add(-200*time.Millisecond)) || got.After(until.Add(time.Millisecond)) {
		t.Errorf("remembered %v, want about %v", got, until)
	}
	time.Sleep(300 * time.Millisecond)
	if ms := s.withWriteValidity(report).DirectRead.WritesValidMs; ms > 1250 {
		t.Errorf("the same report 300 ms later advertised %d ms, want 1200 or less", ms)
	}

	// Capped at two health intervals, however long the lease.
	until = time.Now().Add(time.Hour)
	if ms := s.withWriteValidity(report).DirectRead.WritesValidMs; ms > 2000 {
		t.Errorf("advertised %d ms, want at most 2000 (two health intervals)", ms)
	}

	s.writesStopped.Store(true)
	if got := s.withWriteValidity(report).DirectRead; !got.WritesStopping {
		t.Error("stopped writes are not said")
	}
	s.primaryServing.Store(false)
	if ms := s.withWriteValidity(report).DirectRead.WritesValidMs; ms != 0 {
		t.Errorf("a tablet no longer serving as primary advertised %d ms", ms)
	}
}
