package freeport

import "testing"

func TestCandidateRangeAvoidsEphemeral(t *testing.T) {
	for _, tc := range []struct{ ephLo, ephHi, lo, hi int }{
		{32768, 60999, 61000, 65535}, // Linux's default: 4536 above
		{49152, 65535, 10000, 49151}, // IANA's range: only below
		{1024, 20000, 20001, 65535},  // a low range: only above
		{10000, 65000, 65001, 65535}, // 535 above: too few, and nothing below
		{20000, 65000, 10000, 19999}, // too few above, more below
	} {
		lo, hi := candidateRange(tc.ephLo, tc.ephHi)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("candidateRange(%d, %d) = %d-%d, want %d-%d", tc.ephLo, tc.ephHi, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestGetNeverRepeats(t *testing.T) {
	ephLo, ephHi := ephemeralRange()
	seen := map[int]bool{}
	for range 200 {
		p, err := Get()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		if p >= ephLo && p <= ephHi {
			t.Fatalf("port %d is in the ephemeral range %d-%d", p, ephLo, ephHi)
		}
		seen[p] = true
	}
}
