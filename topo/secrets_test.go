package topo

import (
	"context"
	"testing"
)

func TestSessionKeyIsCreatedOnceAndShared(t *testing.T) {
	ts := NewServer(NewMemoryStore(), DefaultRoot)
	ctx := context.Background()
	a, err := ts.SessionKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ts.SessionKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != sessionKeyBytes || string(a) != string(b) {
		t.Errorf("keys %x and %x: want one 32-byte key for every gate", a, b)
	}
}
