package labelset

import "testing"

func TestAdmitBoundsValues(t *testing.T) {
	s := New(2)
	if s.Admit("a") != "a" || s.Admit("b") != "b" {
		t.Fatal("values within the bound were not admitted")
	}
	if got := s.Admit("c"); got != Other {
		t.Errorf("a third value gave %q, want %q", got, Other)
	}
	if s.Admit("a") != "a" {
		t.Error("a value admitted before was refused")
	}
}
