package vindex

import (
	"context"
	"strings"
	"testing"

	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
)

func TestHashVectors(t *testing.T) { runVectorFile(t, "hash.txt") }

func newTestHash(t testing.TB) *Hash {
	t.Helper()
	v, err := Create("hash", "h", nil)
	if err != nil {
		t.Fatal(err)
	}
	return v.(*Hash)
}

// TestHashKnownVectors pins the published Vitess vectors independently of
// testdata/, which -update rewrites.
func TestHashKnownVectors(t *testing.T) {
	h := newTestHash(t)
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{1, "166b40b44aba4bd6"},
		{29999, "fcd63e56d3374d88"},
		{397, "5584fa738baaf516"},
		{0, "8ca64de9c1b123a7"},
		{-1, "355550b2150e2451"},
	} {
		got, err := h.Hash(sqltypes.NewInt64(tc.in))
		if err != nil || got.String() != tc.want {
			t.Errorf("Hash(%d) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
		if got := h.HashUint64(uint64(tc.in)); got.String() != tc.want {
			t.Errorf("HashUint64(%d) = %s; want %s", uint64(tc.in), got, tc.want)
		}
	}
}

func TestHashProperties(t *testing.T) {
	h := newTestHash(t)
	if h.String() != "h" || h.Cost() != 1 || !h.IsUnique() || h.NeedsCursor() {
		t.Errorf("hash: String %q Cost %d IsUnique %v NeedsCursor %v", h.String(), h.Cost(), h.IsUnique(), h.NeedsCursor())
	}
}

func TestHashErrorsNameTheValue(t *testing.T) {
	h := newTestHash(t)
	_, err := h.Hash(sqltypes.NewVarChar("abc"))
	if err == nil || !strings.Contains(err.Error(), `VARCHAR("abc")`) {
		t.Errorf("Hash(abc) error = %v; want one naming the value", err)
	}
}

func TestHashVerify(t *testing.T) {
	h := newTestHash(t)
	ctx := context.Background()
	values := []sqltypes.Value{sqltypes.NewInt64(1), sqltypes.NewInt64(-1), sqltypes.NewUint64(1)}
	ids := []KeyspaceID{mustHex(t, "166b40b44aba4bd6"), mustHex(t, "355550b2150e2451"), mustHex(t, "355550b2150e2451")}
	got, err := h.Verify(ctx, nil, values, ids)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false}; !equalBools(got, want) {
		t.Errorf("Verify = %v; want %v", got, want)
	}
	if _, err := h.Verify(ctx, nil, []sqltypes.Value{sqltypes.NULL}, ids[:1]); err == nil {
		t.Error("Verify(NULL) succeeded; want an error, as in Vitess")
	}
	if _, err := h.Verify(ctx, nil, values, ids[:1]); err == nil {
		t.Error("Verify with fewer ids than values succeeded")
	}
}

func TestHashReverseMap(t *testing.T) {
	h := newTestHash(t)
	got, err := h.ReverseMap(nil, []KeyspaceID{mustHex(t, "166b40b44aba4bd6"), mustHex(t, "355550b2150e2451")})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].String() != "UINT64(1)" || got[1].String() != "UINT64(18446744073709551615)" {
		t.Errorf("ReverseMap = %v", got)
	}
	if _, err := h.ReverseMap(nil, []KeyspaceID{mustHex(t, "166b40b44aba4b")}); err == nil {
		t.Error("ReverseMap of a 7-byte id succeeded")
	}
}

// TestHashConcurrent runs Hash from many goroutines; with -race it checks
// that the shared cipher is only read.
func TestHashConcurrent(t *testing.T) {
	h := newTestHash(t)
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := int64(0); i < 1000; i++ {
				if _, err := h.Hash(sqltypes.NewInt64(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
}

func TestHashAllocs(t *testing.T) {
	h := newTestHash(t)
	v := sqltypes.NewInt64(123456789)
	u := sqltypes.NewUint64(123456789)
	for _, val := range []sqltypes.Value{v, u} {
		if n := testing.AllocsPerRun(100, func() { _, _ = h.Hash(val) }); n > 1 {
			t.Errorf("Hash(%v) allocates %v times; want only the result", val, n)
		}
	}
}

func BenchmarkHashHash(b *testing.B) {
	h := newTestHash(b)
	v := sqltypes.NewInt64(123456789)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashMap(b *testing.B) {
	h := newTestHash(b)
	values := []sqltypes.Value{sqltypes.NewInt64(123456789)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Map(ctx, nil, values); err != nil {
			b.Fatal(err)
		}
	}
}

// fuzzTypes are the value types the fuzz tests build from arbitrary bytes:
// every kind of read the vindexes do (signed, unsigned, text, binary,
// decimal, hex and bit literals, expressions, NULL).
var fuzzTypes = []querypb.Type{
	sqltypes.Null, sqltypes.Int8, sqltypes.Int64, sqltypes.Uint64, sqltypes.Float64,
	sqltypes.Decimal, sqltypes.VarChar, sqltypes.VarBinary, sqltypes.Char,
	sqltypes.HexNum, sqltypes.HexVal, sqltypes.BitNum, sqltypes.Expression, sqltypes.Year,
}

func fuzzValue(typ uint8, data []byte) sqltypes.Value {
	t := fuzzTypes[int(typ)%len(fuzzTypes)]
	if t == sqltypes.Null {
		return sqltypes.NULL
	}
	return sqltypes.MakeTrusted(t, data)
}

// FuzzHashMap checks that hash never panics on arbitrary input and that Map,
// Hash and Verify agree.
func FuzzHashMap(f *testing.F) {
	for _, s := range []string{"1", "-1", "18446744073709551615", "", " 7 ", "abc", "0x10", "0b1", "x'10'", "\xff"} {
		for typ := range fuzzTypes {
			f.Add(uint8(typ), []byte(s))
		}
	}
	h := newTestHash(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		v := fuzzValue(typ, data)
		dests, err := h.Map(ctx, nil, []sqltypes.Value{v})
		if err != nil {
			t.Fatalf("Map(%v) failed: %v; hash maps bad values to DestinationNone", v, err)
		}
		id, hashErr := h.Hash(v)
		switch d := dests[0].(type) {
		case DestinationKeyspaceID:
			if hashErr != nil || KeyspaceID(d).String() != id.String() {
				t.Fatalf("Map(%v) = %v but Hash = %v, %v", v, d, id, hashErr)
			}
			if len(d) != 8 {
				t.Fatalf("Map(%v) = %v: not 8 bytes", v, d)
			}
		case DestinationNone:
			if hashErr == nil {
				t.Fatalf("Map(%v) = none but Hash = %v", v, id)
			}
		default:
			t.Fatalf("Map(%v) = %T", v, d)
		}
	})
}
