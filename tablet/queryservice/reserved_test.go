package queryservice

import "testing"

// A reserved connection is closed only once its gate has been missing
// from the topology twice in a row, and never while it runs a statement.
func TestOrphanedReservations(t *testing.T) {
	s := &Service{reserved: newReservations()}
	s.reserved.open[1] = &reservation{id: 1, owner: "gate-a"}
	s.reserved.open[2] = &reservation{id: 2, owner: "gate-b"}
	s.reserved.open[3] = &reservation{id: 3, owner: "gate-b", inUse: true}

	if got := s.orphanedReservations(map[string]bool{"gate-a": true}); len(got) != 0 {
		t.Fatalf("first miss closed %d connections, want none", len(got))
	}
	// gate-b renewed its registration in between: it starts over.
	s.orphanedReservations(map[string]bool{"gate-a": true, "gate-b": true})
	if got := s.orphanedReservations(map[string]bool{"gate-a": true}); len(got) != 0 {
		t.Fatalf("a miss after a renewal closed %d connections, want none", len(got))
	}
	got := s.orphanedReservations(map[string]bool{"gate-a": true})
	if len(got) != 1 || got[0].id != 2 {
		t.Fatalf("second miss in a row closed %v, want reservation 2 (3 is busy)", got)
	}
	if s.reserved.count() != 2 {
		t.Errorf("%d reservations left, want 2", s.reserved.count())
	}
}
