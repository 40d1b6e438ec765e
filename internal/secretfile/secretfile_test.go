package secretfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "pw")
	if err := os.WriteFile(good, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "open")
	if err := os.WriteFile(open, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	v := "flag"
	if err := Resolve(&v, good, "SECRETFILE_TEST"); err != nil || v != "s3cret" {
		t.Errorf("from a file: %q, %v", v, err)
	}
	if err := Resolve(&v, open, "SECRETFILE_TEST"); err == nil {
		t.Error("a file others may read was accepted")
	}
	t.Setenv("SECRETFILE_TEST", "fromenv")
	v = "flag"
	if err := Resolve(&v, "", "SECRETFILE_TEST"); err != nil || v != "fromenv" {
		t.Errorf("from the environment: %q, %v", v, err)
	}
}
