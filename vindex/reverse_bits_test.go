package vindex

import "testing"

func TestReverseBitsVectors(t *testing.T) { runVectorFile(t, "reverse_bits.txt") }

func TestReverseBitsProperties(t *testing.T) {
	checkProperties(t, "reverse_bits", 1)
}

func TestReverseBitsReverseMap(t *testing.T) {
	r := mustCreate(t, "reverse_bits", nil).(Reversible)
	got, err := r.ReverseMap(nil, []KeyspaceID{mustHex(t, "8000000000000000"), mustHex(t, "0000000000000001")})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].String() != "UINT64(1)" || got[1].String() != "UINT64(9223372036854775808)" {
		t.Errorf("ReverseMap = %v", got)
	}
	if _, err := r.ReverseMap(nil, []KeyspaceID{mustHex(t, "800000000000000000")}); err == nil {
		t.Error("ReverseMap of a 9-byte id succeeded")
	}
}
