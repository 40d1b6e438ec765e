package backup

import (
	"bytes"
	"reflect"
	"testing"
)

func TestChunkRowsRoundTrip(t *testing.T) {
	rows := [][][]byte{
		{[]byte("1"), nil, []byte("")},
		{[]byte("tab\there"), []byte("new\nline"), []byte("back\\slash")},
		{[]byte("\\N"), []byte("N"), []byte{0, '\r', 0xff, '\t'}},
		{[]byte("héllo 世界")},
	}
	var buf []byte
	for _, r := range rows {
		buf = appendRow(buf, r)
	}
	if bytes.Count(buf, []byte{'\n'}) != len(rows) {
		t.Fatalf("%d lines for %d rows: %q", bytes.Count(buf, []byte{'\n'}), len(rows), buf)
	}
	var got [][][]byte
	parseRows(buf, func(values [][]byte) {
		row := make([][]byte, len(values))
		for i, v := range values {
			if v != nil {
				row[i] = append([]byte{}, v...)
			}
		}
		got = append(got, row)
	})
	// parseRows gives empty values as empty slices, NULL as nil.
	for i := range rows {
		for j := range rows[i] {
			if (rows[i][j] == nil) != (got[i][j] == nil) || !bytes.Equal(rows[i][j], got[i][j]) {
				t.Fatalf("row %d column %d: got %q, want %q", i, j, got[i][j], rows[i][j])
			}
		}
	}
}

func TestRowHash(t *testing.T) {
	h := newRowHasher()
	null := h.hash([][]byte{nil})
	empty := h.hash([][]byte{{}})
	if null == empty {
		t.Fatal("NULL and '' hash alike")
	}
	if h.hash([][]byte{[]byte("ab"), []byte("c")}) == h.hash([][]byte{[]byte("a"), []byte("bc")}) {
		t.Fatal("values are not delimited in the hash")
	}
	a, b := h.hash([][]byte{[]byte("1")}), h.hash([][]byte{[]byte("2")})
	if a+b != b+a || h.hash([][]byte{[]byte("1")}) != a {
		t.Fatal("the hash must be deterministic")
	}
}

func TestSelectAndLoadLists(t *testing.T) {
	cols := testColumns("id", "", "flags", "bit", "shape", "geometry", "we`ird", "")
	if got, want := selectList(cols), "`id`, `flags`+0, ST_AsWKB(`shape`), `we``ird`"; got != want {
		t.Errorf("selectList = %s, want %s", got, want)
	}
	want := "(`id`, @v1, @v2, `we``ird`) SET `flags` = CAST(@v1 AS UNSIGNED), `shape` = ST_GeomFromWKB(@v2)"
	if got := loadTargets(cols); got != want {
		t.Errorf("loadTargets = %s, want %s", got, want)
	}
	if !reflect.DeepEqual(quoteString(`it's \ ok`), `'it\'s \\ ok'`) {
		t.Errorf("quoteString = %s", quoteString(`it's \ ok`))
	}
}
