package vindex

import "testing"

func TestBinaryMD5Vectors(t *testing.T) { runVectorFile(t, "binary_md5.txt") }

func TestBinaryMD5Properties(t *testing.T) {
	checkProperties(t, "binary_md5", 1)
}
