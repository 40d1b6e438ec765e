package sqlrouter

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/shardgate/shardgate/sqlrouter/vschema"
)

var update = flag.Bool("update", false, "rewrite testdata/*.txt with the planner's current output")

// testVSchema has a sharded keyspace "user" and an unsharded one "main".
func testVSchema(t *testing.T) *vschema.VSchema {
	t.Helper()
	user, _, err := vschema.ParseVSchema("user", true, []byte(`{
		"sharded": true,
		"vindexes": {"hash": {"type": "hash"}, "xx": {"type": "xxhash"},
			"corder_lookup": {"type": "lookup_unique", "params": {"table": "main.corder_lookup", "from": "id", "to": "keyspace_id"}, "owner": "corder"},
			"sku_lookup": {"type": "consistent_lookup", "params": {"table": "main.sku_lookup", "from": "sku", "to": "keyspace_id"}, "owner": "corder"}},
		"tables": {
			"customer": {"column_vindexes": [{"column": "customer_id", "name": "hash"}]},
			"corder":   {"column_vindexes": [{"column": "customer_id", "name": "hash"}, {"column": "id", "name": "corder_lookup"}, {"column": "sku", "name": "sku_lookup"}]},
			"named":    {"column_vindexes": [{"column": "name", "name": "xx"}]},
			"product":  {"type": "reference"},
			"account":  {"column_vindexes": [{"column": "id", "name": "hash"}],
			             "auto_increment": {"column": "id", "sequence": "main.account_seq"}}
		}}`))
	if err != nil {
		t.Fatal(err)
	}
	main, _, err := vschema.ParseVSchema("main", false, []byte(`{"tables": {"account_seq": {"type": "sequence"}, "corder_lookup": {}, "sku_lookup": {}}}`))
	if err != nil {
		t.Fatal(err)
	}
	return &vschema.VSchema{Keyspaces: map[string]*vschema.Keyspace{"user": user, "main": main}, Version: "test"}
}

// testSchema holds the columns of testVSchema's tables.
var testSchema = StaticSchema{
	"user": {
		"customer": {"customer_id", "email", "name"},
		"corder":   {"id", "customer_id", "sku", "amount"},
		"named":    {"name", "note"},
		"product":  {"sku", "price"},
		"account":  {"id", "name"},
	},
	"main": {"account_seq": {"id", "next_id", "cache"}, "corder_lookup": {"id", "keyspace_id"}, "sku_lookup": {"sku", "keyspace_id"}},
}

// TestPlans runs the cases in testdata/plans.txt: blocks of
// "keyspace: <session keyspace>" (optional), the SQL, and the expected
// plan description or error, separated by blank lines.
func TestPlans(t *testing.T) {
	path := filepath.Join("testdata", "plans.txt")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vs := testVSchema(t)
	parser := sqlparser.NewTestParser()
	var out strings.Builder
	for _, block := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
		lines := strings.Split(strings.TrimSpace(block), "\n")
		var comments []string
		for len(lines) > 0 && strings.HasPrefix(lines[0], "#") {
			comments = append(comments, lines[0])
			lines = lines[1:]
		}
		keyspace := "user"
		if len(lines) > 0 && strings.HasPrefix(lines[0], "keyspace:") {
			keyspace = strings.TrimSpace(strings.TrimPrefix(lines[0], "keyspace:"))
			lines = lines[1:]
		}
		if len(lines) < 1 {
			t.Fatalf("malformed block in %s:\n%s", path, block)
		}
		sql := lines[0]
		want := ""
		if len(lines) > 1 {
			want = strings.Join(lines[1:], "\n")
		}
		got := describePlan(parser, vs, keyspace, sql)
		if !*update && got != want {
			t.Errorf("%s\n got: %s\nwant: %s", sql, got, want)
		}
		for _, c := range comments {
			out.WriteString(c + "\n")
		}
		if keyspace != "user" {
			out.WriteString("keyspace: " + keyspace + "\n")
		}
		out.WriteString(sql + "\n" + got + "\n\n")
	}
	if *update {
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func describePlan(parser *sqlparser.Parser, vs *vschema.VSchema, keyspace, sql string) string {
	stmt, err := parser.Parse(sql)
	if head, ok := WithoutReturning(sql); err != nil && ok {
		stmt, err = parser.Parse(head) // as the gate parses RETURNING
	}
	if err != nil {
		return "parse error: " + err.Error()
	}
	plan, err := NewPlan(stmt, PlanContext{VSchema: vs, Keyspace: keyspace, SQL: sql, ServerVersion: "5.5.5-v", VersionComment: "c", Schema: testSchema})
	if err != nil {
		return "error: " + err.Error()
	}
	return "plan: " + plan.Primitive.Describe()
}
