package mysqld

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReachable(t *testing.T) {
	root := t.TempDir()
	open := filepath.Join(root, "open")
	closed := filepath.Join(root, "closed")
	for dir, mode := range map[string]os.FileMode{open: 0o711, closed: 0o700} {
		if err := os.Mkdir(dir, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "inner"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{root, filepath.Dir(root)} { // t.TempDir's are 0700
		if err := os.Chmod(dir, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	const stranger = 54321 // owns nothing here
	if dir, ok := reachable(filepath.Join(open, "inner"), stranger, stranger); !ok {
		t.Errorf("open/inner: not reachable at %s", dir)
	}
	if dir, ok := reachable(filepath.Join(closed, "inner"), stranger, stranger); ok || dir != closed {
		t.Errorf("closed/inner: reachable %v at %q, want refused at %s", ok, dir, closed)
	}
	// The owner may enter its own 0700 directory.
	if dir, ok := reachable(closed, os.Getuid(), os.Getgid()); !ok {
		t.Errorf("the owner cannot enter its own directory: refused at %s", dir)
	}
}
