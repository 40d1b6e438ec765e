package vindex

import (
	"context"
	"slices"
	"strings"
	"testing"

	"vitess.io/vitess/go/sqltypes"
)

func TestMultiColVectors(t *testing.T) { runVectorFile(t, "multicol.txt") }

func newTestMultiCol(t *testing.T, params map[string]string) *MultiCol {
	t.Helper()
	v, err := Create("multicol", "mc", params)
	if err != nil {
		t.Fatal(err)
	}
	return v.(*MultiCol)
}

func TestMultiColParams(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		bytes  []int
		cost   int
	}{
		{map[string]string{"column_count": "1"}, []int{8}, 1},
		{map[string]string{"column_count": "2"}, []int{4, 4}, 2},
		{map[string]string{"column_count": "3"}, []int{3, 3, 2}, 3},
		{map[string]string{"column_count": "5"}, []int{2, 2, 2, 1, 1}, 5},
		{map[string]string{"column_count": "8"}, []int{1, 1, 1, 1, 1, 1, 1, 1}, 8},
		{map[string]string{"column_count": "3", "column_bytes": "1"}, []int{1, 4, 3}, 3},
		{map[string]string{"column_count": "3", "column_bytes": ",1"}, []int{4, 1, 3}, 3},
		{map[string]string{"column_count": "2", "column_bytes": "2,2"}, []int{2, 2}, 2},
		{map[string]string{"column_count": "2", "column_vindex": "binary,numeric"}, []int{4, 4}, 0},
		{map[string]string{"column_count": "3", "column_vindex": " binary , ,xxhash"}, []int{3, 3, 2}, 2},
	} {
		m := newTestMultiCol(t, tc.params)
		if !slices.Equal(m.colBytes, tc.bytes) || m.Cost() != tc.cost {
			t.Errorf("%v: bytes %v cost %d; want %v, %d", tc.params, m.colBytes, m.Cost(), tc.bytes, tc.cost)
		}
		if m.ColumnCount() != len(tc.bytes) || !m.IsUnique() || m.NeedsCursor() || !m.PartialVindex() || m.String() != "mc" {
			t.Errorf("%v: wrong constant answers", tc.params)
		}
	}
}

func TestMultiColBadParams(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{}, `"column_count" is required`},
		{map[string]string{"column_count": "x"}, `"column_count"`},
		{map[string]string{"column_count": "0"}, "from 1 to 8"},
		{map[string]string{"column_count": "9"}, "from 1 to 8"},
		{map[string]string{"column_count": "2", "column_vindex": "hash,hash,hash"}, "lists 3 entries"},
		{map[string]string{"column_count": "2", "column_bytes": "1,1,1"}, "lists 3 entries"},
		{map[string]string{"column_count": "2", "column_bytes": "x"}, "entry 1"},
		{map[string]string{"column_count": "2", "column_bytes": "0"}, "at least one byte"},
		{map[string]string{"column_count": "2", "column_bytes": "-1"}, "at least one byte"},
		{map[string]string{"column_count": "2", "column_bytes": "8"}, "more than the 8 bytes"},
		{map[string]string{"column_count": "2", "column_bytes": "5,5"}, "more than the 8 bytes"},
		{map[string]string{"column_count": "1", "column_vindex": "nope"}, `unknown vindex type "nope"`},
		{map[string]string{"column_count": "1", "column_vindex": "null"}, `"null" cannot be a multicol column`},
		{map[string]string{"column_count": "1", "column_vindex": "multicol"}, `column 1`},
		{map[string]string{"column_count": "1", "colum_bytes": "8"}, `unknown param "colum_bytes"`},
	} {
		_, err := Create("multicol", "mc", tc.params)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v; want one containing %q", tc.params, err, tc.want)
		}
	}
}

func TestMultiColTooManyValues(t *testing.T) {
	m := newTestMultiCol(t, map[string]string{"column_count": "2"})
	row := []sqltypes.Value{sqltypes.NewInt64(1), sqltypes.NewInt64(2), sqltypes.NewInt64(3)}
	if _, err := m.MapMulti(context.Background(), nil, [][]sqltypes.Value{row}); err == nil {
		t.Error("MapMulti of a row longer than the columns succeeded")
	}
	if _, err := m.VerifyMulti(context.Background(), nil, [][]sqltypes.Value{row}, []KeyspaceID{{1}}); err == nil {
		t.Error("VerifyMulti of a row longer than the columns succeeded")
	}
}

func TestMultiColVerify(t *testing.T) {
	m := newTestMultiCol(t, map[string]string{"column_count": "2"})
	ctx := context.Background()
	rows := [][]sqltypes.Value{
		{sqltypes.NewInt64(1), sqltypes.NewInt64(2)},
		{sqltypes.NewInt64(2), sqltypes.NewInt64(1)},
		{sqltypes.NewInt64(1)},
	}
	id := mustHex(t, "166b40b406e7ea22")
	got, err := m.VerifyMulti(ctx, nil, rows, []KeyspaceID{id, id, id})
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, false}; !equalBools(got, want) {
		t.Errorf("VerifyMulti = %v; want %v", got, want)
	}
	if _, err := m.VerifyMulti(ctx, nil, [][]sqltypes.Value{{sqltypes.NULL}}, []KeyspaceID{id}); err == nil {
		t.Error("VerifyMulti of an unhashable row succeeded")
	}
	if _, err := m.VerifyMulti(ctx, nil, rows, []KeyspaceID{id}); err == nil {
		t.Error("VerifyMulti with fewer ids than rows succeeded")
	}
}

// TestMultiColPrefixContainsFull checks the property partial routing relies
// on: the range a prefix maps to contains the keyspace id of every full row
// that starts with it.
func TestMultiColPrefixContainsFull(t *testing.T) {
	m := newTestMultiCol(t, map[string]string{"column_count": "3", "column_vindex": "hash,binary,reverse_bits"})
	ctx := context.Background()
	for i := int64(0); i < 50; i++ {
		full := []sqltypes.Value{sqltypes.NewInt64(i), sqltypes.NewVarBinary(strings.Repeat("z", int(i%4))), sqltypes.NewInt64(i * 7)}
		dests, err := m.MapMulti(ctx, nil, [][]sqltypes.Value{full, full[:2], full[:1], full[:0]})
		if err != nil {
			t.Fatal(err)
		}
		id := KeyspaceID(dests[0].(DestinationKeyspaceID))
		for _, d := range dests[1:] {
			if r := KeyRange(d.(DestinationKeyRange)); !r.Contains(id) {
				t.Errorf("row %d: prefix range %s does not contain %s", i, r, id)
			}
		}
	}
}
