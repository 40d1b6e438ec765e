package vindex

import "testing"

func TestNumericVectors(t *testing.T) { runVectorFile(t, "numeric.txt") }

func TestNumericProperties(t *testing.T) {
	checkProperties(t, "numeric", 0)
}

func TestNumericReverseMap(t *testing.T) {
	n := mustCreate(t, "numeric", nil).(Reversible)
	got, err := n.ReverseMap(nil, []KeyspaceID{mustHex(t, "ffffffffffffffff"), mustHex(t, "0000000000000001")})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].String() != "UINT64(18446744073709551615)" || got[1].String() != "UINT64(1)" {
		t.Errorf("ReverseMap = %v", got)
	}
	if _, err := n.ReverseMap(nil, []KeyspaceID{mustHex(t, "01")}); err == nil {
		t.Error("ReverseMap of a 1-byte id succeeded")
	}
}
