package schema

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/shardgate/shardgate/control/keyspace"
	"github.com/shardgate/shardgate/topo"
)

func TestSplitSQL(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []string
	}{
		{name: "one without semicolon", script: "CREATE TABLE a (id INT)", want: []string{"CREATE TABLE a (id INT)"}},
		{name: "one with semicolon", script: "CREATE TABLE a (id INT);\n", want: []string{"CREATE TABLE a (id INT)"}},
		{
			name: "comments and blank statements",
			script: `-- the schema; of everything
/* a block; comment */
CREATE TABLE a (id INT); ;
# hash comment; too
CREATE TABLE b (s VARCHAR(10) DEFAULT 'x;y'); -- trailing; comment
`,
			want: []string{
				"-- the schema; of everything\n/* a block; comment */\nCREATE TABLE a (id INT)",
				"# hash comment; too\nCREATE TABLE b (s VARCHAR(10) DEFAULT 'x;y')",
			},
		},
		{name: "quoted name with semicolon", script: "CREATE TABLE `a;b` (id INT); DROP TABLE `a;b`", want: []string{"CREATE TABLE `a;b` (id INT)", "DROP TABLE `a;b`"}},
		{name: "executable comment kept", script: "/*!40101 SET NAMES utf8mb4 */;\nCREATE TABLE a (id INT);", want: []string{"/*!40101 SET NAMES utf8mb4 */", "CREATE TABLE a (id INT)"}},
		{name: "only comments", script: "-- nothing here\n/* at all */\n", want: []string{}},
		{name: "empty", script: "", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitSQL(tt.script)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("SplitSQL =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestApplySchemaNeedsPrimaries(t *testing.T) {
	ctx := context.Background()
	ts := topo.NewServer(topo.NewMemoryStore(), "")
	if err := keyspace.CreateKeyspace(ctx, ts, "ks", []string{"-80", "80-"}, true); err != nil {
		t.Fatal(err)
	}
	err := ApplySchema(ctx, ts, "ks", "CREATE TABLE t (id BIGINT PRIMARY KEY)")
	if err == nil {
		t.Fatal("applied a schema to shards without tablets")
	}
	for _, w := range []string{"failed on 2 of 2 shards", "shard ks/-80", "shard ks/80-", "no primary tablet"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if err := ApplySchema(ctx, ts, "ks", "-- nothing\n"); err == nil || !strings.Contains(err.Error(), "no SQL statement") {
		t.Errorf("empty script: error = %v", err)
	}
}

func TestShorten(t *testing.T) {
	got := shorten("-- c\nCREATE TABLE corder (\n  order_id BIGINT,\n  customer_id BIGINT,\n  sku VARCHAR(64),\n  price DECIMAL(10,2),\n  PRIMARY KEY (customer_id, order_id))")
	if !strings.HasPrefix(got, "CREATE TABLE corder ( order_id BIGINT,") || len(got) > 80 || !strings.HasSuffix(got, "...") {
		t.Errorf("shorten = %q", got)
	}
}
