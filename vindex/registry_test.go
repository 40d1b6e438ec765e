package vindex

import (
	"slices"
	"strings"
	"testing"
)

// builtinTypes are the functional vindexes (the lookups need a table; see
// lookup_test.go).
var builtinTypes = []string{
	"binary", "binary_md5", "hash", "multicol", "null", "numeric",
	"reverse_bits", "unicode_loose_md5", "unicode_loose_xxhash", "xxhash",
}

func TestTypesListsBuiltins(t *testing.T) {
	got := Types()
	if !slices.IsSorted(got) {
		t.Errorf("Types() = %v; not sorted", got)
	}
	for _, typ := range builtinTypes {
		if !slices.Contains(got, typ) {
			t.Errorf("Types() = %v; missing %q", got, typ)
		}
	}
}

func TestCreateUnknownType(t *testing.T) {
	_, err := Create("foo", "v", nil)
	if err == nil {
		t.Fatal("Create of an unknown type succeeded")
	}
	want := `unknown vindex type "foo" (known: ` + strings.Join(Types(), ", ") + ")"
	if err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
	if !strings.Contains(err.Error(), "binary, binary_md5, consistent_lookup, consistent_lookup_unique, hash, lookup, ") {
		t.Errorf("error %q does not list the known types in order", err)
	}
}

func TestCreateUnknownParam(t *testing.T) {
	_, err := Create("hash", "user_hash", map[string]string{"tabel": "t", "from": "f"})
	want := `creating vindex "user_hash" of type hash: unknown params "from", "tabel" (this vindex type takes no params)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v; want %q", err, want)
	}
	_, err = Create("multicol", "mc", map[string]string{"column_count": "2", "columns": "a,b"})
	if err == nil || !strings.Contains(err.Error(), `unknown param "columns"`) {
		t.Errorf("multicol error = %v; want one naming param \"columns\"", err)
	}
}

func TestCreateEveryBuiltin(t *testing.T) {
	for _, typ := range builtinTypes {
		var params map[string]string
		if typ == "multicol" {
			params = map[string]string{"column_count": "2"}
		}
		v, err := Create(typ, "name_"+typ, params)
		if err != nil {
			t.Errorf("Create(%q): %v", typ, err)
			continue
		}
		if v.String() != "name_"+typ {
			t.Errorf("Create(%q).String() = %q", typ, v.String())
		}
		if v.NeedsCursor() {
			t.Errorf("%s needs a cursor", typ)
		}
		_, single := v.(SingleColumn)
		_, multi := v.(MultiColumn)
		if single == multi {
			t.Errorf("%s: SingleColumn %v, MultiColumn %v; want exactly one", typ, single, multi)
		}
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(r.(string), `"hash" is registered twice`) {
			t.Errorf("recovered %v; want a duplicate registration panic", r)
		}
	}()
	Register("hash", newHash)
}

func TestRegistryPrivateInstance(t *testing.T) {
	var r registry
	if got := r.types(); len(got) != 0 {
		t.Errorf("empty registry types = %v", got)
	}
	r.register("b", newHash)
	r.register("a", newNull)
	if got := r.types(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("types = %v; want [a b]", got)
	}
	v, err := r.create("a", "n", nil)
	if err != nil || v.String() != "n" {
		t.Errorf("create(a) = %v, %v", v, err)
	}
	if _, err := r.create("c", "n", nil); err == nil || err.Error() != `unknown vindex type "c" (known: a, b)` {
		t.Errorf("create(c) error = %v", err)
	}
	for name, f := range map[string]func(){
		"duplicate":   func() { r.register("a", newNull) },
		"empty name":  func() { r.register("", newNull) },
		"nil factory": func() { r.register("z", nil) },
	} {
		if !panics(f) {
			t.Errorf("%s registration did not panic", name)
		}
	}
}

func panics(f func()) (did bool) {
	defer func() { did = recover() != nil }()
	f()
	return false
}
