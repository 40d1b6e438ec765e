package queryservice

import "github.com/shardgate/shardgate/proto/querypb"

// SetServing turns serving off with a reason that health reports (as its
// health error), or back on with serving true. Gates stop routing to a
// tablet that does not serve; the tablet uses it while its shard is being
// restored in place.
func (s *Service) SetServing(serving bool, reason string) {
	if serving {
		s.notServing.Store(nil)
	} else {
		s.notServing.Store(&reason)
	}
	s.health.update(func(h *querypb.StreamHealthResponse) {
		if h.Stats == nil {
			h.Stats = &querypb.RealtimeStats{}
		}
		if !serving {
			h.Serving = false
			h.Stats.HealthError = reason
			h.DirectRead = nil
			return
		}
		// Serve at once; the next measurement says otherwise if MySQL is
		// not well.
		h.Serving = true
		h.Stats.HealthError = ""
	})
}

// notServingReason is why serving is turned off, or "".
func (s *Service) notServingReason() string {
	if r := s.notServing.Load(); r != nil {
		return *r
	}
	return ""
}
