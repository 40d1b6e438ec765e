package vindex

import (
	"sync"
	"testing"

	"vitess.io/vitess/go/sqltypes"
)

// checkFolding checks the equivalences the unicode_loose_* types promise,
// independently of the vectors: strings equal under a case- and
// accent-insensitive comparison hash the same, others do not.
func checkFolding(t *testing.T, vindexType string) {
	t.Helper()
	h := mustCreate(t, vindexType, nil).(Hasher)
	hash := func(s string) string {
		id, err := h.Hash(sqltypes.NewVarChar(s))
		if err != nil {
			t.Fatalf("Hash(%q): %v", s, err)
		}
		return id.String()
	}
	for _, group := range [][]string{
		{"Test", "test", "TEST", "tést", "TÉST", "te\u0301st", "test  "},
		{"straße", "STRASSE", "Strasse"},
		{"", "   "},
	} {
		want := hash(group[0])
		for _, s := range group[1:] {
			if got := hash(s); got != want {
				t.Errorf("%s: %q hashes to %s but %q to %s; want the same", vindexType, s, got, group[0], want)
			}
		}
	}
	for _, pair := range [][2]string{{"test", "tent"}, {"test", " test"}, {"test", "test\t"}, {"a", "b"}} {
		if hash(pair[0]) == hash(pair[1]) {
			t.Errorf("%s: %q and %q hash the same; want different", vindexType, pair[0], pair[1])
		}
	}
}

// TestUnicodeLooseConcurrent hashes from many goroutines at once; with
// -race it checks that pooled hashers are never shared.
func TestUnicodeLooseConcurrent(t *testing.T) {
	for _, typ := range []string{"unicode_loose_md5", "unicode_loose_xxhash"} {
		h := mustCreate(t, typ, nil).(Hasher)
		want, err := h.Hash(sqltypes.NewVarChar("Grüße"))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					got, err := h.Hash(sqltypes.NewVarChar("GRÜSSE"))
					if err != nil || got.String() != want.String() {
						t.Errorf("%s: Hash = %s, %v; want %s", typ, got, err, want)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
}
