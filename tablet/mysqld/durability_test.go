package mysqld

import (
	"slices"
	"testing"
)

func TestDurability(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", []string{"--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1"}},
		{"full", []string{"--innodb-flush-log-at-trx-commit=1", "--sync-binlog=1"}},
		{"relaxed", []string{"--innodb-flush-log-at-trx-commit=2", "--sync-binlog=0"}},
	} {
		d, err := ParseDurability(tc.in)
		if err != nil {
			t.Fatalf("ParseDurability(%q): %v", tc.in, err)
		}
		args := serverArgs(Config{DataDir: "/d", Port: 1, ServerID: 1, Durability: d}, "")
		for _, w := range tc.want {
			if !slices.Contains(args, w) {
				t.Errorf("%q: server args lack %s: %v", tc.in, w, args)
			}
		}
	}
	if _, err := ParseDurability("fast"); err == nil {
		t.Error(`ParseDurability("fast") is not an error`)
	}
	if err := (Config{DataDir: "/d", Port: 1, ServerID: 1, Durability: "fast"}).Validate(); err == nil {
		t.Error("Validate accepts durability fast")
	}
}
