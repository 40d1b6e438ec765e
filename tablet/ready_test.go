package tablet

import (
	"context"
	"strings"
	"testing"
)

// The serving case needs a query service on a MySQL server: tests/deploy
// checks /readyz of real tablets.
func TestTabletIsNotReadyBeforeItsQueryServiceOrWhileShuttingDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	if err := tabletReady(ctx, nil); err == nil || !strings.Contains(err.Error(), "starting") {
		t.Fatalf("ready without a query service: %v, want starting", err)
	}
	cancel()
	if err := tabletReady(ctx, nil); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("ready while shutting down: %v, want shutting down", err)
	}
}
