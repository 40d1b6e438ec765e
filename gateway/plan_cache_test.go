package gateway

import (
	"fmt"
	"testing"

	"github.com/shardgate/shardgate/sqlrouter"
)

func TestPlanCacheBounds(t *testing.T) {
	c := newPlanCache(3, 1<<20, nil)
	for i := range 5 {
		c.put(fmt.Sprint(i), &sqlrouter.Plan{})
	}
	if len(c.entries) != 3 {
		t.Fatalf("%d entries, want 3", len(c.entries))
	}
	if _, ok := c.get("0"); ok {
		t.Fatal("the least recently used plan must have been evicted")
	}
	c.get("2") // now most recently used
	c.put("5", &sqlrouter.Plan{})
	if _, ok := c.get("2"); !ok {
		t.Fatal("a plan just used must stay")
	}
	if _, ok := c.get("3"); ok {
		t.Fatal("the least recently used plan must go first")
	}

	small := newPlanCache(100, 3000, nil) // about two plans of short keys
	for i := range 10 {
		small.put(fmt.Sprint(i), &sqlrouter.Plan{})
	}
	if small.bytes > 3000 || len(small.entries) != 2 {
		t.Fatalf("bytes %d entries %d, want within 3000 bytes (2 entries)", small.bytes, len(small.entries))
	}
}
