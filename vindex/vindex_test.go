package vindex

import (
	"context"
	"testing"

	"vitess.io/vitess/go/sqltypes"
)

func TestMapDispatch(t *testing.T) {
	ctx := context.Background()
	rows := [][]sqltypes.Value{{sqltypes.NewInt64(1), sqltypes.NewInt64(2)}}

	single := mustCreate(t, "hash", nil)
	got, err := Map(ctx, single, nil, rows)
	if err != nil || got[0].String() != "DestinationKeyspaceID(166b40b44aba4bd6)" {
		t.Errorf("Map(hash) = %v, %v; want the first column hashed", got, err)
	}
	ok, err := Verify(ctx, single, nil, rows, []KeyspaceID{mustHex(t, "166b40b44aba4bd6")})
	if err != nil || !ok[0] {
		t.Errorf("Verify(hash) = %v, %v", ok, err)
	}
	if _, err := Map(ctx, single, nil, [][]sqltypes.Value{{}}); err == nil {
		t.Error("Map of an empty row through a single-column vindex succeeded")
	}

	multi := mustCreate(t, "multicol", map[string]string{"column_count": "2"})
	got, err = Map(ctx, multi, nil, rows)
	if err != nil || got[0].String() != "DestinationKeyspaceID(166b40b406e7ea22)" {
		t.Errorf("Map(multicol) = %v, %v; want both columns used", got, err)
	}
	ok, err = Verify(ctx, multi, nil, rows, []KeyspaceID{mustHex(t, "166b40b406e7ea22")})
	if err != nil || !ok[0] {
		t.Errorf("Verify(multicol) = %v, %v", ok, err)
	}

	if _, err := Map(ctx, shapeless{}, nil, rows); err == nil {
		t.Error("Map through a vindex with no Map method succeeded")
	}
	if _, err := Verify(ctx, shapeless{}, nil, rows, []KeyspaceID{{1}}); err == nil {
		t.Error("Verify through a vindex with no Verify method succeeded")
	}
}

// shapeless is a Vindex that is neither SingleColumn nor MultiColumn.
type shapeless struct{}

func (shapeless) String() string    { return "shapeless" }
func (shapeless) Cost() int         { return 0 }
func (shapeless) IsUnique() bool    { return true }
func (shapeless) NeedsCursor() bool { return false }

// TestMapNoneVersusError pins which built-ins turn an unmappable value into
// DestinationNone and which into an error, as Vitess does.
func TestMapNoneVersusError(t *testing.T) {
	ctx := context.Background()
	expr := sqltypes.MakeTrusted(sqltypes.Expression, []byte("a+b"))
	for typ, wantNone := range map[string]bool{
		"hash": true, "numeric": true, "reverse_bits": true,
		"xxhash": false, "binary": false, "binary_md5": false,
		"unicode_loose_md5": false, "unicode_loose_xxhash": false,
	} {
		v := mustCreate(t, typ, nil).(SingleColumn)
		got, err := v.Map(ctx, nil, []sqltypes.Value{expr})
		if wantNone {
			if err != nil || got[0] != (DestinationNone{}) {
				t.Errorf("%s: Map(expression) = %v, %v; want DestinationNone", typ, got, err)
			}
		} else if err == nil {
			t.Errorf("%s: Map(expression) = %v; want an error", typ, got)
		}
	}
}

// FuzzMapBuiltins feeds arbitrary values to every single-column built-in:
// none may panic, and Hash must agree with Map.
func FuzzMapBuiltins(f *testing.F) {
	for _, s := range []string{"1", "-1", "", "Tést", "\xff", "0x1", "x'zz'", "0b102"} {
		for typ := range fuzzTypes {
			f.Add(uint8(typ), []byte(s))
		}
	}
	var vindexes []SingleColumn
	for _, typ := range builtinTypes {
		if typ == "multicol" {
			continue
		}
		vindexes = append(vindexes, mustCreate(f, typ, nil).(SingleColumn))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		v := fuzzValue(typ, data)
		for _, vdx := range vindexes {
			dests, mapErr := vdx.Map(ctx, nil, []sqltypes.Value{v})
			h, ok := vdx.(Hasher)
			if !ok {
				continue
			}
			id, hashErr := h.Hash(v)
			if mapErr != nil {
				if hashErr == nil {
					t.Fatalf("%s: Map(%v) fails (%v) but Hash succeeds", vdx, v, mapErr)
				}
				continue
			}
			d, isID := dests[0].(DestinationKeyspaceID)
			if isID != (hashErr == nil) || (isID && KeyspaceID(d).String() != id.String()) {
				t.Fatalf("%s: Map(%v) = %v but Hash = %v, %v", vdx, v, dests[0], id, hashErr)
			}
		}
	})
}
