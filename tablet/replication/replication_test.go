package replication

import (
	"strings"
	"testing"
	"time"

	"github.com/shardgate/shardgate/internal/gtidpos"
)

func TestErrant(t *testing.T) {
	for _, c := range []struct {
		executed, promotedAt string
		want                 string
	}{
		{"0-1-10", "0-1-10", ""},
		{"0-1-9", "0-1-10", ""},
		{"", "0-1-10", ""},
		// The old primary wrote 11 and 12 that its successor never received.
		{"0-1-12", "0-1-10", "0-1-12"},
		// The same sequence number written by two servers: two histories.
		{"0-1-10", "0-2-10", "0-1-10"},
		// A domain the new primary never saw.
		{"0-1-5,1-1-3", "0-1-5", "1-1-3"},
	} {
		var got []string
		for _, g := range Errant(gtidpos.MustParse(c.executed), gtidpos.MustParse(c.promotedAt)) {
			got = append(got, g.String())
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("Errant(%q, promoted at %q) = %v, want %q", c.executed, c.promotedAt, got, c.want)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1": `'127.0.0.1'`,
		`it's`:      `'it\'s'`,
		`a\b`:       `'a\\b'`,
		"a\x00b\n":  `'a\0b\n'`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRedact(t *testing.T) {
	stmt := "CHANGE MASTER TO MASTER_HOST = 'h', MASTER_PASSWORD = 'se, cret', MASTER_USE_GTID = slave_pos"
	got := redact(stmt)
	if strings.Contains(got, "cret") || !strings.Contains(got, "MASTER_USE_GTID = slave_pos") {
		t.Errorf("redact = %q", got)
	}
	if redact("START SLAVE") != "START SLAVE" {
		t.Error("redact changed a statement without a password")
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 1, 300 * time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, 5 * time.Second: 5} {
		if got := seconds(d); got != want {
			t.Errorf("seconds(%s) = %d, want %d", d, got, want)
		}
	}
}
