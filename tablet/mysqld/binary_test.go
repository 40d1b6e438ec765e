package mysqld

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFindExecutableMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := findExecutable(serverNames, t.TempDir())
	if !errors.Is(err, ErrBinaryNotFound) {
		t.Fatalf("findExecutable() error = %v, want ErrBinaryNotFound", err)
	}
	const want = `mariadbd not found in PATH or /usr/sbin: install MariaDB with "apt-get install mariadb-server"`
	if err.Error() != want {
		t.Errorf("error message %q, want %q", err, want)
	}
}

func TestFindExecutableOrder(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	for _, name := range []string{"mysqld", "mariadbd"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Not executable: skipped.
	if err := os.WriteFile(filepath.Join(dir, "mariadb-install-db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := findExecutable(serverNames, dir)
	if err != nil || got != filepath.Join(dir, "mariadbd") {
		t.Errorf("findExecutable() = %q, %v; want %s", got, err, filepath.Join(dir, "mariadbd"))
	}
	if got, err := findExecutable(installDBNames, dir); err == nil {
		t.Errorf("findExecutable() = %q, want an error for a file that is not executable", got)
	}
}
