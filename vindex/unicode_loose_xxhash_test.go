package vindex

import "testing"

func TestUnicodeLooseXXHashVectors(t *testing.T) { runVectorFile(t, "unicode_loose_xxhash.txt") }

func TestUnicodeLooseXXHashProperties(t *testing.T) {
	checkProperties(t, "unicode_loose_xxhash", 1)
}

func TestUnicodeLooseXXHashFolding(t *testing.T) {
	checkFolding(t, "unicode_loose_xxhash")
}
