package backupstore

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenFileURLs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, ok := range []string{"file://" + dir, "file://localhost" + dir, dir, filepath.Join(dir, "rel") + "/"} {
		s, err := Open(ctx, ok)
		if err != nil {
			t.Errorf("Open(%q): %v", ok, err)
			continue
		}
		s.Close()
	}
	// file://data/backups names host "data" and path /backups: it must not
	// write to /backups.
	for _, bad := range []string{"file://data/backups", "file://backups", "file://example.com/srv/backups"} {
		s, err := Open(ctx, bad)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) was accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "file:///") {
			t.Errorf("Open(%q): %v; want a message that shows the absolute form", bad, err)
		}
	}
}
