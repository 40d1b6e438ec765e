package vindex

import "testing"

func TestUnicodeLooseMD5Vectors(t *testing.T) { runVectorFile(t, "unicode_loose_md5.txt") }

func TestUnicodeLooseMD5Properties(t *testing.T) {
	checkProperties(t, "unicode_loose_md5", 1)
}

func TestUnicodeLooseMD5Folding(t *testing.T) {
	checkFolding(t, "unicode_loose_md5")
}
