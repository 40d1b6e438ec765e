package sqlrouter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"vitess.io/vitess/go/mysql/collations"
	"vitess.io/vitess/go/sqltypes"
	querypb "vitess.io/vitess/go/vt/proto/query"
	"vitess.io/vitess/go/vt/sqlparser"
)

// The data-driven tests of the primitives read cases from testdata files:
// blocks separated by blank lines, each
//
//	# comments
//	<what runs: a primitive's spec (primitives.txt) or a statement (results.txt)>
//	<shard> <match>: <column>:<TYPE>[/<decimals>] ...   (a section: what a shard answers)
//	<value> <value> ...                                 (its rows; NULL, 'quoted text')
//	...
//	----
//	<the result: its rows, then what else it did>
//
// A section answers the queries sent to shard <shard> (* for any) whose
// text contains <match> (one word; _ stands for a space); a shard no
// section names answers such queries with the section's columns and no
// rows. Run with -update to rewrite what follows "----" and review the
// diff.

// section is one shard's answer to the queries that contain match.
type section struct {
	shard, match string
	res          *sqltypes.Result
}

type dataCase struct {
	comments []string
	head     []string // what runs, and directives
	sections []section
	text     []string // the sections as written
}

func readCases(t *testing.T, path string) []*dataCase {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []*dataCase
	for _, block := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
		block, _, _ = strings.Cut(block, "\n----")
		c := &dataCase{}
		var cur *section
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "#"):
				c.comments = append(c.comments, line)
				continue
			case sectionHeader.MatchString(line):
				m := sectionHeader.FindStringSubmatch(line)
				c.sections = append(c.sections, section{shard: m[1], match: strings.ReplaceAll(m[2], "_", " "), res: &sqltypes.Result{Fields: parseFields(t, m[3])}})
				cur = &c.sections[len(c.sections)-1]
			case cur != nil:
				cur.res.Rows = append(cur.res.Rows, parseRow(t, cur.res.Fields, line))
			default:
				c.head = append(c.head, line)
				continue
			}
			c.text = append(c.text, line)
		}
		cases = append(cases, c)
	}
	return cases
}

var sectionHeader = regexp.MustCompile(`^(\S+) (\S+):((?: \S+:\S+)*)$`)

func parseFields(t *testing.T, spec string) []*querypb.Field {
	var out []*querypb.Field
	for _, f := range strings.Fields(spec) {
		name, typ, _ := strings.Cut(f, ":")
		typ, dec, _ := strings.Cut(typ, "/")
		typ, coll, _ := strings.Cut(typ, "@")
		v, ok := querypb.Type_value[strings.ToUpper(typ)]
		if !ok {
			t.Fatalf("unknown type %s", typ)
		}
		field := &querypb.Field{Name: name, Type: querypb.Type(v), Charset: uint32(collations.CollationBinaryID)}
		if sqltypes.IsText(field.Type) {
			field.Charset = uint32(defaultCollation)
		}
		if coll != "" {
			field.Charset = uint32(collationEnv.LookupByName(coll))
		}
		if dec != "" {
			d, _ := strconv.Atoi(dec)
			field.Decimals = uint32(d)
		}
		out = append(out, field)
	}
	return out
}

func parseRow(t *testing.T, fields []*querypb.Field, line string) sqltypes.Row {
	vals := splitValues(line)
	if len(vals) != len(fields) {
		t.Fatalf("row %q: %d values for %d columns", line, len(vals), len(fields))
	}
	row := make(sqltypes.Row, len(vals))
	for i, v := range vals {
		switch {
		case v == "NULL":
			row[i] = sqltypes.NULL
		case strings.HasPrefix(v, "'"):
			row[i] = sqltypes.MakeTrusted(fields[i].Type, []byte(strings.Trim(v, "'")))
		default:
			row[i] = sqltypes.MakeTrusted(fields[i].Type, []byte(v))
		}
	}
	return row
}

// splitValues splits a row on spaces, keeping 'quoted text' whole.
func splitValues(line string) []string {
	var out []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '\'' {
			end := strings.IndexByte(line[1:], '\'')
			if end < 0 {
				end = len(line) - 2
			}
			out = append(out, line[:end+2])
			line = line[end+2:]
			continue
		}
		word, rest, _ := strings.Cut(line, " ")
		out = append(out, word)
		line = rest
	}
	return out
}

func formatRows(res *sqltypes.Result) []string {
	var out []string
	for _, r := range res.Rows {
		vals := make([]string, len(r))
		for i, v := range r {
			switch s := v.ToString(); {
			case v.IsNull():
				vals[i] = "NULL"
			case s == "" || strings.ContainsAny(s, " '"):
				vals[i] = "'" + s + "'"
			default:
				vals[i] = s
			}
		}
		out = append(out, strings.Join(vals, " "))
	}
	if len(out) == 0 {
		out = append(out, "(no rows)")
	}
	return out
}

// sectionCursor is a fakeCursor answering from a case's sections, which
// also records what FOUND_ROWS() would answer.
type sectionCursor struct {
	*fakeCursor
	foundRows *uint64
}

func (c sectionCursor) SetFoundRows(n uint64) { *c.foundRows = n }

func newSectionCursor(t *testing.T, sections []section) sectionCursor {
	fc := newFakeCursor(t)
	fc.answer = func(_ string, q ShardQuery) (*sqltypes.Result, error) {
		var fields []*querypb.Field
		for _, s := range sections {
			if !strings.Contains(q.SQL, s.match) {
				continue
			}
			if s.shard == q.Shard || s.shard == "*" {
				return s.res, nil
			}
			if fields == nil {
				fields = s.res.Fields
			}
		}
		return &sqltypes.Result{Fields: fields}, nil
	}
	return sectionCursor{fakeCursor: fc, foundRows: new(uint64)}
}

// runDataFile runs the cases of a file through run, which returns the
// lines that follow "----".
func runDataFile(t *testing.T, name string, run func(t *testing.T, c *dataCase) []string) {
	path := filepath.Join("testdata", name)
	var out strings.Builder
	data, _ := os.ReadFile(path)
	wants := map[int]string{}
	for i, block := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
		if _, want, ok := strings.Cut(block, "\n----\n"); ok {
			wants[i] = want
		}
	}
	for i, c := range readCases(t, path) {
		got := strings.Join(run(t, c), "\n")
		if !*update && got != wants[i] {
			t.Errorf("%s, case %d (%s):\n got:\n%s\nwant:\n%s", name, i+1, strings.Join(c.head, " "), got, wants[i])
		}
		for _, l := range append(append(append([]string{}, c.comments...), c.head...), c.text...) {
			out.WriteString(l + "\n")
		}
		out.WriteString("----\n" + got + "\n\n")
	}
	if *update {
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPrimitives runs testdata/primitives.txt: each case builds one
// primitive from its spec (see buildPrimitive) over inputs that are
// scatter routes of the statements "select <input>" (in, left, right,
// side1, ...), which the case's sections answer.
func TestPrimitives(t *testing.T) {
	runDataFile(t, "primitives.txt", func(t *testing.T, c *dataCase) []string {
		p, err := buildPrimitive(c.head[0])
		if err != nil {
			t.Fatalf("%s: %v", c.head[0], err)
		}
		vc := newSectionCursor(t, c.sections)
		res, err := p.Execute(context.Background(), vc, map[string]*querypb.BindVariable{})
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		out := formatRows(res)
		if strings.HasPrefix(c.head[0], "Join") {
			for _, s := range vc.sentSQL() {
				if strings.Contains(s, "right") {
					out = append(out, "sent "+s)
				}
			}
		}
		return out
	})
}

// TestResults runs testdata/results.txt: each case plans its statement
// (keyspace user of testVSchema) and runs the plan on the shards'
// answers in its sections, through the whole tree of primitives; the
// result is the rows the client gets, and FOUND_ROWS() when the plan set
// it.
func TestResults(t *testing.T) {
	runDataFile(t, "results.txt", func(t *testing.T, c *dataCase) []string {
		plan := testPlan(t, c.head[0])
		vc := newSectionCursor(t, c.sections)
		res, err := plan.Execute(context.Background(), vc, map[string]*querypb.BindVariable{})
		if err != nil {
			return []string{"error: " + err.Error()}
		}
		out := formatRows(res)
		if plan.CalcFoundRows {
			out = append(out, fmt.Sprintf("found_rows: %d", *vc.foundRows))
		}
		return out
	})
}

// inputRoute is the scatter route of "select <name>" a primitive under
// test reads.
func inputRoute(name string) *Route {
	return &Route{Opcode: Scatter, Keyspace: "user", original: "select " + name}
}

// testExpr parses an expression over input columns c0, c1, ...
func testExpr(s string) (*gateExpr, error) {
	e, err := sqlparser.NewTestParser().ParseExpr(s)
	if err != nil {
		return nil, err
	}
	e = sqlparser.Rewrite(e, nil, func(c *sqlparser.Cursor) bool {
		if col, ok := c.Node().(*sqlparser.ColName); ok {
			if n, err := strconv.Atoi(strings.TrimPrefix(col.Name.String(), "c")); err == nil && strings.HasPrefix(col.Name.String(), "c") {
				c.Replace(newOffset(n))
			}
		}
		return true
	}).(sqlparser.Expr)
	return &gateExpr{ast: e}, nil
}

// testExprs parses a comma-separated list of expressions.
func testExprs(s string) ([]*gateExpr, error) {
	var out []*gateExpr
	for _, part := range splitTop(s, ',') {
		e, err := testExpr(part)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// splitTop splits s at sep outside parentheses and quotes.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == sep && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

var testAggOps = map[string]aggOp{
	"count(*)": aggCountStar, "count": aggCount, "sum": aggSum, "avg": aggAvg, "min": aggMin, "max": aggMax,
	"group_concat": aggGroupConcat, "any": aggAnyValue, "sum_of_counts": aggSumOfCounts, "sum_partial": aggSumPartial,
	"min_partial": aggMinPartial, "max_partial": aggMaxPartial, "avg_of_parts": aggAvgOfParts,
	"count_distinct_values": aggCountDistinctValues, "sum_distinct_values": aggSumDistinctValues, "avg_distinct_values": aggAvgDistinctValues,
}

// testAggregate parses "op(args)", "op_distinct(args)", with "@N" for
// the input column whose metadata the result takes and, for
// group_concat, " order by <expr> [desc] separator <text>".
func testAggregate(s string) (*aggregate, error) {
	a := &aggregate{argField: -1, separator: ","}
	if head, field, ok := strings.Cut(s, "@"); ok {
		n, err := strconv.Atoi(field)
		if err != nil {
			return nil, err
		}
		s, a.argField = head, n
	}
	if s == "count(*)" {
		a.op = aggCountStar
		return a, nil
	}
	name, rest, ok := strings.Cut(s, "(")
	if !ok || !strings.HasSuffix(rest, ")") {
		return nil, fmt.Errorf("aggregate %q", s)
	}
	rest = strings.TrimSuffix(rest, ")")
	if n, ok := strings.CutSuffix(name, "_distinct"); ok {
		name, a.distinct = n, true
	}
	op, ok := testAggOps[name]
	if !ok {
		return nil, fmt.Errorf("aggregate %q", name)
	}
	a.op = op
	if args, sep, ok := strings.Cut(rest, " separator "); ok {
		rest, a.separator = args, decodeSQLString(sep)
	}
	if args, order, ok := strings.Cut(rest, " order by "); ok {
		rest = args
		desc := strings.HasSuffix(order, " desc")
		e, err := testExpr(strings.TrimSuffix(order, " desc"))
		if err != nil {
			return nil, err
		}
		a.order = []gateSortKey{{expr: e, desc: desc}}
	}
	var err error
	if a.args, err = testExprs(rest); err != nil {
		return nil, err
	}
	if off, ok := a.args[0].ast.(*sqlparser.Offset); ok && len(a.args) == 1 && a.argField < 0 {
		a.argField = off.V
	}
	return a, nil
}

// buildPrimitive builds a primitive from a one-line spec over inputRoutes:
//
//	Sort <col> [desc], ...
//	Limit <count> [offset <n>]
//	Distinct [hidden=<n>]
//	Filter <condition>
//	Project <expr>; ...  (values rendered as evaluated, metadata of input column 0)
//	Aggregate [partial] [group=<expr>,...] aggs=<aggregate>; ... [ordered=<col>,...]
//	Join [left] [key=<left expr>:<right col>] [on=<condition>] width=<right columns>
//	Union sides=<n> [distinct=<first n>]
func buildPrimitive(spec string) (Primitive, error) {
	kind, args, _ := strings.Cut(spec, " ")
	in := inputRoute("in")
	switch kind {
	case "Sort":
		s := &Sort{input: in}
		for _, k := range splitTop(args, ',') {
			col, desc := strings.CutSuffix(k, " desc")
			n, err := strconv.Atoi(col)
			if err != nil {
				s.keys = append(s.keys, orderKey{col: colRef{index: -1, name: col}, desc: desc})
				continue
			}
			s.keys = append(s.keys, orderKey{col: colRef{index: n}, desc: desc})
		}
		return s, nil
	case "Limit":
		count, offset, _ := strings.Cut(args, " offset ")
		l := &Limit{input: in, count: sqlparser.NewIntLiteral(count)}
		if offset != "" {
			l.offset = sqlparser.NewIntLiteral(offset)
		}
		return l, nil
	case "Distinct":
		d := &Distinct{input: in}
		if h, ok := strings.CutPrefix(args, "hidden="); ok {
			d.hidden, _ = strconv.Atoi(h)
		}
		return d, nil
	case "Filter":
		e, err := testExpr(args)
		return &Filter{input: in, cond: e, label: "where"}, err
	case "Project":
		p := &Project{input: in}
		for _, part := range splitTop(args, ';') {
			e, err := testExpr(part)
			if err != nil {
				return nil, err
			}
			p.exprs, p.render, p.fieldOf = append(p.exprs, e), append(p.render, renderAsIs), append(p.fieldOf, 0)
		}
		return p, nil
	case "Aggregate":
		g := &Aggregate{input: in, keysOut: true}
		for _, kv := range splitTop(args, ' ') {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "partial":
				g.partial, g.keysOut = true, false
			case "group":
				var err error
				if g.keys, err = testExprs(v); err != nil {
					return nil, err
				}
			case "aggs":
				for _, a := range splitTop(strings.ReplaceAll(v, "_ ", " "), ';') {
					agg, err := testAggregate(strings.ReplaceAll(a, "~", " "))
					if err != nil {
						return nil, err
					}
					g.aggs = append(g.aggs, agg)
				}
			case "ordered":
				for _, c := range strings.Split(v, ",") {
					n, _ := strconv.Atoi(c)
					g.sortKeys = append(g.sortKeys, n)
				}
			}
		}
		return g, nil
	case "Join":
		j := &Join{left: inputRoute("left"), keySlot: -1}
		for _, kv := range splitTop(args, ' ') {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "left":
				j.leftJoin = true
			case "key":
				l, r, _ := strings.Cut(v, ":")
				e, err := testExpr(l)
				if err != nil {
					return nil, err
				}
				j.keyLeft, j.keyBindVar = e, "__sg_jk1"
				j.keySlot, _ = strconv.Atoi(r)
			case "on":
				e, err := testExpr(strings.ReplaceAll(v, "~", " "))
				if err != nil {
					return nil, err
				}
				j.cond = e
			case "width":
				j.rightWidth, _ = strconv.Atoi(v)
			}
		}
		j.right = inputRoute("right")
		if j.keyBindVar != "" {
			j.right = &Route{Opcode: Scatter, Keyspace: "user", query: sqlparser.NewParsedQuery(mustParseSelect("select right_rows from r where k in ::__sg_jk1"))}
		}
		return j, nil
	case "Union":
		u := &Union{columns: &Route{Opcode: AnyShard, Keyspace: "user", original: "select columns"}}
		for _, kv := range splitTop(args, ' ') {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.Atoi(v)
			switch k {
			case "sides":
				for i := 1; i <= n; i++ {
					u.sides = append(u.sides, inputRoute(fmt.Sprintf("side%d", i)))
				}
			case "distinct":
				u.distinctUpTo = n
			}
		}
		return u, nil
	}
	return nil, fmt.Errorf("unknown primitive %q", kind)
}

func mustParseSelect(sql string) sqlparser.Statement {
	stmt, err := sqlparser.NewTestParser().Parse(sql)
	if err != nil {
		panic(err)
	}
	return stmt
}
