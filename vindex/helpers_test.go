package vindex

import (
	"encoding/hex"
	"slices"
	"testing"
)

func mustHex(t testing.TB, s string) KeyspaceID {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func equalBools(a, b []bool) bool { return slices.Equal(a, b) }

func mustCreate(t testing.TB, vindexType string, params map[string]string) Vindex {
	t.Helper()
	v, err := Create(vindexType, "v_"+vindexType, params)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkProperties checks the constant answers of a built-in functional
// vindex, which the planner relies on.
func checkProperties(t *testing.T, vindexType string, cost int) {
	t.Helper()
	v := mustCreate(t, vindexType, nil)
	if v.String() != "v_"+vindexType {
		t.Errorf("%s: String() = %q; want the declared name", vindexType, v.String())
	}
	if v.Cost() != cost {
		t.Errorf("%s: Cost() = %d; want %d", vindexType, v.Cost(), cost)
	}
	if !v.IsUnique() {
		t.Errorf("%s: IsUnique() = false", vindexType)
	}
	if v.NeedsCursor() {
		t.Errorf("%s: NeedsCursor() = true", vindexType)
	}
	if _, err := Create(vindexType, "x", map[string]string{"tabel": "t"}); err == nil {
		t.Errorf("%s: an unknown param was accepted", vindexType)
	}
}
